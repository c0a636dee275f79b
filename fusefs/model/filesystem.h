// blackout::model::Filesystem: the in-memory filesystem that blackoutfs serves.
//
// The crash model lives in one place, crash_model.md beside this file; every
// other file refers to it. In short:
//   * Every mutating operation applies to the VOLATILE view (what the running
//     kernel shows) and, unless it is a pure read, gets a sequence number in the
//     trace and becomes a PendingOp.
//   * The DURABLE view (what survives a power cut) changes only through sync
//     events: Fsync/Fdatasync of a file (its data, size, attributes), a write on
//     an O_SYNC/O_DSYNC handle, FsyncDir of a directory (its entries), SyncAll.
//   * A behaviour model (posix-strict, ext4-ordered, ...) says what else a sync
//     event makes durable and which pending operations may reach the disk on
//     their own; a crash state is the durable view plus such a subset.
//
// Thread-safety: every public method is thread-safe (the FUSE loop is
// multi-threaded and the control socket runs on its own thread).
//
// Errors: methods return Result<T>; an error is a positive errno value, ready
// for fuse_reply_err. An inode number the model no longer has (a power cut
// took the inode while the kernel still held a dentry for it) answers ESTALE,
// not ENOENT: the kernel then walks the path again with LOOKUP_REVAL, so an
// open(O_CREAT), stat or mkdir through a dentry the kernel has not dropped
// yet sees the crash state (the cut drops such dentries after it replies).
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fusefs/model/faults.h"
#include "fusefs/model/result.h"

namespace blackout::model {

class SpillFile;

using Ino = uint64_t;
using Fh = uint64_t;
using Seq = uint64_t;
inline constexpr Ino kRootIno = 1;
inline constexpr size_t kPageSize = 4096;

// Who asks, from the FUSE request (owner of new files, trace pid).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  pid_t pid = 0;
  uint32_t umask = 022;
};

// struct stat as the model keeps it.
struct Attr {
  Ino ino = 0;
  uint32_t mode = 0;  // type and permission bits
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t rdev = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units actually backed by pages
  timespec atime{}, mtime{}, ctime{};
  struct stat ToStat() const;
};

// Which attributes SetAttr changes (FUSE_SET_ATTR_* decoded).
struct AttrChange {
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;   // truncate
  std::optional<timespec> atime;  // UTIME_NOW is resolved by the caller
  std::optional<timespec> mtime;
};

struct DirEntry {
  std::string name;
  Ino ino = 0;
  uint32_t mode = 0;  // type bits only are meaningful
};

struct Created {
  Attr attr;
  Fh fh = 0;
};

// The behaviour models; see crash_model.md for what each allows.
enum class BehaviourModel { kPosixStrict, kExt4Ordered, kExt4Writeback, kBtrfs, kXfs };
// "posix-strict", "ext4-ordered", "ext4-writeback", "btrfs", "xfs"; EINVAL otherwise.
Result<BehaviourModel> ParseBehaviourModel(std::string_view name);
// "posix-strict, ext4-ordered, ext4-writeback, btrfs, xfs": for messages.
const char* BehaviourModelNames();
std::string_view Name(BehaviourModel m);

enum class View { kDurable, kVolatile };

// One entry of the trace: a mutating operation with its sequence number.
struct TraceEntry {
  Seq seq = 0;
  pid_t pid = 0;
  std::string op;  // "create", "write", "fsync", "rename", ...
  Ino ino = 0;
  std::string path;  // path of the inode at the time (first link)
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t digest = 0;  // CRC-32C of written bytes (digest.h), 0 otherwise
  uint32_t flags = 0;
  std::string detail;  // e.g. rename target
};

// What `unsynced` reports.
struct UnsyncedFile {
  std::string path;
  Ino ino = 0;
  uint64_t pending_bytes = 0;
  Seq since = 0;  // trace position of the oldest pending operation
};
struct UnsyncedDir {
  std::string path;
  Ino ino = 0;
  uint64_t pending_entries = 0;
  Seq since = 0;
};
struct Unsynced {
  std::vector<UnsyncedFile> files;
  std::vector<UnsyncedDir> dirs;
  // Files whose un-synced writes a failed fsync dropped (crash_model.md,
  // "Failed fsync"): reads still show those bytes, a power cut loses them.
  // `since` is the failed fsync's trace position, pending_bytes 0.
  std::vector<UnsyncedFile> failed_writeback;
};

