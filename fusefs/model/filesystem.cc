// Filesystem: namespace, file and directory operations on the volatile view.
// Each mutating call validates against the volatile view, builds one
// PendingOp and hands it to Impl::Commit, which applies it to the volatile
// view, indexes it for the sync events and traces it. Sync events and crash
// states are in durability.cc; the model they follow is crash_model.md.
//
// Permission checks are the kernel's (the adapter mounts with
// default_permissions); the model checks only what the filesystem itself
// decides: existence, types, emptiness, flags.
#include "fusefs/model/filesystem.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fusefs/model/behaviour_model.h"
#include "fusefs/model/digest.h"
#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

namespace {

// ext4's limit; writes beyond it answer EFBIG as they do there.
constexpr uint64_t kMaxFileSize = uint64_t{16} << 40;
constexpr size_t kMaxXattrValue = 65536;
// ReadDir returns at most this many entries per call; the adapter asks again
// from the next offset until it gets none.
constexpr size_t kReadDirChunk = 1024;

// An operation of `kind` on `ino`, stamped now; the caller fills the rest.
PendingOp NewOp(OpKind kind, Ino ino) {
  PendingOp op;
  op.kind = kind;
  op.ino = ino;
  op.time = Now();
  return op;
}

Result<void> CheckName(std::string_view name) {
  if (name.empty()) return Errno{ENOENT};
  if (name.size() > 255) return Errno{ENAMETOOLONG};
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Errno{EINVAL};
  }
  return Ok();
}

bool Writable(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }
bool Readable(int flags) { return (flags & O_ACCMODE) != O_WRONLY; }

}  // namespace

struct stat Attr::ToStat() const {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = mode;
  st.st_nlink = nlink;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_rdev = rdev;
  st.st_size = static_cast<off_t>(size);
  st.st_blocks = static_cast<blkcnt_t>(blocks);
  st.st_blksize = kPageSize;
  st.st_atim = atime;
  st.st_mtim = mtime;
  st.st_ctim = ctime;
  return st;
}

// ---------------------------------------------------------------- Impl

Filesystem::Impl::Impl(Options o) : options(o), tracing(o.trace) {
  Born b;
  b.attr.ino = kRootIno;
  b.attr.mode = S_IFDIR | 0755;
  b.attr.uid = geteuid();
  b.attr.gid = getegid();
  b.attr.atime = b.attr.mtime = b.attr.ctime = Now();
  born[kRootIno] = b;
  auto root = std::make_shared<Node>();
  root->attr = b.attr;
  root->attr.nlink = 2;
  vol.nodes[kRootIno] = root;
  dur.nodes[kRootIno] = root;  // shared copy-on-write, like every durable node
  links[kRootIno] = {};
  if (options.spill) spiller = std::thread([this] { RunSpiller(); });
}

Filesystem::Impl::~Impl() {
  StopSpiller();
  JoinReaper();
}

Result<const Node*> Filesystem::Impl::Dir(Ino ino) const {
  const Node* n = vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (!n->IsDir()) return Errno{ENOTDIR};
  return n;
}

Result<Handle*> Filesystem::Impl::GetHandle(Fh fh) {
  auto it = handles.find(fh);
  if (it == handles.end()) return Errno{EBADF};
  // A handle from before a power cut names a file of a world that is gone.
  if (it->second.epoch != epoch) return Errno{EIO};
  return &it->second;
}

std::string Filesystem::Impl::Path(Ino ino) const {
  if (ino == kRootIno) return "/";
  std::vector<const std::string*> parts;
  Ino cur = ino;
  // Depth guard: links never form a cycle, but a path must never hang a call.
  for (int depth = 0; cur != kRootIno && depth < 4096; ++depth) {
    auto it = links.find(cur);
    if (it == links.end() || it->second.empty()) return parts.empty() ? "" : "?";
    parts.push_back(&it->second.front().second);
    cur = it->second.front().first;
  }
  std::string path;
  for (auto p = parts.rbegin(); p != parts.rend(); ++p) {
    path += '/';
    path += **p;
  }
  return path;
}

uint32_t Filesystem::Impl::Intern(std::string_view s) {
  auto [it, added] = trace_string_ids.try_emplace(std::string(s), trace_strings.size());
  if (added) trace_strings.emplace_back(s);
  return it->second;
}

uint32_t Filesystem::Impl::PathId(Ino ino) {
  if (path_ids_gen != links_gen) {
    path_ids.clear();
    path_ids_gen = links_gen;
  }
  auto [it, added] = path_ids.try_emplace(ino, 0);
  if (added) it->second = Intern(Path(ino));
  return it->second;
}

void Filesystem::Impl::Link(Ino ino, Ino parent, const std::string& name) {
  links[ino].emplace_back(parent, name);
  ++links_gen;
}

void Filesystem::Impl::Unlink(Ino ino, Ino parent, const std::string& name) {
  auto it = links.find(ino);
  if (it == links.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), std::pair<Ino, std::string>(parent, name));
  if (pos != v.end()) v.erase(pos);
  ++links_gen;
}

