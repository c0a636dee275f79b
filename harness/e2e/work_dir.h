// The private working directory of a harness end-to-end test. Its tmp/ is
// the TMPDIR of every `blackout` run the test makes, so a test can check
// that its runs left no mount and no temporary file behind (Clean), and a
// failed test still takes its mounts down when the directory goes.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace blackout::e2e {

struct Output {
  int code;
  std::string text;
};

inline std::string Bin() {
  return std::getenv("BLACKOUT_BIN") ? std::getenv("BLACKOUT_BIN") : "build/blackout";
}
inline std::string Source() {
  return std::getenv("BLACKOUT_SOURCE_DIR") ? std::getenv("BLACKOUT_SOURCE_DIR") : ".";
}

class WorkDir {
 public:
  // $TMPDIR/NAME.PID, with tmp/ in it.
  explicit WorkDir(const std::string& name)
      : path((std::filesystem::temp_directory_path() / (name + "." + std::to_string(getpid())))
                 .string()) {
    std::filesystem::create_directories(path + "/tmp");
  }
  ~WorkDir() {
    // A failed test may leave a mount: take it down before removing files.
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
      std::istringstream f(line);
      std::string dev, mnt;
      f >> dev >> mnt;
      if (mnt.find(path) == 0) (void)!std::system(("fusermount3 -u -z '" + mnt + "'").c_str());
    }
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  // Runs `blackout ARGS` (a shell command line) with TMPDIR=tmp/; the
  // output, stdout and stderr, goes to the test's log on failure.
  Output Run(const std::string& args) const {
    const std::string cmd = "TMPDIR=" + path + "/tmp " + Bin() + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
    const int status = pclose(p);
    UNSCOPED_INFO("$ " << cmd << "\n" << text);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }
  // Writes `j` to NAME (directories made) and returns its path.
  std::string Write(const std::string& name, const nlohmann::json& j) const {
    const std::string file = path + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream(file) << j.dump(2);
    return file;
  }
  // Nothing of ours is mounted, and every run removed its temp dir.
  bool Clean() const {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line))
      if (line.find(path) != std::string::npos) return false;
    return std::filesystem::is_empty(path + "/tmp");
  }

  const std::string path;
};

inline nlohmann::json Read(const std::string& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

inline std::string ReadText(const std::string& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Exits 77 (CTest: skipped) when the machine has no FUSE.
inline void SkipWithoutFuse() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    std::fprintf(stderr, "skipped: /dev/fuse is missing\n");
    std::exit(77);
  }
}

}  // namespace blackout::e2e
