#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engines/common/buffered_file.h"
#include "engines/common/env.h"

namespace blackout::engines {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/blackout-posix-env-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The open flags the kernel holds for the one descriptor open on `path`,
// found through /proc/self/fd (the only way to see O_APPEND after the fact).
int FlagsOf(const std::string& path) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec) == path)
      return fcntl(std::stoi(e.path().filename().string()), F_GETFL);
  }
  return -1;
}

TEST_CASE("PosixEnv opens with Python's flags for each mode", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Posix();
  const std::string p = dir.path + "/f";
  { std::ofstream(p) << "0123456789"; }
  {
    auto f = env->Open(p, OpenMode::kAppend);
    REQUIRE(f.ok());
    CHECK((FlagsOf(p) & (O_APPEND | O_ACCMODE)) == (O_APPEND | O_WRONLY));
    REQUIRE((*f)->WriteAt(0, "X").ok());  // O_APPEND: lands at the end
    REQUIRE((*f)->Close().ok());
    CHECK(Slurp(p) == "0123456789X");
  }
  {
    auto f = env->Open(p, OpenMode::kReadWrite);
    REQUIRE(f.ok());
    CHECK((FlagsOf(p) & (O_APPEND | O_ACCMODE)) == O_RDWR);
    CHECK(*(*f)->ReadAt(8, 10) == "89X");
  }
  {
    auto f = env->Open(p, OpenMode::kWrite);  // "wb" truncates at open
    REQUIRE(f.ok());
    CHECK((FlagsOf(p) & O_ACCMODE) == O_WRONLY);
    CHECK(*env->FileSize(p) == 0);
  }
  CHECK(env->Open(dir.path + "/missing", OpenMode::kRead).status().IsNotFound());
  CHECK(env->Open(dir.path + "/missing", OpenMode::kReadWrite).status().IsNotFound());
  auto rwc = env->Open(dir.path + "/new", OpenMode::kReadWriteCreate);
  REQUIRE(rwc.ok());
  CHECK((FlagsOf(dir.path + "/new") & O_ACCMODE) == O_RDWR);
}

TEST_CASE("PosixEnv directory calls and errors name the path", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Posix();
  REQUIRE(env->CreateDirs(dir.path + "/a/b/c").ok());
  REQUIRE(env->CreateDirs(dir.path + "/a/b/c").ok());  // exist_ok
  REQUIRE(env->SyncDir(dir.path + "/a/b").ok());
  auto f = BufferedFile::Open(env, dir.path + "/a/x", OpenMode::kAppend);
  REQUIRE(f.ok());
  REQUIRE((*f)->Append("hi").ok());
  REQUIRE((*f)->Sync().ok());
  REQUIRE((*f)->Close().ok());
  REQUIRE(env->Rename(dir.path + "/a/x", dir.path + "/a/y").ok());
  CHECK(env->Exists(dir.path + "/a/y"));
  auto names = env->ListDir(dir.path + "/a");
  REQUIRE(names.ok());
  std::sort(names->begin(), names->end());
  CHECK(*names == std::vector<std::string>{"b", "y"});
  REQUIRE(env->Remove(dir.path + "/a/y").ok());
  Status gone = env->Remove(dir.path + "/a/y");
  CHECK(gone.IsNotFound());
  CHECK(gone.message().find("/a/y") != std::string::npos);
}

TEST_CASE("BufferedFile on PosixEnv buffers st_blksize bytes, as CPython's open() does",
          "[posix_env]") {
  TempDir dir;
  struct stat st;
  REQUIRE(::stat(dir.path.c_str(), &st) == 0);
  auto f = BufferedFile::Open(Env::Posix(), dir.path + "/f", OpenMode::kAppend);
  REQUIRE(f.ok());
  CHECK((*f)->buffer_size() == static_cast<size_t>(st.st_blksize));
}

TEST_CASE("PosixEnv directory lock refuses a second holder", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Posix();
  auto lock = env->LockDir(dir.path);
  REQUIRE(lock.ok());
  CHECK(env->LockDir(dir.path).status().IsBusy());
  lock.value().reset();
  CHECK(env->LockDir(dir.path).ok());
}

}  // namespace
}  // namespace blackout::engines