void Filesystem::Impl::MaybeReap(Ino ino) {
  if (ino == kRootIno || ino == 0) return;
  const Node* n = vol.Find(ino);
  if (n == nullptr || n->attr.nlink > 0) return;
  if (lookups.count(ino) != 0 || open_count.count(ino) != 0) return;
  // Its pages leave the volatile view: versions only pending writes hold now.
  vol.page_count -= n->pages.size();
  replaced_pages += n->pages.size();
  vol.nodes.erase(ino);
  links.erase(ino);
  ++links_gen;
  if (SpillDue()) spill_cv.notify_one();
}

void Filesystem::Impl::Record(const std::string& op, Ino ino, pid_t pid, uint64_t offset,
                              uint64_t length, uint32_t digest, uint32_t flags,
                              std::string detail) {
  ++seq;
  if (!tracing.load(std::memory_order_relaxed)) return;
  TraceRecord e;
  e.seq = seq;
  e.pid = pid;
  e.op = Intern(op);
  e.ino = ino;
  e.path = PathId(ino);
  e.offset = offset;
  e.length = length;
  e.digest = digest;
  e.flags = flags;
  e.detail = Intern(detail);
  PushTrace(e);
}

void Filesystem::Impl::PushTrace(TraceRecord r) {
  if (options.trace_limit != 0 && trace.size() >= options.trace_limit) {
    trace.pop_front();
    ++trace_dropped;
    if (trace_strings.size() > 2 * trace_strings_compacted + kTraceStringSlack) {
      CompactTraceStrings(r);
    }
  }
  trace.push_back(r);
}

void Filesystem::Impl::CompactTraceStrings(TraceRecord& incoming) {
  constexpr uint32_t kUnset = UINT32_MAX;
  std::vector<uint32_t> renumbered(trace_strings.size(), kUnset);
  std::vector<std::string> strings;
  std::unordered_map<std::string, uint32_t> ids;
  auto keep = [&](uint32_t& id) {
    uint32_t& to = renumbered[id];
    if (to == kUnset) {
      to = static_cast<uint32_t>(strings.size());
      ids.emplace(trace_strings[id], to);
      strings.push_back(std::move(trace_strings[id]));
    }
    id = to;
  };
  uint32_t empty = 0;
  keep(empty);  // id 0 stays ""
  for (TraceRecord& t : trace) {
    keep(t.op);
    keep(t.path);
    keep(t.detail);
  }
  keep(incoming.op);
  keep(incoming.path);
  keep(incoming.detail);
  for (auto& [ino, id] : path_ids) keep(id);
  trace_strings = std::move(strings);
  trace_string_ids = std::move(ids);
  trace_strings_compacted = trace_strings.size();
}

void Filesystem::Impl::Index(const PendingOp& op) {
  Seq s = op.seq;
  // Only an ext4 journal commit reads `meta`.
  bool journal = RulesOf(options.model).global_journal;
  if (IsEntryOp(op.kind)) {
    by_dir[op.parent].push_back(s);
    by_child[op.ino].push_back(s);
    if (journal) meta.push_back(s);
    if (op.kind == OpKind::kRename) {
      if (op.new_parent != op.parent) by_dir[op.new_parent].push_back(s);
      if (op.replaced != 0) by_child[op.replaced].push_back(s);
    }
  } else {
    by_inode[op.ino].push_back(s);
    // ext4 journals attributes, xattrs and truncates; new data is not in the
    // journal (delayed allocation), see durability.cc.
    if (journal && (!IsDataOp(op.kind) || op.kind == OpKind::kTruncate)) meta.push_back(s);
  }
}

void Filesystem::Impl::Relink(const PendingOp& op) {
  // Links (for paths) follow the entry operations.
  switch (op.kind) {
    case OpKind::kCreate:
    case OpKind::kMkdir:
    case OpKind::kSymlink:
    case OpKind::kLink:
      Link(op.ino, op.parent, op.name);
      break;
    case OpKind::kUnlink:
    case OpKind::kRmdir:
      Unlink(op.ino, op.parent, op.name);
      break;
    case OpKind::kRename:
      Unlink(op.ino, op.parent, op.name);
      if (op.replaced != 0) {
        Unlink(op.replaced, op.new_parent, op.new_name);
        if (op.flags & RENAME_EXCHANGE) Link(op.replaced, op.parent, op.name);
      }
      Link(op.ino, op.new_parent, op.new_name);
      break;
    default:
      break;
  }
}

Seq Filesystem::Impl::Commit(PendingOp op, pid_t pid, uint32_t digest) {
  op.seq = ++seq;
  const uint64_t pages_before = vol.page_count;
  ApplyOp(vol, op, born);
  // Pages that left the volatile view (replaced by a write, cut off by a
  // truncate, a punched hole) may leave versions only pending writes hold.
  if (vol.page_count < pages_before) {
    replaced_pages += pages_before - vol.page_count;
  } else if (op.kind == OpKind::kWrite && op.length > 0) {
    const uint64_t covered = PagesFor(op.offset + op.length) - PageIndex(op.offset);
    replaced_pages += covered - std::min<uint64_t>(covered, vol.page_count - pages_before);
  }
  Seq s = op.seq;
  Index(op);
  Relink(op);

  if (tracing.load(std::memory_order_relaxed)) PushTrace(TraceOf(op, pid, digest));
  AddPending(std::move(op));
  return s;
}