// Which crash state a power cut leaves. More generators come with the
// exploration work; these two need no pending-operation subset.
enum class CrashStateKind { kDropAll, kKeepAll };

// One crash state a generator chose among the pending operations (see
// crash_model.md, "Generators"). The id alone rebuilds the state for the
// same pending operations: "drop-all", "keep-all", "prefix:S" (ops up to seq
// S), "reorder:K:s1,s2" (all but s1, s2), "torn:S:B" (ops before S, and the
// first B bytes of write S, whole 512-byte sectors), "random:N:SEED:I".
struct CrashStateInfo {
  std::string id;
  std::string generator;     // as asked: "prefix", "reorder:2", "torn", "random:8", ...
  std::vector<Seq> kept;     // pending operations applied, in order (the torn one included)
  std::vector<Seq> dropped;  // pending operations lost
  Seq torn = 0;              // the write that reached the disk only in part, or 0
  uint64_t torn_bytes = 0;   // how many of its bytes did
  uint64_t tree_hash = 0;    // of the resulting tree; identical trees are listed once
};

// One entry of a crash state read into memory (Filesystem::CrashStateFiles),
// for recovering it inside the explorer's process instead of on disk.
struct StateFile {
  enum class Type { kDir, kFile, kSymlink, kOther };
  std::string path;  // relative to the root, e.g. "store/wal/000001.log"
  Type type = Type::kFile;
  std::string data;  // a file's bytes (holes as zeros); a symlink's target
};

// A regular file of the volatile view (Filesystem::RegularFiles).
struct FileSize {
  Ino ino = 0;
  std::string path;  // from the root, e.g. "/store/wal.log": the inode's first name
  uint64_t size = 0;
};

struct PowerCutResult {
  uint64_t dropped_ops = 0;    // pending operations lost
  uint64_t epoch = 0;          // new epoch; older handles answer EIO
  std::vector<Ino> forgotten;  // inodes that no longer exist
  // For the kernel caches: inodes that still exist but may differ from what
  // the kernel last saw (a superset), and the (parent, name) entries the
  // kernel may hold wrong: entries of the old volatile view that are gone or
  // now name another inode, and names that exist again (a negative entry).
  // Entries that name the same inode before and after are not listed:
  // invalidating one makes the kernel evict the inode with its page cache.
  std::vector<Ino> changed;
  std::vector<std::pair<Ino, std::string>> stale_entries;
  // The stale entries whose name no longer exists and whose inode no longer
  // exists either (sorted). Nothing the kernel does through such a dentry
  // can show the old inode: every use needs the inode's attributes or the
  // inode itself, which now answer ESTALE, and the kernel then walks the
  // path again. So these may be invalidated
  // after the cut is answered: dropping the last dentry of a file makes the
  // kernel free its page cache there and then (86 to 133 ms for 1 GiB).
  std::vector<std::pair<Ino, std::string>> gone_entries;
};

// A crash point a saving crash trigger captured (faults.h, CrashTrigger::save).
struct SavedCrashPoint {
  uint64_t trigger = 0;  // the id AddCrashTrigger gave
  uint64_t nth = 0;      // which matching operation it fired at (1-based)
  FaultOp op = FaultOp::kFsync;
  bool before = false;  // captured before the operation happened (else after)
  std::string path;     // of the operation, as faults.h matches it
  Seq seq = 0;          // the trace position: CurrentSeq when it was captured
  std::string bytes;    // SaveCrashPoint's bytes, for LoadCrashPoint
};

struct Options {
  BehaviourModel model = BehaviourModel::kPosixStrict;
  uint64_t capacity_bytes = 0;  // 0: unlimited
  bool trace = true;            // keep TraceEntry records (the seq counter always runs)
  // Keep at most this many trace entries, dropping the oldest (TraceDropped
  // counts them); 0 keeps all. A long-running mount sets one: the trace is
  // the only record that grows with every operation, synced or not.
  uint64_t trace_limit = 0;
  // PowerCutResult::stale_entries lists every entry of the volatile view
  // before and after the cut, so that the kernel evicts every inode it holds:
  // with the kernel's writeback cache an inode may hold dirty pages of the
  // old epoch, which only an eviction drops cleanly.
  bool stale_all_entries = false;
  // Where versions of file pages that only a pending write still holds go
  // once pending writes hold more than `spill_after` bytes of whole pages in
  // memory (crash_model.md, "Memory: the spill file"); null keeps every
  // version in memory. A thread of the filesystem moves them.
  std::shared_ptr<SpillFile> spill = nullptr;
  uint64_t spill_after = uint64_t{1} << 30;
};

