#include "harness/scenario.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness/explore.h"

using blackout::harness::CrashAt;
using blackout::harness::CrashKind;
using blackout::harness::FindScenarioFiles;
using blackout::harness::LoadScenarioFile;
using blackout::harness::ParseScenario;
using blackout::harness::Problem;
using blackout::harness::UsesExploration;
using blackout::harness::WorkItem;
using nlohmann::json;

namespace {

json Valid() {
  return json::parse(R"({
    "name": "lsm-wal-missing-fsync",
    "description": "The LSM WAL flushes but never fsyncs.",
    "engine": {"name": "lsm", "config": {"profile": "fixed"}},
    "fs": {"model": "ext4-ordered"},
    "workload": [
      {"step": "sync"},
      {"op": "put", "key": "user{i}", "value": "v{i}", "repeat": 3},
      {"step": "restart"},
      {"op": "get", "key": "user1"}
    ],
    "crash": {"kind": "power", "at": {"after_op": 2}},
    "check": ["recovers", "acked-durable", "prefix"],
    "expect": {"violations": ["acked-durable"], "finding": "lsm-wal-missing-fsync"}
  })");
}

std::vector<std::string> Messages(const std::vector<Problem>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.path + ": " + p.message);
  return out;
}

bool AnyContains(const std::vector<Problem>& ps, const std::string& path, const std::string& text) {
  for (const auto& p : ps)
    if (p.path == path && p.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a valid scenario loads with repeat expanded and {i} substituted") {
  std::vector<Problem> problems;
  auto s = ParseScenario(Valid(), "x.json", &problems);
  INFO(Messages(problems).size());
  REQUIRE(problems.empty());
  REQUIRE(s);
  CHECK(s->engine == "lsm");
  CHECK(s->profile == "fixed");
  CHECK(s->model == "ext4-ordered");
  REQUIRE(s->workload.size() == 6);
  CHECK(s->workload[0].kind == WorkItem::Kind::kSync);
  CHECK(s->workload[2].request == json({{"op", "put"}, {"key", "user1"}, {"value", "v1"}}));
  CHECK(s->workload[2].op_number == 2);
  CHECK(s->workload[2].where == "$.workload[1] (i=1)");
  CHECK(s->workload[4].kind == WorkItem::Kind::kRestart);
  CHECK(s->op_count == 4);
  CHECK(s->crash_kind == CrashKind::kPower);
  CHECK(s->crash_at == CrashAt::kAfterOp);
  CHECK(s->after_op == 2);
  CHECK(s->states == std::vector<std::string>{"drop-all"});  // the default generator
  CHECK(s->expect_finding == "lsm-wal-missing-fsync");
}

TEST_CASE("every problem of a scenario is reported with its JSON path, not only the first") {
  json doc = Valid();
  doc["engine"]["name"] = "lsmm";
  doc["fs"]["model"] = "ntfs";
  doc["check"].push_back("no-such-invariant");
  doc["crash"]["kind"] = "meteor";
  doc["extra"] = 1;
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "bad.json", &problems));
  CHECK(problems.size() == 5);
  CHECK(AnyContains(problems, "$.engine.name",
                    "unknown engine 'lsmm'; expected one of: bitcask, btree, lsm"));
  CHECK(AnyContains(problems, "$.fs.model", "unknown model 'ntfs'"));
  CHECK(AnyContains(problems, "$.check[3]", "unknown invariant 'no-such-invariant'"));
  CHECK(AnyContains(problems, "$.crash.kind", "expected \"process\" or \"power\""));
  CHECK(AnyContains(problems, "$.extra", "unknown field 'extra'"));
  CHECK(problems[0].file == "bad.json");
}