Filesystem::Impl::TraceRecord Filesystem::Impl::TraceOf(const PendingOp& op, pid_t pid,
                                                        uint32_t digest) {
  TraceRecord e;
  e.seq = op.seq;
  e.pid = pid;
  e.op = Intern(OpName(op.kind));
  e.ino = op.ino;
  switch (op.kind) {
    case OpKind::kRename:
      e.path = Intern(EntryPath(op.parent, op.name));
      e.detail = PathId(op.ino);
      break;
    case OpKind::kSetXattr:
    case OpKind::kRemoveXattr:
      e.path = PathId(op.ino);
      e.detail = Intern(op.name);
      break;
    default:
      if (IsEntryOp(op.kind)) {
        e.path = Intern(EntryPath(op.parent, op.name));
        if (op.kind == OpKind::kSymlink) e.detail = Intern(op.value);
      } else {
        e.path = PathId(op.ino);
      }
  }
  e.offset = op.offset;
  e.length = op.length;
  e.digest = digest;
  e.flags = op.flags;
  return e;
}

Result<Attr> Filesystem::Impl::NewInode(Ino parent, std::string_view name, uint32_t mode,
                                        uint32_t rdev, std::string_view target, const Caller& who,
                                        OpKind kind) {
  auto dir = Dir(parent);
  if (!dir.ok()) return Errno{dir.error()};
  if (auto r = CheckName(name); !r.ok()) return Errno{r.error()};
  if (name == "." || name == ".." || (*dir)->entries.count(name) != 0) return Errno{EEXIST};
  Ino ino = next_ino++;
  Born b;
  b.attr.ino = ino;
  b.attr.mode = mode;
  b.attr.uid = who.uid;
  b.attr.gid = who.gid;
  // BSD group semantics of a setgid directory, as Linux implements them.
  if ((*dir)->attr.mode & S_ISGID) {
    b.attr.gid = (*dir)->attr.gid;
    if (S_ISDIR(mode)) b.attr.mode |= S_ISGID;
  }
  b.attr.rdev = rdev;
  b.attr.atime = b.attr.mtime = b.attr.ctime = Now();
  b.attr.size = target.size();
  b.target = std::string(target);
  born[ino] = b;

  PendingOp op;
  op.kind = kind;
  op.ino = ino;
  op.time = b.attr.ctime;
  op.parent = parent;
  op.name = std::string(name);
  op.value = std::string(target);
  Commit(std::move(op), who.pid);
  ++lookups[ino];
  return vol.Find(ino)->Report();
}

void Filesystem::Impl::DropSetIdBits(Ino ino, const Caller& who) {
  const Node* n = vol.Find(ino);
  if (n == nullptr || !n->IsReg()) return;
  uint32_t mode = n->attr.mode & 07777;
  mode &= ~S_ISUID;
  if ((mode & S_IXGRP) || (who.uid != 0 && who.gid != n->attr.gid)) mode &= ~S_ISGID;
  if (mode == (n->attr.mode & 07777)) return;
  PendingOp op = NewOp(OpKind::kSetAttr, ino);
  op.mode = mode;
  Commit(std::move(op), who.pid);
}

Result<void> Filesystem::Impl::TruncateLocked(Ino ino, uint64_t size, const Caller& who) {
  if (size > kMaxFileSize) return Errno{EFBIG};
  auto paths = [&] { return PathsOf(ino); };
  if (int e = BeforeOp(FaultOp::kTruncate, paths); e != 0) return Errno{e};
  if (who.uid != 0) DropSetIdBits(ino, who);
  PendingOp op = NewOp(OpKind::kTruncate, ino);
  op.offset = size;
  Commit(std::move(op), who.pid);
  AfterOp(FaultOp::kTruncate, paths);
  return Ok();
}

Result<void> Filesystem::Impl::WriteLocked(Handle& h, uint64_t offset, std::string_view data,
                                           WriteData prepared, uint32_t digest, const Caller& who,
                                           size_t& written) {
  const Node* n = vol.Find(h.ino);
  if (n == nullptr) return Errno{EIO};
  if (!n->IsReg()) return Errno{EINVAL};
  // Without the kernel's writeback cache the filesystem places O_APPEND
  // writes itself (libfuse documentation of the write handler).
  if ((h.flags & O_APPEND) && offset != n->attr.size) {
    offset = n->attr.size;
    prepared = WriteData(offset, data);
  }
  written = 0;
  if (data.empty()) return Ok();
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) return Errno{EFBIG};
  uint64_t end = offset + data.size();

  PendingOp op = NewOp(OpKind::kWrite, h.ino);
  op.offset = offset;
  op.length = data.size();
  op.flags = end > n->attr.size ? 1 : 0;  // 1: the write extends the file
  if (options.capacity_bytes != 0 &&
      (vol.page_count + MissingPages(n->pages, offset, data.size())) * kPageSize >
          options.capacity_bytes) {
    return Errno{ENOSPC};
  }
  if (who.uid != 0 && (n->attr.mode & (S_ISUID | S_ISGID)) != 0) DropSetIdBits(h.ino, who);
  // The one copy the write path makes: the bytes the pending op keeps until
  // a sync event or a power cut decides their fate; the views share its
  // whole pages (WriteData).
  op.data = std::move(prepared);
  last_write_seq = Commit(std::move(op), who.pid, digest);
  written = data.size();

  // O_SYNC = __O_SYNC | O_DSYNC on Linux: test the full value for fsync.
  if ((h.flags & O_SYNC) == O_SYNC) {
    Record("fsync", h.ino, who.pid, 0, 0, 0, 0, "O_SYNC write");
    SyncInode(h.ino, false);
  } else if (h.flags & O_DSYNC) {
    Record("fdatasync", h.ino, who.pid, 0, 0, 0, 0, "O_DSYNC write");
    SyncInode(h.ino, true);
  }
  return Ok();
}

