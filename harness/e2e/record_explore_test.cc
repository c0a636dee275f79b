// End-to-end: `blackout record` then `blackout explore` on a shell command,
// the quickest way to ask "is my program crash-safe?".
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Ran {
  int exit_code = -1;
  std::string out;
};

Ran Run(const std::vector<std::string>& argv) {
  char tmpl[] = "/tmp/blackout-rec-out-XXXXXX";
  const int fd = mkstemp(tmpl);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  std::ifstream in(tmpl);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(tmpl);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

std::string Bin() {
  const char* b = std::getenv("BLACKOUT_BIN");
  return b != nullptr ? b : "blackout";
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/blackout-rec-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

bool NoMountLeft() {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("blackout-run-") != std::string::npos) return false;
  }
  return true;
}

const char* kCheck = "test \"$(cat data.txt)\" = hello";

TEST_CASE("explore finds the crash state that loses a file written without fsync") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/nosync.trace";
  const Ran rec = Run({Bin(), "record", "--out", trace, "--", "sh", "-c",
                       "test \"$BLACKOUT_MNT\" = \"$PWD\" && echo hello > data.txt"});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  CHECK(NoMountLeft());
  const Ran ex = Run({Bin(), "explore", trace, "--check", kCheck, "--out", t.path + "/report"});
  INFO("reproduce: blackout explore " << trace << " --check '" << kCheck << "'\n" << ex.out);
  CHECK(ex.exit_code == 1);
  CHECK(ex.out.find("VIOLATION drop-all") != std::string::npos);
  std::ifstream in(t.path + "/report/report.json");
  const nlohmann::json report = nlohmann::json::parse(in);
  CHECK(report["kind"] == "explore");
  CHECK(report["violations"].get<int>() >= 1);
  CHECK(std::filesystem::exists(t.path + "/report/report.md"));
}

TEST_CASE("explore reports no violation when the file and its directory are fsynced") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/synced.trace";
  // coreutils sync FILE fsyncs that file; `sync .` fsyncs the directory.
  const Ran rec = Run({Bin(), "record", "--out", trace, "--", "sh", "-c",
                       "echo hello > data.txt && sync data.txt && sync ."});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  const Ran ex = Run({Bin(), "explore", trace, "--check", kCheck, "--states",
                      "drop-all,prefix,reorder:1"});
  INFO("reproduce: blackout explore " << trace << " --check '" << kCheck << "'\n" << ex.out);
  CHECK(ex.exit_code == 0);
  CHECK(ex.out.find("clean") != std::string::npos);
}

TEST_CASE("explore refuses a file that is not a crash point, and an unknown generator, with exit 2") {
  TempDir t;
  std::ofstream(t.path + "/junk") << "not a trace";
  const Ran bad = Run({Bin(), "explore", t.path + "/junk", "--check", "true"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("not a crash point") != std::string::npos);
  const Ran missing = Run({Bin(), "explore", t.path + "/none", "--check", "true"});
  CHECK(missing.exit_code == 2);
}

}  // namespace
