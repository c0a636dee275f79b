// The libfuse3 low-level handlers. Shape of every handler:
//
//   static void Op(fuse_req_t req, ...) { ReplyX(req, Fs(req).Op(...)); }
//
// i.e. decode, ONE model call, and one reply helper that owns the reply. Each
// reply helper calls exactly one fuse_reply_* on every path, so a handler can
// neither reply twice nor forget to reply. Helpers that hand the kernel a
// reference (entry, open, create) undo it in the model when the reply could
// not be delivered (the request was interrupted), as the kernel will then
// never send the matching forget or release.
#define FUSE_USE_VERSION 312

#include "fusefs/fuse/adapter.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "fusefs/fuse/fuse_log.h"
#include "fusefs/fuse/mountinfo.h"
#include "fusefs/fuse/uring.h"

namespace blackout::fusefs {

namespace {
// The pid of the request this thread serves (Handlers::Fs), 0 before any.
thread_local pid_t t_request_pid = 0;
}  // namespace

pid_t RequestCallerPid() { return t_request_pid; }
namespace {

// Largest read/write request: the kernel's limit (256 pages) and libfuse's
// buffer size (FUSE_MAX_MAX_PAGES).
constexpr unsigned kMaxRequestBytes = 1u << 20;

// Ring entries per CPU: requests one CPU can have with its queue thread at
// once; more go to the overflow entries (uring.h), then wait in the kernel.
constexpr unsigned kUringDepth = 2;
constexpr unsigned kUringOverflowDepth = 4;

// The INIT flag (flags2 bit 4, Linux 6.6+; Debian 12's headers predate it)
// that lets a FOPEN_DIRECT_IO handle be mapped shared and writable: the
// kernel then keeps the mapping coherent with direct writes.
constexpr uint64_t kFuseDirectIoAllowMmap = 1ULL << 36;

using model::Attr;
using model::Caller;
using model::Result;

bool FuseConfAllowsOther() {
  std::ifstream in("/etc/fuse.conf");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("user_allow_other", 0) == 0) return true;
  }
  return false;
}

// Sequential reads that miss the page cache reach the daemon in requests of
// the readahead window, 128 KiB by default for a FUSE mount; the mount's
// window goes up to the largest request (1 MiB): sequential 128 KiB reads
// 5 to 30% faster in paired runs (BENCHMARKS.md, "Profile"). The kernel
// takes no larger window from the INIT reply, only from sysfs, which needs
// root; otherwise the default stays. It must be set after the kernel took
// the INIT reply, which lowers the window to the smaller of the current one
// and the reply's max_readahead (at most what the kernel offered, 128 KiB).
// Random reads do not read ahead.
void RaiseReadahead(const std::string& mountpoint) {
  const std::optional<MountInfo> m = MountAt(mountpoint);
  if (!m) return;
  const std::string knob = "/sys/class/bdi/" + m->devno + "/read_ahead_kb";
  std::ofstream out(knob);
  out << kMaxRequestBytes / 1024 << "\n";
  out.close();
  if (out) {
    Log()->info("readahead of {} raised to {} KiB ({})", mountpoint, kMaxRequestBytes / 1024, knob);
  } else {
    Log()->info("readahead of {} left at the kernel's default ({} not writable)", mountpoint, knob);
  }
}

// FUSE gives every mount a strict dirty limit of 1% of the machine's (about
// 45 MiB on a 24 GiB machine): with the writeback cache the kernel slows a
// writer as soon as that much of the mount is dirty and hands pages over at
// once, where a disk file system may hold up to vm.dirty_ratio of memory
// dirty. The writeback mode sets the mount's own bdi (gone at unmount), as
// root: `limit` bytes, strict, or with 0 the machine's limits alone, so that
// the kernel batches as it does for a disk: sequential 128 KiB and random
// 4 KiB writes of a 256 MiB file twice as fast (BENCHMARKS.md). The price is
// paid at a power cut, when the kernel writes back what is dirty (refused:
// old epoch, WriteBackDirtyPages) and frees it: 0.3 to 0.4 ms per dirty MiB.
// Returns whether the kernel took the knobs.
bool SetDirtyLimit(const std::string& mountpoint, uint64_t limit) {
  const std::optional<MountInfo> m = MountAt(mountpoint);
  if (!m) return false;
  const std::string dir = "/sys/class/bdi/" + m->devno + "/";
  const std::vector<std::pair<std::string, std::string>> knobs =
      limit == 0 ? std::vector<std::pair<std::string, std::string>>{{"strict_limit", "0"},
                                                                    {"max_ratio", "100"}}
                 : std::vector<std::pair<std::string, std::string>>{
                       {"strict_limit", "1"}, {"max_bytes", std::to_string(limit)}};
  bool ok = true;
  for (const auto& [knob, value] : knobs) {
    std::ofstream out(dir + knob);
    out << value << "\n";
    out.close();
    ok = ok && static_cast<bool>(out);
  }
  if (!ok) {
    Log()->warn(
        "dirty pages of {} keep FUSE's strict limit of 1% of the machine's ({} not writable)",
        mountpoint, dir);
  } else if (limit == 0) {
    Log()->info("dirty pages of {} follow the machine's limits, as a disk's ({})", mountpoint, dir);
  } else {
    Log()->info("dirty pages of {} limited to {} bytes ({})", mountpoint, limit, dir);
  }
  return ok;
}