// ---------------------------------------------------------------- Filesystem

Filesystem::Filesystem(Options options) : impl_(std::make_unique<Impl>(options)) {}
Filesystem::~Filesystem() = default;

Result<Attr> Filesystem::Lookup(Ino parent, std::string_view name) {
  std::lock_guard lock(impl_->mu);
  auto dir = impl_->Dir(parent);
  if (!dir.ok()) return Errno{dir.error()};
  Ino ino = 0;
  if (name == ".") {
    ino = parent;
  } else if (name == "..") {
    auto it = impl_->links.find(parent);
    ino = (it == impl_->links.end() || it->second.empty()) ? kRootIno : it->second[0].first;
  } else {
    if (name.size() > 255) return Errno{ENAMETOOLONG};
    auto it = (*dir)->entries.find(name);
    if (it == (*dir)->entries.end()) return Errno{ENOENT};
    ino = it->second;
  }
  ++impl_->lookups[ino];
  return impl_->vol.Find(ino)->Report();
}

void Filesystem::Forget(Ino ino, uint64_t nlookup) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->lookups.find(ino);
  if (it == impl_->lookups.end()) return;
  if (it->second <= nlookup) {
    impl_->lookups.erase(it);
    impl_->MaybeReap(ino);
  } else {
    it->second -= nlookup;
  }
}

Result<Attr> Filesystem::GetAttr(Ino ino) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  return n->Report();
}

std::vector<FileSize> Filesystem::RegularFiles(const std::vector<Ino>& inodes) const {
  std::lock_guard lock(impl_->mu);
  std::vector<FileSize> files;
  for (Ino ino : inodes) {
    const Node* n = impl_->vol.Find(ino);
    if (n == nullptr || !n->IsReg()) continue;
    std::string path = impl_->Path(ino);
    if (path.empty() || path[0] != '/') continue;  // no name left ("" or "?")
    files.push_back(FileSize{ino, std::move(path), n->attr.size});
  }
  return files;
}

Result<Attr> Filesystem::SetAttr(Ino ino, const AttrChange& change, std::optional<Fh> fh,
                                 const Caller& who) {
  std::lock_guard lock(impl_->mu);
  if (fh) {
    auto h = impl_->GetHandle(*fh);
    if (!h.ok()) return Errno{h.error()};
    ino = (*h)->ino;
  }
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (change.size) {
    if (n->IsDir()) return Errno{EISDIR};
    if (!n->IsReg()) return Errno{EINVAL};
    if (auto r = impl_->TruncateLocked(ino, *change.size, who); !r.ok()) return Errno{r.error()};
  }
  // chown clears the set-id bits unless the same call sets the mode (the
  // kernel sends the cleared mode itself when the mount does not ask it to
  // leave that to the file system).
  if ((change.uid || change.gid) && !change.mode) impl_->DropSetIdBits(ino, who);
  if (change.mode || change.uid || change.gid || change.atime || change.mtime) {
    PendingOp op = NewOp(OpKind::kSetAttr, ino);
    op.mode = change.mode;
    op.uid = change.uid;
    op.gid = change.gid;
    op.atime = change.atime;
    op.mtime = change.mtime;
    impl_->Commit(std::move(op), who.pid);
  }
  return impl_->vol.Find(ino)->Report();
}

Result<Attr> Filesystem::Mknod(Ino parent, std::string_view name, uint32_t mode, uint32_t rdev,
                               const Caller& who) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type == S_IFDIR) return Errno{EPERM};  // mknod(2) refuses directories
  if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK && type != S_IFIFO &&
      type != S_IFSOCK) {
    return Errno{EINVAL};
  }
  std::lock_guard lock(impl_->mu);
  return impl_->NewInode(parent, name, type | (mode & 07777), rdev, {}, who, OpKind::kCreate);
}

Result<Attr> Filesystem::Mkdir(Ino parent, std::string_view name, uint32_t mode,
                               const Caller& who) {
  std::lock_guard lock(impl_->mu);
  return impl_->NewInode(parent, name, S_IFDIR | (mode & 07777), 0, {}, who, OpKind::kMkdir);
}

Result<Attr> Filesystem::Symlink(Ino parent, std::string_view name, std::string_view target,
                                 const Caller& who) {
  if (target.empty()) return Errno{ENOENT};
  if (target.size() >= PATH_MAX) return Errno{ENAMETOOLONG};
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto paths = [&] { return std::vector<std::string>{m.EntryPath(parent, name)}; };
  if (int e = m.BeforeOp(FaultOp::kSymlink, paths); e != 0) return Errno{e};
  auto made = m.NewInode(parent, name, S_IFLNK | 0777, 0, target, who, OpKind::kSymlink);
  if (made.ok()) m.AfterOp(FaultOp::kSymlink, paths);
  return made;
}

Result<std::string> Filesystem::Readlink(Ino ino) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (!S_ISLNK(n->attr.mode)) return Errno{EINVAL};
  return n->target;
}

