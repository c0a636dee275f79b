// Loader tests for the workload steps `crash` and `damage`, and for the
// scenario's `promise` that the crashes are judged by.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness/scenario.h"

using namespace blackout::harness;
using nlohmann::json;

namespace {

json Doc(json workload) {
  return {{"name", "t"},
          {"description", "d"},
          {"engine", {{"name", "lsm"}}},
          {"workload", std::move(workload)},
          {"crash", {{"kind", "process"}}},
          {"check", {"recovers", "no-resurrection", "exact-values", "replay-complete", "structure"}},
          {"expect", {{"violations", json::array()}}}};
}

}  // namespace

TEST_CASE("a scenario with crash and damage steps loads, in workload order") {
  std::vector<Problem> problems;
  auto s = ParseScenario(Doc({{{"op", "put"}, {"key", "a"}, {"value", "1"}},
                              {{"step", "crash"}, {"kind", "power"}, {"states", {"keep-all"}}},
                              {{"step", "damage"}, {"path", "wal.log"}, {"truncate", -2}},
                              {{"step", "crash"}, {"kind", "process"}},
                              {{"step", "damage"}, {"path", "wal.log"}, {"duplicate_line", -1}}}),
                         "t.json", &problems);
  REQUIRE(problems.empty());
  REQUIRE(s);
  REQUIRE(s->workload.size() == 5);
  CHECK(s->workload[4].damage.kind == Damage::Kind::kDuplicateLine);
  CHECK(s->workload[4].damage.amount == -1);
  CHECK(s->workload[1].kind == WorkItem::Kind::kCrash);
  CHECK(s->workload[1].crash_kind == CrashKind::kPower);
  CHECK(s->workload[1].crash_state == "keep-all");
  CHECK(s->workload[2].kind == WorkItem::Kind::kDamage);
  CHECK(s->workload[2].damage.amount == -2);
  CHECK(s->workload[3].crash_kind == CrashKind::kProcess);
}

TEST_CASE("bad crash and damage steps are reported with their JSON paths") {
  std::vector<Problem> problems;
  auto s = ParseScenario(Doc({{{"step", "crash"}, {"kind", "reboot"}},
                              {{"step", "crash"}, {"kind", "process"}, {"states", {"drop-all"}}},
                              {{"step", "crash"}, {"kind", "power"}, {"states", {"a", "b"}}},
                              {{"step", "damage"}, {"path", "../etc"}, {"truncate", 1}},
                              {{"step", "damage"}, {"path", "f"}, {"duplicate_line", 0}}}),
                         "t.json", &problems);
  CHECK_FALSE(s);
  std::vector<std::string> paths;
  for (const auto& p : problems) paths.push_back(p.path);
  CHECK(paths == std::vector<std::string>{"$.workload[0].kind", "$.workload[1].states",
                                          "$.workload[2].states", "$.workload[3].path",
                                          "$.workload[4].duplicate_line"});
}

TEST_CASE("a promise replaces the declared contract per crash kind, and bad ones are named") {
  std::vector<Problem> problems;
  json doc = Doc({{{"op", "put"}, {"key", "a"}, {"value", "1"}}});
  doc["promise"] = {{"process", "acked"}};
  auto s = ParseScenario(doc, "t.json", &problems);
  REQUIRE(problems.empty());
  REQUIRE(s);
  CHECK(s->promise == json{{"process", "acked"}});
  CHECK_FALSE(s->promise.contains("power"));  // the engine's declared contract

  doc["promise"] = {{"process", "always"}, {"reboot", "acked"}};
  problems.clear();
  CHECK_FALSE(ParseScenario(doc, "t.json", &problems));
  std::vector<std::string> paths;
  for (const auto& p : problems) paths.push_back(p.path);
  CHECK(std::count(paths.begin(), paths.end(), "$.promise.process") == 1);
  CHECK(std::count(paths.begin(), paths.end(), "$.promise.reboot") == 1);
}