timespec Now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

}  // namespace

struct Handlers {
  static FuseAdapter& Adapter(fuse_req_t req) {
    return *static_cast<FuseAdapter*>(fuse_req_userdata(req));
  }
  // Every handler reaches the model through here: the caller's pid is noted
  // for the thread first (RequestCallerPid).
  static model::Filesystem& Fs(fuse_req_t req) {
    t_request_pid = fuse_req_ctx(req)->pid;
    return Adapter(req).fs_;
  }

  static Caller Who(fuse_req_t req) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    return Caller{ctx->uid, ctx->gid, ctx->pid, ctx->umask};
  }

  // ---- Session I/O: plain read(2) and writev(2) on the /dev/fuse
  // descriptors, except that a reply to a request that came through an
  // io_uring queue goes back to its ring entry (uring.h), plus two changes
  // to the INIT reply.
  //
  // The kernel asks a FUSE file system for `security.capability` before
  // every write(2) (to decide whether the write must clear setuid bits): one
  // more round trip per write, which halved write throughput. Unless the
  // file system answers INIT with FUSE_HANDLE_KILLPRIV_V2: then the kernel
  // marks the mount SB_NOSEC, asks once per inode until its attributes
  // change, and leaves clearing setuid/setgid bits on write and truncate to
  // the file system (model::Filesystem does it). libfuse 3.14 (Debian 12)
  // cannot ask for that flag (it has no FUSE_CAP_HANDLE_KILLPRIV_V2), so the
  // INIT reply gets it here when the kernel offered it.
  //
  // With MountOptions::io_uring, the INIT reply also asks for
  // FUSE_OVER_IO_URING (libfuse 3.14 predates it) when the kernel offered it,
  // and once the kernel has that reply the io_uring queues start.

  static ssize_t SessionRead(int fd, void* buf, size_t len, void* userdata) {
    const ssize_t n = ::read(fd, buf, len);
    // Kernels before 5.17 send a 16-byte fuse_init_in (no flags2): enough.
    constexpr size_t kInitFlagsEnd = offsetof(fuse_init_in, flags) + sizeof(uint32_t);
    if (n >= static_cast<ssize_t>(sizeof(fuse_in_header) + kInitFlagsEnd)) {
      fuse_in_header in{};
      std::memcpy(&in, buf, sizeof(in));
      if (in.opcode == FUSE_INIT) {
        fuse_init_in init{};
        std::memcpy(&init, static_cast<const char*>(buf) + sizeof(in), kInitFlagsEnd);
        FuseAdapter::InitSeen& seen = static_cast<FuseAdapter*>(userdata)->init_seen_;
        seen.kernel_offers_killpriv_v2 = (init.flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
        constexpr size_t kFlags2End = offsetof(fuse_init_in, flags2) + sizeof(uint32_t);
        if ((init.flags & FUSE_INIT_EXT) != 0 &&
            n >= static_cast<ssize_t>(sizeof(fuse_in_header) + kFlags2End)) {
          std::memcpy(&init, static_cast<const char*>(buf) + sizeof(in), kFlags2End);
          seen.kernel_offers_uring = (init.flags2 & (kFuseOverIoUring >> 32)) != 0;
          seen.kernel_offers_direct_io_allow_mmap =
              (init.flags2 & (kFuseDirectIoAllowMmap >> 32)) != 0;
        }
        seen.unique = in.unique;
      }
    }
    return n;
  }

  static ssize_t SessionWritev(int fd, iovec* iov, int count, void* userdata) {
    ssize_t written = 0;
    if (UringQueues::TakeReply(iov, count, &written)) return written;
    FuseAdapter& a = *static_cast<FuseAdapter*>(userdata);
    FuseAdapter::InitSeen& seen = a.init_seen_;
    const uint64_t init_unique = seen.unique.load(std::memory_order_relaxed);
    if (init_unique == 0 || count < 2 || iov[0].iov_len < sizeof(fuse_out_header) ||
        iov[1].iov_len < offsetof(fuse_init_out, flags) + sizeof(uint32_t)) {
      return ::writev(fd, iov, count);
    }
    const auto* out = static_cast<const fuse_out_header*>(iov[0].iov_base);
    if (out->unique != init_unique) return ::writev(fd, iov, count);
    seen.unique = 0;
    auto* init = static_cast<fuse_init_out*>(iov[1].iov_base);
    if (out->error == 0 && seen.kernel_offers_killpriv_v2) init->flags |= FUSE_HANDLE_KILLPRIV_V2;
    const bool has_flags2 = out->error == 0 && iov[1].iov_len >= sizeof(fuse_init_out);
    const bool uring = has_flags2 && a.options_.io_uring && seen.kernel_offers_uring;
    if (uring) {
      init->flags |= FUSE_INIT_EXT;
      init->flags2 |= static_cast<uint32_t>(kFuseOverIoUring >> 32);
    }
    const bool direct_writes = has_flags2 && a.WantsDirectWrites();
    if (direct_writes) {
      init->flags |= FUSE_INIT_EXT;
      init->flags2 |= static_cast<uint32_t>(kFuseDirectIoAllowMmap >> 32);
    }
    const ssize_t n = ::writev(fd, iov, count);
    // The kernel has now taken the INIT reply, which caps the readahead
    // window at what the kernel offered in INIT (128 KiB): raised after it.
    if (n >= 0) RaiseReadahead(a.options_.mountpoint);
    if (n >= 0 && direct_writes) a.direct_writes_ = true;
    if (uring && n >= 0) a.StartUring(fd, *init);
    if (n >= 0) a.initialized_.store(true, std::memory_order_release);
    return n;
  }

  // ---- Reply helpers: one per result type, one fuse_reply_* per path.

  static void ReplyErr(fuse_req_t req, const Result<void>& r) { fuse_reply_err(req, r.error()); }

  static void ReplyEntry(fuse_req_t req, const Result<Attr>& r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    FuseAdapter& a = Adapter(req);
    fuse_entry_param e{};
    e.ino = r->ino;
    e.attr = r->ToStat();
    e.attr_timeout = a.options_.attr_timeout_s;
    e.entry_timeout = a.options_.entry_timeout_s;
    a.NoteLookup(r->ino);  // before the reply: a forget may follow at once
    if (fuse_reply_entry(req, &e) != 0) {
      a.NoteForget(r->ino, 1);
      a.fs_.Forget(r->ino, 1);
    }
  }

  static void ReplyAttr(fuse_req_t req, const Result<Attr>& r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    const struct stat st = r->ToStat();
    fuse_reply_attr(req, &st, Adapter(req).options_.attr_timeout_s);
  }

  static void ReplyOpen(fuse_req_t req, const Result<model::Fh>& r, fuse_file_info* fi, bool dir,
                        model::Ino ino) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    fi->fh = *r;
    // Page cache yes (shared mmap needs it, and reads are served from it),
    // kept across opens until a power cut; direct_io for a handle that can
    // write, where the kernel keeps shared mmap working with it (adapter.h).
    // No FLUSH on close(2) (FOPEN_NOFLUSH): the model has nothing to do
    // there (no locks, close is no sync event), and the round trip was one
    // in twelve of a create-write-fsync-rename commit. With --writeback-cache
    // the kernel sends FLUSH regardless.
    fi->keep_cache = !dir && Adapter(req).KeepCacheOnOpen(ino);
    fi->direct_io = !dir && Adapter(req).DirectIoOnOpen(fi->flags);
    fi->noflush = !dir;
    if (!dir) Adapter(req).NoteOpen(ino);
    if (fuse_reply_open(req, fi) != 0) {
      if (!dir) Adapter(req).NoteRelease(ino);
      (void)(dir ? Fs(req).ReleaseDir(*r) : Fs(req).Release(*r));
    }
  }

  static void ReplyCreate(fuse_req_t req, const Result<model::Created>& r, fuse_file_info* fi) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    FuseAdapter& a = Adapter(req);
    fuse_entry_param e{};
    e.ino = r->attr.ino;
    e.attr = r->attr.ToStat();
    e.attr_timeout = a.options_.attr_timeout_s;
    e.entry_timeout = a.options_.entry_timeout_s;
    fi->fh = r->fh;
    fi->keep_cache = a.KeepCacheOnOpen(r->attr.ino);
    fi->direct_io = a.DirectIoOnOpen(fi->flags);
    fi->noflush = 1;  // as in ReplyOpen
    a.NoteLookup(r->attr.ino);
    a.NoteOpen(r->attr.ino);
    if (fuse_reply_create(req, &e, fi) != 0) {
      a.NoteRelease(r->attr.ino);
      (void)a.fs_.Release(r->fh);
      a.NoteForget(r->attr.ino, 1);
      a.fs_.Forget(r->attr.ino, 1);
    }
  }

  static void ReplyWrite(fuse_req_t req, const Result<size_t>& r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    fuse_reply_write(req, *r);
  }

  static void ReplyReadlink(fuse_req_t req, const Result<std::string>& r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    fuse_reply_readlink(req, r->c_str());
  }

  // getxattr/listxattr: size 0 is a probe for the needed size (FUSE protocol).
  static void ReplyXattrBytes(fuse_req_t req, const Result<std::string>& r, size_t size) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
    } else if (size == 0) {
      fuse_reply_xattr(req, r->size());
    } else if (r->size() > size) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, r->data(), r->size());
    }
  }

  static Result<std::string> JoinXattrNames(const Result<std::vector<std::string>>& r) {
    if (!r.ok()) return model::Errno{r.error()};
    std::string list;
    for (const std::string& name : *r) {
      list.append(name);
      list.push_back('\0');
    }
    return list;
  }

  static void ReplyStatfs(fuse_req_t req, const Result<struct statvfs>& r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    fuse_reply_statfs(req, &*r);
  }

  // Packs entries [offset, ...) into at most `size` bytes; the offset the
  // kernel passes back next time is the index of the entry after the last.
  static void ReplyDir(fuse_req_t req, const Result<std::vector<model::DirEntry>>& r, size_t size,
                       off_t offset) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    thread_local std::vector<char> buf;
    buf.resize(size);
    size_t used = 0;
    off_t next = offset;
    for (const model::DirEntry& d : *r) {
      struct stat st {};
      st.st_ino = d.ino;
      st.st_mode = d.mode;
      ++next;
      const size_t need =
          fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st, next);
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  // ---- Handlers.

  static void Init(void* userdata, fuse_conn_info* conn) {
    const FuseAdapter& a = *static_cast<FuseAdapter*>(userdata);
    // By default every write(2) must reach the model in order, when it
    // happens; the writeback mode lets the kernel batch them.
    if (a.options_.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
      conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    } else {
      conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    }
    // The model does not clear setuid bits itself; let the kernel ask.
    conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
    // Data buffers arrive in memory, never as a pipe to splice from.
    conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    // No automatic invalidation when mtime changes: the file's bytes change
    // only through this mount (the kernel updates its cache as it forwards a
    // write) or by a power cut or fault, which invalidates explicitly. With
    // it, the kernel dropped its cache after every write it forwarded. (A
    // direct write invalidates the cached pages it covers instead.)
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    // Large writes: one FUSE round trip per MiB instead of per 128 KiB.
    conn->max_write = kMaxRequestBytes;
    if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
    Log()->info(
        "fuse init: protocol {}.{}, max_write {}, writeback cache {}, direct writes {}, set-id "
        "bits cleared by {}",
        conn->proto_major, conn->proto_minor, conn->max_write,
        (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0 ? "on" : "off",
        a.WantsDirectWrites() ? "on" : "off",
        a.init_seen_.kernel_offers_killpriv_v2 ? "the model (killpriv_v2)" : "the kernel");
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    ReplyEntry(req, Fs(req).Lookup(parent, name));
  }

  static void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    Adapter(req).NoteForget(ino, nlookup);
    Fs(req).Forget(ino, nlookup);
    fuse_reply_none(req);
  }

  static void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    FuseAdapter& a = Adapter(req);
    for (size_t i = 0; i < count; ++i) {
      a.NoteForget(forgets[i].ino, forgets[i].nlookup);
      a.fs_.Forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    ReplyAttr(req, Fs(req).GetAttr(ino));
  }

  static model::AttrChange DecodeSetattr(const struct stat* attr, int to_set) {
    model::AttrChange c;
    if (to_set & FUSE_SET_ATTR_MODE) c.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) c.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) c.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) c.size = static_cast<uint64_t>(attr->st_size);
    // utimensat(UTIME_NOW) arrives as *_NOW (with or without the plain bit).
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
      c.atime = Now();
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
      c.atime = attr->st_atim;
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      c.mtime = Now();
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      c.mtime = attr->st_mtim;
    }
    return c;
  }

  static void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                      fuse_file_info* fi) {
    if ((to_set & FUSE_SET_ATTR_SIZE) != 0 && Adapter(req).IsOwnSizeFix(fuse_req_ctx(req)->pid)) {
      // The size is already the model's: the kernel only takes it.
      ReplyAttr(req, Fs(req).GetAttr(ino));
      return;
    }
    const std::optional<model::Fh> fh = fi ? std::optional<model::Fh>(fi->fh) : std::nullopt;
    ReplyAttr(req, Fs(req).SetAttr(ino, DecodeSetattr(attr, to_set), fh, Who(req)));
  }

  static void Readlink(fuse_req_t req, fuse_ino_t ino) {
    ReplyReadlink(req, Fs(req).Readlink(ino));
  }

  static void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    ReplyEntry(req, Fs(req).Mknod(parent, name, mode, static_cast<uint32_t>(rdev), Who(req)));
  }

  static void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    ReplyEntry(req, Fs(req).Mkdir(parent, name, mode, Who(req)));
  }

  static void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    ReplyErr(req, Fs(req).Unlink(parent, name, Who(req)));
  }

  static void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    ReplyErr(req, Fs(req).Rmdir(parent, name, Who(req)));
  }

  static void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
    ReplyEntry(req, Fs(req).Symlink(parent, name, target, Who(req)));
  }

  static void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                     const char* newname, unsigned int flags) {
    ReplyErr(req, Fs(req).Rename(parent, name, newparent, newname, flags, Who(req)));
  }

  static void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    ReplyEntry(req, Fs(req).Link(ino, newparent, newname, Who(req)));
  }

  // The open flags the model sees. With the writeback cache the kernel may
  // read a page around a partial write through a write-only handle, and
  // places O_APPEND writes itself (libfuse: fuse_lowlevel.h, write handler).
  static int ModelFlags(fuse_req_t req, int flags) {
    if (!Adapter(req).options_.writeback_cache) return flags;
    if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    return flags & ~O_APPEND;
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    ReplyOpen(req, Fs(req).Open(ino, ModelFlags(req, fi->flags), Who(req)), fi, /*dir=*/false, ino);
  }

  static void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    // The bytes go straight where the reply is sent from: the ring entry's
    // payload on a ring thread, else one buffer per worker thread.
    char* dst = UringQueues::ReplyArea(size);
    if (dst == nullptr) {
      thread_local std::vector<char> buffer;
      if (buffer.size() < size) buffer.resize(size);
      dst = buffer.data();
    }
    const Result<size_t> n = Fs(req).ReadInto(fi->fh, static_cast<uint64_t>(off), size, dst);
    if (!n.ok()) {
      fuse_reply_err(req, n.error());
      return;
    }
    fuse_reply_buf(req, dst, *n);
  }

  static void WriteBuf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off,
                       fuse_file_info* fi) {
    const Result<size_t> r = Fs(req).Write(fi->fh, static_cast<uint64_t>(off), Bytes(in), Who(req));
    if (!r.ok()) Adapter(req).NoteRefusedWrite(ino);
    ReplyWrite(req, r);
  }

  // The request's bytes as one view. Without splice the kernel's data is a
  // single in-memory buffer, used in place; anything else is gathered once.
  static std::string_view Bytes(fuse_bufvec* in) {
    const fuse_buf& first = in->buf[in->idx];
    if (in->count - in->idx == 1 && !(first.flags & FUSE_BUF_IS_FD)) {
      return {static_cast<const char*>(first.mem) + in->off, first.size - in->off};
    }
    thread_local std::string gathered;
    gathered.resize(fuse_buf_size(in));
    fuse_bufvec out = FUSE_BUFVEC_INIT(gathered.size());
    out.buf[0].mem = gathered.data();
    const ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
    gathered.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return gathered;
  }

  static void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    ReplyErr(req, Fs(req).Flush(fi->fh));
  }

  static void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Adapter(req).NoteRelease(ino);
    ReplyErr(req, Fs(req).Release(fi->fh));
  }

  static void Fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    ReplyErr(req, Fs(req).Fsync(fi->fh, datasync != 0, Who(req)));
  }

  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    ReplyOpen(req, Fs(req).OpenDir(ino, Who(req)), fi, /*dir=*/true, ino);
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    ReplyDir(req, Fs(req).ReadDir(fi->fh, static_cast<uint64_t>(off)), size, off);
  }

  static void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    ReplyErr(req, Fs(req).ReleaseDir(fi->fh));
  }

  static void FsyncDir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
    ReplyErr(req, Fs(req).FsyncDir(fi->fh, datasync != 0, Who(req)));
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) { ReplyStatfs(req, Fs(req).StatFs()); }

  static void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                       size_t size, int flags) {
    ReplyErr(req, Fs(req).SetXattr(ino, name, std::string_view(value, size), flags, Who(req)));
  }

  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    ReplyXattrBytes(req, Fs(req).GetXattr(ino, name), size);
  }

  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    ReplyXattrBytes(req, JoinXattrNames(Fs(req).ListXattr(ino)), size);
  }

  static void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    ReplyErr(req, Fs(req).RemoveXattr(ino, name, Who(req)));
  }

  static void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                     fuse_file_info* fi) {
    ReplyCreate(req, Fs(req).Create(parent, name, mode, ModelFlags(req, fi->flags), Who(req)), fi);
  }

  static void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                        fuse_file_info* fi) {
    ReplyErr(req, Fs(req).Fallocate(fi->fh, mode, static_cast<uint64_t>(offset),
                                    static_cast<uint64_t>(length), Who(req)));
  }

  static fuse_lowlevel_ops Ops() {
    fuse_lowlevel_ops ops{};
    ops.init = Init;
    ops.lookup = Lookup;
    ops.forget = Forget;
    ops.forget_multi = ForgetMulti;
    ops.getattr = GetAttr;
    ops.setattr = SetAttr;
    ops.readlink = Readlink;
    ops.mknod = Mknod;
    ops.mkdir = Mkdir;
    ops.unlink = Unlink;
    ops.rmdir = Rmdir;
    ops.symlink = Symlink;
    ops.rename = Rename;
    ops.link = Link;
    ops.open = Open;
    ops.read = Read;
    ops.write_buf = WriteBuf;
    ops.flush = Flush;
    ops.release = Release;
    ops.fsync = Fsync;
    ops.opendir = OpenDir;
    ops.readdir = ReadDir;
    ops.releasedir = ReleaseDir;
    ops.fsyncdir = FsyncDir;
    ops.statfs = StatFs;
    ops.setxattr = SetXattr;
    ops.getxattr = GetXattr;
    ops.listxattr = ListXattr;
    ops.removexattr = RemoveXattr;
    ops.create = Create;
    ops.fallocate = Fallocate;
    return ops;
  }
};