Result<Attr> Filesystem::Link(Ino ino, Ino new_parent, std::string_view new_name,
                              const Caller& who) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (n->IsDir()) return Errno{EPERM};
  // A file whose last name is gone cannot get a new one (linkat(2): ENOENT).
  if (n->attr.nlink == 0) return Errno{ENOENT};
  auto dir = impl_->Dir(new_parent);
  if (!dir.ok()) return Errno{dir.error()};
  if (auto r = CheckName(new_name); !r.ok()) return Errno{r.error()};
  if (new_name == "." || new_name == ".." || (*dir)->entries.count(new_name) != 0) {
    return Errno{EEXIST};
  }
  if (n->attr.nlink >= 65000) return Errno{EMLINK};  // ext4's EXT4_LINK_MAX
  auto paths = [&] {
    return std::vector<std::string>{impl_->Path(ino), impl_->EntryPath(new_parent, new_name)};
  };
  if (int e = impl_->BeforeOp(FaultOp::kLink, paths); e != 0) return Errno{e};
  PendingOp op = NewOp(OpKind::kLink, ino);
  op.parent = new_parent;
  op.name = std::string(new_name);
  impl_->Commit(std::move(op), who.pid);
  ++impl_->lookups[ino];
  Attr attr = impl_->vol.Find(ino)->Report();
  impl_->AfterOp(FaultOp::kLink, paths);
  return attr;
}

Result<void> Filesystem::Unlink(Ino parent, std::string_view name, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  auto dir = impl_->Dir(parent);
  if (!dir.ok()) return Errno{dir.error()};
  if (name.size() > 255) return Errno{ENAMETOOLONG};
  auto it = (*dir)->entries.find(name);
  if (it == (*dir)->entries.end()) return Errno{ENOENT};
  Ino child = it->second;
  if (impl_->vol.Find(child)->IsDir()) return Errno{EISDIR};
  auto paths = [&] { return std::vector<std::string>{impl_->EntryPath(parent, name)}; };
  if (int e = impl_->BeforeOp(FaultOp::kUnlink, paths); e != 0) return Errno{e};
  PendingOp op = NewOp(OpKind::kUnlink, child);
  op.parent = parent;
  op.name = std::string(name);
  impl_->Commit(std::move(op), who.pid);
  impl_->MaybeReap(child);
  impl_->AfterOp(FaultOp::kUnlink, paths);
  return Ok();
}

Result<void> Filesystem::Rmdir(Ino parent, std::string_view name, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  auto dir = impl_->Dir(parent);
  if (!dir.ok()) return Errno{dir.error()};
  if (name == ".") return Errno{EINVAL};
  if (name == "..") return Errno{ENOTEMPTY};
  if (name.size() > 255) return Errno{ENAMETOOLONG};
  auto it = (*dir)->entries.find(name);
  if (it == (*dir)->entries.end()) return Errno{ENOENT};
  Ino child = it->second;
  const Node* c = impl_->vol.Find(child);
  if (!c->IsDir()) return Errno{ENOTDIR};
  if (!c->entries.empty()) return Errno{ENOTEMPTY};
  PendingOp op = NewOp(OpKind::kRmdir, child);
  op.parent = parent;
  op.name = std::string(name);
  impl_->Commit(std::move(op), who.pid);
  impl_->MaybeReap(child);
  return Ok();
}

Result<void> Filesystem::Rename(Ino parent, std::string_view name, Ino new_parent,
                                std::string_view new_name, unsigned flags, const Caller& who) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno{EINVAL};
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return Errno{EINVAL};
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto from = m.Dir(parent);
  if (!from.ok()) return Errno{from.error()};
  auto to = m.Dir(new_parent);
  if (!to.ok()) return Errno{to.error()};
  if (name.size() > 255 || new_name.size() > 255) return Errno{ENAMETOOLONG};
  if (name == "." || name == ".." || new_name == "." || new_name == "..") return Errno{EBUSY};
  if (auto r = CheckName(new_name); !r.ok()) return Errno{r.error()};
  auto src_it = (*from)->entries.find(name);
  if (src_it == (*from)->entries.end()) return Errno{ENOENT};
  Ino src = src_it->second;
  auto dst_it = (*to)->entries.find(new_name);
  Ino dst = dst_it == (*to)->entries.end() ? 0 : dst_it->second;
  if ((flags & RENAME_EXCHANGE) && dst == 0) return Errno{ENOENT};
  if ((flags & RENAME_NOREPLACE) && dst != 0) return Errno{EEXIST};
  // Two names of one inode: rename(2) does nothing and succeeds.
  if (src == dst) return Ok();
  const Node* s = m.vol.Find(src);
  const Node* d = dst ? m.vol.Find(dst) : nullptr;

  // A directory cannot move into its own subtree (EINVAL); with an exchange
  // either side counts as moving.
  auto is_ancestor = [&](Ino anc, Ino of) {
    for (Ino cur = of; cur != kRootIno;) {
      if (cur == anc) return true;
      auto it = m.links.find(cur);
      if (it == m.links.end() || it->second.empty()) return false;
      cur = it->second[0].first;
    }
    return anc == kRootIno;
  };
  if (s->IsDir() && is_ancestor(src, new_parent)) return Errno{EINVAL};
  if ((flags & RENAME_EXCHANGE) && d->IsDir() && is_ancestor(dst, parent)) return Errno{EINVAL};
  if (d != nullptr && !(flags & RENAME_EXCHANGE)) {
    if (s->IsDir()) {
      if (!d->IsDir()) return Errno{ENOTDIR};
      if (!d->entries.empty()) return Errno{ENOTEMPTY};
    } else if (d->IsDir()) {
      return Errno{EISDIR};
    }
  }
  auto paths = [&] {
    return std::vector<std::string>{m.EntryPath(parent, name), m.EntryPath(new_parent, new_name)};
  };
  if (int e = m.BeforeOp(FaultOp::kRename, paths); e != 0) return Errno{e};
  PendingOp op = NewOp(OpKind::kRename, src);
  op.parent = parent;
  op.name = std::string(name);
  op.new_parent = new_parent;
  op.new_name = std::string(new_name);
  op.replaced = dst;
  op.flags = flags;
  m.Commit(std::move(op), who.pid);
  if (dst != 0 && !(flags & RENAME_EXCHANGE)) m.MaybeReap(dst);
  m.AfterOp(FaultOp::kRename, paths);
  return Ok();
}

