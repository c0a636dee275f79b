// A temporary directory ROOT/PREFIX-XXXXXX, removed with everything in it
// when the object goes: the work directories of exploration and replay,
// which must not outlive a run that fails or is interrupted.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "harness/expected.h"

namespace blackout::harness {

// Where temporary files go: $TMPDIR, or /tmp.
inline std::string TempRoot() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

class TempDir {
 public:
  // The error names the root and the reason.
  static Expected<TempDir> Make(const std::string& root, const std::string& prefix) {
    std::string path = root + "/" + prefix + "-XXXXXX";
    if (mkdtemp(path.data()) == nullptr) {
      return Error{"cannot create a directory under " + root + ": " + std::strerror(errno)};
    }
    return TempDir(std::move(path));
  }
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace blackout::harness