FuseAdapter::FuseAdapter(model::Filesystem& fs, MountOptions options)
    : fs_(fs), options_(std::move(options)) {
  kernel_lookups_[model::kRootIno] = 1;
}

std::unique_ptr<FuseAdapter> FuseAdapter::Mount(model::Filesystem& fs, const MountOptions& options,
                                                std::string* error) {
  std::unique_ptr<FuseAdapter> a(new FuseAdapter(fs, options));
  std::string opts = "default_permissions,fsname=blackoutfs,subtype=blackout";
  if (options.allow_other_if_permitted && (geteuid() == 0 || FuseConfAllowsOther())) {
    opts += ",allow_other";
  }
  std::string prog = "blackout";
  std::string dash_o = "-o";
  char* argv[] = {prog.data(), dash_o.data(), opts.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, argv);
  static const fuse_lowlevel_ops ops = Handlers::Ops();
  a->session_ = fuse_session_new(&args, &ops, sizeof(ops), a.get());
  if (a->session_ == nullptr) {
    *error = "cannot create a FUSE session (options: " + opts + ")";
    return nullptr;
  }
  if (fuse_session_mount(a->session_, options.mountpoint.c_str()) != 0) {
    *error = "cannot mount blackoutfs on " + options.mountpoint +
             " (is /dev/fuse there and usable, and is the path a directory?)";
    return nullptr;
  }
  a->mounted_ = true;
  static const fuse_custom_io io = {Handlers::SessionWritev, Handlers::SessionRead, nullptr,
                                    nullptr};
  if (fuse_session_custom_io(a->session_, &io, fuse_session_fd(a->session_)) != 0) {
    *error = "cannot set up the FUSE session's I/O on " + options.mountpoint;
    return nullptr;
  }
  Log()->info("mounted blackoutfs on {} (-o {})", options.mountpoint, opts);
  if (options.writeback_cache) {
    a->dirty_limit_ = !SetDirtyLimit(options.mountpoint, options.dirty_limit) ? "fuse"
                      : options.dirty_limit == 0                              ? "machine"
                                                                              : "strict";
  }
  return a;
}

