// WriteAheadLog: the C++ port of REF's write-ahead-log/wal.py (ENGINES.md
// section 2), with two profiles.
//
// Default profile: REF call for call and byte for byte, holes included
// (ENGINES.md 7.2, H-W1..H-W9): sync modes "sync" (fsync per record), "batch"
// (flush + fsync only every batch_sync_count records) and any other string
// (no flush, no fsync); replay ignores COMMIT; seq numbers restart after a
// full truncate; no directory fsync; torn tails are left in place and the
// next records are appended after them; truncate rewrites files in place.
// Where REF raises an exception nobody catches (struct.error on a misframed
// record, KeyError on an unknown op name), the call returns a Corruption or
// InvalidArgument Status instead.
//
// Fixed profile: the format of FORMAT.md section "fixed" (segment header with
// a durable seq floor, CRC over the whole record), torn or unterminated tails
// cut off on open, BEGIN/COMMIT honoured by replay, every record flushed to
// the kernel before it is acknowledged, directory fsync after every create,
// rename and unlink, truncate through temp file + fsync + rename + directory
// fsync, and an exclusive lock on the directory. Corruption anywhere but in
// the tail of the last segment makes Open fail rather than silently drop
// records. Limitation: in "batch" and "none" modes acknowledged records that
// were not yet fsynced are still lost on power loss (that is the mode's
// contract: synced-prefix).
//
// Not thread-safe: the driver serializes calls (REF's lock only mattered for
// threads, H-W9).
#ifndef BLACKOUT_ENGINES_WAL_WAL_H_
#define BLACKOUT_ENGINES_WAL_WAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/common/buffered_file.h"
#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines {

struct WalOptions {
  std::string sync_mode = "sync";            // "sync" | "batch" | anything else = none (REF)
  int64_t max_file_size = 10 * 1024 * 1024;  // soft limit, checked after each write
  int64_t batch_sync_count = 100;            // "batch": fsync on every Nth record
  bool fixed = false;                        // profile
};

// One record as REF's WALRecord: op_type is "PUT", "DELETE", "COMMIT",
// "CHECKPOINT", "BEGIN" (fixed profile only) or "UNKNOWN".
struct WalRecord {
  uint64_t seq = 0;
  std::string op_type;
  std::string key;
  std::string value;
  uint32_t checksum = 0;
};

struct WalOperation {
  std::string op_type;  // "PUT" or "DELETE" (REF accepts any op name)
  std::string key;
  std::string value;
};

class WriteAheadLog {
 public:
  // Creates `dir` if needed, recovers the seq high-water mark and opens the
  // latest segment for appending (or creates the next one).
  // Durability (default): the directory and a created segment's entry are
  // never fsynced (H-W3). Fixed: a created directory, segment or truncated
  // tail is durable on return.
  [[nodiscard]] static Result<std::unique_ptr<WriteAheadLog>> Open(Env* env, const std::string& dir,
                                                                   const WalOptions& options);
  ~WriteAheadLog();  // no flush: a destroyed, unclosed log loses its buffer
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  // Appends one record and returns its seq. op_type must be "PUT", "DELETE",
  // "COMMIT" or "CHECKPOINT" (else InvalidArgument, nothing written).
  // Durability: "sync": survives power loss (fixed: its segment's entry too;
  // default: not if the segment's directory entry is new, H-W3). "batch":
  // default keeps it in the userspace buffer (lost on process crash) until
  // the Nth record, then all survive power loss; fixed writes it to the kernel
  // (survives a process crash) and fsyncs on the Nth. Other modes: default
  // keeps it in the buffer; fixed ("none") writes it to the kernel, never fsyncs.
  [[nodiscard]] Result<uint64_t> Append(const std::string& op_type, const std::string& key,
                                        const std::string& value = "");
  // Appends the operations and a COMMIT in one write and returns the COMMIT's
  // seq; an empty batch writes a lone COMMIT (fixed: BEGIN first).
  // Durability: always fsynced, whatever the mode: the batch survives power
  // loss. Default: a torn batch's valid prefix is replayed (H-W1); fixed:
  // all or nothing.
  [[nodiscard]] Result<uint64_t> AppendBatch(const std::vector<WalOperation>& operations);
  // Appends a CHECKPOINT record (empty key and value) and returns its seq.
  // Durability: fsynced, whatever the mode.
  [[nodiscard]] Result<uint64_t> Checkpoint();
  // Removes every record with seq <= up_to.
  // Durability (default): each rewritten segment is zeroed in place ("wb")
  // and then fsynced; a crash in between loses its kept records; unlinks are
  // not durable; after a full truncate the seq numbers restart at 1 (H-W2).
  // Fixed: on return the result is durable, a crash at any point leaves
  // either the old or the new content of each segment, and seq numbers keep
  // growing.
  [[nodiscard]] Status Truncate(int64_t up_to);
  // PUT and DELETE records with seq > after_seq, in log order. Flushes the
  // userspace buffer first (no fsync). Default: stops at the first CRC error
  // anywhere, includes records of incomplete batches (H-W1). Fixed: records of
  // batches without their COMMIT are left out.
  // Durability: flushed records survive a process crash, nothing more.
  [[nodiscard]] Result<std::vector<WalRecord>> Replay(int64_t after_seq = 0);
  // Every readable record of every type (REF's iterate()). Durability: as Replay.
  [[nodiscard]] Result<std::vector<WalRecord>> Iterate();
  // What Replay(after_seq) answers when the log reads as `all` (Iterate's
  // answer), without reading it again.
  std::vector<WalRecord> Replayed(std::vector<WalRecord> all, int64_t after_seq = 0) const;
  // The last seq handed out (0 for an empty log).
  uint64_t current_seq() const { return seq_; }
  // Flush + fsync + close. Durability: everything appended survives power
  // loss (default: except a never-synced directory entry, H-W3).
  [[nodiscard]] Status Close();

  // Names of the segment files, sorted as REF sorts them.
  [[nodiscard]] Result<std::vector<std::string>> SegmentPaths();
  bool fixed() const { return options_.fixed; }
  const WalOptions& options() const { return options_; }

 private:
  WriteAheadLog(Env* env, std::string dir, WalOptions options);

  [[nodiscard]] Status RecoverDefault();
  [[nodiscard]] Status RecoverFixed();
  [[nodiscard]] Status OpenLatest();
  [[nodiscard]] Status Rotate();
  [[nodiscard]] Status DoSync(bool force);
  [[nodiscard]] Status MaybeRotate();
  [[nodiscard]] Status WriteRecords(const std::string& bytes, bool force_sync);
  [[nodiscard]] Status TruncateDefault(int64_t up_to);
  [[nodiscard]] Status TruncateFixed(int64_t up_to);
  [[nodiscard]] Result<std::vector<WalRecord>> ReadAll();
  [[nodiscard]] Status CheckUsable() const;
  std::string Encode(uint64_t seq, uint8_t op, const std::string& key,
                     const std::string& value) const;

  Env* env_;
  std::string dir_;
  WalOptions options_;
  uint64_t seq_ = 0;
  int64_t write_count_ = 0;
  std::unique_ptr<BufferedFile> fd_;  // the active segment; null after close
  std::string current_file_;
  std::unique_ptr<DirLock> lock_;  // fixed profile only
  // Set when a call failed half-way where REF would have left its object
  // unusable (an exception with the file closed); later calls fail with it.
  Status broken_;
  bool closed_ = false;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_WAL_WAL_H_
