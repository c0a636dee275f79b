// blackout::fusefs::FuseAdapter: serves a model::Filesystem through the
// libfuse3 low-level API.
//
// Each request handler decodes the request, calls ONE model function and
// replies exactly once through a reply helper for that result type (see
// adapter.cc). Inode numbers are the model's (the root is 1 = FUSE_ROOT_ID).
//
// Kernel caches: by default there is no writeback cache, so every write(2)
// reaches the model in order, when it happens. The page cache is kept and
// stays valid across opens (keep_cache) while no power cut came in between:
// every change of a file's bytes goes through the kernel, which updates its
// cache as it forwards the write (or, for a direct write, drops the pages it
// covers), except a power cut (or a fault that reverts
// data), after which the control thread calls InvalidateKernelCaches() so that
// the kernel shows the crash state and never a dropped byte; the first open
// of an inode after that drops its cache again (keep_cache off once).
//
// Writes skip the page cache where the kernel allows it (direct writes):
// a handle opened for writing is answered with FOPEN_DIRECT_IO, so that a
// write(2) goes from the caller's memory to the model in one copy instead of
// being copied into the page cache first (sequential 128 KiB writes 1.4x as
// fast, BENCHMARKS.md). The kernel invalidates the cached pages a direct
// write covers, so handles opened for reading still read from the page cache
// and see every write. Reads through a handle opened read-write are not
// cached. Only when the kernel takes FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6+),
// which keeps shared writable mmap working on such handles; never with the
// writeback cache, whose point is the page cache; off with
// MountOptions::direct_writes false.
//
// With MountOptions::writeback_cache the kernel batches writes in its page
// cache and hands them over later (on fsync, close, memory pressure or its
// writeback timer); a power cut discards what it had not handed over: the
// kernel writes such pages back through a handle opened before the cut, and
// the model refuses those (EIO, old epoch). Handles are opened read-write in
// that mode (the kernel reads pages around a partial write) and O_APPEND is
// left to the kernel, as the libfuse documentation of the write handler asks.
//
// Thread-safety: handlers run on the multi-threaded session loop; Exit() and
// InvalidateKernelCaches() may be called from any other thread but never
// from inside a request handler (the kernel would wait for the handler).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fusefs/model/filesystem.h"

struct fuse_session;
struct fuse_init_out;

namespace blackout::fusefs {

// On a thread serving a FUSE request: the pid of the process that made it
// (the model's listeners run there, a crash trigger's among them); 0 on a
// thread that served none.
pid_t RequestCallerPid();

class UringQueues;

struct MountOptions {
  std::string mountpoint;  // absolute path of an existing directory
  // allow_other is added when the process is root or /etc/fuse.conf has
  // user_allow_other; false forces it off.
  bool allow_other_if_permitted = true;
  // How long the kernel may trust an entry or attributes without asking.
  // Every change goes through this process, and a power cut invalidates
  // explicitly, so these only bound a race with a concurrent power cut.
  double entry_timeout_s = 1.0;
  double attr_timeout_s = 1.0;
  unsigned max_threads = 8;
  // The kernel's writeback cache (see the file comment); off by default.
  bool writeback_cache = false;
  // With writeback_cache, as root: the most bytes of the mount the kernel
  // may hold dirty (a strict per-mount limit); 0 for the machine's limits,
  // as a disk file system has (adapter.cc, SetDirtyLimit).
  uint64_t dirty_limit = 0;
  // Serve requests over FUSE io_uring (uring.h) when the kernel offers it;
  // requests still come through /dev/fuse until every queue is registered.
  bool io_uring = false;
  // Handles opened for writing skip the page cache (see the file comment).
  bool direct_writes = true;
};

// What InvalidateKernelCaches told the kernel to forget.
struct InvalidationCount {
  size_t entries = 0;
  size_t inodes = 0;
};

class FuseAdapter {
 public:
  // Creates the session and mounts it on options.mountpoint with
  // default_permissions, fsname=blackoutfs, subtype=blackout (type
  // `fuse.blackout` in /proc/mounts). On failure returns nullptr and sets
  // *error to a sentence naming the mount point.
  // REQUIRES: `fs` outlives the adapter.
  static std::unique_ptr<FuseAdapter> Mount(model::Filesystem& fs, const MountOptions& options,
                                            std::string* error);
  ~FuseAdapter();  // unmounts if still mounted
  FuseAdapter(const FuseAdapter&) = delete;
  FuseAdapter& operator=(const FuseAdapter&) = delete;