FuseAdapter::~FuseAdapter() {
  Unmount();
  {
    std::lock_guard<std::mutex> lock(uring_mu_);
    uring_.reset();  // its threads use the session
  }
  if (session_ != nullptr) {
    if (signals_installed_) fuse_remove_signal_handlers(session_);
    fuse_session_destroy(session_);
  }
}

bool FuseAdapter::InstallSignalHandlers() {
  signals_installed_ = fuse_set_signal_handlers(session_) == 0;
  return signals_installed_;
}

int FuseAdapter::Loop() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
  // One /dev/fuse descriptor per worker: the kernel hands each worker its
  // own requests instead of waking all of them on one queue.
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  const int rc = fuse_session_loop_mt(session_, cfg);
  fuse_loop_cfg_destroy(cfg);
  return rc;
}

void FuseAdapter::Exit() { fuse_session_exit(session_); }

void FuseAdapter::StartUring(int fd, const fuse_init_out& init) {
  // The kernel's payload size: max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t payload = std::max<size_t>(8192, init.max_write);
  payload = std::max<size_t>(payload, static_cast<size_t>(init.max_pages) * page);
  std::string error;
  std::unique_ptr<UringQueues> queues =
      UringQueues::Start(session_, fd, payload, kUringDepth, kUringOverflowDepth, &error);
  if (!queues) Log()->warn("{}; requests stay on /dev/fuse", error);
  std::lock_guard<std::mutex> lock(uring_mu_);
  uring_ = std::move(queues);
}

