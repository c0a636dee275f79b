#include "fusefs/lazyfs/commands.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

namespace blackout::lazyfs {
namespace {

std::string WriteConfig(const std::string& text) {
  char tmpl[] = "/tmp/blackout-lazyfs-config-XXXXXX";
  const int fd = mkstemp(tmpl);
  close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST_CASE("LazyFS control commands parse as LazyFS writes them, newline or not") {
  CHECK(ParseCommand("lazyfs::clear-cache").kind == Command::kClearCache);
  CHECK(ParseCommand("lazyfs::clear-cache\r").kind == Command::kClearCache);
  CHECK(ParseCommand("lazyfs::cache-checkpoint").kind == Command::kCheckpoint);
  CHECK(ParseCommand("lazyfs::display-cache-usage").kind == Command::kDisplayUsage);
  CHECK(ParseCommand("lazyfs::unsynced-data-report").kind == Command::kUnsyncedReport);
  CHECK(ParseCommand("lazyfs::clear-cachex").kind == Command::kInvalid);
  CHECK(ParseCommand("lazyfs::torn-op::file=a::persist=1::parts=2::occurrence=1").kind ==
        Command::kTorn);
}

TEST_CASE("LazyFS crash commands on open, link and symlink arm; access is refused with why") {
  CHECK(ParseCommand("lazyfs::crash::timing=after::op=open::from_rgx=wal").crash.trigger.op ==
        model::FaultOp::kOpen);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=link::to_rgx=new").kind == Command::kCrash);
  CHECK(ParseCommand("lazyfs::crash::timing=after::op=symlink::from_rgx=l").kind ==
        Command::kCrash);
  const Command access = ParseCommand("lazyfs::crash::timing=after::op=access::from_rgx=f");
  CHECK(access.kind == Command::kInvalid);
  CHECK(access.error.find("default_permissions") != std::string::npos);
}

TEST_CASE("LazyFS torn-op and torn-seq commands arm a torn write of the exact file") {
  const Command op = ParseCommand(
      "lazyfs::torn-op::file=/mnt/db/output1.txt::persist=1,3::parts=3::occurrence=5", "/mnt");
  REQUIRE(op.kind == Command::kTorn);
  REQUIRE(op.crash.torn.has_value());
  CHECK(op.crash.action == FaultAction::kCrash);
  CHECK(op.crash.torn->kind == model::TornWrite::Kind::kOp);
  CHECK(op.crash.torn->path == "/db/output1.txt");
  CHECK(op.crash.torn->occurrence == 5);
  CHECK(op.crash.torn->persist == std::vector<uint64_t>{1, 3});
  CHECK(op.crash.torn->parts == 3);
  const Command bytes = ParseCommand(
      "lazyfs::torn-op::file=f::persist=2::parts_bytes=4096,3600,1260::occurrence=1", "/mnt");
  REQUIRE(bytes.kind == Command::kTorn);
  CHECK(bytes.crash.torn->parts_bytes == std::vector<uint64_t>{4096, 3600, 1260});
  const Command seq = ParseCommand(
      "lazyfs::torn-seq::op=write::file=/mnt/output.txt::persist=1,4::occurrence=2", "/mnt");
  REQUIRE(seq.kind == Command::kTorn);
  CHECK(seq.crash.torn->kind == model::TornWrite::Kind::kSeq);
  CHECK(seq.crash.torn->path == "/output.txt");
  CHECK(seq.crash.torn->persist == std::vector<uint64_t>{1, 4});
}

TEST_CASE("Bad torn-op and torn-seq commands are refused with the field named") {
  const Command part = ParseCommand("lazyfs::torn-op::file=f::persist=4::parts=3::occurrence=1");
  CHECK(part.kind == Command::kInvalid);
  CHECK(part.error.find("part 4 of 3") != std::string::npos);
  const Command both = ParseCommand(
      "lazyfs::torn-op::file=f::persist=1::parts=2::parts_bytes=1,1::occurrence=1");
  CHECK(both.kind == Command::kInvalid);
  CHECK(both.error.find("not both") != std::string::npos);
  const Command list = ParseCommand("lazyfs::torn-seq::op=write::file=f::persist=1,x::occurrence=1");
  CHECK(list.kind == Command::kInvalid);
  CHECK(list.error.find("persist=1,x") != std::string::npos);
  const Command op = ParseCommand("lazyfs::torn-seq::op=fsync::file=f::persist=1::occurrence=1");
  CHECK(op.error.find("only writes") != std::string::npos);
  const Command missing = ParseCommand("lazyfs::torn-op::persist=1::parts=2::occurrence=1");
  CHECK(missing.error.find("file=") != std::string::npos);
}

TEST_CASE("A LazyFS crash command arms a crash at the first operation whose path matches") {
  const Command c =
      ParseCommand("lazyfs::crash::timing=before::op=write::from_rgx=file1");
  REQUIRE(c.kind == Command::kCrash);
  CHECK(c.crash.action == FaultAction::kCrash);
  CHECK(c.crash.trigger.before);
  CHECK(c.crash.trigger.op == model::FaultOp::kWrite);
  CHECK(c.crash.trigger.nth == 1);
  REQUIRE(c.crash.trigger.regex != nullptr);
  CHECK(model::RegexMatches(*c.crash.trigger.regex, "/db/file1.log"));
  CHECK_FALSE(model::RegexMatches(*c.crash.trigger.regex, "/db/file2.log"));
}

TEST_CASE("Crash commands longer than LazyFS's 100-byte read are parsed whole") {
  const std::string regex(150, 'a');
  const Command c =
      ParseCommand("lazyfs::crash::timing=after::op=fsync::from_rgx=" + regex);
  REQUIRE(c.kind == Command::kCrash);
  REQUIRE(c.crash.trigger.regex != nullptr);
  CHECK(model::RegexMatches(*c.crash.trigger.regex, "/x" + regex + "y"));
  CHECK_FALSE(model::RegexMatches(*c.crash.trigger.regex, "/x" + regex.substr(1)));
  CHECK_FALSE(c.crash.trigger.before);
}

TEST_CASE("Crash commands LazyFS rejects are rejected with the reason") {
  CHECK(ParseCommand("lazyfs::crash::timing=during::op=write::from_rgx=a").error.find(
            "timing") != std::string::npos);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=write").kind == Command::kInvalid);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=write::from_rgx=a::to_rgx=b").kind ==
        Command::kInvalid);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=rename::to_rgx=b").kind ==
        Command::kCrash);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=chmod::from_rgx=a").error.find(
            "not an operation LazyFS knows") != std::string::npos);
  CHECK(ParseCommand("lazyfs::crash::timing=before::op=write::from_rgx=(a|b").error.find(
            "does not compile") != std::string::npos);
}

