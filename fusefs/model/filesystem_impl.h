// Filesystem::Impl, shared by the files that implement Filesystem:
//   filesystem.cc   namespace, file and directory operations (volatile view)
//   durability.cc   sync events, behaviour models, power cut, unsynced, trace
//   materialize.cc  writing a view into a plain directory
//
// Invariants (all under `mu`):
//   * vol == dur with every op of `pending` applied in seq order (ApplyOp),
//     except for writes a failed fsync dropped (fault_hooks.cc, FailFsync):
//     the volatile view keeps showing them, no crash state has them.
//   * Per inode, the data ops applied to `dur` are a prefix of that inode's
//     data ops (a sync never applies a later write before an earlier one).
//   * by_inode/by_dir/by_child/meta index `pending` by seq; they may hold
//     seqs already applied (skipped and pruned when read).
//   * An inode stays in `vol` while it has a link, a FUSE lookup or an open
//     handle of the current epoch. Inode numbers are never reused, so a
//     pending op or a kernel reference never names a different file.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fusefs/model/faults.h"
#include "fusefs/model/filesystem.h"
#include "fusefs/model/inode.h"
#include "fusefs/model/pending_op.h"

namespace blackout::model {

struct Handle {
  Ino ino = 0;
  int flags = 0;
  uint64_t epoch = 0;
  bool is_dir = false;
  std::vector<DirEntry> listing;  // directories: taken at opendir / rewind
};

// Everything a power cut throws away, freed off the caller's thread so that a
// cut with a gigabyte of pending pages returns in microseconds.
struct Garbage {
  Tree vol;
  std::map<Seq, PendingOp> pending;
};

// What fsck and orphan cleanup leave of a durable view: only what is
// reachable from the root, each directory once, link counts recounted.
void RepairTree(Tree& tree);

struct Filesystem::Impl {
  explicit Impl(Options o);
  ~Impl();

  Options options;
  mutable std::mutex mu;
  // Whether operations get trace records now: options.trace at the start,
  // then `ctl trace start|stop`. Atomic: a write reads it before it takes
  // the lock, to skip the digest of its bytes when nothing records it.
  std::atomic<bool> tracing;
  Tree vol, dur;
  std::unordered_map<Ino, Born> born;
  std::map<Seq, PendingOp> pending;
  std::unordered_map<Ino, std::vector<Seq>> by_inode;  // inode ops, by ino
  std::unordered_map<Ino, std::vector<Seq>> by_dir;    // entry ops, by each directory
  std::unordered_map<Ino, std::vector<Seq>> by_child;  // entry ops, by the inode named
  std::vector<Seq> meta;  // every op an ext4 journal commit carries (see durability.cc)
  // Links of each volatile inode: (parent, name); the first is "the" path.
  std::unordered_map<Ino, std::vector<std::pair<Ino, std::string>>> links;
  std::unordered_map<Ino, uint64_t> lookups;
  std::unordered_map<Ino, uint64_t> open_count;
  std::unordered_map<Fh, Handle> handles;
  Fh next_fh = 1;
  Ino next_ino = kRootIno + 1;
  Seq seq = 0;
  uint64_t epoch = 1;
  // The trace, compact: 56 bytes per entry, its strings (op names, paths,
  // details) interned in `trace_strings` (id 0 is ""). Trace() expands it.
  struct TraceRecord {
    Seq seq = 0;
    Ino ino = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    pid_t pid = 0;
    uint32_t digest = 0;
    uint32_t flags = 0;
    uint32_t op = 0;
    uint32_t path = 0;
    uint32_t detail = 0;
  };
  std::deque<TraceRecord> trace;  // a deque: growing never copies it
  uint64_t trace_dropped = 0;     // oldest records dropped for options.trace_limit
  void PushTrace(TraceRecord r);
  std::vector<std::string> trace_strings{""};
  std::unordered_map<std::string, uint32_t> trace_string_ids{{"", 0}};
  uint32_t Intern(std::string_view s);
  // Once trace_limit drops records, strings only they named would stay
  // interned for the mount's life (a workload of fresh file names grows the
  // table without end). When the table has grown by its size at the last
  // compaction plus kTraceStringSlack, keep only the strings the kept
  // records, `incoming` and the path cache name, and renumber them: memory
  // stays within twice what the kept trace needs, at an amortized cost of a
  // few steps per new string.
  void CompactTraceStrings(TraceRecord& incoming);
  static constexpr size_t kTraceStringSlack = 65536;
  size_t trace_strings_compacted = 0;  // the table's size after the last compaction
  // Path(ino) as a string id, cached per inode until `links` changes
  // (links_gen counts those changes): a write's trace entry costs no path walk.
  uint32_t PathId(Ino ino);
  uint64_t links_gen = 0;
  uint64_t path_ids_gen = 0;
  std::unordered_map<Ino, uint32_t> path_ids;
  std::thread reaper;
  // ---- faults (faults.cc, durability.cc "Failed fsync")
  FaultTable faults;
  CacheDropListener drop_listener;
  uint64_t triggered_cuts = 0;
  // Open file descriptions that have a writeback error still to report:
  // Linux's errseq_t reports an error once to each file open when it
  // happened (lib/errseq.c, file_check_and_advance_wb_err).
  std::unordered_map<Ino, std::unordered_set<Fh>> unreported_wb_err;
  // Files whose un-synced writes a failed fsync dropped (FailFsync, every
  // model but btrfs): the volatile view shows bytes no crash state has.
  // Inode -> the failed fsync's trace position; cleared by a power cut.
  std::map<Ino, Seq> writeback_failed;