// What file data costs in memory and on the spill disk (Filesystem::Memory).
struct MemoryUse {
  uint64_t pending_in_memory = 0;  // bytes of whole pages pending writes hold in memory
  uint64_t spilled = 0;            // bytes of pending writes in the spill file now
  uint64_t spill_written = 0;      // bytes ever written to the spill file
  std::string spill_dir;           // empty: no spill file
  std::string spill_error;  // why the disk refused the last spill (spilling pauses), or empty
};

class Filesystem {
 public:
  explicit Filesystem(Options options = {});
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // ---- Namespace. Lookup-type calls (Lookup, Mknod, Mkdir, Symlink, Link,
  // Create) add one to the inode's lookup count, as FUSE requires; Forget
  // takes them away. An inode lives while it has a link, a lookup or an open
  // handle.
  Result<Attr> Lookup(Ino parent, std::string_view name);
  void Forget(Ino ino, uint64_t nlookup);
  Result<Attr> GetAttr(Ino ino);
  Result<Attr> SetAttr(Ino ino, const AttrChange& change, std::optional<Fh> fh, const Caller& who);
  Result<Attr> Mknod(Ino parent, std::string_view name, uint32_t mode, uint32_t rdev,
                     const Caller& who);
  Result<Attr> Mkdir(Ino parent, std::string_view name, uint32_t mode, const Caller& who);
  Result<Attr> Symlink(Ino parent, std::string_view name, std::string_view target,
                       const Caller& who);
  Result<std::string> Readlink(Ino ino);
  Result<Attr> Link(Ino ino, Ino new_parent, std::string_view new_name, const Caller& who);
  Result<void> Unlink(Ino parent, std::string_view name, const Caller& who);
  Result<void> Rmdir(Ino parent, std::string_view name, const Caller& who);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  Result<void> Rename(Ino parent, std::string_view name, Ino new_parent, std::string_view new_name,
                      unsigned flags, const Caller& who);

  // ---- Files. flags are open(2) flags; O_SYNC/O_DSYNC make every write on
  // the handle a sync event; O_TRUNC truncates.
  Result<Created> Create(Ino parent, std::string_view name, uint32_t mode, int flags,
                         const Caller& who);
  Result<Fh> Open(Ino ino, int flags, const Caller& who);
  // Reads up to `size` bytes at `offset` into `out` (resized to what was read).
  Result<void> Read(Fh fh, uint64_t offset, size_t size, std::string& out);
  // The same into `dst`, which has room for `size` bytes; returns the number
  // of bytes read (no zero-fill of a buffer first, as resizing a string does).
  Result<size_t> ReadInto(Fh fh, uint64_t offset, size_t size, char* dst);
  Result<size_t> Write(Fh fh, uint64_t offset, std::string_view data, const Caller& who);
  Result<void> Flush(Fh fh);  // close(2) of one descriptor: never a sync event
  Result<void> Release(Fh fh);
  Result<void> Fsync(Fh fh, bool datasync, const Caller& who);
  // mode: fallocate(2) mode bits (0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE).
  Result<void> Fallocate(Fh fh, int mode, uint64_t offset, uint64_t length, const Caller& who);

  // ---- Directories.
  Result<Fh> OpenDir(Ino ino, const Caller& who);
  // Entries including "." and "..", from index `offset` on.
  Result<std::vector<DirEntry>> ReadDir(Fh fh, uint64_t offset);
  Result<void> ReleaseDir(Fh fh);
  Result<void> FsyncDir(Fh fh, bool datasync, const Caller& who);

  // ---- Extended attributes. flags: XATTR_CREATE / XATTR_REPLACE.
  Result<void> SetXattr(Ino ino, std::string_view name, std::string_view value, int flags,
                        const Caller& who);
  Result<std::string> GetXattr(Ino ino, std::string_view name);
  Result<std::vector<std::string>> ListXattr(Ino ino);
  Result<void> RemoveXattr(Ino ino, std::string_view name, const Caller& who);

