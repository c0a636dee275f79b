// Materialize: writes a view of the model into a plain directory, the form
// in which a crash state is recovered and inspected by ordinary programs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

namespace {

Result<void> WriteFile(const std::string& path, const Node& n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno{errno};
  for (const auto& [idx, page] : n.pages) {
    uint64_t off = idx * kPageSize;
    if (off >= n.attr.size) break;
    size_t len = std::min<uint64_t>(kPageSize, n.attr.size - off);
    const char* p = page->bytes;
    while (len > 0) {
      ssize_t w = ::pwrite(fd, p, len, static_cast<off_t>(off));
      if (w < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return Errno{e};
      }
      p += w;
      off += static_cast<uint64_t>(w);
      len -= static_cast<size_t>(w);
    }
  }
  // Holes and the tail past the last page come from the size alone.
  if (::ftruncate(fd, static_cast<off_t>(n.attr.size)) != 0) {
    int e = errno;
    ::close(fd);
    return Errno{e};
  }
  if (::close(fd) != 0) return Errno{errno};
  return Ok();
}

struct Writer {
  const Tree& tree;
  std::unordered_map<Ino, std::string> first_path;  // hard links
  std::unordered_set<Ino> seen_dirs;
  // Directories get their modes last, so a read-only one can still be filled.
  std::vector<std::pair<std::string, uint32_t>> dir_modes;

  Result<void> Dir(Ino ino, const std::string& path) {
    const Node* d = tree.Find(ino);
    for (const auto& [name, child] : d->entries) {
      const Node* c = tree.Find(child);
      if (c == nullptr) continue;
      std::string p = path + "/" + name;
      if (c->IsDir()) {
        if (!seen_dirs.insert(child).second) continue;
        if (::mkdir(p.c_str(), 0700) != 0) return Errno{errno};
        if (auto r = Dir(child, p); !r.ok()) return r;
        Xattrs(p, *c);
        dir_modes.emplace_back(p, c->attr.mode & 07777);
        continue;
      }
      auto fp = first_path.find(child);
      if (fp != first_path.end()) {
        if (::link(fp->second.c_str(), p.c_str()) != 0) return Errno{errno};
        continue;
      }
      first_path[child] = p;
      if (S_ISLNK(c->attr.mode)) {
        if (::symlink(c->target.c_str(), p.c_str()) != 0) return Errno{errno};
        continue;
      }
      if (S_ISREG(c->attr.mode)) {
        if (auto r = WriteFile(p, *c); !r.ok()) return r;
      } else if (S_ISFIFO(c->attr.mode)) {
        if (::mkfifo(p.c_str(), 0600) != 0) return Errno{errno};
      } else {
        // Device and socket nodes need privileges a test run does not have;
        // an empty regular file keeps the name visible.
        if (auto r = WriteFile(p, Node{}); !r.ok()) return r;
      }
      Xattrs(p, *c);
      if (::chmod(p.c_str(), c->attr.mode & 07777) != 0) return Errno{errno};
    }
    return Ok();
  }

  static void Xattrs(const std::string& path, const Node& n) {
    // Best effort: the target filesystem may refuse a namespace (trusted.*,
    // security.*) to an unprivileged process; the data is what matters.
    for (const auto& [name, value] : n.xattrs) {
      (void)::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
    }
  }
};

// The bytes of a regular file: its pages, zeros for holes, cut at its size.
std::string FileBytes(const Node& n) {
  std::string out(n.attr.size, '\0');
  for (const auto& [idx, page] : n.pages) {
    const uint64_t off = idx * kPageSize;
    if (off >= n.attr.size) break;
    const size_t len = std::min<uint64_t>(kPageSize, n.attr.size - off);
    std::memcpy(out.data() + off, page->bytes, len);
  }
  return out;
}

void ListTree(const Tree& tree, Ino dir, const std::string& prefix, std::unordered_set<Ino>& seen,
              std::vector<StateFile>& out) {
  const Node* d = tree.Find(dir);
  for (const auto& [name, child] : d->entries) {
    const Node* c = tree.Find(child);
    if (c == nullptr) continue;
    StateFile f;
    f.path = prefix.empty() ? name : prefix + "/" + name;
    if (c->IsDir()) {
      if (!seen.insert(child).second) continue;
      f.type = StateFile::Type::kDir;
      out.push_back(f);
      ListTree(tree, child, f.path, seen, out);
      continue;
    }
    if (S_ISLNK(c->attr.mode)) {
      f.type = StateFile::Type::kSymlink;
      f.data = c->target;
    } else if (S_ISREG(c->attr.mode)) {
      f.data = FileBytes(*c);
    } else {
      f.type = StateFile::Type::kOther;
    }
    out.push_back(std::move(f));
  }
}

}  // namespace

Result<void> MaterializeTree(const Tree& tree, const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec)) return Errno{ENOTDIR};
    if (!std::filesystem::is_empty(dir, ec)) return Errno{ENOTEMPTY};
  } else {
    std::filesystem::create_directories(dir, ec);
    if (ec) return Errno{ec.value() ? ec.value() : EIO};
  }
  Writer w{tree, {}, {kRootIno}, {}};
  if (auto r = w.Dir(kRootIno, dir); !r.ok()) return r;
  for (auto it = w.dir_modes.rbegin(); it != w.dir_modes.rend(); ++it) {
    if (::chmod(it->first.c_str(), it->second) != 0) return Errno{errno};
  }
  return Ok();
}

Result<void> Filesystem::Materialize(View view, const std::string& dir) const {
  Tree snapshot;
  {
    std::lock_guard lock(impl_->mu);
    // Copying the NodeRefs is the snapshot: the nodes are shared
    // copy-on-write, so later operations do not change what is written.
    snapshot = view == View::kVolatile ? impl_->vol : impl_->dur;
  }
  // What a reboot would show: the same repair a power cut applies.
  if (view == View::kDurable) RepairTree(snapshot);
  return MaterializeTree(snapshot, dir);
}

Result<std::vector<StateFile>> Filesystem::CrashStateFiles(std::string_view id) const {
  Tree state;
  {
    std::lock_guard lock(impl_->mu);
    auto spec = impl_->ParseStateId(id);
    if (!spec.ok()) return Errno{spec.error()};
    state = impl_->BuildState(*spec);
  }
  std::vector<StateFile> out;
  std::unordered_set<Ino> seen{kRootIno};
  ListTree(state, kRootIno, "", seen, out);
  return out;
}

}  // namespace blackout::model