  // ---- filesystem.cc helpers
  Result<const Node*> Dir(Ino ino) const;  // ENOENT / ENOTDIR
  Result<Handle*> GetHandle(Fh fh);        // EBADF / EIO (old epoch)
  std::string Path(Ino ino) const;
  void Link(Ino ino, Ino parent, const std::string& name);
  void Unlink(Ino ino, Ino parent, const std::string& name);
  void MaybeReap(Ino ino);
  // Records `op` (seq assigned here), applies it to the volatile view, indexes
  // it and traces it. Returns its seq.
  Seq Commit(PendingOp op, pid_t pid, uint32_t digest = 0);
  // The trace record of `op`, applied to vol just now (paths as they are).
  TraceRecord TraceOf(const PendingOp& op, pid_t pid, uint32_t digest);
  void Index(const PendingOp& op);   // into by_inode/by_dir/by_child/meta
  void Relink(const PendingOp& op);  // links follow an entry operation
  void Record(const std::string& op, Ino ino, pid_t pid, uint64_t offset = 0, uint64_t length = 0,
              uint32_t digest = 0, uint32_t flags = 0, std::string detail = {});
  Result<Attr> NewInode(Ino parent, std::string_view name, uint32_t mode, uint32_t rdev,
                        std::string_view target, const Caller& who, OpKind kind);
  // `prepared` holds `data` as WriteData(offset, data) and `digest` its
  // Digest (0 without a trace), both made by the caller before it took the
  // lock; an O_APPEND write whose offset moved remakes the WriteData here.
  Result<void> WriteLocked(Handle& h, uint64_t offset, std::string_view data, WriteData prepared,
                           uint32_t digest, const Caller& who, size_t& written);
  Result<void> TruncateLocked(Ino ino, uint64_t size, const Caller& who);
  // Clears the setuid bit of the regular file `ino` and its setgid bit when
  // it is group-executable or `who` (not root) is not in its group, as a
  // pending setattr: what Linux does when a caller without CAP_FSETID (here:
  // uid != 0) writes or truncates a file, and on every chown.
  void DropSetIdBits(Ino ino, const Caller& who);

  // ---- fault hooks (filesystem.cc calls them; faults.h says what matches).
  // The paths an operation on `ino` matches by; the entry `name` in `parent`.
  std::vector<std::string> PathsOf(Ino ino) const;
  std::string EntryPath(Ino parent, std::string_view name) const;
  // Before an operation: the errno to answer, or 0 to go on. A "before"
  // trigger cuts power here and answers EIO; otherwise an injected error.
  // `paths` is called only when faults are set.
  int BeforeOp(FaultOp op, const std::function<std::vector<std::string>()>& paths);
  // After an operation that succeeded: cuts power if an "after" trigger fires.
  void AfterOp(FaultOp op, const std::function<std::vector<std::string>()>& paths);
  struct StateSpec;  // below, with the crash states
  // The power cut of a fired trigger: to `spec` when given, else drop-all.
  void TriggeredCut(uint64_t id, FaultOp op, const std::string& path,
                    const StateSpec* spec = nullptr);
  // A completed write of `ino` that committed op `seq`: counts it for the
  // torn writes, which may cut power. An O_SYNC write left nothing pending:
  // a torn write keeps it whole.
  void AfterWrite(Ino ino, Seq seq);
  // An fsync of `ino` ends the torn write's current run of writes.
  void AfterFsync(Ino ino);
  std::vector<TornWrite> torn_writes;
  uint64_t next_trigger_id = 1;
  std::vector<uint64_t> fired_triggers;  // TakeFiredTriggers
  // Crash points the saving triggers captured (TakeSavedCrashPoints).
  std::vector<SavedCrashPoint> saved_points;
  void SavePoints(const std::vector<std::pair<uint64_t, uint64_t>>& fired, FaultOp op, bool before,
                  const std::vector<std::string>& paths);
  // SaveCrashPoint's bytes, with the lock held (serialize.cc).
  std::string SaveLocked() const;
  FireListener fire_listener;
  StopListener stop_listener;
  Seq last_write_seq = 0;  // WriteLocked: the pending op it committed, or 0
  // A failed fsync of file `ino` through `fh` with a writeback error `err`:
  // what the behaviour model does with the un-synced data (durability.cc).
  void FailFsync(Fh fh, Ino ino);

