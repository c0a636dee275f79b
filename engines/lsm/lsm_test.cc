// LsmTree on MemEnv: behaviour, reopen, crash recovery, and each hole of
// ENGINES.md 7 (H-M*) as a pair: the default profile loses or fails as REF
// does, the fixed profile does not.
// Reproduce one case: build-*/engines/lsm/lsm_test "<test name>"
#include "engines/lsm/lsm.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>

#include "engines/bitcask/testing/crashing_env.h"
#include "engines/common/mem_env.h"
#include "engines/driver/sessions.h"

namespace blackout::engines::lsm {
namespace {

using testing::CrashingEnv;
using Items = std::vector<std::pair<std::string, std::string>>;

constexpr char kDir[] = "/db";

Options Opts(Profile p, uint64_t threshold = 1000, uint64_t compaction = 4) {
  Options o;
  o.profile = p;
  o.memtable_threshold = threshold;
  o.compaction_threshold = compaction;
  o.sparse_index_interval = 2;
  return o;
}

std::unique_ptr<LsmTree> MustOpen(Env* env, const Options& o) {
  auto r = LsmTree::Open(env, kDir, o);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::optional<std::string> MustGet(LsmTree& t, const std::string& key) {
  auto r = t.Get(key);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

Items All(LsmTree& t) {
  auto r = t.RangeScan("", std::nullopt);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

const char* Name(Profile p) { return p == Profile::kFixed ? "fixed" : "default"; }

}  // namespace

TEST_CASE("lsm put, get, delete and half-open scans see the newest value across tables") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto t = MustOpen(&env, Opts(p, 3, 100));
    for (int i = 0; i < 10; ++i)
      REQUIRE(t->Put("k" + std::to_string(i), "v" + std::to_string(i)).ok());
    REQUIRE(t->Put("k1", "new").ok());
    REQUIRE(t->Delete("k2").ok());
    CHECK(t->TablePaths().size() == 4);
    CHECK(MustGet(*t, "k1") == "new");
    CHECK(MustGet(*t, "k2") == std::nullopt);
    CHECK(MustGet(*t, "k9") == "v9");
    CHECK(MustGet(*t, "nope") == std::nullopt);
    auto scan = t->RangeScan("k1", std::string_view("k4"));
    REQUIRE(scan.ok());
    CHECK(*scan == Items{{"k1", "new"}, {"k3", "v3"}});
    REQUIRE(t->Compact().ok());
    CHECK(t->TablePaths().size() == 1);
    CHECK(All(*t).size() == 9);
    CHECK(t->Verify().empty());
    REQUIRE(t->Close().ok());
  }
}

TEST_CASE("lsm reopens after a clean close with every value") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto t = MustOpen(&env, Opts(p, 4, 3));
      for (int i = 0; i < 25; ++i) REQUIRE(t->Put("k" + std::to_string(i), "v").ok());
      REQUIRE(t->Delete("k7").ok());
      REQUIRE(t->Close().ok());
    }
    auto t = MustOpen(&env, Opts(p, 4, 3));
    CHECK(All(*t).size() == 24);
    CHECK(MustGet(*t, "k7") == std::nullopt);
    CHECK(t->memtable_size() == 0);
  }
}

TEST_CASE("lsm replays its WAL after a process crash") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto t = MustOpen(&env, Opts(p, 5));
    for (int i = 0; i < 7; ++i) REQUIRE(t->Put("k" + std::to_string(i), "v").ok());
    REQUIRE(t->Delete("k0").ok());
    env.CrashProcess();
    t.reset();
    auto r = MustOpen(&env, Opts(p, 5));
    CHECK(All(*r).size() == 6);
    CHECK(MustGet(*r, "k0") == std::nullopt);
  }
}

TEST_CASE("lsm default put is four buffered writes, one write(2), no fsync") {
  MemEnv env(kDir);
  auto t = MustOpen(&env, Opts(Profile::kDefault));
  REQUIRE(t->Put("key", "value").ok());
  CHECK(env.ReadFileForTest("/db/wal.log") == std::string("\0\0\0\x03key\0\0\0\x05value", 16));
  CHECK(env.Calls() ==
        std::vector<std::string>{"open wal.log O_APPEND|O_CREAT|O_WRONLY", "write wal.log 16"});
}

