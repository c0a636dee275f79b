// First compiling version of the model: every call answers ENOSYS until the
// implementation lands. See crash_model.md.
#include "fusefs/model/filesystem.h"

#include <cerrno>

namespace blackout::model {

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

Result<BehaviourModel> ParseBehaviourModel(std::string_view name) {
  if (name == "posix-strict") return BehaviourModel::kPosixStrict;
  if (name == "ext4-ordered") return BehaviourModel::kExt4Ordered;
  return Errno{EINVAL};
}

std::string_view Name(BehaviourModel m) {
  switch (m) {
    case BehaviourModel::kPosixStrict:
      return "posix-strict";
    case BehaviourModel::kExt4Ordered:
      return "ext4-ordered";
  }
  return "unknown";
}

struct Filesystem::Impl {
  Options options;
};

Filesystem::Filesystem(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}
Filesystem::~Filesystem() = default;

Result<Attr> Filesystem::Lookup(Ino, std::string_view) { return Errno{ENOSYS}; }
void Filesystem::Forget(Ino, uint64_t) {}
Result<Attr> Filesystem::GetAttr(Ino) { return Errno{ENOSYS}; }
Result<Attr> Filesystem::SetAttr(Ino, const AttrChange&, std::optional<Fh>, const Caller&) {
  return Errno{ENOSYS};
}
Result<Attr> Filesystem::Mknod(Ino, std::string_view, uint32_t, uint32_t, const Caller&) {
  return Errno{ENOSYS};
}
Result<Attr> Filesystem::Mkdir(Ino, std::string_view, uint32_t, const Caller&) {
  return Errno{ENOSYS};
}
Result<Attr> Filesystem::Symlink(Ino, std::string_view, std::string_view, const Caller&) {
  return Errno{ENOSYS};
}
Result<std::string> Filesystem::Readlink(Ino) { return Errno{ENOSYS}; }
Result<Attr> Filesystem::Link(Ino, Ino, std::string_view, const Caller&) { return Errno{ENOSYS}; }
Result<void> Filesystem::Unlink(Ino, std::string_view, const Caller&) { return Errno{ENOSYS}; }
Result<void> Filesystem::Rmdir(Ino, std::string_view, const Caller&) { return Errno{ENOSYS}; }
Result<void> Filesystem::Rename(Ino, std::string_view, Ino, std::string_view, unsigned,
                                const Caller&) {
  return Errno{ENOSYS};
}
Result<Created> Filesystem::Create(Ino, std::string_view, uint32_t, int, const Caller&) {
  return Errno{ENOSYS};
}
Result<Fh> Filesystem::Open(Ino, int, const Caller&) { return Errno{ENOSYS}; }
Result<void> Filesystem::Read(Fh, uint64_t, size_t, std::string&) { return Errno{ENOSYS}; }
Result<size_t> Filesystem::Write(Fh, uint64_t, std::string_view, const Caller&) {
  return Errno{ENOSYS};
}
Result<void> Filesystem::Flush(Fh) { return Ok(); }
Result<void> Filesystem::Release(Fh) { return Ok(); }
Result<void> Filesystem::Fsync(Fh, bool, const Caller&) { return Ok(); }
Result<void> Filesystem::Fallocate(Fh, int, uint64_t, uint64_t, const Caller&) {
  return Errno{ENOSYS};
}
Result<Fh> Filesystem::OpenDir(Ino, const Caller&) { return Errno{ENOSYS}; }
Result<std::vector<DirEntry>> Filesystem::ReadDir(Fh, uint64_t) { return Errno{ENOSYS}; }
Result<void> Filesystem::ReleaseDir(Fh) { return Ok(); }
Result<void> Filesystem::FsyncDir(Fh, bool, const Caller&) { return Ok(); }
Result<void> Filesystem::SetXattr(Ino, std::string_view, std::string_view, int, const Caller&) {
  return Errno{ENOSYS};
}
Result<std::string> Filesystem::GetXattr(Ino, std::string_view) { return Errno{ENOSYS}; }
Result<std::vector<std::string>> Filesystem::ListXattr(Ino) { return Errno{ENOSYS}; }
Result<void> Filesystem::RemoveXattr(Ino, std::string_view, const Caller&) {
  return Errno{ENOSYS};
}
Result<struct statvfs> Filesystem::StatFs() { return Errno{ENOSYS}; }
Seq Filesystem::CurrentSeq() const { return 0; }
uint64_t Filesystem::Epoch() const { return 0; }
void Filesystem::SyncAll() {}
PowerCutResult Filesystem::PowerCut(CrashStateKind) { return {}; }
Unsynced Filesystem::ListUnsynced() const { return {}; }
Result<void> Filesystem::Materialize(View, const std::string&) const { return Errno{ENOSYS}; }
void Filesystem::ForEachVolatileEntry(const std::function<void(Ino, const std::string&)>&) const {}
std::vector<TraceEntry> Filesystem::Trace() const { return {}; }
BehaviourModel Filesystem::Model() const { return impl_->options.model; }

}  // namespace blackout::model