  // ---- durability.cc
  void ApplyPending(Seq s);
  void ApplyInodeOpsBefore(Ino ino, Seq before, bool data_only);
  bool HasLive(std::vector<Seq>& seqs, bool size_changing_only = false);
  void SyncInode(Ino ino, bool datasync);
  void SyncDir(Ino dir);
  void CommitJournal();
  void ApplyAll();
  void JoinReaper();
  // Makes `dur` (already the crash state) the new world: see PowerCut.
  // `record`: add the power-cut record to the trace (a load adds its own).
  PowerCutResult FinishCut(PowerCutResult result, const std::string& label, bool record = true);
  // Adds to `result` what the kernel may hold wrong once the volatile view
  // `old` is replaced by `now`: the inodes gone or changed, the entries gone,
  // renamed over or back (PowerCutResult); sorted.
  void KernelCacheDiff(const Tree& old, const Tree& now, PowerCutResult& result) const;

  // ---- spill.cc (crash_model.md, "Memory: the spill file")
  // Every change to `pending` goes through these two (FinishCut empties it
  // and zeroes pending_memory), so that pending_memory stays exact.
  void AddPending(PendingOp op);
  void ErasePending(std::map<Seq, PendingOp>::iterator it);
  // Bytes of whole pages that pending writes hold in memory.
  uint64_t pending_memory = 0;
  // One version of a file page that only a pending write holds, on its way
  // to the spill file: the reference keeps it alive while the lock is free.
  struct SpillCandidate {
    Seq seq;
    uint32_t page;  // index among the write's whole pages
    PageRef ref;
  };
  // Adds up to `limit` candidates to `batch`, going on from where the last
  // call stopped and examining a bounded number of pages (the lock is held).
  // True when it reached the end of `pending` (the next call starts over).
  bool CollectSuperseded(std::vector<SpillCandidate>& batch, size_t limit);
  // Writes `batch` to the spill file with the lock released, then points the
  // writes at the chunk and frees the pages, again without the lock. False
  // when the disk refused: spill_error says why and spilling pauses.
  bool SpillBatch(std::vector<SpillCandidate>& batch, std::unique_lock<std::mutex>& lock);
  // Spills batch after batch until `enough()` or a whole pass over `pending`
  // moves nothing (then SpillDue waits for replaced_pages). Returns the
  // bytes moved.
  uint64_t SpillUntil(std::unique_lock<std::mutex>& lock, const std::function<bool()>& enough);
  bool SpillDue() const;
  // Before a sync applies every pending data op of `ino` (`seqs`, ascending;
  // SyncInode, or ApplyAll for every inode): when some of them are spilled,
  // records in sync_whole_writes[ino] the last whole-page write of each
  // page, for ApplyOp (pending_op.h). The sync clears it when it is done.
  void NoteWholeWrites(Ino ino, const std::vector<Seq>& seqs);
  std::unordered_map<Ino, std::unordered_map<uint64_t, Seq>> sync_whole_writes;
  void RunSpiller();
  void StopSpiller();
  Seq spill_cursor = 0;
  size_t spill_cursor_page = 0;
  // Pages that writes replaced in the volatile view since the last pass
  // that found nothing to move: each may have left a superseded version.
  uint64_t replaced_pages = 0;
  // Why the disk refused the last spill (full, or failing), or empty once a
  // spill succeeds again. Spilling pauses until spill_retry_at, 1 s after
  // the first refusal and twice as long after each further one, up to
  // kSpillMaxPause: a disk that another program filled for a while gets
  // used again when it has room, and one that keeps failing costs one
  // refused chunk per pause.
  std::string spill_error;
  std::chrono::steady_clock::time_point spill_retry_at{};
  std::chrono::seconds spill_pause{0};
  bool SpillPaused() const;
  bool spill_stop = false;
  std::condition_variable spill_cv;
  std::thread spiller;

  // ---- crash_state.cc
  struct StateSpec {
    std::vector<Seq> kept;  // ascending
    Seq torn = 0;
    uint64_t torn_bytes = 0;
    // When not empty: the (offset in the write, length) pieces of write
    // `torn` that reached the disk, instead of its first torn_bytes.
    std::vector<std::pair<uint64_t, uint64_t>> pieces;
  };
  Result<StateSpec> ParseStateId(std::string_view id) const;
  // The durable view with the spec's operations applied, repaired.
  Tree BuildState(const StateSpec& spec) const;
  bool Allowed(const StateSpec& spec) const;
};

// Writes `tree` into `dir` (materialize.cc); `dir` must be missing or empty.
Result<void> MaterializeTree(const Tree& tree, const std::string& dir);
// A hash of everything Materialize would write (names, types, modes, sizes,
// contents, symlink targets, xattrs).
uint64_t HashTree(const Tree& tree);

}  // namespace blackout::model
