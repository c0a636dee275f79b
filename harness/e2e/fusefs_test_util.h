// Small syscall helpers for the blackoutfs end-to-end tests: each does one
// thing through the real kernel interface and throws with errno on failure,
// so a test reads as the sequence of syscalls it checks.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace blackout::e2e {

inline void Check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  Fd(const std::string& path, int flags, mode_t mode = 0644)
      : fd_(open(path.c_str(), flags, mode)) {
    Check(fd_ >= 0, "open " + path);
  }
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

  void Write(const std::string& data) {
    Check(write(fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size()), "write");
  }
  void PWrite(const std::string& data, off_t offset) {
    Check(pwrite(fd_, data.data(), data.size(), offset) == static_cast<ssize_t>(data.size()),
          "pwrite");
  }
  void Fsync() { Check(fsync(fd_) == 0, "fsync"); }

 private:
  int fd_;
};

inline void WriteFile(const std::string& path, const std::string& data, bool do_fsync) {
  Fd f(path, O_WRONLY | O_CREAT | O_TRUNC);
  f.Write(data);
  if (do_fsync) f.Fsync();
}

inline void FsyncDir(const std::string& path) {
  Fd d(path, O_RDONLY | O_DIRECTORY);
  d.Fsync();
}

// The file's content, or nullopt when it does not exist.
inline std::optional<std::string> ReadFileIfExists(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  Check(fd >= 0, "open " + path);
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  const int err = errno;
  close(fd);
  errno = err;
  Check(n == 0, "read " + path);
  return out;
}

inline bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace blackout::e2e