TEST_CASE("Crash regexes match as LazyFS's .*R.* does, any ECMAScript regex") {
  auto matches = [](const std::string& regex, const std::string& path) {
    const Command c = ParseCommand("lazyfs::crash::timing=after::op=fsync::from_rgx=" + regex);
    REQUIRE(c.kind == Command::kCrash);
    return model::RegexMatches(*c.crash.trigger.regex, path);
  };
  CHECK(matches("wal.*log", "/db/wal-000001.log"));
  CHECK(matches("a.b", "/aXb"));
  CHECK_FALSE(matches("a\\.b", "/aXb"));
  CHECK(matches("(wal|sst)$", "/db/000001.sst"));
  CHECK_FALSE(matches("(wal|sst)$", "/db/000001.sst.tmp"));
  CHECK(matches("^/db/[0-9]+\\.log", "/db/42.log"));
  const Command bad = ParseCommand("lazyfs::crash::timing=after::op=fsync::from_rgx=(a");
  CHECK(bad.kind == Command::kInvalid);
  CHECK(bad.error.find("does not compile") != std::string::npos);
}

TEST_CASE("Config paths under the mount point or relative are read inside the mount") {
  CHECK(ToMountPath("/tmp/m/f1.txt", "/tmp/m") == "/f1.txt");
  CHECK(ToMountPath("d/f1.txt", "/tmp/m") == "/d/f1.txt");
  CHECK(ToMountPath("/f1.txt", "/tmp/m") == "/f1.txt");
}