Result<Created> Filesystem::Create(Ino parent, std::string_view name, uint32_t mode, int flags,
                                   const Caller& who) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto dir = m.Dir(parent);
  if (!dir.ok()) return Errno{dir.error()};
  if (auto r = CheckName(name); !r.ok()) return Errno{r.error()};
  auto paths = [&] { return std::vector<std::string>{m.EntryPath(parent, name)}; };
  if (int e = m.BeforeOp(FaultOp::kCreate, paths); e != 0) return Errno{e};
  Attr attr;
  auto it = (*dir)->entries.find(name);
  if (it != (*dir)->entries.end()) {
    if (flags & O_EXCL) return Errno{EEXIST};
    const Node* n = m.vol.Find(it->second);
    if (n->IsDir()) return Errno{EISDIR};
    if ((flags & O_TRUNC) && Writable(flags) && n->IsReg()) {
      if (auto r = m.TruncateLocked(it->second, 0, who); !r.ok()) return Errno{r.error()};
    }
    ++m.lookups[it->second];
    attr = m.vol.Find(it->second)->Report();
  } else {
    auto made = m.NewInode(parent, name, S_IFREG | (mode & 07777), 0, {}, who, OpKind::kCreate);
    if (!made.ok()) return Errno{made.error()};
    attr = *made;
  }
  Fh fh = m.next_fh++;
  m.handles[fh] = Handle{attr.ino, flags, m.epoch, false, {}};
  ++m.open_count[attr.ino];
  m.AfterOp(FaultOp::kCreate, paths);
  return Created{attr, fh};
}

Result<Fh> Filesystem::Open(Ino ino, int flags, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  const Node* n = m.vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (n->IsDir() && Writable(flags)) return Errno{EISDIR};
  if (S_ISLNK(n->attr.mode)) return Errno{ELOOP};
  auto paths = [&] { return m.PathsOf(ino); };
  if (int e = m.BeforeOp(FaultOp::kOpen, paths); e != 0) return Errno{e};
  const bool is_dir = n->IsDir();
  if ((flags & O_TRUNC) && Writable(flags) && n->IsReg()) {
    if (auto r = m.TruncateLocked(ino, 0, who); !r.ok()) return Errno{r.error()};
  }
  Fh fh = m.next_fh++;
  m.handles[fh] = Handle{ino, flags, m.epoch, is_dir, {}};
  ++m.open_count[ino];
  // An "after" trigger cuts power with the file open: the handle then
  // belongs to the old world and answers EIO, as every other one.
  m.AfterOp(FaultOp::kOpen, paths);
  return fh;
}

Result<void> Filesystem::Read(Fh fh, uint64_t offset, size_t size, std::string& out) {
  out.resize(size);
  Result<size_t> n = ReadInto(fh, offset, size, out.data());
  out.resize(n.ok() ? *n : 0);
  if (!n.ok()) return Errno{n.error()};
  return Ok();
}

Result<size_t> Filesystem::ReadInto(Fh fh, uint64_t offset, size_t size, char* dst) {
  std::lock_guard lock(impl_->mu);
  auto h = impl_->GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  if (!Readable((*h)->flags)) return Errno{EBADF};
  const Node* n = impl_->vol.Find((*h)->ino);
  if (n == nullptr) return Errno{EIO};
  if (n->IsDir()) return Errno{EISDIR};
  Ino ino = (*h)->ino;
  auto paths = [&] { return impl_->PathsOf(ino); };
  if (int e = impl_->BeforeOp(FaultOp::kRead, paths); e != 0) return Errno{e};
  const size_t read = ReadPages(n->pages, n->attr.size, offset, size, dst);
  impl_->AfterOp(FaultOp::kRead, paths);
  return read;
}