std::pair<std::string, uint64_t> FuseAdapter::Transport() {
  std::lock_guard<std::mutex> lock(uring_mu_);
  if (!uring_) return {"/dev/fuse", 0};
  return {"io_uring", uring_->served()};
}

uint64_t FuseAdapter::RingOverflowRequests() {
  std::lock_guard<std::mutex> lock(uring_mu_);
  return uring_ ? uring_->served_by_overflow() : 0;
}

void FuseAdapter::Unmount() {
  if (!mounted_) return;
  {
    // Replies the ring's threads hold go out first: unmounting would turn
    // them into ECONNABORTED for their callers (a LazyFS crash injection
    // stops the daemon right after the write that fired it).
    std::lock_guard<std::mutex> lock(uring_mu_);
    if (uring_) uring_->Stop();
  }
  fuse_session_unmount(session_);
  mounted_ = false;
  Log()->info("unmounted {}", options_.mountpoint);
}

void FuseAdapter::NoteLookup(model::Ino ino) {
  std::lock_guard<std::mutex> lock(lookups_mu_);
  ++kernel_lookups_[ino];
}

void FuseAdapter::NoteOpen(model::Ino ino) {
  std::lock_guard<std::mutex> lock(lookups_mu_);
  ++open_files_[ino];
}

void FuseAdapter::NoteRelease(model::Ino ino) {
  std::lock_guard<std::mutex> lock(lookups_mu_);
  auto it = open_files_.find(ino);
  if (it != open_files_.end() && --it->second == 0) open_files_.erase(it);
}

