// The scenario fields of issue 7: exec workloads, faults, capacity and crash
// triggers (scenario_exec.h). Reproduce with:
//   build/harness/harness_scenario_exec_test "<test name>"
#include "harness/scenario_exec.h"

#include <catch2/catch.hpp>

#include "harness/scenario.h"

using nlohmann::json;
using namespace blackout::harness;

namespace {

json ValidExec() {
  return json::parse(R"({
    "name": "x",
    "description": "An exec scenario.",
    "exec": {"workload": "python3 w.py", "check": "python3 c.py"},
    "fs": {"model": "ext4-ordered", "capacity": "64K"},
    "faults": [{"op": "fsync", "path": "*.log", "errno": "EIO", "nth": 2}],
    "crash": {"kind": "power", "at": {"after": {"op": "write", "path": "*.db", "nth": 3}}},
    "check": ["recovers", "acked-durable"],
    "expect": {"violations": []}
  })");
}

bool AnyContains(const std::vector<Problem>& problems, const std::string& path,
                 const std::string& text) {
  for (const auto& p : problems)
    if (p.path == path && p.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("an exec scenario loads with its program, faults, capacity and crash trigger") {
  std::vector<Problem> problems;
  auto s = ParseScenario(ValidExec(), "/tmp/dir/x.json", &problems);
  for (const auto& p : problems) INFO(p.ToString());
  REQUIRE(s);
  REQUIRE(s->exec);
  CHECK(s->exec->workload == "python3 w.py");
  CHECK(s->exec->dir == "/tmp/dir");
  CHECK(s->exec->contract == "acked");
  CHECK(s->capacity_bytes == 65536);
  REQUIRE(s->faults.size() == 1);
  CHECK(s->faults[0]["cmd"] == "fail");
  CHECK(s->crash_trigger["cmd"] == "crash-after");
  CHECK(s->crash_trigger["nth"] == 3);
  CHECK(s->engine == "exec");
}

TEST_CASE("bad faults name the entry and list the accepted ops and errnos") {
  json doc = ValidExec();
  doc["faults"] = json::parse(R"([
    {"op": "frob"},
    {"op": "write", "errno": "EPERM"},
    {"op": "write", "path": "[x"},
    {"op": "write", "nth": 1, "from": 2},
    {"op": "write", "when": 3}
  ])");
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.faults[0]", "unknown op 'frob'"));
  CHECK(AnyContains(problems, "$.faults[1]", "EIO, ENOSPC, EDQUOT, EROFS"));
  CHECK(AnyContains(problems, "$.faults[2]", "invalid path glob"));
  CHECK(AnyContains(problems, "$.faults[3]", "not both"));
  CHECK(AnyContains(problems, "$.faults[4].when", "unknown field"));

  // The same names in a crash trigger.
  doc = ValidExec();
  doc["crash"]["at"]["after"] = {{"op", "sync"}, {"path", "a[b"}};
  problems.clear();
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.crash.at.after", "unknown op 'sync'"));
  REQUIRE_FALSE(problems.empty());
  CHECK(problems[0].ToString().rfind("f.json: $.crash.at.after: ", 0) == 0);
}

TEST_CASE(
    "an exec scenario needs its commands and takes no engine, workload list, or generator "
    "beside a crash trigger") {
  json doc = ValidExec();
  doc["exec"].erase("check");
  doc["engine"] = {{"name", "lsm"}};
  doc["workload"] = json::array();
  doc["crash"]["states"] = {"drop-all", "prefix"};
  doc["check"].push_back("atomic-batches");
  doc["fs"]["capacity"] = "lots";
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.exec.check", "missing"));
  CHECK(AnyContains(problems, "$.engine", "not both"));
  CHECK(AnyContains(problems, "$.workload", "no workload list"));
  CHECK(AnyContains(problems, "$.crash.states", "a crash trigger cuts the power on the mount"));
  CHECK(AnyContains(problems, "$.check[2]", "an exec scenario checks"));
  CHECK(AnyContains(problems, "$.fs.capacity", "not a size"));
}

TEST_CASE(
    "crash triggers, faults and capacity in engine scenarios run on the mount: power, "
    "drop-all") {
  json doc = json::parse(R"({
    "name": "e", "description": "An engine scenario.",
    "engine": {"name": "lsm"},
    "workload": [{"op": "put", "key": "a", "value": "b"}],
    "crash": {"kind": "process", "at": {"after": {"op": "fsync"}}},
    "check": ["recovers"], "expect": {"violations": []}
  })");
  doc["faults"] = json::parse(R"([{"op": "write"}])");
  doc["fs"] = {{"capacity", 4096}};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.crash.kind", "expected \"power\""));
  doc["crash"] = {{"kind", "power"}, {"at", {{"after", {{"op", "fsync"}}}}}};
  problems.clear();
  auto s = ParseScenario(doc, "f.json", &problems);
  REQUIRE(s);
  CHECK_FALSE(s->exec);
  CHECK(s->faults.size() == 1);
  CHECK(s->capacity_bytes == 4096);
}