  Result<struct statvfs> StatFs();

  // ---- Control (the control socket calls these).
  Seq CurrentSeq() const;
  uint64_t Epoch() const;
  // Makes everything durable (`blackout ctl sync`).
  void SyncAll();
  // Drops power: the volatile view becomes the chosen crash state, every open
  // handle of the old epoch answers EIO from now on.
  PowerCutResult PowerCut(CrashStateKind state = CrashStateKind::kDropAll);
  Unsynced ListUnsynced() const;
  // Those of `inodes` that are regular files with a name in the volatile
  // view, in the order given.
  std::vector<FileSize> RegularFiles(const std::vector<Ino>& inodes) const;
  // Writes the view into `dir` (created if missing; must be empty) as plain
  // files, directories and symlinks, with modes and xattrs where possible.
  Result<void> Materialize(View view, const std::string& dir) const;
  std::vector<TraceEntry> Trace() const;
  // Turns trace records on or off (`ctl trace start|stop`); the sequence
  // numbers run on either way, so a trace taken across a stop shows the gap.
  void SetTracing(bool on);
  bool Tracing() const;
  // Trace entries dropped by Options::trace_limit, and those from before a
  // LoadCrashPoint on a filesystem in use: Trace() starts after them.
  uint64_t TraceDropped() const;
  // Distinct strings (op names, paths, details) the trace keeps interned.
  // With a trace limit, at most about twice what the kept entries name.
  size_t TraceStrings() const;
  BehaviourModel Model() const;
  MemoryUse Memory() const;
  // Moves every version of a file page that only a pending write holds to
  // Options::spill now, whatever spill_after says (the spill thread does the
  // same on its own past spill_after); returns the bytes moved, 0 without a
  // spill file. Reads, syncs and crash states read spilled pages back.
  uint64_t SpillSuperseded();

  // ---- Crash-state exploration (crash_model.md, "Generators").
  // The crash states `generator` gives for the operations pending now, in a
  // deterministic order for (pending operations, generator, seed), states
  // the behaviour model forbids left out, identical trees listed once, at
  // most `limit`. Generators: "drop-all", "keep-all", "prefix", "reorder:K",
  // "torn", "random:N". EINVAL: unknown generator. Holds the model's lock
  // while it builds the states: call it with the workload paused.
  Result<std::vector<CrashStateInfo>> CrashStates(std::string_view generator, uint64_t seed = 0,
                                                  size_t limit = 10000) const;
  // PowerCut into crash state `id` (CrashStateInfo::id; "drop-all" and
  // "keep-all" are PowerCut's two kinds). EINVAL: malformed
  // id, one naming an operation that is not pending, or a state the
  // behaviour model never leaves (IsCrashState).
  Result<PowerCutResult> PowerCutTo(std::string_view id);
  // Whether `id` names a state of the pending operations that this model's
  // generators could give: well formed, naming pending operations, and
  // allowed by the model (btrfs: prefixes only, never torn; ext4 and xfs:
  // journaled operations as a prefix, data before the metadata exposing
  // it). MaterializeCrashState also builds other states (a diagnosis
  // re-checks states with more operations kept, as a sync would have made).
  bool IsCrashState(std::string_view id) const;
  // For an id that is no crash state here: the first `limit` ids the
  // generator it names does give ("torn:3:7" -> torn's; "reorder:2:5,6" ->
  // reorder:2's; "random:4:9:1" -> random:4's with seed 9), that generator
  // in *generator and how many it gives in *total. Empty when `id` names no
  // generator.
  std::vector<std::string> SameGeneratorIds(std::string_view id, uint64_t seed, size_t limit,
                                            std::string* generator, size_t* total) const;
  // Materialize crash state `id` into `dir` (rules as Materialize).
  Result<void> MaterializeCrashState(std::string_view id, const std::string& dir) const;
  // The hash of crash state `id`'s tree, as CrashStateInfo::tree_hash gives
  // it for the states CrashStates lists: equal hashes, identical trees (names,
  // modes, xattrs, sizes, bytes). EINVAL as PowerCutTo.
  Result<uint64_t> CrashStateHash(std::string_view id) const;
  // Crash state `id` as a list, without touching the disk: every directory,
  // file and symlink, each directory before what it holds, names in sorted
  // order. A file with several hard links is listed once per name.
  Result<std::vector<StateFile>> CrashStateFiles(std::string_view id) const;