Result<size_t> Filesystem::Write(Fh fh, uint64_t offset, std::string_view data, const Caller& who) {
  // The copy and the checksum need no model state: made before the lock,
  // they run in parallel on the session's threads (the kernel's writeback
  // has up to 12 writes in flight), and the lock covers only the bookkeeping.
  // A write that will be refused is refused first, without them: after a
  // power cut with the writeback cache, the kernel writes back every dirty
  // page of the open files through their old handles before it drops them.
  {
    std::lock_guard lock(impl_->mu);
    auto h = impl_->GetHandle(fh);
    if (!h.ok()) return Errno{h.error()};
    if (!Writable((*h)->flags)) return Errno{EBADF};
  }
  WriteData prepared(offset, data);
  const uint32_t digest =
      impl_->tracing.load(std::memory_order_relaxed) && !data.empty() ? Digest(data) : 0;
  std::lock_guard lock(impl_->mu);
  auto h = impl_->GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  if (!Writable((*h)->flags)) return Errno{EBADF};
  Ino ino = (*h)->ino;
  auto paths = [&] { return impl_->PathsOf(ino); };
  if (int e = impl_->BeforeOp(FaultOp::kWrite, paths); e != 0) return Errno{e};
  size_t written = 0;
  if (auto r = impl_->WriteLocked(**h, offset, data, std::move(prepared), digest, who, written);
      !r.ok()) {
    return Errno{r.error()};
  }
  impl_->AfterOp(FaultOp::kWrite, paths);
  impl_->AfterWrite(ino, impl_->last_write_seq);
  return written;
}

Result<void> Filesystem::Flush(Fh fh) {
  std::lock_guard lock(impl_->mu);
  auto h = impl_->GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  return Ok();
}

Result<void> Filesystem::Release(Fh fh) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto it = m.handles.find(fh);
  if (it == m.handles.end()) return Errno{EBADF};
  Handle h = std::move(it->second);
  m.handles.erase(it);
  // Open counts of an older epoch were dropped by the power cut.
  if (h.epoch == m.epoch) {
    auto oc = m.open_count.find(h.ino);
    if (oc != m.open_count.end() && --oc->second == 0) {
      m.open_count.erase(oc);
      m.MaybeReap(h.ino);
    }
  }
  return Ok();
}

Result<void> Filesystem::Fsync(Fh fh, bool datasync, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  auto h = impl_->GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  Impl& m = *impl_;
  Ino ino = (*h)->ino;
  bool is_dir = (*h)->is_dir;
  const char* name = datasync ? "fdatasync" : "fsync";
  auto paths = [&] { return m.PathsOf(ino); };
  FaultOp op = is_dir ? FaultOp::kFsyncDir : FaultOp::kFsync;
  if (!is_dir) {
    // A writeback error another file description's fsync met is reported
    // here once (errseq_t), and this fsync commits nothing.
    auto un = m.unreported_wb_err.find(ino);
    if (un != m.unreported_wb_err.end() && un->second.erase(fh) != 0) {
      m.Record(name, ino, who.pid, 0, 0, 0, 0, "earlier writeback error: EIO");
      return Errno{EIO};
    }
  }
  uint64_t epoch = m.epoch;
  if (int e = m.BeforeOp(op, paths); e != 0) {
    if (m.epoch == epoch) {
      m.Record(name, ino, who.pid, 0, 0, 0, 0, "injected " + std::string(FaultErrnoName(e)));
      if (!is_dir && e != EROFS) m.FailFsync(fh, ino);
    }
    return Errno{e};
  }
  if (is_dir) {
    m.Record(name, ino, who.pid, 0, 0, 0, 0, "directory");
    m.SyncDir(ino);
  } else {
    m.Record(name, ino, who.pid);
    m.SyncInode(ino, datasync);
    m.AfterFsync(ino);
  }
  m.AfterOp(op, paths);
  return Ok();
}

Result<void> Filesystem::Fallocate(Fh fh, int mode, uint64_t offset, uint64_t length,
                                   const Caller& who) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto h = m.GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  if (!Writable((*h)->flags)) return Errno{EBADF};
  const Node* n = m.vol.Find((*h)->ino);
  if (n == nullptr) return Errno{EIO};
  if (n->IsDir()) return Errno{EISDIR};
  if (!n->IsReg()) return Errno{ENODEV};
  if (length == 0) return Errno{EINVAL};
  // vfs_fallocate: a hole punch must keep the size.
  if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) return Errno{EOPNOTSUPP};
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return Errno{EOPNOTSUPP};
  if (offset > kMaxFileSize || length > kMaxFileSize - offset) return Errno{EFBIG};
  if (!(mode & FALLOC_FL_PUNCH_HOLE) && m.options.capacity_bytes != 0 &&
      (m.vol.page_count + MissingPages(n->pages, offset, length)) * kPageSize >
          m.options.capacity_bytes) {
    return Errno{ENOSPC};
  }
  Ino ino = (*h)->ino;
  auto paths = [&] { return m.PathsOf(ino); };
  if (int e = m.BeforeOp(FaultOp::kFallocate, paths); e != 0) return Errno{e};
  // As a write: Linux file systems call file_modified() in fallocate.
  if (who.uid != 0 && (n->attr.mode & (S_ISUID | S_ISGID)) != 0) m.DropSetIdBits(ino, who);
  PendingOp op = NewOp(OpKind::kFallocate, ino);
  op.offset = offset;
  op.length = length;
  op.flags = static_cast<uint32_t>(mode);
  m.Commit(std::move(op), who.pid);
  m.AfterOp(FaultOp::kFallocate, paths);
  return Ok();
}

Result<Fh> Filesystem::OpenDir(Ino ino, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  auto dir = impl_->Dir(ino);
  if (!dir.ok()) return Errno{dir.error()};
  Fh fh = impl_->next_fh++;
  impl_->handles[fh] = Handle{ino, O_RDONLY | O_DIRECTORY, impl_->epoch, true, {}};
  ++impl_->open_count[ino];
  return fh;
}

