// PosixEnv: one system call per Env/File call, so that what the engine asks
// for is exactly what strace and blackoutfs see.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engines/common/env.h"

namespace blackout::engines {

File::~File() = default;
DirLock::~DirLock() = default;
Env::~Env() = default;

std::string OpenModeFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kRead:
      return "O_RDONLY";
    case OpenMode::kAppend:
      return "O_APPEND|O_CREAT|O_WRONLY";
    case OpenMode::kWrite:
      return "O_CREAT|O_TRUNC|O_WRONLY";
    case OpenMode::kReadWrite:
      return "O_RDWR";
    case OpenMode::kReadWriteCreate:
      return "O_CREAT|O_RDWR|O_TRUNC";
  }
  return "?";
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

namespace {

int PosixFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kRead:
      return O_RDONLY;
    case OpenMode::kAppend:
      return O_WRONLY | O_CREAT | O_APPEND;
    case OpenMode::kWrite:
      return O_WRONLY | O_CREAT | O_TRUNC;
    case OpenMode::kReadWrite:
      return O_RDWR;
    case OpenMode::kReadWriteCreate:
      return O_RDWR | O_CREAT | O_TRUNC;
  }
  return O_RDONLY;
}

Status ErrnoStatus(const std::string& context, int err) {
  if (err == ENOENT) return Status::NotFound(context + ": " + std::strerror(err));
  return Status::IOError(context, err);
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Write(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("pwrite " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    return Status::OK();
  }

  Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("pread " + path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    out.resize(got);
    return out;
  }

  Status Seek(uint64_t offset) override {
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0)
      return Status::IOError("lseek " + path_, errno);
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::IOError("fstat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  size_t BlockSize() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return 4096;
    return static_cast<size_t>(st.st_blksize);
  }

  Status Sync() override {
    if (::fsync(fd_) != 0) return Status::IOError("fsync " + path_, errno);
    return Status::OK();
  }

  Status Truncate(uint64_t length) override {
    if (::ftruncate(fd_, static_cast<off_t>(length)) != 0)
      return Status::IOError("ftruncate " + path_, errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::IOError("close " + path_ + ": already closed");
    const int fd = fd_;
    fd_ = -1;
    // close(2) is not retried on EINTR: on Linux the descriptor is gone anyway.
    if (::close(fd) != 0) return Status::IOError("close " + path_, errno);
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
};

class PosixDirLock final : public DirLock {
 public:
  explicit PosixDirLock(int fd) : fd_(fd) {}
  ~PosixDirLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    const int fd = ::open(path.c_str(), PosixFlags(mode) | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    return std::make_unique<PosixFile>(path, fd);
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return ErrnoStatus("rename " + from + " -> " + to, errno);
    return Status::OK();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink " + path, errno);
    return Status::OK();
  }

  Status CreateDirs(const std::string& path) override {
    if (path.empty()) return Status::InvalidArgument("CreateDirs: empty path");
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::OK();
      return Status::IOError("mkdir " + path, EEXIST);
    }
    const size_t slash = path.find_last_of('/', path.size() - 1);
    if (slash != std::string::npos && slash > 0) {
      BLACKOUT_RETURN_IF_ERROR(CreateDirs(path.substr(0, slash)));
    }
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::IOError("mkdir " + path, errno);
    return Status::OK();
  }

  Status SyncDir(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open directory " + path, errno);
    Status st;
    if (::fsync(fd) != 0) st = Status::IOError("fsync directory " + path, errno);
    ::close(fd);
    return st;
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoStatus("opendir " + path, errno);
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override {
    const std::string path = JoinPath(dir, "LOCK");
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    // flock locks belong to the open file description, so a second LockDir in
    // the same process is refused too, as a second process would be.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        return Status::Busy(dir + " is locked by another process (" + path + ")");
      return Status::IOError("flock " + path, err);
    }
    return std::make_unique<PosixDirLock>(fd);
  }
};

}  // namespace

Env* Env::Posix() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace blackout::engines
