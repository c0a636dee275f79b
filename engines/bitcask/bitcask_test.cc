// BitcaskStore on MemEnv: behaviour, reopen, crash recovery, and each hole
// of ENGINES.md 7.2 (H-B*) as a pair: the default profile loses or fails as
// REF does, the fixed profile does not.
// Reproduce one case: build-*/engines/bitcask/bitcask_test "<test name>"
#include "engines/bitcask/bitcask.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>

#include "engines/bitcask/testing/crashing_env.h"
#include "engines/common/mem_env.h"
#include "engines/driver/sessions.h"

namespace blackout::engines::bitcask {
namespace {

using testing::CrashingEnv;

constexpr char kDir[] = "/db";

Options Opts(Profile p, bool sync_writes = true, uint64_t max_file_size = 10 * 1024 * 1024) {
  Options o;
  o.profile = p;
  o.sync_writes = sync_writes;
  o.max_file_size = max_file_size;
  return o;
}

std::unique_ptr<BitcaskStore> MustOpen(Env* env, const Options& o) {
  auto r = BitcaskStore::Open(env, kDir, o);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::optional<std::string> MustGet(BitcaskStore& s, const std::string& key) {
  auto r = s.Get(key);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

std::map<std::string, std::string> Contents(BitcaskStore& s) {
  auto r = s.ReadAll();
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

const char* Name(Profile p) { return p == Profile::kFixed ? "fixed" : "default"; }

}  // namespace

TEST_CASE("bitcask put, get, overwrite and delete read back the latest value") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto s = MustOpen(&env, Opts(p));
    REQUIRE(s->Put("a", "1").ok());
    REQUIRE(s->Put("b", "2").ok());
    REQUIRE(s->Put("a", "3").ok());
    REQUIRE(s->Delete("b").ok());
    REQUIRE(s->Delete("never-there").ok());
    CHECK(MustGet(*s, "a") == "3");
    CHECK(MustGet(*s, "b") == std::nullopt);
    CHECK(MustGet(*s, "c") == std::nullopt);
    CHECK(s->size() == 1);
    CHECK(s->Verify().empty());
    REQUIRE(s->Close().ok());
  }
}

TEST_CASE("bitcask reopens after a clean close with every file and value") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto s = MustOpen(&env, Opts(p, true, 64));
      for (int i = 0; i < 20; ++i)
        REQUIRE(s->Put("k" + std::to_string(i), "v" + std::to_string(i)).ok());
      REQUIRE(s->Delete("k3").ok());
      CHECK(s->active_file_id() > 0);  // the 64-byte limit rotated
      REQUIRE(s->Close().ok());
    }
    auto s = MustOpen(&env, Opts(p, true, 64));
    auto all = Contents(*s);
    CHECK(all.size() == 19);
    CHECK(all.count("k3") == 0);
    CHECK(all["k19"] == "v19");
  }
}

TEST_CASE(
    "bitcask keeps every acknowledged write after a process crash, even with sync_writes off") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto s = MustOpen(&env, Opts(p, false));
    REQUIRE(s->Put("a", "1").ok());
    REQUIRE(s->Put("b", "2").ok());
    REQUIRE(s->Delete("a").ok());
    env.CrashProcess();
    s.reset();
    auto r = MustOpen(&env, Opts(p, false));
    CHECK(Contents(*r) == std::map<std::string, std::string>{{"b", "2"}});
  }
}

