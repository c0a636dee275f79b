// End-to-end tests of `blackout validate` and `blackout run` through the real
// binary: real mounts, real engine drivers, real crashes. Each test runs with
// TMPDIR set to a private directory and checks that no mount is left behind.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "harness/e2e/work_dir.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using namespace blackout::e2e;

std::string Slurp(const std::string& file) {
  std::ifstream in(file);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

json LsmScenario() {
  return json::parse(R"({
    "name": "lsm-wal-e2e",
    "description": "The LSM WAL loses acknowledged puts on power loss.",
    "engine": {"name": "lsm", "config": {}},
    "workload": [{"step": "sync"}, {"op": "put", "key": "k{i}", "value": "v{i}", "repeat": 5}],
    "crash": {"kind": "power", "at": "end"},
    "check": ["recovers", "acked-durable", "prefix", "no-corruption"],
    "expect": {"violations": ["acked-durable"], "finding": "lsm-wal-missing-fsync"}
  })");
}

}  // namespace

TEST_CASE("run finds the LSM WAL's missing fsync and writes all three reports") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  const std::string file = w.Write("s/lsm.json", LsmScenario());
  Output o = w.Run("run " + file + " --out " + w.path + "/out");
  CHECK(o.code == 0);
  const json report = Read(w.path + "/out/report.json");
  CHECK(report["schema_version"] == 1);
  CHECK(report["summary"]["as_expected"] == 1);
  const json& s = report["scenarios"][0];
  CHECK(s["outcome"] == "as-expected");
  CHECK(s["lost_writes"] == 5);
  CHECK(s["contract"]["power"] == "acked");
  CHECK(s["crash_states"][0]["pending_at_crash"][0].get<std::string>().find("wal.log") !=
        std::string::npos);
  CHECK(Slurp(w.path + "/out/report.md")
            .find("| lsm | default | power | posix-strict | as expected | 5 of 5 |") !=
        std::string::npos);
  CHECK(Slurp(w.path + "/out/junit.xml")
            .find("<testcase classname=\"blackout.lsm\" name=\"lsm-wal-e2e\"") !=
        std::string::npos);
  // Which fsync would have saved the state: the WAL's, after its last write.
  const json& dg = s["crash_states"][0]["diagnosis"];
  REQUIRE(dg.is_object());
  CHECK(dg["found"] == true);
  REQUIRE(dg["fixes"].size() == 1);
  CHECK(dg["fixes"][0]["sync"] == "fsync");
  CHECK(dg["fixes"][0]["path"] == "store/wal.log");
  const std::string text = dg["text"];
  CHECK(text.find("fsync of file store/wal.log after trace #") == 0);
  CHECK(text.find("would have prevented the loss of 5 acknowledged writes") != std::string::npos);
  CHECK(Slurp(w.path + "/out/report.md").find("  - diagnosis: " + text) != std::string::npos);
  CHECK(Slurp(w.path + "/out/junit.xml").find("end / drop-all: " + text) != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("a power cut on the mount that breaks the contract is diagnosed, a clean one is not") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  // WAL rotation fsyncs each segment's records but never the directory.
  json doc = json::parse(R"({
    "name": "wal-dir-e2e",
    "description": "WAL rotation never fsyncs the directory.",
    "engine": {"name": "wal", "config": {"max_file_size": 300}},
    "workload": [{"step": "sync"}, {"op": "append", "key": "k{i}", "value": "value-{i}", "repeat": 24}],
    "crash": {"kind": "power", "at": "end"},
    "check": ["recovers", "acked-durable", "prefix"],
    "expect": {"violations": ["acked-durable"]}
  })");
  w.Write("s/wal-dir.json", doc);
  doc["name"] = "wal-dir-fixed-e2e";
  doc["engine"]["config"]["profile"] = "fixed";
  doc["expect"]["violations"] = json::array();
  w.Write("s/wal-dir-fixed.json", doc);
  doc["name"] = "wal-dir-process-e2e";
  doc["engine"]["config"].erase("profile");
  doc["crash"]["kind"] = "process";
  w.Write("s/wal-dir-process.json", doc);
  Output o = w.Run("run " + w.path + "/s --out " + w.path + "/out");
  CHECK(o.code == 0);
  const json report = Read(w.path + "/out/report.json");
  std::map<std::string, json> by_name;
  for (const json& s : report["scenarios"]) by_name[s["name"]] = s["crash_states"][0];
  REQUIRE(by_name.size() == 3);
  const json& dg = by_name["wal-dir-e2e"]["diagnosis"];
  REQUIRE(dg.is_object());
  CHECK(dg["found"] == true);
  REQUIRE(dg["fixes"].size() == 1);
  CHECK(dg["fixes"][0]["sync"] == "fsync-dir");
  CHECK(dg["fixes"][0]["path"] == "store");
  // After the create of the segment the cut took with its records.
  CHECK(dg["fixes"][0]["after"].get<std::string>().rfind("create store/", 0) == 0);
  CHECK(dg["fixes"][0]["after"].get<std::string>().find(".wal") != std::string::npos);
  CHECK_FALSE(by_name["wal-dir-fixed-e2e"].contains("diagnosis"));
  CHECK_FALSE(by_name["wal-dir-process-e2e"].contains("diagnosis"));
  // A scenario that did not expect the loss fails with the fix in its line.
  doc["name"] = "wal-dir-unexpected-e2e";
  doc["crash"]["kind"] = "power";
  const std::string wrong = w.Write("t/wal-dir-unexpected.json", doc);
  o = w.Run("run " + wrong + " --out " + w.path + "/out2");
  CHECK(o.code == 1);
  CHECK(o.text.find("FAIL  wal-dir-unexpected-e2e: expected violations [], got [acked-durable]\n"
                    "      fix: fsync of directory store/ after trace #") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("an outcome that differs from expect exits 1 and is a JUnit failure with a reproducer") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  json doc = LsmScenario();
  doc["crash"]["kind"] = "process";  // a process crash loses nothing: the expectation is wrong
  doc["crash"].erase("states");
  const std::string file = w.Write("s/lsm.json", doc);
  Output o = w.Run("run " + file + " --out " + w.path + "/out --seed 42");
  CHECK(o.code == 1);
  CHECK(o.text.find("FAIL  lsm-wal-e2e: expected violations [acked-durable], got []") !=
        std::string::npos);
  CHECK(o.text.find("reproduce: blackout run " + file + " --seed 42") != std::string::npos);
  CHECK(Slurp(w.path + "/out/junit.xml").find("<failure message=") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("every_op crashes after each op, and the seed suite's fixed twins stay clean") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  json doc = LsmScenario();
  doc["name"] = "lsm-every-op";
  doc["crash"]["at"] = "every_op";
  const std::string file = w.Write("s/lsm.json", doc);
  Output o = w.Run("run " + file + " --out " + w.path + "/out --jobs 2");
  CHECK(o.code == 0);
  const json report = Read(w.path + "/out/report.json");
  CHECK(report["scenarios"][0]["crash_states"].size() == 5);
  CHECK(report["scenarios"][0]["crash_states"][2]["point"] == "after_op:3");
  CHECK(report["scenarios"][0]["crash_states"][2]["lost_writes"] == 3);
  Output fixed =
      w.Run("run " + Source() + "/scenarios/fixed --out " + w.path + "/out2 --jobs 2 --quiet");
  CHECK(fixed.code == 0);
  CHECK(w.Clean());
}

TEST_CASE("shards split a suite into disjoint parts that together cover it") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  for (int i = 0; i < 3; ++i) {
    json doc = LsmScenario();
    doc["name"] = "lsm-" + std::to_string(i);
    w.Write("suite/" + std::to_string(i) + ".json", doc);
  }
  CHECK(w.Run("run " + w.path + "/suite --shard 1/2 --out " + w.path + "/a").code == 0);
  CHECK(w.Run("run " + w.path + "/suite --shard 2/2 --out " + w.path + "/b").code == 0);
  std::vector<std::string> names;
  for (const char* d : {"/a", "/b"}) {
    const json report = Read(w.path + d + "/report.json");
    for (const auto& s : report["scenarios"]) names.push_back(s["name"]);
  }
  CHECK(names == std::vector<std::string>{"lsm-0", "lsm-2", "lsm-1"});
  CHECK(w.Clean());
}

