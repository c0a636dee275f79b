// The POSIX Env under strace makes the same calls as REF (issue 13 item 7):
// runs engine-traces/$BLACKOUT_TRACE.jsonl through build/blackout under
// `strace -f -y` and compares with $BLACKOUT_TRACE.trace. CTest runs the
// [strace] case once per trace listed in this directory's CMakeLists.txt;
// it exits 77 (skipped) when strace is missing or cannot trace.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>

#include "engines/driver/fidelity_test_support.h"

namespace blackout::engines::fidelity {
namespace {

TEST_CASE("strace output normalizes to the engine-trace format", "[normalize]") {
  const std::vector<std::string> lines = {
      R"(100 openat(AT_FDCWD</x>, "/s/000001.wal", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0644) = 3</s/000001.wal>)",
      R"(100 openat(AT_FDCWD</x>, "/s/000001.wal", O_RDONLY|O_CLOEXEC) = 4</s/000001.wal>)",
      R"(100 openat(AT_FDCWD</x>, "/s", O_RDONLY|O_DIRECTORY|O_CLOEXEC) = 5</s>)",
      R"(100 openat(AT_FDCWD</x>, "/other/f", O_WRONLY|O_CREAT, 0644) = 6</other/f>)",
      R"(100 write(3</s/000001.wal>, "\32\0\0\0) = 7"..., 32) = 32)",
      R"(100 pwrite64(3</s/000001.wal>, "ab", 2, 32) = 2)",
      R"(100 fsync(3</s/000001.wal>) = 0)",
      R"(100 fsync(5</s>) = 0)",
      R"(100 write(1<pipe:[123]>, "{\"ok\":true}\n", 12) = 12)",
      R"(100 write(1<pipe:[123]>, "{\"ok\":true}\n", 12) = 12)",
      R"(100 ftruncate(3</s/000001.wal>, 10) = 0)",
      R"(100 renameat2(AT_FDCWD</x>, "/s/a.tmp", AT_FDCWD</x>, "/s/a", 0) = 0)",
      R"(100 unlink("/s/old") = 0)",
      R"(100 unlink("/s/missing") = -1 ENOENT (No such file or directory))",
      R"(100 mkdir("/s/sub", 0755) = 0)",
      R"(100 +++ exited with 0 +++)",
  };
  CHECK(NormalizeStrace(lines, "/s") ==
        std::vector<std::string>{"open 000001.wal O_APPEND|O_CREAT|O_WRONLY", "write 000001.wal 34",
                                 "fsync 000001.wal", "fsync .", "ack", "ftruncate 000001.wal 10",
                                 "rename a.tmp -> a", "unlink old", "mkdir sub"});
}

TEST_CASE("trace diff reports the first differing line", "[normalize]") {
  CHECK(DiffTraces({"a", "write f 3"}, {"a", "write f 4"}, /*star_sizes=*/true).empty());
  const std::string diff = DiffTraces({"a", "b"}, {"a", "c"}, false);
  CHECK(diff.find("line 2") != std::string::npos);
}

TEST_CASE("the POSIX Env under strace makes the calls of the recorded REF trace", "[.strace]") {
  const char* name = std::getenv("BLACKOUT_TRACE");
  const char* bin = std::getenv("BLACKOUT_BIN");
  REQUIRE(name != nullptr);
  REQUIRE(bin != nullptr);
  if (!StraceAvailable()) {
    std::fprintf(stderr, "SKIP: strace is not installed (scripts/deps.sh installs it)\n");
    std::exit(77);
  }
  if (std::system("strace -qq -o /dev/null true >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "SKIP: strace cannot trace here (ptrace not permitted)\n");
    std::exit(77);
  }
  auto workload = LoadWorkload(name);
  INFO(workload.status().ToString());
  REQUIRE(workload.ok());
  auto want = LoadExpectedTrace(name);
  REQUIRE(want.ok());
  const char* tmp = std::getenv("TMPDIR");
  auto got = RunUnderStrace(bin, *workload, tmp ? tmp : "/tmp");
  INFO(got.status().ToString());
  REQUIRE(got.ok());
  const std::string diff = DiffTraces(*want, *got, workload->engine == "eventstore");
  INFO("reproduce: BLACKOUT_TRACE=" << name << " BLACKOUT_BIN=" << bin
                                    << " BLACKOUT_SHARED_DIR=... engine_strace_fidelity_test "
                                       "'[.strace]'\n"
                                    << diff);
  CHECK(diff.empty());
}

}  // namespace
}  // namespace blackout::engines::fidelity