TEST_CASE("bitcask writes REF's record bytes in the default profile") {
  MemEnv env(kDir);
  Options o = Opts(Profile::kDefault);
  o.clock = [] { return 1.5; };
  auto s = MustOpen(&env, o);
  REQUIRE(s->Put("key", "value").ok());
  REQUIRE(s->Delete("key").ok());
  // "<dII" = f64le 1.5, u32 3, u32 5, "key", "value"; then a tombstone (value_size 0).
  const std::string ts("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8);
  const std::string expected = ts + std::string("\x03\0\0\0\x05\0\0\0", 8) + "keyvalue" + ts +
                               std::string("\x03\0\0\0\0\0\0\0", 8) + "key";
  CHECK(env.ReadFileForTest("/db/0.data") == expected);
  CHECK(env.Calls() == std::vector<std::string>{"open 0.data O_APPEND|O_CREAT|O_WRONLY",
                                                "write 0.data 24", "fsync 0.data",
                                                "write 0.data 19", "fsync 0.data"});
}

// H-B8: the first data file's directory entry is never made durable, so even
// fsynced records vanish with a power cut.
TEST_CASE("H-B8: fsynced puts in a new data file survive power loss only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto s = MustOpen(&env, Opts(p, true, 32));
    for (int i = 0; i < 6; ++i) REQUIRE(s->Put("key" + std::to_string(i), "value").ok());
    env.CrashPower();
    s.reset();
    auto r = MustOpen(&env, Opts(p, true, 32));
    CHECK(Contents(*r).size() == (p == Profile::kFixed ? 6u : 0u));
  }
}

// H-B4: close() flushes and never fsyncs; with sync_writes=false nothing is durable.
TEST_CASE("H-B4: a clean close with sync_writes off is durable only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto s = MustOpen(&env, Opts(p, false));
    REQUIRE(s->Put("a", "1").ok());
    REQUIRE(s->Close().ok());
    env.CrashPower();
    auto r = MustOpen(&env, Opts(p, false));
    CHECK(MustGet(*r, "a") ==
          (p == Profile::kFixed ? std::optional<std::string>("1") : std::nullopt));
  }
}

// H-B3: a torn record with a complete header is indexed past EOF, read back
// truncated, and misframes the records appended after it.
TEST_CASE("H-B3: a torn tail is cut off on open only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto s = MustOpen(&env, Opts(p));
      REQUIRE(s->Put("a", "first").ok());
      REQUIRE(s->Put("b", "xyzxyzxyz").ok());
      REQUIRE(s->Close().ok());
    }
    std::string data = env.ReadFileForTest("/db/0.data");
    env.WriteFileForTest("/db/0.data", data.substr(0, data.size() - 6));  // "xyz" survives
    {
      auto s = MustOpen(&env, Opts(p));
      if (p == Profile::kDefault) {
        CHECK(MustGet(*s, "b") == "xyz");  // REF returns the truncated value
        CHECK(s->Verify().size() == 1);    // and its entry runs past EOF
      } else {
        CHECK(MustGet(*s, "b") == std::nullopt);  // the torn record is gone
        CHECK(s->Verify().empty());
      }
      REQUIRE(s->Put("c", "after").ok());
      REQUIRE(s->Close().ok());
    }
    auto r = BitcaskStore::Open(&env, kDir, Opts(p));
    if (p == Profile::kDefault) {
      // The torn record's size swallows the new one: "c" is lost or the
      // store fails to decode, as REF does.
      if (r.ok()) {
        auto c = (*r)->Get("c");
        CHECK((!c.ok() || *c != std::optional<std::string>("after")));
      }
    } else {
      REQUIRE(r.ok());
      CHECK(MustGet(**r, "c") == "after");
      CHECK(MustGet(**r, "a") == "first");
    }
  }
}

// H-B5: a truncated hint file makes REF's open raise; fixed scans instead.
TEST_CASE("H-B5: a truncated hint file fails the open only in the default profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto s = MustOpen(&env, Opts(p, true, 40));
      for (int i = 0; i < 6; ++i) REQUIRE(s->Put("key" + std::to_string(i), "value").ok());
      REQUIRE(s->Compact().ok());
      REQUIRE(s->Close().ok());
    }
    std::string hint_name;
    auto names = env.ListDir(kDir);
    REQUIRE(names.ok());
    for (const std::string& n : *names) {
      if (n.size() > 5 && n.substr(n.size() - 5) == ".hint" &&
          env.ReadFileForTest(std::string(kDir) + "/" + n).size() > 10) {
        hint_name = n;
      }
    }
    REQUIRE(!hint_name.empty());
    std::string hint = env.ReadFileForTest(std::string(kDir) + "/" + hint_name);
    // Cut into the last entry's fixed-size part: REF's struct.unpack raises.
    REQUIRE(hint.size() > 10);
    env.WriteFileForTest(std::string(kDir) + "/" + hint_name, hint.substr(0, hint.size() - 10));
    auto r = BitcaskStore::Open(&env, kDir, Opts(p, true, 40));
    if (p == Profile::kDefault) {
      REQUIRE(!r.ok());
      CHECK(r.status().IsCorruption());
    } else {
      REQUIRE(r.ok());
      CHECK(Contents(**r).size() == 6);
    }
  }
}

