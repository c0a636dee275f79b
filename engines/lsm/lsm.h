// LsmTree: the LSM tree of ENGINES.md section 5 (REF:
// log-structured-merge-tree/lsm.py at 0433b6c): a write-ahead log
// (wal.log), a sorted in-memory memtable, immutable SSTables
// (sst_NNNNNN.sst) with a sparse index, and full-merge compaction.
//
// Two profiles (FORMAT.md describes both on-disk formats):
//  - kDefault mirrors REF call for call and byte for byte, holes included:
//    the WAL flushes and never fsyncs and has no checksum, a torn WAL tail is
//    never cut off (H-M2), the memtable is cleared before its SSTable is
//    written (H-M1), SSTables are written in place with no fsync and the WAL
//    is truncated right after (double loss on power cut), compaction unlinks
//    the old tables with no manifest, close() never fsyncs (H-M5), "" is the
//    tombstone. Where REF raises (a .sst shorter than 12 bytes or with a torn
//    index, a range scan over an empty table, H-M3/H-M4, undecodable UTF-8),
//    the call returns Corruption and the process never crashes.
//  - kFixed: every WAL record carries a CRC over its lengths, key and value
//    and is fsynced before the put is acknowledged; a torn WAL tail is cut off
//    on open; an SSTable is written to a temporary file, fsynced, renamed and
//    the directory fsynced before the WAL is reset; SSTables carry a magic
//    number and a whole-file CRC; a compaction output records that it
//    supersedes every older table, so no manifest is needed and a crash
//    while deleting old tables cannot resurrect a deleted key; the
//    directory is locked against a second process; "" is a value.
//
// Contract (both profiles promise it; only kFixed keeps it): every
// acknowledged put or delete survives a process crash and power loss.
//
// Thread-safety: none. One LsmTree per directory, used by one thread.
#ifndef BLACKOUT_ENGINES_LSM_LSM_H_
#define BLACKOUT_ENGINES_LSM_LSM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engines/common/buffered_file.h"
#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines::lsm {

enum class Profile { kDefault, kFixed };

struct Options {
  // Flush the memtable once it holds this many distinct keys (REF counts keys, not bytes).
  uint64_t memtable_threshold = 1000;
  // Every Nth SSTable entry goes into the sparse index. Must be > 0.
  uint64_t sparse_index_interval = 16;
  // Compact after a flush once there are this many SSTables.
  uint64_t compaction_threshold = 4;
  Profile profile = Profile::kDefault;
};

class SSTable;

class LsmTree {
 public:
  // Opens (creating if needed) the tree in `dir`: loads every *.sst index,
  // opens wal.log for appending and replays it into the memtable.
  // Default: a torn or short .sst is Corruption (H-M3); a torn WAL tail stays
  // in place (H-M2). Fixed: a torn WAL tail is cut off (durably), leftover
  // temporary files and tables superseded by a compaction are removed, a
  // memtable past the threshold is flushed, Busy if the directory is locked.
  // Durability: fixed: everything recovered is durable on return; default:
  // nothing is synced.
  [[nodiscard]] static Result<std::unique_ptr<LsmTree>> Open(Env* env, const std::string& dir,
                                                             Options options);

  ~LsmTree();  // does not flush: call Close() for a clean shutdown
  LsmTree(const LsmTree&) = delete;
  LsmTree& operator=(const LsmTree&) = delete;

  // Logs the pair in the WAL, then inserts it in the memtable; flushes (and
  // maybe compacts) once the memtable reaches the threshold.
  // Durability: default: survives a process crash (write(2) of the record),
  // not power loss (no fsync, ever); fixed: survives both.
  [[nodiscard]] Status Put(std::string_view key, std::string_view value);

  // The newest value, or nullopt if absent or deleted (default: also when the
  // stored value is "", REF's tombstone). Durability: reads only.
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key);

  // Logs a tombstone; as Put. Durability: as Put.
  [[nodiscard]] Status Delete(std::string_view key);

  // Live pairs with start <= key < end (no upper bound when end is nullopt),
  // in key order. Default: Corruption when a table has an empty sparse index
  // (REF IndexError, H-M4). Durability: reads only.
  [[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> RangeScan(
      std::string_view start, std::optional<std::string_view> end);

  // Merges every SSTable into one and drops tombstones (no-op with fewer than
  // two tables). Durability: default: nothing is synced and the old tables
  // are unlinked with no manifest; fixed: the new table is durable before
  // any old one is unlinked, and the unlinks are durable on return.
  [[nodiscard]] Status Compact();

  // Flushes the memtable (which may compact) and closes the WAL.
  // Durability: default: never fsyncs (H-M5); fixed: everything is durable.
  [[nodiscard]] Status Close();

  // Structural self-check: every table readable to its footer, its keys
  // strictly increasing, its sparse index pointing at its entries. One line
  // per problem; empty when sound. Durability: reads only.
  std::vector<std::string> Verify();

  size_t memtable_size() const { return memtable_.size(); }
  // Paths of the live SSTables, oldest first.
  std::vector<std::string> TablePaths() const;

 private:
  LsmTree(Env* env, std::string dir, Options options);

  [[nodiscard]] Status Recover();
  [[nodiscard]] Status LoadTables();
  [[nodiscard]] Status ReplayWal();
  [[nodiscard]] Status AppendWal(std::string_view key, const std::optional<std::string>& value);
  [[nodiscard]] Status ResetWal();
  [[nodiscard]] Status Apply(std::string_view key, std::optional<std::string> value);
  [[nodiscard]] Status FlushMemtable();
  [[nodiscard]] Result<std::unique_ptr<SSTable>> WriteTable(
      uint64_t seq, const std::vector<std::pair<std::string, std::optional<std::string>>>& entries,
      uint64_t supersedes_below);
  [[nodiscard]] Status SyncDirIfFixed();
  bool fixed() const { return options_.profile == Profile::kFixed; }
  std::string WalPath() const;

  Env* env_;
  std::string dir_;
  Options options_;
  std::unique_ptr<DirLock> lock_;
  // nullopt is a tombstone. Default profile: a put of "" is stored as nullopt.
  std::map<std::string, std::optional<std::string>> memtable_;
  std::vector<std::unique_ptr<SSTable>> tables_;  // oldest first
  std::unique_ptr<BufferedFile> wal_;
  uint64_t next_seq_ = 0;
  bool closed_ = false;
};

}  // namespace blackout::engines::lsm

#endif  // BLACKOUT_ENGINES_LSM_LSM_H_
