// BitcaskStore: the hash-index Bitcask of ENGINES.md section 3 (REF:
// hash-index-storage/bitcask.py at 0433b6c), an append-only log of key/value
// records in numbered data files plus an in-memory hash index (the keydir).
//
// Two profiles (FORMAT.md describes both on-disk formats):
//  - kDefault mirrors REF call for call and byte for byte, holes included:
//    no directory fsync, close() never fsyncs, torn tails are never cut off,
//    hints carry no checksum, compaction unlinks the old files before it
//    renames the active one and fsyncs nothing (H-B1..H-B8). Where REF raises
//    an exception nobody catches (a short hint file, a torn key that is not
//    valid UTF-8, a key mismatch in get), the call returns Corruption instead.
//  - kFixed closes the holes a crash, a torn or corrupt file or a second
//    process can expose: a CRC over each whole record, torn tails cut off on
//    open, directory fsync after every create/rename/unlink, close() fsyncs,
//    compaction writes its output under temporary names, fsyncs it, renames
//    the active file first and deletes the old files last, hint files carry a
//    checksum and fall back to a scan, an empty value is a value (not a
//    tombstone), and the directory is locked against a second process.
//    Still a limitation: with sync_writes=false, acknowledged writes survive a
//    process crash but not power loss (that is what the option means).
//
// Thread-safety: none. One BitcaskStore per directory, used by one thread.
#ifndef BLACKOUT_ENGINES_BITCASK_BITCASK_H_
#define BLACKOUT_ENGINES_BITCASK_BITCASK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engines/common/buffered_file.h"
#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines::bitcask {

enum class Profile { kDefault, kFixed };

struct Options {
  // Soft limit: a put or delete rotates to a new data file before writing
  // when the active file has reached this size (REF `>=`, checked before).
  uint64_t max_file_size = 10 * 1024 * 1024;
  // fsync the active file after every record (REF default true).
  bool sync_writes = true;
  Profile profile = Profile::kDefault;
  // Seconds since the epoch for record timestamps (REF time.time()). Tests
  // inject a clock to reproduce H-B6 (compaction trusts timestamps).
  std::function<double()> clock;
};

// Where the current value of a key lives on disk. `size` is the whole record.
struct KeyEntry {
  uint32_t file_id = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  double timestamp = 0;
};

class BitcaskStore {
 public:
  // Opens (creating if needed) the store in `dir` and rebuilds the keydir from
  // hint files or by scanning data files in ascending id order.
  // Default: a truncated hint file, or a torn key that is not valid UTF-8, is
  // Corruption (REF raises); a torn record with a complete header is indexed
  // as REF does (H-B3). Fixed: bad hints fall back to a scan; the active
  // file's torn tail is cut off; Busy if another store holds the directory.
  // Durability: fixed: the truncated tail and a newly created active file are
  // durable on return; default: nothing is synced.
  [[nodiscard]] static Result<std::unique_ptr<BitcaskStore>> Open(Env* env, const std::string& dir,
                                                                  Options options);

  ~BitcaskStore();  // does not flush or sync: call Close() for a clean shutdown
  BitcaskStore(const BitcaskStore&) = delete;
  BitcaskStore& operator=(const BitcaskStore&) = delete;

  // Appends a record (rotating first if the active file is full) and indexes it.
  // Durability: survives a process crash on return (write(2) done); survives
  // power loss iff sync_writes (fsync of the data file; fixed also fsyncs the
  // directory when rotation created the file, default does not: H-B8).
  [[nodiscard]] Status Put(std::string_view key, std::string_view value);

  // The current value, or nullopt. Default: a stored "" reads as nullopt
  // (REF: "" is the tombstone, H-B7); a torn record yields a truncated value
  // (H-B3). Corruption when the record cannot be decoded or names another key.
  // Durability: reads only.
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key);

  // Appends a tombstone (even for an absent key) and drops the key.
  // Durability: as Put.
  [[nodiscard]] Status Delete(std::string_view key);

  // Live keys (keydir order is unspecified). Durability: none involved.
  std::vector<std::string> Keys() const;
  size_t size() const { return keydir_.size(); }
  bool Contains(std::string_view key) const { return keydir_.count(std::string(key)) != 0; }

  // Merges every data file except the active one into new files with hints.
  // Durability: default: nothing is synced, and the old files are unlinked
  // before the active file is renamed (H-B1, H-B2): a crash inside can lose
  // data or resurrect deleted keys. Fixed: on return every merged file, hint,
  // rename and unlink is durable, and a crash at any point leaves a store
  // that recovers the same contents.
  [[nodiscard]] Status Compact();

  // Closes every file. Durability: default: flushes, never fsyncs (H-B4);
  // fixed: fsyncs the active file first, so everything acknowledged survives
  // power loss once Close returns.
  [[nodiscard]] Status Close();

  // Structural self-check: every keydir entry lies inside its file and its
  // header names the key. Returns one line per problem; empty when sound.
  // Durability: reads only.
  std::vector<std::string> Verify();

  // Every live key with its value, in key order (for the driver's dump).
  // Durability: reads only.
  [[nodiscard]] Result<std::map<std::string, std::string>> ReadAll();

  const std::unordered_map<std::string, KeyEntry>& keydir() const { return keydir_; }
  uint32_t active_file_id() const { return active_file_id_; }

 private:
  BitcaskStore(Env* env, std::string dir, Options options);

  struct ScannedRecord;
  [[nodiscard]] Status Recover();
  [[nodiscard]] Result<std::vector<uint32_t>> FindFileIds();
  [[nodiscard]] Status ScanDataFile(uint32_t file_id, bool is_active);
  [[nodiscard]] Status LoadHintFile(uint32_t file_id, bool* loaded);
  [[nodiscard]] Status OpenActiveFile();
  [[nodiscard]] Status MaybeRotate();
  [[nodiscard]] Status WriteRecord(std::string_view key, std::optional<std::string_view> value,
                                   KeyEntry* entry);
  [[nodiscard]] Result<std::string> ReadRange(uint32_t file_id, uint64_t offset, size_t n);
  [[nodiscard]] Status WriteHintFile(const std::string& path,
                                     const std::vector<std::pair<std::string, KeyEntry>>& entries);
  [[nodiscard]] Status CompactDefault(const std::vector<uint32_t>& immutable_ids);
  [[nodiscard]] Status CompactFixed(const std::vector<uint32_t>& immutable_ids);
  [[nodiscard]] Status SyncDirIfFixed();
  std::string DataPath(uint32_t id) const;
  std::string HintPath(uint32_t id) const;
  bool fixed() const { return options_.profile == Profile::kFixed; }
  double Now() const;

  Env* env_;
  std::string dir_;
  Options options_;
  std::unique_ptr<DirLock> lock_;
  std::unordered_map<std::string, KeyEntry> keydir_;
  std::unique_ptr<BufferedFile> active_file_;
  uint32_t active_file_id_ = 0;
  bool closed_ = false;
};

}  // namespace blackout::engines::bitcask

#endif  // BLACKOUT_ENGINES_BITCASK_BITCASK_H_