// H-B2: a crash after the merged files and hints are written but before the
// active file is renamed makes a merged file (with a stale hint) the active
// one; writes after the restart vanish at the next one, deleted keys return.
TEST_CASE(
    "H-B2: a crash before compaction's rename loses later writes only in the default profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv mem(kDir);
    {
      CrashingEnv env(&mem);
      // 0.data: k0, k1 and a big record; deleting the big one rotates, so
      // the merged file (k0, k1) stays under the limit and keeps accepting
      // appends once it has become the active file.
      auto s = MustOpen(&env, Opts(p, true, 100));
      REQUIRE(s->Put("k0", "OLD").ok());
      REQUIRE(s->Put("k1", "v1").ok());
      REQUIRE(s->Put("big", std::string(60, 'x')).ok());
      REQUIRE(s->Delete("big").ok());
      REQUIRE(s->Put("k2", "v2").ok());
      env.Arm("rename", 1, CrashingEnv::Action::kCrashProcess);
      CHECK(!s->Compact().ok());
      REQUIRE(env.fired());
    }
    {
      auto s = MustOpen(&mem, Opts(p, true, 100));
      REQUIRE(s->Put("k0", "NEW").ok());
      REQUIRE(s->Delete("k1").ok());
      REQUIRE(s->Put("z", "last").ok());
      REQUIRE(s->Close().ok());
    }
    auto s = MustOpen(&mem, Opts(p, true, 100));
    if (p == Profile::kDefault) {
      CHECK(MustGet(*s, "k0") == "OLD");
      CHECK(MustGet(*s, "k1") == "v1");
      CHECK(MustGet(*s, "z") == std::nullopt);
    } else {
      CHECK(Contents(*s) ==
            std::map<std::string, std::string>{{"k0", "NEW"}, {"k2", "v2"}, {"z", "last"}});
    }
  }
}

// H-B1: the merged files are never fsynced, yet the old files are unlinked.
// When the directory reaches the disk (here: an explicit SyncDir, as a
// journal commit would do) but the merged data does not, the records are gone.
TEST_CASE(
    "H-B1: compacted records survive a power cut after the directory is written only in the fixed "
    "profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    auto s = MustOpen(&env, Opts(p, true, 40));
    for (int i = 0; i < 6; ++i) REQUIRE(s->Put("key" + std::to_string(i), "value").ok());
    env.SyncAll();
    REQUIRE(s->Compact().ok());
    REQUIRE(env.SyncDir(kDir).ok());
    env.CrashPower();
    s.reset();
    auto r = MustOpen(&env, Opts(p, true, 40));
    // Default keeps only the two records of the active file.
    CHECK(Contents(*r).size() == (p == Profile::kFixed ? 6u : 2u));
  }
}