// The issue's spelling: each stage of an exec scenario names its command.
json SplitExec() {
  return json::parse(R"({
    "name": "split",
    "description": "An exec scenario in the issue's spelling.",
    "workload": {"exec": "python3 w.py", "contract": "none", "timeout_s": 5},
    "recover": {"exec": "python3 r.py"},
    "check": {"exec": "python3 c.py", "invariants": ["recovers", "acked-durable"]},
    "fs": {"model": "ext4-ordered"},
    "crash": {"kind": "power", "at": "end", "states": ["drop-all", "prefix", "reorder:2"]},
    "expect": {"violations": ["acked-durable"]}
  })");
}

TEST_CASE(
    "the issue's spelling (workload.exec, recover.exec, check.exec) loads as the older "
    "exec object does") {
  std::vector<Problem> problems;
  auto s = ParseScenario(SplitExec(), "/tmp/dir/split.json", &problems);
  for (const auto& p : problems) INFO(p.ToString());
  REQUIRE(s);
  REQUIRE(s->exec);
  CHECK(s->exec->workload == "python3 w.py");
  CHECK(s->exec->recover == "python3 r.py");
  CHECK(s->exec->check == "python3 c.py");
  CHECK(s->exec->contract == "none");
  CHECK(s->exec->timeout_s == 5);
  CHECK(s->exec->dir == "/tmp/dir");
  CHECK(s->check == std::vector<std::string>{"recovers", "acked-durable"});
  CHECK(s->states == std::vector<std::string>{"drop-all", "prefix", "reorder:2"});
  CHECK(s->engine == "exec");

  // The same scenario in the older spelling normalizes to the same spec.
  json old = SplitExec();
  old.erase("workload");
  old.erase("recover");
  old["check"] = {"recovers", "acked-durable"};
  old["exec"] = {{"workload", "python3 w.py"},
                 {"recover", "python3 r.py"},
                 {"check", "python3 c.py"},
                 {"contract", "none"},
                 {"timeout_s", 5}};
  problems.clear();
  auto o = ParseScenario(old, "/tmp/dir/old.json", &problems);
  REQUIRE(o);
  CHECK(o->exec->workload == s->exec->workload);
  CHECK(o->exec->recover == s->exec->recover);
  CHECK(o->exec->check == s->exec->check);
  CHECK(o->exec->contract == s->exec->contract);
  CHECK(o->check == s->check);

  // Without "invariants", check.exec checks every exec invariant.
  json bare = SplitExec();
  bare["check"].erase("invariants");
  problems.clear();
  auto b = ParseScenario(bare, "/tmp/dir/bare.json", &problems);
  REQUIRE(b);
  CHECK(b->check == ExecInvariants());
}

TEST_CASE("a scenario that gives the program in both spellings is refused, naming both paths") {
  json doc = SplitExec();
  doc["exec"] = {{"workload", "python3 w.py"}, {"check", "python3 c.py"}};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "both.json", &problems));
  REQUIRE_FALSE(problems.empty());
  CHECK(AnyContains(problems, "$.exec", "given twice, in $.exec and in $.workload.exec"));
  CHECK(AnyContains(problems, "$.exec", "$.check.exec"));
  CHECK(problems[0].file == "both.json");
}

TEST_CASE("bad stages of the issue's spelling name their JSON path") {
  json doc = SplitExec();
  doc["workload"] = {{"exec", ""}, {"when", 1}, {"timeout_s", -1}};
  doc["recover"] = "python3 r.py";
  doc["check"] = {{"invariants", {"recovers", "atomic-batches", "nonsense"}}, {"print", true}};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "bad.json", &problems));
  CHECK(AnyContains(problems, "$.workload.exec", "non-empty string"));
  CHECK(AnyContains(problems, "$.workload.when", "unknown field"));
  CHECK(AnyContains(problems, "$.workload.timeout_s", "(0, 3600]"));
  CHECK(AnyContains(problems, "$.recover", "expected {\"exec\": CMD}"));
  CHECK(AnyContains(problems, "$.check.exec", "missing"));
  CHECK(AnyContains(problems, "$.check.print", "unknown field"));
  CHECK(AnyContains(problems, "$.check.invariants[1]", "an exec scenario checks"));
  CHECK(AnyContains(problems, "$.check.invariants[2]", "unknown invariant 'nonsense'"));

  // A check command beside an engine's workload list.
  json mixed = SplitExec();
  mixed["workload"] = json::array({json{{"op", "put"}, {"key", "a"}, {"value", "b"}}});
  mixed["engine"] = {{"name", "lsm"}};
  problems.clear();
  CHECK_FALSE(ParseScenario(mixed, "mixed.json", &problems));
  CHECK(AnyContains(problems, "$.workload", "expected {\"exec\": CMD}"));
  CHECK(AnyContains(problems, "$.engine", "not both"));
}