  // ---- Faults beyond power loss (faults.h; crash_model.md, "Faults").
  // Adds an error-injection rule: matching operations fail with rule.err.
  // EINVAL: a glob GlobProblem refuses, an errno not of ParseFaultErrno,
  // first == 0.
  Result<void> AddFault(FaultRule rule);
  // Arms a crash trigger, replacing every armed one (torn writes too).
  // EINVAL: bad glob, nth 0.
  Result<void> SetCrashTrigger(CrashTrigger trigger);
  // Arms one more crash trigger beside the armed ones; returns its id.
  // EINVAL: bad glob, nth 0, `every` without `save`.
  Result<uint64_t> AddCrashTrigger(CrashTrigger trigger);
  // Arms one more torn write (faults.h); it counts as a crash trigger for
  // TriggeredCuts and TakeFiredTriggers. EINVAL: TornWriteProblem refuses it.
  Result<uint64_t> AddTornWrite(TornWrite torn);
  // Disarms every crash trigger and torn write; the rules stay.
  void DisarmTriggers();
  // The ids of the triggers and torn writes that cut power since the last
  // call, in firing order.
  std::vector<uint64_t> TakeFiredTriggers();
  // Removes every rule, the armed trigger and torn write; errors already
  // reported to open files stay reported.
  void ClearFaults();
  std::vector<FaultRule> Faults() const;
  std::vector<CrashTrigger> ArmedTriggers() const;
  // How many power cuts a crash trigger made so far (saving triggers cut none).
  uint64_t TriggeredCuts() const;
  // The crash points saving triggers captured since the last call, in
  // firing order; a trigger saves once, or at every matching operation from
  // its nth on (`every`).
  std::vector<SavedCrashPoint> TakeSavedCrashPoints();
  // Called with the id of each trigger or torn write that cuts power, on the
  // thread of the operation, with the model's lock held: it must only hand
  // the id on (a pipe write). Empty: none.
  using FireListener = std::function<void(uint64_t)>;
  void SetFireListener(FireListener listener);
  // Called when a trigger armed with `stop` cuts the power, on the thread of
  // the operation (the caller's request), with the model's lock held.
  using StopListener = std::function<void()>;
  void SetStopListener(StopListener listener);
  // Kernel caches to drop after a change no control request made (a crash
  // trigger's power cut, a btrfs revert after a failed fsync): directory
  // entries and inodes. Called with the model's lock held, on the FUSE
  // thread of the operation: it must only hand the lists to another thread.
  using CacheDropListener =
      std::function<void(std::vector<std::pair<Ino, std::string>>, std::vector<Ino>)>;
  void SetCacheDropListener(CacheDropListener listener);

  // ---- Record once, explore offline.
  // The durable view and the pending operations as bytes (zlib-compressed,
  // versioned): everything the crash states at this point need, to be saved
  // at a crash point and explored later without re-running the workload.
  std::string SaveCrashPoint() const;
  // Replaces this filesystem's state by a saved crash point: the volatile
  // view becomes the saved one, CrashStates/PowerCutTo/MaterializeCrashState
  // answer as the saved filesystem did, open handles answer EIO (new epoch).
  // EINVAL: not a saved crash point. EXDEV: saved under another behaviour
  // model than this filesystem's (SavedModel). Which operations are still
  // pending at a point depends on the model's sync rules (an ext4-ordered
  // fsync commits earlier renames, a posix-strict one does not), so a point
  // explored under another model would show states that model never leaves.
  // On a live mount (`ctl load`), the result says what the kernel may hold
  // wrong of the old world, as a power cut's does.
  Result<PowerCutResult> LoadCrashPoint(std::string_view saved);
  // The behaviour model a crash point was saved under; nullopt for a point
  // saved before crash points recorded it (LoadCrashPoint takes those under
  // any model). EINVAL: an unknown model.
  static Result<std::optional<BehaviourModel>> SavedModel(std::string_view saved);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blackout::model
