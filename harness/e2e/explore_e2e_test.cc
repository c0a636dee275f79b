// End-to-end tests of `blackout replay` and `blackout minimize` through the real
// binary: real mounts, real engine drivers, real crashes. Each test runs with
// TMPDIR set to a private directory and checks that no mount is left behind.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "harness/e2e/work_dir.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using namespace blackout::e2e;

std::string Seed(const std::string& rel) { return Source() + "/scenarios/" + rel; }

}  // namespace

TEST_CASE("replay writes the reported crash state, and with --recover shows its lost puts") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  const std::string scenario = Seed("explore/lsm-flush-missing-dir-fsync-reorder.json");
  REQUIRE(w.Run("run " + scenario + " --quiet --out " + w.path + "/out").code == 0);
  // The state the report says loses all 8 puts (the WAL truncation reached
  // the disk, the SSTable's directory entry did not), and its reproduce line.
  const json report = Read(w.path + "/out/report.json");
  std::string id;
  for (const auto& st : report["scenarios"][0]["crash_states"])
    if (st.value("lost_writes", 0) == 8 && st.contains("exploration") &&
        st["violations"].dump().find("acked-durable") != std::string::npos) {
      id = st["exploration"]["id"];
      CHECK(st["exploration"]["reproduce"].get<std::string>().find(" --state " + id + " ") !=
            std::string::npos);
      break;
    }
  REQUIRE_FALSE(id.empty());

  const std::string dir = w.path + "/state";
  Output r = w.Run("replay " + scenario + " --point end --state " + id + " --to " + dir);
  REQUIRE(r.code == 0);
  CHECK(r.text.find("crash state " + id) != std::string::npos);
  CHECK(r.text.find("pending ops dropped (1):") != std::string::npos);
  CHECK(r.text.find("create /store/sst_") != std::string::npos);
  CHECK(r.text.find("blackout engine lsm --dump --dir " + dir + "/store") != std::string::npos);
  CHECK(fs::exists(dir + "/store/wal.log"));

  // A non-empty directory and an unknown state are refused, named.
  r = w.Run("replay " + scenario + " --state " + id + " --to " + dir);
  CHECK(r.code == 2);
  CHECK(r.text.find(dir + " is not empty") != std::string::npos);
  r = w.Run("replay " + scenario + " --state reorder:1:99999 --to " + w.path + "/other");
  CHECK(r.code == 2);
  CHECK(r.text.find("no crash state 'reorder:1:99999'") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/other"));

  // A prefix no generator gives (past the last pending op) is refused too,
  // as is a write torn inside a sector, and an empty --to.
  r = w.Run("replay " + scenario + " --state prefix:99999 --to " + w.path + "/other");
  CHECK(r.code == 2);
  CHECK(r.text.find("no crash state 'prefix:99999'") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/other"));
  r = w.Run("replay " + scenario + " --state torn:15:100 --to " + w.path + "/other");
  CHECK(r.code == 2);
  CHECK(r.text.find("no crash state 'torn:15:100'") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/other"));
  r = w.Run("replay " + scenario + " --state " + id + " --to ''");
  CHECK(r.code == 2);
  CHECK(r.text.find("--to: the path is empty") != std::string::npos);
  r = w.Run("replay " + scenario + " --state " + id + " --to /proc/blackout-no-such-dir");
  CHECK(r.code == 2);
  CHECK(r.text.find("--to: cannot create /proc/blackout-no-such-dir") != std::string::npos);

  // --recover leaves the state it recovered, and the recovery's log, where
  // it says.
  const std::string checked = w.path + "/checked";
  r = w.Run("replay " + scenario + " --state " + id + " --to " + checked + " --recover");
  CHECK(r.code == 1);  // the state breaks an invariant, as explore says with 1
  CHECK(r.text.find("acknowledged writes 8, lost 8") != std::string::npos);
  CHECK(r.text.find("violation acked-durable") != std::string::npos);
  CHECK(r.text.find("materialized into " + checked) != std::string::npos);
  CHECK(fs::exists(checked + "/store/wal.log"));
  CHECK(fs::exists(checked + ".log"));
  fs::remove(checked + ".log");
  // A state that breaks nothing exits 0.
  std::string clean;
  for (const auto& st : report["scenarios"][0]["crash_states"])
    if (st.contains("exploration") && st.value("violations", json::array()).empty())
      clean = st["exploration"]["id"];
  REQUIRE_FALSE(clean.empty());
  r = w.Run("replay " + scenario + " --state " + clean + " --to " + w.path + "/clean --recover");
  INFO(r.text);
  CHECK(r.code == 0);
  CHECK(r.text.find("no invariant violated") != std::string::npos);
  fs::remove(w.path + "/clean.log");
  fs::remove_all(w.path + "/out");
  CHECK(w.Clean());
}

TEST_CASE("minimize shrinks a failing seed scenario to fewer ops with the same violation") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  json doc = Read(Seed("seed/no-directory-fsync-anywhere-wal-power.json"));
  doc["$schema"] = "../schema.json";  // w.path/schema.json, from in/
  const std::string in = w.Write("in/dirsync.json", doc);
  fs::create_directories(w.path + "/in/min");
  Output r =
      w.Run("minimize " + in + " --max-tries 40 --out " + w.path + "/in/min/dirsync.min.json");
  REQUIRE(r.code == 0);
  const std::string out = w.path + "/in/min/dirsync.min.json";
  REQUIRE(fs::exists(out));
  CHECK(r.text.find("minimize: try ") != std::string::npos);  // progress on stderr
  const json min = Read(out);
  CHECK(min["name"] == doc["name"].get<std::string>() + "-min");
  CHECK(min["$schema"] == "../../schema.json");  // the same file, from in/min/
  CHECK(min["workload"].size() < 25);  // 1 sync step + 24 appends before
  CHECK(min["expect"]["violations"] == json::array({"acked-durable"}));
  CHECK(w.Run("validate " + out).code == 0);
  r = w.Run("run " + out + " --quiet --out " + w.path + "/out");
  CHECK(r.code == 0);  // as expected: the same violation
  CHECK(Read(w.path + "/out/report.json")["scenarios"][0]["violations"] ==
        json::array({"acked-durable"}));

  // Never the input; a passing scenario has nothing to minimize.
  CHECK(w.Run("minimize " + in + " --out " + in).code == 2);
  json fixed = Read(Seed("fixed/fixed-no-directory-fsync-anywhere-wal-power.json"));
  fixed.erase("$schema");
  r = w.Run("minimize " + w.Write("in/fixed.json", fixed) + " --max-tries 5");
  CHECK(r.code == 1);
  CHECK(r.text.find("nothing to minimize") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/in/fixed.min.json"));
  fs::remove_all(w.path + "/out");
  CHECK(w.Clean());
}

TEST_CASE(
    "run --minimize shrinks a scenario that came out unexpected into OUT/minimized and the "
    "reports name the file; expected gaps are left alone") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  // The seed gap, expected by nobody here: an unexpected outcome.
  json doc = Read(Seed("seed/no-directory-fsync-anywhere-wal-power.json"));
  doc["$schema"] = "../schema.json";
  doc["name"] = "surprise";
  doc["expect"] = {{"violations", json::array()}};
  w.Write("in/surprise.json", doc);
  // The same gap, expected: not minimized.
  json known = Read(Seed("seed/no-directory-fsync-anywhere-wal-power.json"));
  known["$schema"] = "../schema.json";
  w.Write("in/known.json", known);
  const std::string out = w.path + "/out";
  Output r = w.Run("run " + w.path + "/in --quiet --minimize --minimize-tries 30 --out " + out);
  INFO(r.text);
  CHECK(r.code == 1);  // one scenario unexpected, as without --minimize
  const json report = Read(out + "/report.json");
  REQUIRE(report["scenarios"].size() == 2);
  std::string minimized;
  for (const auto& s : report["scenarios"]) {
    if (s["name"] == "surprise") minimized = s.value("minimized", "");
    if (s["name"] != "surprise") CHECK_FALSE(s.contains("minimized"));
  }
  CHECK(minimized == out + "/minimized/surprise.min.json");
  REQUIRE(fs::exists(minimized));
  const json min = Read(minimized);
  CHECK(min["workload"].size() < 25);  // 1 sync step + 24 appends before
  CHECK(min["expect"]["violations"] == json::array({"acked-durable"}));
  const std::string md = ReadText(out + "/report.md");
  CHECK(md.find("- minimized: `" + minimized + "`") != std::string::npos);
  CHECK(ReadText(out + "/report.html").find(minimized) != std::string::npos);
  CHECK(ReadText(out + "/junit.xml").find("minimized: " + minimized) != std::string::npos);
  // The shrunk scenario is the same gap, now expected.
  CHECK(w.Run("run " + minimized + " --quiet --out " + w.path + "/out2").code == 0);
  fs::remove_all(out);
  fs::remove_all(w.path + "/out2");
  CHECK(w.Clean());
}

namespace {

// What a crash state's outcome is, with the store's location (a temporary
// directory for the child, the in-memory root otherwise) cut out of messages.
json Outcomes(const json& scenario) {
  json out = json::object();
  for (const auto& st : scenario["crash_states"]) {
    std::string error = st["recovery_error"];
    for (size_t at; (at = error.find("/store/")) != std::string::npos;) {
      const size_t start = error.rfind(' ', at) + 1;
      error.replace(start, at + 7 - start, "STORE:");
    }
    json invariants = json::array();
    for (const auto& v : st["violations"]) invariants.push_back(v["invariant"]);
    out[st["point"].get<std::string>() + " " + st["state"].get<std::string>()] = {
        {"recovered", st["recovered"]},
        {"recovery_error", error},
        {"violations", invariants},
        {"lost_writes", st["lost_writes"]},
        {"error", st["error"]}};
  }
  return out;
}

json Explored(const std::string& name, const std::string& engine, json config, json ops,
              json check) {
  json workload = json::array({{{"step", "sync"}}});
  for (auto& op : ops) workload.push_back(op);
  return {{"name", name},
          {"description", "in-memory recovery against the child"},
          {"engine", {{"name", engine}, {"config", config}}},
          {"workload", workload},
          {"crash", {{"kind", "power"}, {"at", "end"}, {"states", {"prefix", "torn", "reorder:1"}}}},
          {"check", check},
          {"expect", {{"violations", json::array()}}}};
}

}  // namespace

TEST_CASE("explored crash states recovered in memory get the outcome a recovery child gets") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  // Torn 512-byte sectors cut three-byte characters: values that no longer
  // decode, stores that no longer open, and the structure check of a B-tree.
  std::string wide;
  for (int i = 0; i < 300; ++i) wide += "\xe2\x82\xac";
  w.Write("in/eventstore.json",
          Explored("cmp-eventstore", "eventstore", json::object(),
                   {{{"op", "append"}, {"stream", "s{i}"}, {"type", "T"},
                     {"data", {{"v", wide}}}, {"repeat", 3}}},
                   {"recovers", "acked-durable", "no-corruption"}));
  w.Write("in/bitcask.json",
          Explored("cmp-bitcask", "bitcask", {{"sync_writes", false}},
                   {{{"op", "put"}, {"key", "k{i}"}, {"value", wide}, {"repeat", 3}}},
                   {"recovers", "acked-durable", "no-corruption", "exact-values"}));
  // The B-tree logs its pages and fsyncs the log, and leaves the data file's
  // page writes pending: states that replay the log over half-written pages.
  json btree = Read(Seed("seed/btree-wal-syncs-data-file-defers-power.json"));
  btree.erase("$schema");
  btree["name"] = "cmp-btree";
  btree["crash"]["states"] = {"prefix", "torn", "reorder:1"};
  btree["check"].push_back("structure");
  w.Write("in/btree.json", btree);
  const std::string inputs = w.path + "/in " + Seed("explore") + " " +
                             Seed("holes/lsm-wal-truncate-before-sstable.json");
  Output child = w.Run("run " + inputs + " --jobs 2 --quiet --recovery child --out " + w.path + "/child");
  Output memory = w.Run("run " + inputs + " --jobs 2 --quiet --out " + w.path + "/memory");
  CHECK(child.code == memory.code);
  const json a = Read(w.path + "/child/report.json"), b = Read(w.path + "/memory/report.json");
  REQUIRE(a["scenarios"].size() == b["scenarios"].size());
  int explored = 0, compared = 0, not_opened = 0, violating = 0;
  for (size_t i = 0; i < a["scenarios"].size(); ++i) {
    const json& sa = a["scenarios"][i];
    const json& sb = b["scenarios"][i];
    INFO(sa["name"].get<std::string>());
    if (!sa.contains("exploration")) continue;  // drop-all only: cut on the mount
    ++explored;
    CHECK(sa["exploration"]["recovery"] == "child");
    CHECK(sb["exploration"]["recovery"] == "in-memory");
    const json outcomes = Outcomes(sb);
    CHECK(Outcomes(sa) == outcomes);
    for (const auto& [id, o] : outcomes.items()) {
      ++compared;
      not_opened += o["recovered"] == false;
      violating += !o["violations"].empty();
    }
  }
  // The comparison covers states that open, states that do not, and violations.
  CHECK(explored == 6);
  CHECK(compared > 40);
  CHECK(not_opened > 0);
  CHECK(violating > not_opened);

  Output bad = w.Run("run " + inputs + " --recovery sometimes --out " + w.path + "/bad");
  CHECK(bad.code == 2);
  CHECK(bad.text.find("--recovery: expected auto, in-memory or child, got 'sometimes'") !=
        std::string::npos);
  for (const char* d : {"/in", "/child", "/memory", "/bad"}) fs::remove_all(w.path + d);
  CHECK(w.Clean());
}
