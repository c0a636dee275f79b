// Faults beyond power loss: injected errors and crash triggers.
//
// A FaultRule makes matching operations fail with an errno before they reach
// the model's state (the operation has no effect), except fsync, whose
// failure follows the kernel's writeback-error semantics of the behaviour
// model (crash_model.md, "Failed fsync"; durability.cc, FailFsync).
// A CrashTrigger cuts power (drop-all) right before or right after the Nth
// matching operation; the kernel caches are dropped through the listener
// given to Filesystem::SetCacheDropListener. A saving trigger (`save`) cuts
// nothing: it captures the crash point there (Filesystem::SaveCrashPoint's
// bytes) and the operation and the workload go on undisturbed, so the crash
// states of a point inside a program's call can be explored offline with
// every generator (Filesystem::TakeSavedCrashPoints).
//
// Matching: an operation matches when its kind is the rule's and the glob
// matches the path of the file it acts on ("/dir/a.log"; for create the new
// name's path, for rename the source or the target). A glob without '/'
// is matched against the last component too, so "*.log" matches
// "/dir/a.log". fnmatch(3) syntax: *, ?, [...].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fusefs/model/result.h"

namespace blackout::model {

enum class FaultOp : uint8_t {
  kRead,
  kWrite,
  kFsync,     // fsync and fdatasync of a file
  kFsyncDir,  // fsync of a directory
  kCreate,    // create, mknod
  kRename,
  kUnlink,
  kTruncate,  // truncate(2), ftruncate(2), O_TRUNC
  kFallocate,
  kOpen,     // open of an existing file or directory (create has its own)
  kLink,     // link(2): the file's path or the new name
  kSymlink,  // symlink(2): the new name
};

// "read", "write", "fsync", "fsyncdir", "create", "rename", "unlink",
// "truncate", "fallocate", "open", "link", "symlink"; EINVAL otherwise.
[[nodiscard]] Result<FaultOp> ParseFaultOp(std::string_view name);
std::string_view Name(FaultOp op);
// The names above, comma-separated, for error messages.
std::string_view FaultOpNames();
// "EIO", "ENOSPC", "EDQUOT", "EROFS" -> the errno; EINVAL otherwise.
[[nodiscard]] Result<int> ParseFaultErrno(std::string_view name);
std::string_view FaultErrnoName(int err);
std::string_view FaultErrnoNames();
// Empty string when `glob` is usable, else why not (empty, unbalanced '[').
std::string GlobProblem(std::string_view glob);
// Whether `glob` matches `path` (see the header comment).
bool GlobMatches(const std::string& glob, const std::string& path);

struct FaultRule {
  FaultOp op = FaultOp::kWrite;
  std::string path = "*";  // glob
  int err = 5;             // EIO
  // The rule fires on matching operations first..first+count-1 (1-based);
  // count 0: without end.
  uint64_t first = 1;
  uint64_t count = 0;
  // Matching operations seen so far (the model's state, not configuration).
  uint64_t seen = 0;
  uint64_t fired = 0;
};

// An ECMAScript regular expression searched anywhere in a path, as LazyFS
// matches its crash regexes (".*R.*" against the path). Compiled once.
struct PathRegex;
// nullptr and *error (the regex library's message) when `text` is no regex.
std::shared_ptr<const PathRegex> CompilePathRegex(const std::string& text, std::string* error);
bool RegexMatches(const PathRegex& regex, const std::string& path);

struct CrashTrigger {
  FaultOp op = FaultOp::kFsync;
  std::string path = "*";
  uint64_t nth = 1;
  bool before = false;  // cut before the operation (it never happens, answers EIO)
  // Save the crash point instead of cutting: before or after the operation,
  // which then happens as if no trigger were armed.
  bool save = false;
  // A saving trigger only: it saves at the nth matching operation and at
  // every one after it, and stays armed. A point before each fsync, with
  // the prefix states of what is pending there, covers every position
  // between two syncs, without counting the program's operations by hand.
  bool every = false;
  // A cutting trigger only: freeze the calling program at the cut (the
  // daemon stops its process group, Filesystem::SetStopListener), as the
  // power going out would; a harness then kills it.
  bool stop = false;
  uint64_t seen = 0;
  uint64_t id = 0;  // given by the filesystem when armed (TakeFiredTriggers)
  // When set, matched against the paths instead of the glob `path` (which
  // then only names the trigger in listings).
  std::shared_ptr<const PathRegex> regex;
};

// LazyFS's torn-op and torn-seq faults (fusefs/lazyfs, docs/lazyfs.md): at
// one write of a file, power is cut to a state that keeps only some of the
// file's recent writes, or some parts of one write, of everything pending.
//   kOp:  the `occurrence`-th write matching `path` is split into parts
//         (`parts` equal parts, the last one taking the remainder, or the
//         sizes `parts_bytes`, which must add up to the write's size); the
//         parts listed in `persist` (1-based) reach the disk, nothing else
//         pending does.
//   kSeq: writes matching `path` form a group until an fsync of the file;
//         a run of two or more is a group. In the `occurrence`-th group the
//         writes listed in `persist` (1-based) reach the disk, nothing else
//         pending does; power goes right after the last of them (after the
//         2nd write when only the 1st is listed: only then is it a group).
// Like every power cut, un-synced directory entries are lost too.
struct TornWrite {
  enum class Kind : uint8_t { kOp, kSeq };
  Kind kind = Kind::kOp;
  std::string path = "*";  // glob
  uint64_t occurrence = 1;
  std::vector<uint64_t> persist;
  uint64_t parts = 0;
  std::vector<uint64_t> parts_bytes;
  // The model's state, not configuration.
  uint64_t writes = 0;           // kOp: matching writes; kSeq: writes in the current run
  uint64_t groups = 0;           // kSeq: groups seen
  std::vector<uint64_t> run;     // kSeq: sequence numbers of the current run's writes
  uint64_t id = 0;               // given by the filesystem when armed
};

// Why `t` cannot be armed, or "" (empty persist, a part out of range,
// parts and parts_bytes both or neither given for kOp, occurrence 0).
std::string TornWriteProblem(const TornWrite& t);

// The rules and the armed crash triggers of one filesystem. Not
// thread-safe: the filesystem calls it under its lock.
class FaultTable {
 public:
  bool empty() const { return rules_.empty() && triggers_.empty(); }
  void Add(FaultRule rule) { rules_.push_back(std::move(rule)); }
  void AddTrigger(CrashTrigger t) { triggers_.push_back(std::move(t)); }
  void ClearTriggers() { triggers_.clear(); }
  void Clear() {
    rules_.clear();
    triggers_.clear();
  }
  // The errno the first firing rule gives for this operation, or 0. Every
  // matching rule counts the operation.
  int Error(FaultOp op, const std::vector<std::string>& paths);
  // Counts the operation for every trigger on the `before` side that it
  // matches; the id of the first cutting trigger that fires (it is then
  // disarmed), or 0. Saving triggers that fire are disarmed too (unless
  // `every`) and appended to *saves as (id, which matching operation):
  // every one of them fires, a cut or not.
  uint64_t Fires(FaultOp op, const std::vector<std::string>& paths, bool before,
                 std::vector<std::pair<uint64_t, uint64_t>>* saves);
  // Whether the cutting trigger that last fired asked to freeze its caller.
  bool fired_stop() const { return fired_stop_; }
  const std::vector<FaultRule>& rules() const { return rules_; }
  const std::vector<CrashTrigger>& triggers() const { return triggers_; }
  bool has_after_trigger() const {
    for (const CrashTrigger& t : triggers_) {
      if (!t.before) return true;
    }
    return false;
  }

 private:
  std::vector<FaultRule> rules_;
  bool fired_stop_ = false;
  std::vector<CrashTrigger> triggers_;
};

}  // namespace blackout::model