bool FuseAdapter::WantsDirectWrites() const {
  return options_.direct_writes && !options_.writeback_cache &&
         init_seen_.kernel_offers_direct_io_allow_mmap.load(std::memory_order_relaxed);
}

bool FuseAdapter::DirectIoOnOpen(int open_flags) const {
  return DirectWrites() && (open_flags & O_ACCMODE) != O_RDONLY;
}

bool FuseAdapter::KeepCacheOnOpen(model::Ino ino) {
  std::lock_guard<std::mutex> lock(lookups_mu_);
  uint64_t& opened = opened_in_generation_[ino];
  const bool keep = opened == cache_generation_;
  opened = cache_generation_;
  return keep;
}

void FuseAdapter::NoteForget(model::Ino ino, uint64_t n) {
  std::lock_guard<std::mutex> lock(lookups_mu_);
  auto it = kernel_lookups_.find(ino);
  if (it == kernel_lookups_.end() || ino == model::kRootIno) return;
  if (it->second <= n) {
    kernel_lookups_.erase(it);
    opened_in_generation_.erase(ino);  // the kernel drops the inode, cache and all
  } else {
    it->second -= n;
  }
}

void FuseAdapter::WriteBackDirtyPages() {
  const int fd = open(options_.mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    Log()->warn("cannot open {} to write back its dirty pages after a power cut: {}",
                options_.mountpoint, std::strerror(errno));
    return;
  }
  // EIO is the expected answer: the model refused every page.
  (void)syncfs(fd);
  close(fd);
}