// The seed's finding: the WAL is flushed, never fsynced.
TEST_CASE(
    "lsm-wal-missing-fsync: an acknowledged put survives power loss only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto t = MustOpen(&env, Opts(p));
    env.SyncAll();  // even with wal.log's entry durable
    REQUIRE(t->Put("a", "1").ok());
    env.CrashPower();
    t.reset();
    auto r = MustOpen(&env, Opts(p));
    CHECK(MustGet(*r, "a") ==
          (p == Profile::kFixed ? std::optional<std::string>("1") : std::nullopt));
  }
}

// H-M5: close() flushes to an SSTable and never fsyncs.
TEST_CASE("H-M5: a clean close is durable only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto t = MustOpen(&env, Opts(p));
      REQUIRE(t->Put("a", "1").ok());
      REQUIRE(t->Close().ok());
    }
    env.CrashPower();
    auto r = MustOpen(&env, Opts(p));
    CHECK(MustGet(*r, "a") ==
          (p == Profile::kFixed ? std::optional<std::string>("1") : std::nullopt));
  }
}

// H-M2: a torn WAL tail stays, and the next append is framed behind it.
TEST_CASE("H-M2: a put after a torn WAL tail survives the next restart only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto t = MustOpen(&env, Opts(p));
      REQUIRE(t->Put("a", "1").ok());
      REQUIRE(t->Put("torn", "value-value").ok());
      env.CrashProcess();
    }
    std::string wal = env.ReadFileForTest("/db/wal.log");
    env.WriteFileForTest("/db/wal.log", wal.substr(0, wal.size() - 4));
    {
      auto t = MustOpen(&env, Opts(p));
      CHECK(MustGet(*t, "a") == "1");
      CHECK(MustGet(*t, "torn") == std::nullopt);
      REQUIRE(t->Put("z", "last").ok());
      env.CrashProcess();
    }
    auto r = LsmTree::Open(&env, kDir, Opts(p));
    if (p == Profile::kDefault) {
      // The torn record's length swallows "z" (or garbage decodes): lost.
      if (r.ok()) {
        auto z = (*r)->Get("z");
        CHECK((!z.ok() || *z != std::optional<std::string>("last")));
      }
    } else {
      REQUIRE(r.ok());
      CHECK(MustGet(**r, "z") == "last");
      CHECK(MustGet(**r, "a") == "1");
    }
  }
}

// H-M3: a partial .sst (a process crash in the middle of writing it) makes
// REF's open raise; the fixed profile writes tables under a temporary name.
TEST_CASE("H-M3: a crash while writing a table blocks the next open only in the default profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv mem(kDir);
    {
      CrashingEnv env(&mem);
      auto t = MustOpen(&env, Opts(p, 400));
      const std::string value(40, 'v');
      for (int i = 0; i < 399; ++i) REQUIRE(t->Put("key" + std::to_string(1000 + i), value).ok());
      // Default: the flush writes 8 KiB chunks; die before the second one.
      // Fixed: the table is one write to sst_000000.sst.tmp; die before it.
      env.Arm("write sst_000000.sst", p == Profile::kDefault ? 2 : 1,
              CrashingEnv::Action::kCrashProcess);
      CHECK(!t->Put("key9999", value).ok());
      REQUIRE(env.fired());
    }
    auto r = LsmTree::Open(&mem, kDir, Opts(p, 400));
    if (p == Profile::kDefault) {
      REQUIRE(!r.ok());
      CHECK(r.status().IsCorruption());
    } else {
      REQUIRE(r.ok());
      CHECK(All(**r).size() == 400);
    }
  }
}