  // Installs SIGTERM/SIGINT/SIGHUP handlers that end Loop(). The signals are
  // delivered to the thread that calls Loop() only if every other thread
  // blocks them (the session loop's workers do).
  [[nodiscard]] bool InstallSignalHandlers();

  // Runs the multi-threaded session loop until the file system is unmounted
  // or Exit() is called. Returns 0, a signal number, or -errno.
  int Loop();

  // Asks Loop() to return (it returns once a request or signal wakes it).
  void Exit();

  // Unmounts (lazily when busy, as libfuse does for root). Idempotent.
  void Unmount();

  // Tells the kernel to drop the given directory entries (parent, name) and
  // the attributes and page cache of every inode it may know (those handed
  // out by entry replies and not yet forgotten, plus `inodes`). Call after a power cut with
  // the entries of the volatile view from before AND after the cut, so that
  // removed names disappear and restored names are looked up again.
  // Errors (the kernel did not have the entry) are ignored.
  InvalidationCount InvalidateKernelCaches(
      const std::vector<std::pair<model::Ino, std::string>>& entries,
      const std::vector<model::Ino>& inodes = {});
  // Tells the kernel to drop these (parent, name) entries, nothing else: the
  // entries a power cut removed, after InvalidateKernelCaches had the rest
  // (model::PowerCutResult::gone_entries).
  void InvalidateEntries(const std::vector<std::pair<model::Ino, std::string>>& entries);

  const std::string& mountpoint() const { return options_.mountpoint; }

  // How requests reach the daemon: {"io_uring", requests served through the
  // ring} once the queues run, else {"/dev/fuse", 0}.
  std::pair<std::string, uint64_t> Transport();
  // Of the requests served through the ring, those its overflow entries
  // served (uring.h); 0 without the ring.
  uint64_t RingOverflowRequests();

  // Whether handles opened for writing skip the page cache (the file
  // comment): known once the kernel's INIT was answered.
  bool DirectWrites() const { return direct_writes_.load(std::memory_order_relaxed); }

  // Whether the kernel's INIT was answered (with the mount's settings made:
  // readahead, direct writes, the io_uring queues asked for).
  bool Initialized() const { return initialized_.load(std::memory_order_acquire); }

  // With the writeback cache, whose limit holds the mount's dirty pages:
  // "machine" (the machine's, as a disk file system's), "strict"
  // (MountOptions::dirty_limit bytes) or "fuse" (FUSE's own 1%: sysfs was
  // not writable). Empty without the writeback cache.
  const std::string& DirtyLimit() const { return dirty_limit_; }

 private:
  // With the writeback cache, after a power cut and before the pages are
  // invalidated: has the kernel write back the mount's dirty pages (syncfs),
  // which the model refuses (old epoch). Invalidating a dirty page makes the
  // kernel write it back first, one page per round trip: 4.6 to 5.4 s for
  // 1 GiB dirty, against 0.13 to 0.16 s in syncfs's batched writes.
  void WriteBackDirtyPages();
  // With the writeback cache, after a power cut: gives the kernel the
  // model's size of each of `inodes` it holds that is a regular file. The
  // kernel then keeps a regular file's size as its own writes and truncates
  // left it and takes none from a GETATTR or lookup reply
  // (fuse_get_cache_mask), so that a cut's lost growth or lost truncate
  // would still show in stat and in reads. It takes the size from a SETATTR
  // reply: this truncates each file through the mount to the model's size,
  // and the handler answers that request with the model's attributes,
  // recording nothing (IsOwnSizeFix). The control socket's power cut
  // answers after this ran. A crash trigger's cut runs it afterwards, on
  // the cache drop thread, while the program may go on: a file it opens
  // anew and grows in the page cache in that window loses the growth.
  void RestoreKernelSizes(std::vector<model::Ino> inodes);
  // Whether a SETATTR comes from RestoreKernelSizes (the kernel names the
  // calling thread).
  bool IsOwnSizeFix(pid_t caller_tid) const {
    return caller_tid != 0 && caller_tid == size_fix_tid_.load(std::memory_order_acquire);
  }
  // With the writeback cache: a write of `ino` the model refused (the
  // kernel's writeback of pages from before a power cut, or a fault). The
  // kernel's size may include it.
  void NoteRefusedWrite(model::Ino ino);
  friend struct Handlers;
  FuseAdapter(model::Filesystem& fs, MountOptions options);