void FuseAdapter::NoteRefusedWrite(model::Ino ino) {
  if (!options_.writeback_cache) return;
  std::lock_guard<std::mutex> lock(lookups_mu_);
  refused_writes_.insert(ino);
}

void FuseAdapter::RestoreKernelSizes(std::vector<model::Ino> inodes) {
  {
    std::lock_guard<std::mutex> lock(lookups_mu_);
    inodes.insert(inodes.end(), refused_writes_.begin(), refused_writes_.end());
    refused_writes_.clear();
    inodes.erase(std::remove_if(inodes.begin(), inodes.end(),
                                [this](model::Ino ino) { return kernel_lookups_.count(ino) == 0; }),
                 inodes.end());
  }
  std::sort(inodes.begin(), inodes.end());
  inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
  size_fix_tid_.store(gettid(), std::memory_order_release);
  for (const model::FileSize& file : fs_.RegularFiles(inodes)) {
    const std::string path = options_.mountpoint + file.path;
    if (truncate(path.c_str(), static_cast<off_t>(file.size)) != 0) {
      Log()->warn("after the power cut, {} may show a size the cut took back ({} bytes now): {}",
                  path, file.size, std::strerror(errno));
    }
  }
  size_fix_tid_.store(0, std::memory_order_release);
}

void FuseAdapter::InvalidateEntries(
    const std::vector<std::pair<model::Ino, std::string>>& entries) {
  if (!mounted_) return;
  for (const auto& [parent, name] : entries) {
    fuse_lowlevel_notify_inval_entry(session_, parent, name.data(), name.size());
  }
}

