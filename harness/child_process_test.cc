#include "harness/child_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "harness/e2e/process_state.h"
#include "harness/scenario.h"

using namespace blackout::harness;

TEST_CASE("a child that never answers times out instead of hanging the run, and is reaped") {
  auto child = ChildProcess::Start({"/bin/sleep", "30"}, "");
  REQUIRE(child.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto line = child->ReadAll(0.3);  // what recovery does with its time limit
  CHECK_FALSE(line.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  const pid_t pid = child->pid();
  child->Kill();
  CHECK_FALSE(child->running());
  CHECK(kill(pid, 0) != 0);  // gone, not a zombie we still own
}

TEST_CASE("a line-based child answers request by request, and its exit code is reported") {
  auto child = ChildProcess::Start({"/bin/cat"}, "");
  REQUIRE(child.ok());
  REQUIRE(child->WriteLine("{\"op\":\"put\"}").ok());
  auto line = child->ReadLine(5);
  REQUIRE(line.ok());
  CHECK(*line == "{\"op\":\"put\"}");
  child->CloseStdin();
  auto code = child->Wait(5);
  REQUIRE(code.ok());
  CHECK(*code == 0);
}

TEST_CASE("a child's background job neither holds up reading its output nor outlives it") {
  // The job inherits stdout, so EOF never comes while it runs.
  auto child =
      ChildProcess::Start({"/bin/sh", "-c", "sleep 60 & echo \"$!\"; echo last line; exit 4"}, "");
  REQUIRE(child.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto out = child->ReadAll(30);
  REQUIRE(out.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(out->find("last line\n") != std::string::npos);  // nothing written before exit is lost
  const pid_t job = std::stoi(*out);
  auto code = child->Wait(5);
  REQUIRE(code.ok());
  CHECK(*code == 4);
  for (int i = 0; i < 200 && blackout::e2e::ProcessRunning(job); ++i) usleep(10000);
  CHECK_FALSE(blackout::e2e::ProcessRunning(job));

  // Line by line, as an exec workload is read: EOF once the child is gone.
  auto lines = ChildProcess::Start({"/bin/sh", "-c", "sleep 60 & echo ack 1"}, "");
  REQUIRE(lines.ok());
  auto first = lines->ReadLine(30);
  REQUIRE(first.ok());
  CHECK(*first == "ack 1");
  bool eof = false;
  for (int i = 0; i < 200 && !eof; ++i) {
    auto next = lines->ReadLine(0.05);
    eof = !next.ok() && next.error().find("closed its output") != std::string::npos;
  }
  CHECK(eof);
  auto done = lines->Wait(5);
  REQUIRE(done.ok());
  CHECK(*done == 0);
}

TEST_CASE("killing a child kills what it started in its process group") {
  auto child = ChildProcess::Start({"/bin/sh", "-c", "sleep 60 & echo \"$!\"; sleep 60"}, "");
  REQUIRE(child.ok());
  auto line = child->ReadLine(10);
  REQUIRE(line.ok());
  const pid_t job = std::stoi(*line);
  child->Kill();
  for (int i = 0; i < 200 && blackout::e2e::ProcessRunning(job); ++i) usleep(10000);
  CHECK_FALSE(blackout::e2e::ProcessRunning(job));
}

TEST_CASE("what a child starts in a session of its own (setsid) does not outlive it") {
  if (!ProcessCgroup::Supported()) {
    WARN(
        "skipped: no writable cgroup v2 hierarchy here (not root, or cgroup v1 only); "
        "only the child's process group is stopped then");
    return;
  }
  // Once as the child exits on its own, once killed while it runs.
  for (const bool exits : {true, false}) {
    INFO((exits ? "the child exits" : "the child is killed"));
    auto child = ChildProcess::Start(
        {"/bin/sh", "-c",
         std::string("setsid sleep 60 </dev/null >/dev/null 2>&1 & echo \"$!\"; ") +
             (exits ? "exit 0" : "sleep 60")},
        "");
    REQUIRE(child.ok());
    auto line = child->ReadLine(10);
    REQUIRE(line.ok());
    const pid_t job = std::stoi(*line);
    // It leaves the child's session and group as soon as setsid runs.
    for (int i = 0; i < 500 && getsid(job) != job; ++i) usleep(2000);
    REQUIRE(getsid(job) == job);
    if (exits) {
      auto code = child->Wait(10);
      REQUIRE(code.ok());
    } else {
      child->Kill();
    }
    for (int i = 0; i < 200 && blackout::e2e::ProcessRunning(job); ++i) usleep(10000);
    CHECK_FALSE(blackout::e2e::ProcessRunning(job));
  }
}

TEST_CASE(
    "a child's cgroup leaf is removed once the child is gone, and so are those left by "
    "a blackout that was killed") {
  if (!ProcessCgroup::Supported()) {
    WARN("skipped: no writable cgroup v2 hierarchy here (not root, or cgroup v1 only)");
    return;
  }
  // A process killed with its leaf still there (SIGKILL runs no destructor).
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t killed = fork();
  REQUIRE(killed >= 0);
  if (killed == 0) {
    auto orphaned = ProcessCgroup::Create();
    const char ok = orphaned != nullptr ? '1' : '0';
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  char ok = 0;
  REQUIRE(read(ready[0], &ok, 1) == 1);
  close(ready[0]);
  close(ready[1]);
  REQUIRE(ok == '1');
  kill(killed, SIGKILL);
  waitpid(killed, nullptr, 0);
  // The forked child took the leaf number this process hands out next (its
  // counter is a copy of ours, and this test makes no other leaf meanwhile).
  const std::string mine = ProcessCgroup::Create()->path();
  const std::string stale = mine.substr(0, mine.rfind('/')) + "/blackout-" +
                            std::to_string(killed) + mine.substr(mine.rfind('-'));
  REQUIRE(access(stale.c_str(), F_OK) == 0);
  ProcessCgroup::RemoveStale();  // as the next blackout process's first leaf does
  CHECK(access(stale.c_str(), F_OK) != 0);

  auto leaf = ProcessCgroup::Create();
  REQUIRE(leaf != nullptr);
  const std::string dir = leaf->path();
  CHECK(access(dir.c_str(), F_OK) == 0);
  leaf.reset();
  CHECK(access(dir.c_str(), F_OK) != 0);
}

TEST_CASE("a command that outlives its time limit is killed and reported as timed out") {
  char dir[] = "/tmp/blackout-child-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string pid_file = std::string(dir) + "/sleep.pid";
  CommandResult r = RunCommand(
      {"/bin/sh", "-c", "sleep 30 & echo $! > " + pid_file + "; echo started; wait"}, 0.3);
  CHECK(r.timed_out);
  CHECK(r.output == "started\n");
  // What it started goes with it.
  pid_t job = 0;
  std::ifstream(pid_file) >> job;
  REQUIRE(job > 0);
  for (int i = 0; i < 200 && blackout::e2e::ProcessRunning(job); ++i) usleep(10000);
  CHECK_FALSE(blackout::e2e::ProcessRunning(job));
  std::remove(pid_file.c_str());
  rmdir(dir);
  CommandResult ok = RunCommand({"/bin/sh", "-c", "echo hi >&2; exit 3"}, 5);
  CHECK(ok.exit_code == 3);
  CHECK(ok.output == "hi\n");
}

TEST_CASE("scenarios/schema.json names exactly the fields and invariants the loader knows") {
  const char* src = std::getenv("BLACKOUT_SOURCE_DIR");
  REQUIRE(src);
  std::ifstream in(std::string(src) + "/scenarios/schema.json");
  const auto schema = nlohmann::json::parse(in);
  std::set<std::string> fields;
  for (const auto& [k, v] : schema["properties"].items()) fields.insert(k);
  CHECK(fields == std::set<std::string>{"$schema", "name", "description", "engine", "fs",
                                        "workload", "crash", "check", "expect", "faults", "exec",
                                        "hole", "recover", "promise"});
  std::set<std::string> invariants(schema["$defs"]["invariant"]["enum"].begin(),
                                   schema["$defs"]["invariant"]["enum"].end());
  std::set<std::string> known(SupportedInvariants().begin(), SupportedInvariants().end());
  known.insert(ReservedInvariants().begin(), ReservedInvariants().end());
  CHECK(invariants == known);
}

TEST_CASE("scenarios/schema.json offers exactly the damage kinds the loader applies") {
  const char* src = std::getenv("BLACKOUT_SOURCE_DIR");
  REQUIRE(src);
  std::ifstream in(std::string(src) + "/scenarios/schema.json");
  const auto step = nlohmann::json::parse(in)["$defs"]["step"];
  std::set<std::string> in_schema;
  for (const auto& rule : step["allOf"])
    if (rule.value(nlohmann::json::json_pointer("/if/properties/step/const"), "") == "damage")
      for (const auto& one : rule["then"]["oneOf"])
        for (const auto& name : one["required"]) in_schema.insert(name.get<std::string>());
  const std::set<std::string> loader(DamageKinds().begin(), DamageKinds().end());
  CHECK(in_schema == loader);
  for (const auto& kind : loader) CHECK(step["properties"].contains(kind));
}
