// The scenario fields of issue 7: exec workloads, faults, capacity and crash
// triggers (scenario_exec.h). Reproduce with:
//   build/harness/harness_scenario_exec_test "<test name>"
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
}

TEST_CASE("an exec scenario needs its commands and takes no engine, workload list or generator") {
  json doc = ValidExec();
  doc["exec"].erase("check");
  doc["engine"] = {{"name", "lsm"}};
  doc["workload"] = json::array();
  doc["crash"]["states"] = {"prefix"};
  doc["check"].push_back("atomic-batches");
  doc["fs"]["capacity"] = "lots";
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.exec.check", "missing"));
  CHECK(AnyContains(problems, "$.engine", "not both"));
  CHECK(AnyContains(problems, "$.workload", "no workload list"));
  CHECK(AnyContains(problems, "$.crash.states", "drop-all or keep-all"));
  CHECK(AnyContains(problems, "$.check[2]", "an exec scenario checks"));
  CHECK(AnyContains(problems, "$.fs.capacity", "not a size"));
}

TEST_CASE("crash triggers, faults and capacity are refused in engine scenarios, never ignored") {
  json doc = json::parse(R"({
    "name": "e", "description": "An engine scenario.",
    "engine": {"name": "lsm"},
    "workload": [{"op": "put", "key": "a", "value": "b"}],
    "crash": {"kind": "power", "at": {"after": {"op": "fsync"}}},
    "check": ["recovers"], "expect": {"violations": []}
  })");
  doc["faults"] = json::parse(R"([{"op": "write"}])");
  doc["fs"] = {{"capacity", 4096}};
  std::vector<Problem> problems;
  CHECK_FALSE(ParseScenario(doc, "f.json", &problems));
  CHECK(AnyContains(problems, "$.crash.at.after", "apply to exec workloads"));
  CHECK(AnyContains(problems, "$.faults", "exec workloads only"));
  CHECK(AnyContains(problems, "$.fs.capacity", "exec workloads only"));
}