InvalidationCount FuseAdapter::InvalidateKernelCaches(
    const std::vector<std::pair<model::Ino, std::string>>& entries,
    const std::vector<model::Ino>& extra_inodes) {
  InvalidationCount count;
  if (!mounted_) return count;
  for (const auto& [parent, name] : entries) {
    if (fuse_lowlevel_notify_inval_entry(session_, parent, name.data(), name.size()) == 0) {
      ++count.entries;
    }
  }
  std::vector<model::Ino> inodes = extra_inodes;
  std::unordered_set<model::Ino> open;
  {
    std::lock_guard<std::mutex> lock(lookups_mu_);
    // First, so that an open racing with the notifications below does not
    // keep a cache they are about to drop.
    ++cache_generation_;
    inodes.reserve(inodes.size() + kernel_lookups_.size());
    for (const auto& [ino, n] : kernel_lookups_) inodes.push_back(ino);
    for (const auto& [ino, n] : open_files_) open.insert(ino);
  }
  std::sort(inodes.begin(), inodes.end());
  inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
  if (options_.writeback_cache) WriteBackDirtyPages();
  // No read, stat or mmap may show a byte the power cut took away. An inode
  // some file is open on (a descriptor or a mapping) loses its attributes
  // and cached pages now, mappings unmapped. Any other inode loses its
  // attributes now and its pages at its next open, which cannot keep the
  // cache (KeepCacheOnOpen, generation bumped above): the kernel drops them
  // there (fuse_finish_open without FOPEN_KEEP_CACHE), file by file, instead
  // of all of them inside the power cut (0.5 s for 1 GiB cached). With the
  // writeback cache, dirty pages may outlive a close: everything goes now,
  // after the dirty pages were written back in bulk, and the kernel is then
  // told the sizes it would not take otherwise (RestoreKernelSizes).
  for (model::Ino ino : inodes) {
    const bool now = options_.writeback_cache || open.count(ino) > 0;
    if (fuse_lowlevel_notify_inval_inode(session_, ino, now ? 0 : -1, 0) == 0) ++count.inodes;
  }
  if (options_.writeback_cache) RestoreKernelSizes(extra_inodes);
  Log()->info("invalidated {} entries and {} inodes after a power cut or load", count.entries,
              count.inodes);
  return count;
}

}  // namespace blackout::fusefs