TEST_CASE("A clear-cache injection fires at the occurrence-th operation for both timings") {
  const std::string path = WriteConfig(R"(
[faults]
fifo_path = "/tmp/x.fifo"
fifo_path_completed = "/tmp/x-done.fifo"
[cache]
apply_eviction = false
[[injection]]
type = "clear-cache"
from = "/tmp/m/f1.txt"
timing = "before"
op = "fsync"
occurrence = 6
crash = false
)");
  Config config;
  std::string error;
  REQUIRE(LoadConfig(path, "/tmp/m", &config, &error));
  CHECK(config.fifo_path == "/tmp/x.fifo");
  CHECK(config.fifo_path_completed == "/tmp/x-done.fifo");
  REQUIRE(config.injections.size() == 1);
  const Injection& inj = config.injections[0];
  CHECK(inj.action == FaultAction::kClearCache);
  CHECK(inj.trigger.path == "/f1.txt");
  CHECK(inj.trigger.nth == 6);  // LazyFS fires before the 7th (counts from 0)
  CHECK(inj.trigger.before);
  CHECK(inj.trigger.op == model::FaultOp::kFsync);
  unlink(path.c_str());
}

TEST_CASE("A crash injection (or crash=true) stops the daemon after the cut") {
  const std::string path = WriteConfig(
      "[[injection]]\ntype=\"crash\"\nfrom=\"a*.log\"\ntiming=\"after\"\nop=\"write\"\n"
      "occurrence=2\n");
  Config config;
  std::string error;
  REQUIRE(LoadConfig(path, "/tmp/m", &config, &error));
  REQUIRE(config.injections.size() == 1);
  CHECK(config.injections[0].action == FaultAction::kCrash);
  CHECK(config.injections[0].trigger.path == "/a\\*.log");  // LazyFS matches exactly
  unlink(path.c_str());
}

TEST_CASE("LazyFS torn-op and torn-seq injections load from the TOML config") {
  const std::string path = WriteConfig(
      "[[injection]]\ntype=\"torn-seq\"\nop=\"write\"\nfile=\"/tmp/m/output.txt\"\n"
      "persist=[1,4]\noccurrence=2\n");
  Config config;
  std::string error;
  REQUIRE(LoadConfig(path, "/tmp/m", &config, &error));
  REQUIRE(config.injections.size() == 1);
  REQUIRE(config.injections[0].torn.has_value());
  CHECK(config.injections[0].torn->kind == model::TornWrite::Kind::kSeq);
  CHECK(config.injections[0].torn->path == "/output.txt");
  CHECK(config.injections[0].torn->occurrence == 2);
  const std::string op = WriteConfig(
      "[[injection]]\ntype=\"torn-op\"\nfile=\"output1.txt\"\noccurrence=5\n"
      "parts_bytes=[4096,3600,1260]\npersist=[1,3]\n");
  Config op_config;
  REQUIRE(LoadConfig(op, "/tmp/m", &op_config, &error));
  CHECK(op_config.injections[0].torn->parts_bytes == std::vector<uint64_t>{4096, 3600, 1260});
  CHECK(op_config.injections[0].torn->path == "/output1.txt");
  unlink(path.c_str());
  unlink(op.c_str());
}

TEST_CASE("Bad LazyFS configs are refused naming the injection and the key") {
  std::string error;
  Config config;
  const std::string missing =
      WriteConfig("[[injection]]\ntype=\"clear-cache\"\nfrom=\"f\"\nop=\"fsync\"\noccurrence=1\n");
  CHECK_FALSE(LoadConfig(missing, "/tmp/m", &config, &error));
  CHECK(error.find("#1") != std::string::npos);
  CHECK(error.find("'timing'") != std::string::npos);
  const std::string torn = WriteConfig(
      "[[injection]]\ntype=\"torn-op\"\nfile=\"f\"\noccurrence=1\nparts=2\npersist=[3]\n");
  CHECK_FALSE(LoadConfig(torn, "/tmp/m", &config, &error));
  CHECK(error.find("#1: persist names part 3 of 2") != std::string::npos);
  const std::string syntax = WriteConfig("[[injection]\n");
  CHECK_FALSE(LoadConfig(syntax, "/tmp/m", &config, &error));
  CHECK(error.find(syntax) != std::string::npos);
  for (const std::string& p : {missing, torn, syntax}) unlink(p.c_str());
}

}  // namespace
}  // namespace blackout::lazyfs