  // The kernel's lookup count per inode, mirrored so that a power cut can
  // invalidate exactly the inodes the kernel may hold. Invariant: an inode is
  // in `kernel_lookups_` iff an entry reply for it succeeded more times than
  // forgets took away; the root is always there.
  void NoteLookup(model::Ino ino);
  void NoteForget(model::Ino ino, uint64_t n);
  // Whether the kernel may keep its page cache of `ino` on this open: true
  // when the inode was opened before since the last InvalidateKernelCaches.
  bool KeepCacheOnOpen(model::Ino ino);
  // Whether a file opened with `open_flags` skips the page cache: direct
  // writes are on and the handle can write.
  bool DirectIoOnOpen(int open_flags) const;
  // Whether the INIT reply asks for direct writes: the mount wants them and
  // the kernel offered FUSE_DIRECT_IO_ALLOW_MMAP.
  bool WantsDirectWrites() const;
  // Files the kernel has open per inode (opens and creates answered, minus
  // releases): a power cut drops those inodes' cached pages at once.
  void NoteOpen(model::Ino ino);
  void NoteRelease(model::Ino ino);
  // After the INIT reply that asked for FUSE_OVER_IO_URING went out on `fd`.
  void StartUring(int fd, const fuse_init_out& init);

  // The INIT request as the session I/O saw it (adapter.cc, SessionRead):
  // its id until the reply went out, and whether the kernel offered
  // FUSE_HANDLE_KILLPRIV_V2, FUSE_OVER_IO_URING and FUSE_DIRECT_IO_ALLOW_MMAP
  // (the reply asks for those the mount wants).
  struct InitSeen {
    std::atomic<uint64_t> unique{0};
    std::atomic<bool> kernel_offers_killpriv_v2{false};
    std::atomic<bool> kernel_offers_uring{false};
    std::atomic<bool> kernel_offers_direct_io_allow_mmap{false};
  };

  model::Filesystem& fs_;
  MountOptions options_;
  InitSeen init_seen_;
  // Set by the INIT reply when it took FUSE_DIRECT_IO_ALLOW_MMAP: opens for
  // writing are then answered with FOPEN_DIRECT_IO.
  std::atomic<bool> direct_writes_{false};
  std::atomic<bool> initialized_{false};  // Initialized()
  fuse_session* session_ = nullptr;
  // The io_uring queues, started by the INIT reply that asked for them.
  std::mutex uring_mu_;
  std::unique_ptr<UringQueues> uring_;
  bool mounted_ = false;
  std::string dirty_limit_;  // DirtyLimit(); set at Mount
  bool signals_installed_ = false;
  std::mutex lookups_mu_;
  std::unordered_map<model::Ino, uint64_t> kernel_lookups_;
  // Cache generation: bumped by every InvalidateKernelCaches; per inode, the
  // generation of its last open (under lookups_mu_).
  uint64_t cache_generation_ = 1;
  std::unordered_map<model::Ino, uint64_t> opened_in_generation_;
  std::unordered_map<model::Ino, uint64_t> open_files_;
  // Inodes with a write refused since the last InvalidateKernelCaches
  // (NoteRefusedWrite), under lookups_mu_.
  std::unordered_set<model::Ino> refused_writes_;
  std::atomic<pid_t> size_fix_tid_{0};  // the thread in RestoreKernelSizes
};

}  // namespace blackout::fusefs