TEST_CASE("an op the engine does not have, a missing field and a wrong type are rejected") {
  json doc = Valid();
  doc["workload"] = json::parse(R"([
    {"op": "append", "key": "k"},
    {"op": "put", "key": 3},
    {"op": "close"}
  ])");
  doc["crash"]["at"] = "end";
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.workload[0].op",
                    "engine lsm has no op 'append'; its ops: put, delete"));
  CHECK(AnyContains(problems, "$.workload[1].key", "expected a string, got the number 3"));
  CHECK(AnyContains(problems, "$.workload[1]", "missing required field 'value'"));
  CHECK(AnyContains(problems, "$.workload[2].op", "use {\"step\":\"restart\"}"));
}

TEST_CASE(
    "an engine config the engine refuses, an unknown finding and a recover block in an engine "
    "scenario are refused where they are written") {
  json doc = Valid();
  doc["engine"]["config"] = {{"profile", "fixed"}, {"memtable_threshold", "big"}};
  doc["expect"]["finding"] = "lsm-wal-missing-fsynk";
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  INFO(Messages(problems)[0]);
  CHECK(AnyContains(problems, "$.engine.config", "memtable_threshold"));
  CHECK(AnyContains(problems, "$.expect.finding",
                    "unknown finding 'lsm-wal-missing-fsynk'; findings: "));
  CHECK(AnyContains(problems, "$.expect.finding", "lsm-wal-missing-fsync, "));
  CHECK(problems.size() == 2);

  doc = Valid();
  doc["engine"]["config"] = {{"profile", "fixed"}, {"memtable_sise", 4}};
  problems.clear();
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.engine.config", "unknown config key 'memtable_sise'"));

  doc = Valid();
  doc["recover"] = {{"exec", "true"}};
  problems.clear();
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  REQUIRE(problems.size() == 1);
  CHECK(AnyContains(problems, "$.recover", "applies to exec scenarios"));
}

TEST_CASE("unknown steps, generators and invariants are refused with the names that exist") {
  json doc = Valid();
  doc["workload"].push_back({{"step", "frobnicate"}});
  doc["crash"]["states"] = {"drop-all", "shuffle:2"};
  doc["check"].push_back("eventually-consistent");
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.workload[4].step",
                    "unknown step 'frobnicate'; expected one of: sync, restart, crash, damage"));
  CHECK(AnyContains(problems, "$.crash.states[1]", "unknown generator 'shuffle:2'"));
  CHECK(AnyContains(problems, "$.check[3]", "unknown invariant 'eventually-consistent'"));
}

TEST_CASE("crash points outside the workload and unreachable expectations are rejected") {
  json doc = Valid();
  doc["crash"]["at"] = {{"after_op", 5}};
  doc["expect"]["violations"] = {"no-corruption"};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.crash.at.after_op", "the workload has only 4 ops"));
  CHECK(AnyContains(problems, "$.expect.violations[0]", "$.check does not list it"));
}

TEST_CASE("a process crash takes no crash-state generators") {
  json doc = Valid();
  doc["crash"] = {{"kind", "process"}, {"states", {"drop-all"}}};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.crash.states", "power cuts only"));
}

TEST_CASE("a JSON syntax error names the file, line and column") {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("scenario_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/broken.json";
  std::ofstream(file) << "{\n  \"name\": \"x\",\n  \"description\" \"y\"\n}\n";
  std::vector<Problem> problems;
  CHECK_FALSE(LoadScenarioFile(file, &problems));
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].file == file);
  INFO(problems[0].message);
  CHECK(problems[0].message.find("line 3, column 19") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a directory expands to its scenario files in sorted order, without schema.json") {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("scenario_dir." + std::to_string(getpid()));
  std::filesystem::create_directories(dir + "/sub");
  for (const char* f : {"/b.json", "/a.json", "/sub/c.json", "/schema.json", "/notes.md"})
    std::ofstream(dir + f) << "{}";
  std::vector<Problem> problems;
  auto files = FindScenarioFiles({dir, dir + "/missing.json"}, &problems);
  CHECK(files == std::vector<std::string>{dir + "/a.json", dir + "/b.json", dir + "/sub/c.json"});
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].message == "no such file or directory");
  std::filesystem::remove_all(dir);
}