// H-B1 and the fixed compaction protocol: whatever call of compact() a crash
// or power cut lands on, the fixed store recovers exactly the contents from
// before the compaction, and writes after the restart survive the next one.
TEST_CASE("fixed bitcask compaction recovers the same contents after a crash at any call") {
  const std::map<std::string, std::string> expected = {
      {"a", "3"}, {"c", "5"}, {"d", "6"}, {"e", "7"}, {"z", "last"}};
  auto setup = [](Env* env) {
    auto s = MustOpen(env, Opts(Profile::kFixed, true, 40));
    REQUIRE(s->Put("a", "1").ok());
    REQUIRE(s->Put("b", "2").ok());
    REQUIRE(s->Put("a", "3").ok());
    REQUIRE(s->Delete("b").ok());
    REQUIRE(s->Put("c", "5").ok());
    REQUIRE(s->Put("d", "6").ok());
    REQUIRE(s->Put("e", "7").ok());
    return s;
  };
  size_t calls;
  {
    MemEnv mem(kDir);
    CrashingEnv env(&mem);
    auto s = setup(&env);
    const size_t before = env.seen().size();
    REQUIRE(s->Compact().ok());
    calls = env.seen().size() - before;
    REQUIRE(s->Put("z", "last").ok());
    CHECK(Contents(*s) == expected);
  }
  REQUIRE(calls > 5);
  for (auto action : {CrashingEnv::Action::kCrashProcess, CrashingEnv::Action::kCrashPower}) {
    for (size_t i = 1; i <= calls; ++i) {
      MemEnv mem(kDir);
      CrashingEnv env(&mem);
      auto s = setup(&env);
      env.Arm("", static_cast<int>(i), action);  // counts calls from now on
      (void)s->Compact();
      INFO("crash " << (action == CrashingEnv::Action::kCrashPower ? "power" : "process")
                    << " before call " << i
                    << " of compact: " << (env.seen().empty() ? "" : env.seen().back()));
      REQUIRE(env.fired());
      s.reset();
      {
        auto r = MustOpen(&mem, Opts(Profile::kFixed, true, 40));
        REQUIRE(r->Put("z", "last").ok());
        CHECK(r->Verify().empty());
      }
      mem.CrashPower();
      auto r = MustOpen(&mem, Opts(Profile::kFixed, true, 40));
      CHECK(Contents(*r) == expected);
    }
  }
}

// H-B6: compaction picks the value with the larger wall-clock timestamp, so
// a clock that stepped back makes it keep the older value.
TEST_CASE("H-B6: compaction keeps an older value after a clock step only in the default profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    double now = 100;
    Options o = Opts(p, true, 1);  // every record in its own file
    o.clock = [&now] { return now; };
    auto s = MustOpen(&env, o);
    REQUIRE(s->Put("k", "older").ok());
    now = 50;  // the clock steps back
    REQUIRE(s->Put("k", "newer").ok());
    REQUIRE(s->Put("other", "x").ok());  // the active file
    REQUIRE(s->Compact().ok());
    CHECK(MustGet(*s, "k") == (p == Profile::kDefault ? "older" : "newer"));
  }
}

// H-B7: REF's tombstone is the empty value.
TEST_CASE("H-B7: an empty value is a value only in the fixed profile") {
  for (Profile p : {Profile::kDefault, Profile::kFixed}) {
    INFO(Name(p));
    MemEnv env(kDir);
    {
      auto s = MustOpen(&env, Opts(p));
      REQUIRE(s->Put("k", "").ok());
      REQUIRE(s->Close().ok());
    }
    auto s = MustOpen(&env, Opts(p));
    CHECK(MustGet(*s, "k") ==
          (p == Profile::kFixed ? std::optional<std::string>("") : std::nullopt));
  }
}

TEST_CASE("fixed bitcask refuses a second store on a locked directory") {
  MemEnv env(kDir);
  auto first = MustOpen(&env, Opts(Profile::kFixed));
  auto second = BitcaskStore::Open(&env, kDir, Opts(Profile::kFixed));
  REQUIRE(!second.ok());
  CHECK(second.status().IsBusy());
  REQUIRE(first->Close().ok());
  CHECK(BitcaskStore::Open(&env, kDir, Opts(Profile::kFixed)).ok());
}

TEST_CASE("default bitcask compaction unlinks the old files before renaming, fsyncing nothing") {
  MemEnv env(kDir);
  auto s = MustOpen(&env, Opts(Profile::kDefault, false, 30));
  REQUIRE(s->Put("a", "1").ok());
  REQUIRE(s->Put("b", "2").ok());
  REQUIRE(s->Put("c", "3").ok());
  env.ClearCalls();
  REQUIRE(s->Compact().ok());
  CHECK(env.Calls() ==
        std::vector<std::string>{"open 2.data O_APPEND|O_CREAT|O_WRONLY", "write 2.data 36",
                                 "open 2.hint O_CREAT|O_TRUNC|O_WRONLY", "write 2.hint 58",
                                 "unlink 0.data", "rename 1.data -> 3.data",
                                 "open 3.data O_APPEND|O_CREAT|O_WRONLY"});
  CHECK(Contents(*s) == std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}, {"c", "3"}});
}

}  // namespace blackout::engines::bitcask