Result<std::vector<DirEntry>> Filesystem::ReadDir(Fh fh, uint64_t offset) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto h = m.GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  Handle& hd = **h;
  if (!hd.is_dir) return Errno{ENOTDIR};
  // The listing is taken when reading starts (offset 0), so offsets stay
  // stable while entries come and go, as readdir(3) allows.
  if (offset == 0 || hd.listing.empty()) {
    auto dir = m.Dir(hd.ino);
    if (!dir.ok()) return Errno{dir.error()};
    hd.listing.clear();
    hd.listing.reserve((*dir)->entries.size() + 2);
    auto up = m.links.find(hd.ino);
    Ino parent = (up == m.links.end() || up->second.empty()) ? kRootIno : up->second[0].first;
    hd.listing.push_back({".", hd.ino, S_IFDIR});
    hd.listing.push_back({"..", parent, S_IFDIR});
    for (const auto& [name, ino] : (*dir)->entries) {
      const Node* c = m.vol.Find(ino);
      hd.listing.push_back({name, ino, c ? (c->attr.mode & S_IFMT) : 0});
    }
  }
  std::vector<DirEntry> out;
  if (offset < hd.listing.size()) {
    size_t end = std::min(hd.listing.size(), static_cast<size_t>(offset) + kReadDirChunk);
    out.assign(hd.listing.begin() + offset, hd.listing.begin() + end);
  }
  return out;
}

Result<void> Filesystem::ReleaseDir(Fh fh) { return Release(fh); }

Result<void> Filesystem::FsyncDir(Fh fh, bool datasync, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  auto h = impl_->GetHandle(fh);
  if (!h.ok()) return Errno{h.error()};
  Ino ino = (*h)->ino;
  bool is_dir = (*h)->is_dir;
  auto paths = [&] { return impl_->PathsOf(ino); };
  if (int e = impl_->BeforeOp(FaultOp::kFsyncDir, paths); e != 0) return Errno{e};
  impl_->Record(datasync ? "fdatasyncdir" : "fsyncdir", ino, who.pid);
  if (is_dir) {
    impl_->SyncDir(ino);
  } else {
    impl_->SyncInode(ino, datasync);
  }
  impl_->AfterOp(FaultOp::kFsyncDir, paths);
  return Ok();
}

Result<void> Filesystem::SetXattr(Ino ino, std::string_view name, std::string_view value, int flags,
                                  const Caller& who) {
  if (name.empty() || name.size() > XATTR_NAME_MAX) return Errno{ERANGE};
  if (value.size() > kMaxXattrValue) return Errno{E2BIG};
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  bool exists = n->xattrs.count(name) != 0;
  if ((flags & XATTR_CREATE) && exists) return Errno{EEXIST};
  if ((flags & XATTR_REPLACE) && !exists) return Errno{ENODATA};
  PendingOp op = NewOp(OpKind::kSetXattr, ino);
  op.name = std::string(name);
  op.value = std::string(value);
  impl_->Commit(std::move(op), who.pid);
  return Ok();
}

Result<std::string> Filesystem::GetXattr(Ino ino, std::string_view name) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return Errno{ENODATA};
  return it->second;
}

Result<std::vector<std::string>> Filesystem::ListXattr(Ino ino) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  std::vector<std::string> names;
  names.reserve(n->xattrs.size());
  for (const auto& [name, value] : n->xattrs) names.push_back(name);
  return names;
}

Result<void> Filesystem::RemoveXattr(Ino ino, std::string_view name, const Caller& who) {
  std::lock_guard lock(impl_->mu);
  const Node* n = impl_->vol.Find(ino);
  if (n == nullptr) return Errno{ESTALE};  // a power cut took the inode
  if (n->xattrs.count(name) == 0) return Errno{ENODATA};
  PendingOp op = NewOp(OpKind::kRemoveXattr, ino);
  op.name = std::string(name);
  impl_->Commit(std::move(op), who.pid);
  return Ok();
}

Result<struct statvfs> Filesystem::StatFs() {
  std::lock_guard lock(impl_->mu);
  struct statvfs st {};
  st.f_bsize = kPageSize;
  st.f_frsize = kPageSize;
  uint64_t used = impl_->vol.page_count;
  uint64_t total;
  if (impl_->options.capacity_bytes != 0) {
    total = impl_->options.capacity_bytes / kPageSize;
  } else {
    // Unlimited: what memory could still hold, as tmpfs reports by default.
    long avail = sysconf(_SC_AVPHYS_PAGES) * (sysconf(_SC_PAGESIZE) / long{kPageSize});
    total = used + static_cast<uint64_t>(std::max(avail, 0L));
  }
  total = std::max(total, used);
  st.f_blocks = total;
  st.f_bfree = total - used;
  st.f_bavail = total - used;
  uint64_t inodes = impl_->vol.nodes.size();
  st.f_files = inodes + (uint64_t{1} << 32);
  st.f_ffree = uint64_t{1} << 32;
  st.f_favail = st.f_ffree;
  st.f_namemax = 255;
  return st;
}

BehaviourModel Filesystem::Model() const { return impl_->options.model; }

}  // namespace blackout::model