// H-M4: a compaction whose every key is deleted writes an empty table, and
// REF's range_scan then raises IndexError.
TEST_CASE("H-M4: a scan over an all-deleted compaction fails only in the default profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto t = MustOpen(&env, Opts(p, 2, 100));
    REQUIRE(t->Put("a", "1").ok());
    REQUIRE(t->Put("b", "1").ok());
    REQUIRE(t->Delete("a").ok());
    REQUIRE(t->Delete("b").ok());
    REQUIRE(t->Compact().ok());
    auto scan = t->RangeScan("", std::nullopt);
    if (p == Profile::kDefault) {
      CHECK(scan.status().IsCorruption());
    } else {
      REQUIRE(scan.ok());
      CHECK(scan->empty());
    }
  }
}

// H-M1: the memtable is cleared before its table is written; a failed write
// loses it from the running store.
TEST_CASE("H-M1: a failed flush keeps the memtable only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv mem(kDir);
    CrashingEnv env(&mem);
    auto t = MustOpen(&env, Opts(p, 2));
    REQUIRE(t->Put("a", "1").ok());
    env.Arm("open sst_", 1, CrashingEnv::Action::kFail);
    CHECK(!t->Put("b", "2").ok());
    CHECK(MustGet(*t, "a") ==
          (p == Profile::kFixed ? std::optional<std::string>("1") : std::nullopt));
  }
}

// The fixed flush and compaction protocol: a crash or power cut at any call
// of a workload that flushes and compacts recovers every acknowledged write
// and never resurrects a deleted key.
TEST_CASE("fixed lsm recovers every acknowledged write after a crash at any call") {
  struct Step {
    std::string key;
    std::optional<std::string> value;
  };
  std::vector<Step> steps;
  for (int i = 0; i < 6; ++i) steps.push_back({"k" + std::to_string(i), "v" + std::to_string(i)});
  steps.push_back({"k1", std::nullopt});
  steps.push_back({"k3", std::nullopt});
  steps.push_back({"k0", "again"});
  steps.push_back({"k9", "v9"});
  steps.push_back({"k4", std::nullopt});
  size_t calls;
  {
    MemEnv mem(kDir);
    CrashingEnv env(&mem);
    auto t = MustOpen(&env, Opts(Profile::kFixed, 2, 3));
    for (const Step& s : steps) {
      REQUIRE((s.value ? t->Put(s.key, *s.value) : t->Delete(s.key)).ok());
    }
    calls = env.seen().size();
  }
  for (auto action : {CrashingEnv::Action::kCrashProcess, CrashingEnv::Action::kCrashPower}) {
    for (size_t i = 1; i <= calls; ++i) {
      MemEnv mem(kDir);
      std::map<std::string, std::string> acked;  // what must be there
      std::map<std::string, std::optional<std::string>> inflight;
      {
        CrashingEnv env(&mem);
        env.Arm("", static_cast<int>(i), action);
        auto opened = LsmTree::Open(&env, kDir, Opts(Profile::kFixed, 2, 3));
        if (opened.ok()) {
          for (const Step& s : steps) {
            Status st = s.value ? (*opened)->Put(s.key, *s.value) : (*opened)->Delete(s.key);
            if (!st.ok()) {
              inflight[s.key] = s.value;
              break;
            }
            if (s.value) {
              acked[s.key] = *s.value;
            } else {
              acked.erase(s.key);
            }
          }
        }
        INFO("crash before call " << i << ": " << env.seen().back());
        REQUIRE(env.fired());
      }
      auto r = MustOpen(&mem, Opts(Profile::kFixed, 2, 3));
      CHECK(r->Verify().empty());
      std::map<std::string, std::string> got;
      for (auto& [k, v] : All(*r)) got[k] = v;
      // The one in-flight operation may or may not have landed.
      for (auto& [k, v] : inflight) {
        if (v ? got.count(k) && got[k] == *v : !got.count(k)) {
          if (v) {
            acked[k] = *v;
          } else {
            acked.erase(k);
          }
        }
      }
      INFO("crash " << (action == CrashingEnv::Action::kCrashPower ? "power" : "process")
                    << " before call " << i);
      CHECK(got == acked);
    }
  }
}