// The driver adapter (bitcask_session.cc).
namespace blackout::engines {

TEST_CASE("bitcask session rejects bad config naming the key, and declares its contract") {
  MemEnv env("/db");
  auto bad = OpenBitcaskSession(&env, "/db", {{"max_file_sise", 10}});
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("max_file_sise") != std::string::npos);
  auto wrong = OpenBitcaskSession(&env, "/db", {{"sync_writes", "yes"}});
  REQUIRE(!wrong.ok());
  CHECK(wrong.status().message().find("sync_writes") != std::string::npos);

  auto synced = OpenBitcaskSession(&env, "/db", nlohmann::json::object());
  REQUIRE(synced.ok());
  CHECK((*synced)->Contract() == nlohmann::json{{"process", "acked"}, {"power", "acked"}});
  REQUIRE((*synced)->Close().ok());
  auto unsynced = OpenBitcaskSession(&env, "/db", {{"sync_writes", false}, {"profile", "fixed"}});
  REQUIRE(unsynced.ok());
  CHECK((*unsynced)->Contract() == nlohmann::json{{"process", "acked"}, {"power", "none"}});
}

TEST_CASE("bitcask session answers every op with one reply and keeps serving after errors") {
  MemEnv env("/db");
  auto opened = OpenBitcaskSession(&env, "/db", nlohmann::json::object());
  REQUIRE(opened.ok());
  EngineSession& s = **opened;
  CHECK(s.Handle("put", {{"op", "put"}, {"key", "b"}, {"value", "2"}})["ok"] == true);
  CHECK(s.Handle("put", {{"op", "put"}, {"key", "a"}, {"value", "1"}})["ok"] == true);
  CHECK(s.Handle("put", {{"op", "put"}, {"key", "c"}, {"value", "3"}})["ok"] == true);
  auto missing = s.Handle("put", {{"op", "put"}, {"key", "x"}});
  CHECK(missing["ok"] == false);
  CHECK(missing["error"].get<std::string>().find("value") != std::string::npos);
  CHECK(s.Handle("get", {{"op", "get"}, {"key", 7}})["ok"] == false);
  CHECK(s.Handle("frobnicate", {{"op", "frobnicate"}})["error"].get<std::string>().find(
            "unknown op 'frobnicate' for engine bitcask") == 0);
  CHECK(s.Handle("get", {{"op", "get"}, {"key", "a"}}) ==
        nlohmann::json{{"ok", true}, {"found", true}, {"value", "1"}});
  CHECK(s.Handle("get", {{"op", "get"}, {"key", "zz"}}) ==
        nlohmann::json{{"ok", true}, {"found", false}});
  CHECK(s.Handle("delete", {{"op", "delete"}, {"key", "c"}})["ok"] == true);
  CHECK(s.Handle("scan", {{"op", "scan"}, {"start", "a"}, {"end", "b"}})["items"] ==
        nlohmann::json::array({{"a", "1"}}));
  CHECK(s.Handle("scan", {{"op", "scan"}})["items"] ==
        nlohmann::json::array({{"a", "1"}, {"b", "2"}}));
  CHECK(s.Handle("compact", {{"op", "compact"}})["ok"] == true);
  CHECK(s.Handle("verify", {{"op", "verify"}}) ==
        nlohmann::json{{"ok", true}, {"problems", nlohmann::json::array()}});
  CHECK(s.Dump() == nlohmann::json{{"ok", true},
                                   {"engine", "bitcask"},
                                   {"kind", "kv"},
                                   {"data", {{"a", "1"}, {"b", "2"}}}});
  REQUIRE(s.Close().ok());
}

}  // namespace blackout::engines