TEST_CASE("an engine scenario takes faults, capacity, a crash trigger, expect_error and hole") {
  json doc = Valid();
  doc["hole"] = "H-M1";
  doc["fs"]["capacity"] = "1M";
  doc["faults"] = json::parse(R"([{"op": "create", "path": "sst_*", "errno": "EIO", "nth": 1}])");
  doc["crash"] = json::parse(R"({"kind": "power", "at": {"after": {"op": "fsync", "nth": 3}}})");
  doc["workload"][1]["expect_error"] = true;
  doc["workload"][3]["expect_error"] = "maybe";
  std::vector<Problem> problems;
  auto s = ParseScenario(doc, "x.json", &problems);
  INFO(Messages(problems).size());
  REQUIRE(problems.empty());
  REQUIRE(s);
  CHECK(s->hole == "H-M1");
  CHECK(s->capacity_bytes == 1 << 20);
  REQUIRE(s->faults.size() == 1);
  CHECK(s->faults[0]["cmd"] == "fail");
  CHECK(s->crash_trigger["cmd"] == "crash-after");
  CHECK(s->crash_trigger["nth"] == 3);
  CHECK(s->workload[1].failure == WorkItem::Failure::kExpected);
  // The engine never sees the harness's field.
  CHECK(!s->workload[1].request.contains("expect_error"));
  CHECK(s->workload[5].failure == WorkItem::Failure::kAllowed);
  CHECK(s->workload[0].failure == WorkItem::Failure::kNever);
}

TEST_CASE(
    "a crash trigger needs a power crash, drop-all beside faults; bad expect_error and hole fail") {
  json doc = Valid();
  doc["hole"] = "H W1";
  doc["workload"][1]["expect_error"] = "yes";
  doc["crash"] = json::parse(
      R"({"kind": "process", "at": {"after": {"op": "fsync", "nth": 1}}, "states": ["keep-all"]})");
  std::vector<Problem> problems;
  CHECK(!ParseScenario(doc, "x.json", &problems));
  CHECK(AnyContains(problems, "$.hole", "hole id"));
  CHECK(AnyContains(problems, "$.workload[1].expect_error", "\"maybe\""));
  CHECK(AnyContains(problems, "$.crash.kind", "cuts the power"));
  // Alone, a trigger's point is explored with any generator (explore.h);
  // beside faults it cuts on the mount, to drop-all.
  doc = Valid();
  doc["crash"] = json::parse(
      R"({"kind": "power", "at": {"after": {"op": "fsync", "nth": 1}}, "states": ["keep-all", "prefix"]})");
  problems.clear();
  auto explored = ParseScenario(doc, "x.json", &problems);
  REQUIRE(explored);
  CHECK(UsesExploration(*explored));
  // A point at every matching operation is for exploration only.
  doc["crash"]["at"]["after"]["every"] = true;
  problems.clear();
  CHECK(ParseScenario(doc, "x.json", &problems));
  doc["crash"]["states"] = {"drop-all"};
  problems.clear();
  CHECK(!ParseScenario(doc, "x.json", &problems));
  CHECK(AnyContains(problems, "$.crash.at.after.every", "crash.states beyond drop-all"));
  doc["crash"]["states"] = {"keep-all", "prefix"};
  doc["crash"]["at"]["after"].erase("every");
  doc["faults"] = json::parse(R"([{"op": "write", "path": "x"}])");
  problems.clear();
  CHECK(!ParseScenario(doc, "x.json", &problems));
  CHECK(AnyContains(problems, "$.crash.states", "a trigger leaves drop-all"));
  doc = Valid();
  doc["faults"] = json::parse(R"([{"op": "write"}])");
  doc["crash"]["states"] = {"reorder:2"};
  problems.clear();
  CHECK(!ParseScenario(doc, "x.json", &problems));
  CHECK(AnyContains(problems, "$.crash.states", "run on the mount"));
}