TEST_CASE("fixed lsm refuses a second tree on a locked directory") {
  MemEnv env(kDir);
  auto first = MustOpen(&env, Opts(Profile::kFixed));
  auto second = LsmTree::Open(&env, kDir, Opts(Profile::kFixed));
  REQUIRE(!second.ok());
  CHECK(second.status().IsBusy());
}

TEST_CASE("lsm verify reports a table whose keys are out of order") {
  MemEnv env(kDir);
  {
    auto t = MustOpen(&env, Opts(Profile::kDefault, 3));
    REQUIRE(t->Put("a", "1").ok());
    REQUIRE(t->Put("b", "2").ok());
    REQUIRE(t->Put("c", "3").ok());
    CHECK(t->Verify().empty());
    REQUIRE(t->Close().ok());
  }
  // Swap the keys "a" and "c" in place: the table stays readable, unsorted.
  std::string sst = env.ReadFileForTest("/db/sst_000000.sst");
  std::swap(sst[4], sst[4 + 2 * 10]);
  env.WriteFileForTest("/db/sst_000000.sst", sst);
  auto t = MustOpen(&env, Opts(Profile::kDefault, 3));
  CHECK(!t->Verify().empty());
}

}  // namespace blackout::engines::lsm

// The driver adapter (lsm_session.cc).
namespace blackout::engines {

TEST_CASE("lsm session rejects bad config naming the key, and promises acked/acked") {
  MemEnv env("/db");
  auto bad = OpenLsmSession(&env, "/db", {{"memtable_treshold", 10}});
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("memtable_treshold") != std::string::npos);
  auto zero = OpenLsmSession(&env, "/db", {{"sparse_index_interval", 0}});
  REQUIRE(!zero.ok());
  CHECK(zero.status().message().find("sparse_index_interval") != std::string::npos);
  for (const char* profile : {"default", "fixed"}) {
    auto s = OpenLsmSession(&env, "/db", {{"profile", profile}});
    REQUIRE(s.ok());
    CHECK((*s)->Contract() == nlohmann::json{{"process", "acked"}, {"power", "acked"}});
    REQUIRE((*s)->Close().ok());
  }
}

TEST_CASE("lsm session answers every op with one reply and keeps serving after errors") {
  MemEnv env("/db");
  auto opened = OpenLsmSession(&env, "/db", {{"memtable_threshold", 2}});
  REQUIRE(opened.ok());
  EngineSession& s = **opened;
  for (const char* k : {"b", "a", "c"}) {
    CHECK(s.Handle("put", {{"op", "put"}, {"key", k}, {"value", std::string("v") + k}})["ok"] ==
          true);
  }
  CHECK(s.Handle("put", {{"op", "put"}, {"key", 1}, {"value", "x"}})["ok"] == false);
  CHECK(s.Handle("nope", {{"op", "nope"}})["error"].get<std::string>().find(
            "unknown op 'nope' for engine lsm") == 0);
  CHECK(s.Handle("delete", {{"op", "delete"}, {"key", "c"}})["ok"] == true);
  CHECK(s.Handle("get", {{"op", "get"}, {"key", "a"}}) ==
        nlohmann::json{{"ok", true}, {"found", true}, {"value", "va"}});
  CHECK(s.Handle("get", {{"op", "get"}, {"key", "c"}}) ==
        nlohmann::json{{"ok", true}, {"found", false}});
  CHECK(s.Handle("scan", {{"op", "scan"}, {"start", "b"}})["items"] ==
        nlohmann::json::array({{"b", "vb"}}));
  CHECK(s.Handle("compact", {{"op", "compact"}})["ok"] == true);
  CHECK(s.Handle("verify", {{"op", "verify"}}) ==
        nlohmann::json{{"ok", true}, {"problems", nlohmann::json::array()}});
  CHECK(s.Dump() ==
        nlohmann::json{
            {"ok", true}, {"engine", "lsm"}, {"kind", "kv"}, {"data", {{"a", "va"}, {"b", "vb"}}}});
  REQUIRE(s.Close().ok());
}

}  // namespace blackout::engines