TEST_CASE("bad input is one clear error and exit 2, before anything is mounted") {
  WorkDir w("harness_run_test");
  json bad = LsmScenario();
  bad["engine"]["name"] = "lsmm";
  bad["check"].push_back("nope");
  const std::string bad_file = w.Write("bad.json", bad);
  Output v = w.Run("validate " + bad_file);
  CHECK(v.code == 2);
  CHECK(v.text.find(bad_file + ": $.engine.name: unknown engine 'lsmm'") != std::string::npos);
  CHECK(v.text.find(bad_file + ": $.check[4]: unknown invariant 'nope'") != std::string::npos);
  CHECK(w.Run("run " + bad_file + " --out " + w.path + "/out").code == 2);

  json op = LsmScenario();
  op["workload"].push_back({{"op", "append"}, {"key", "x"}});
  Output o = w.Run("validate " + w.Write("op.json", op));
  CHECK(o.code == 2);
  CHECK(o.text.find("engine lsm has no op 'append'") != std::string::npos);

  // The engine's config and the expected finding are checked with the
  // rest, not when the engine starts or when the run ends.
  json config = LsmScenario();
  config["engine"]["config"] = {{"memtable_sise", 4}};
  config["expect"]["finding"] = "lsm-wal-missing-fsynk";
  const std::string config_file = w.Write("config.json", config);
  o = w.Run("validate " + config_file);
  CHECK(o.code == 2);
  CHECK(o.text.find(config_file + ": $.engine.config: unknown config key 'memtable_sise' for "
                                  "engine lsm; keys: ") != std::string::npos);
  CHECK(o.text.find(config_file + ": $.expect.finding: unknown finding 'lsm-wal-missing-fsynk'; "
                                  "findings: ") != std::string::npos);
  CHECK(o.text.find("lsm-wal-missing-fsync") != std::string::npos);

  const std::string good = w.Write("good.json", LsmScenario());
  Output out = w.Run("run " + good + " --out /dev/null/out");
  CHECK(out.code == 2);
  CHECK(out.text.find("--out: cannot create the output directory /dev/null/out") !=
        std::string::npos);
  for (const std::string& cmd :
       {"run " + good + " --out ''", "report " + w.path + "/report.json --out ''"}) {
    Output empty = w.Run(cmd);
    INFO(cmd);
    CHECK(empty.code == 2);
    CHECK(empty.text.find("--out: the path is empty") != std::string::npos);
  }
  Output shard = w.Run("run " + good + " --shard 3/2");
  CHECK(shard.code == 2);
  CHECK(shard.text.find("--shard: expected I/N") != std::string::npos);
  Output missing = w.Run("run " + w.path + "/nothing.json");
  CHECK(missing.code == 2);
  CHECK(missing.text.find("no such file or directory") != std::string::npos);
  Output seed = w.Run("run " + good + " --seed -1");
  CHECK(seed.code == 2);
  CHECK(seed.text.find("--seed: expected a whole number >= 0, got '-1'") != std::string::npos);
  Output engine_dir = w.Run("engine lsm --dir " + good);
  CHECK(engine_dir.code == 2);
  CHECK(engine_dir.text.find(good + " exists and is not a directory") != std::string::npos);
  Output command = w.Run("rnu " + good);
  CHECK(command.code == 2);
  CHECK(command.text.find("unknown command 'rnu'; commands: ") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("the shipped suite validates") {
  WorkDir w("harness_run_test");
  Output o = w.Run("validate " + Source() + "/scenarios");
  CHECK(o.code == 0);
}

TEST_CASE("a crash trigger cuts the power inside an engine call; that op is not acknowledged") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  // The default B-tree logs each page image of a put with its own fsync:
  // the 14th fsync of btree.wal falls inside the splitting put of "e", and
  // replaying half the split breaks the tree (H-T2).
  json doc = json::parse(R"({
    "name": "trigger-e2e", "description": "H-T2 through a crash trigger.", "hole": "H-T2",
    "engine": {"name": "btree", "config": {"max_keys_per_page": 4}},
    "workload": [{"step": "sync"}, {"op": "put", "key": "a", "value": "v"},
      {"op": "put", "key": "b", "value": "v"}, {"op": "put", "key": "c", "value": "v"},
      {"op": "put", "key": "d", "value": "v"}, {"op": "put", "key": "e", "value": "v"},
      {"op": "put", "key": "f", "value": "v"}],
    "crash": {"kind": "power", "at": {"after": {"op": "fsync", "path": "btree.wal", "nth": 14}}},
    "check": ["recovers", "acked-durable", "structure"],
    "expect": {"violations": ["structure"]}
  })");
  Output o = w.Run("run " + w.Write("t.json", doc) + " --out " + w.path + "/out");
  CHECK(o.code == 0);
  json report = Read(w.path + "/out/report.json");
  const json& st = report["scenarios"][0]["crash_states"][0];
  CHECK(st["point"] == "after fsync btree.wal #14");
  CHECK(st["acked_writes"] == 4);  // a..d; e was in flight
  CHECK(st["pending_at_crash"][0].get<std::string>().find("$.workload[5]") != std::string::npos);
  CHECK(report["holes"][0]["hole"] == "H-T2");
  CHECK(report["holes"][0]["found_by"][0] == "posix-strict: drop-all after fsync btree.wal #14");

  // A trigger that never fires is a setup error, not a pass.
  doc["crash"]["at"]["after"]["nth"] = 1000;
  o = w.Run("run " + w.Write("t.json", doc) + " --out " + w.path + "/out");
  CHECK(o.code == 2);
  CHECK(o.text.find("never fired") != std::string::npos);
  // It says how a path matches: a relative one names no file by its path.
  CHECK(o.text.find("a path matches from the mount root") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("an injected write error fails the op it was expected to fail, and nothing else") {
  SkipWithoutFuse();
  WorkDir w("harness_run_test");
  json doc = json::parse(R"({
    "name": "fault-e2e", "description": "H-M1 through an injected create error.",
    "engine": {"name": "lsm", "config": {"memtable_threshold": 2}},
    "faults": [{"op": "create", "path": "sst_*", "errno": "EIO", "nth": 1}],
    "workload": [{"op": "put", "key": "a", "value": "1"},
      {"op": "put", "key": "b", "value": "2", "expect_error": true}, {"op": "get", "key": "a"}],
    "crash": {"kind": "process"},
    "check": ["recovers", "acked-durable", "exact-values"],
    "expect": {"violations": ["exact-values"]}
  })");
  Output o = w.Run("run " + w.Write("f.json", doc) + " --out " + w.path + "/out");
  CHECK(o.code == 0);
  // The fixed profile keeps its memtable: the put succeeds, which an op that
  // must fail may not.
  doc["engine"]["config"]["profile"] = "fixed";
  doc["faults"][0]["path"] = "nothing-matches";
  doc["expect"]["violations"] = json::array();
  o = w.Run("run " + w.Write("f.json", doc) + " --out " + w.path + "/out");
  CHECK(o.code == 2);
  CHECK(o.text.find("expected to fail") != std::string::npos);
  CHECK(w.Clean());
}
