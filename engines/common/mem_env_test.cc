#include "engines/common/mem_env.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace blackout::engines {
namespace {

using Calls = std::vector<std::string>;

std::unique_ptr<File> OpenOrDie(Env& env, const std::string& path, OpenMode mode) {
  auto f = env.Open(path, mode);
  REQUIRE(f.ok());
  return std::move(f).value();
}

TEST_CASE("MemEnv records calls in the engine-trace format", "[mem_env]") {
  MemEnv env("/store");
  REQUIRE(env.CreateDirs("/store/sub").ok());
  auto f = OpenOrDie(env, "/store/a.log", OpenMode::kAppend);
  REQUIRE(f->Write("abc").ok());
  REQUIRE(f->Write("de").ok());
  env.MarkAck();
  env.MarkAck();
  REQUIRE(f->Sync().ok());
  REQUIRE(f->Close().ok());
  auto r = OpenOrDie(env, "/store/a.log", OpenMode::kRead);  // read-only opens are not listed
  auto w = OpenOrDie(env, "/store/b", OpenMode::kWrite);
  auto rw = OpenOrDie(env, "/store/b", OpenMode::kReadWrite);
  auto rwc = OpenOrDie(env, "/store/c", OpenMode::kReadWriteCreate);
  REQUIRE(rwc->Truncate(0).ok());
  REQUIRE(env.Rename("/store/b", "/store/sub/b").ok());
  REQUIRE(env.Remove("/store/c").ok());
  REQUIRE(env.SyncDir("/store").ok());
  REQUIRE(env.SyncDir("/store/sub").ok());
  CHECK(env.Calls() == Calls{
                           "mkdir sub",
                           "open a.log O_APPEND|O_CREAT|O_WRONLY",
                           "write a.log 5",
                           "ack",
                           "fsync a.log",
                           "open b O_CREAT|O_TRUNC|O_WRONLY",
                           "open b O_RDWR",
                           "open c O_CREAT|O_RDWR|O_TRUNC",
                           "ftruncate c 0",
                           "rename b -> sub/b",
                           "unlink c",
                           "fsync .",
                           "fsync sub",
                       });
  env.ClearCalls();
  CHECK(env.Calls().empty());
}

TEST_CASE("MemEnv open modes truncate, create and refuse as POSIX does", "[mem_env]") {
  MemEnv env("/s");
  CHECK(env.Open("/s/missing", OpenMode::kRead).status().IsNotFound());
  CHECK(env.Open("/s/missing", OpenMode::kReadWrite).status().IsNotFound());
  CHECK(env.Open("/s/nodir/x", OpenMode::kAppend).status().IsNotFound());
  env.WriteFileForTest("/s/f", "0123456789");
  {
    auto f = OpenOrDie(env, "/s/f", OpenMode::kAppend);
    REQUIRE(f->WriteAt(0, "A").ok());  // O_APPEND wins over the offset, as on Linux
    CHECK(env.ReadFileForTest("/s/f") == "0123456789A");
    CHECK_FALSE(f->ReadAt(0, 1).ok());  // write-only descriptor
  }
  {
    auto f = OpenOrDie(env, "/s/f", OpenMode::kReadWrite);
    REQUIRE(f->WriteAt(1, "B").ok());
    CHECK(*f->ReadAt(0, 3) == "0B2");
    CHECK(*f->ReadAt(100, 3) == "");
  }
  auto ro = OpenOrDie(env, "/s/f", OpenMode::kRead);
  CHECK_FALSE(ro->Write("x").ok());
  OpenOrDie(env, "/s/f", OpenMode::kWrite);  // "wb" truncates at open
  CHECK(env.ReadFileForTest("/s/f").empty());
  auto names = env.ListDir("/s");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"f"});
}

TEST_CASE("MemEnv process crash keeps kernel state and silences old handles", "[mem_env]") {
  MemEnv env("/s");
  auto f = OpenOrDie(env, "/s/f", OpenMode::kAppend);
  REQUIRE(f->Write("kept").ok());
  env.CrashProcess();
  REQUIRE(f->Write("ignored").ok());
  REQUIRE(f->Close().ok());
  CHECK(env.ReadFileForTest("/s/f") == "kept");
  CHECK_FALSE(f->ReadAt(0, 1).ok());
}

TEST_CASE("MemEnv power loss keeps only fsynced data under synced entries", "[mem_env]") {
  MemEnv env("/s");
  auto synced = OpenOrDie(env, "/s/synced", OpenMode::kAppend);
  REQUIRE(synced->Write("durable").ok());
  REQUIRE(synced->Sync().ok());
  REQUIRE(synced->Write("-volatile").ok());
  auto never = OpenOrDie(env, "/s/never_synced", OpenMode::kAppend);
  REQUIRE(never->Write("data").ok());
  REQUIRE(env.SyncDir("/s").ok());
  auto late = OpenOrDie(env, "/s/late", OpenMode::kAppend);  // entry never made durable
  REQUIRE(late->Write("x").ok());
  REQUIRE(late->Sync().ok());
  REQUIRE(env.CreateDirs("/s/d").ok());
  env.WriteFileForTest("/s/old", "old");
  REQUIRE(env.Remove("/s/old").ok());  // unlink never made durable
  env.CrashPower();
  CHECK(env.ReadFileForTest("/s/synced") == "durable");
  CHECK(env.Exists("/s/never_synced"));
  CHECK(env.ReadFileForTest("/s/never_synced").empty());
  CHECK_FALSE(env.Exists("/s/late"));
  CHECK_FALSE(env.Exists("/s/d"));
  CHECK(env.ReadFileForTest("/s/old") == "old");
  REQUIRE(synced->Write("after crash").ok());  // inert handle
  CHECK(env.ReadFileForTest("/s/synced") == "durable");
}

TEST_CASE("MemEnv power loss undoes a rename whose directory was not synced", "[mem_env]") {
  MemEnv env("/s");
  env.WriteFileForTest("/s/a", "A");
  env.WriteFileForTest("/s/tmp", "T");
  REQUIRE(env.Rename("/s/tmp", "/s/a").ok());
  CHECK(env.ReadFileForTest("/s/a") == "T");
  env.CrashPower();
  CHECK(env.ReadFileForTest("/s/a") == "A");
  CHECK(env.ReadFileForTest("/s/tmp") == "T");
  REQUIRE(env.Rename("/s/tmp", "/s/a").ok());
  REQUIRE(env.SyncDir("/s").ok());
  env.CrashPower();
  CHECK(env.ReadFileForTest("/s/a") == "T");
  CHECK_FALSE(env.Exists("/s/tmp"));
}

TEST_CASE("MemEnv SyncAll makes everything durable", "[mem_env]") {
  MemEnv env("/s");
  REQUIRE(env.CreateDirs("/s/d/e").ok());
  auto f = OpenOrDie(env, "/s/d/e/f", OpenMode::kAppend);
  REQUIRE(f->Write("x").ok());
  env.SyncAll();
  env.CrashPower();
  CHECK(env.ReadFileForTest("/s/d/e/f") == "x");
}

TEST_CASE("MemEnv directory lock excludes a second holder until released or crashed", "[mem_env]") {
  MemEnv env("/s");
  auto lock = env.LockDir("/s");
  REQUIRE(lock.ok());
  CHECK(env.LockDir("/s").status().IsBusy());
  lock.value().reset();
  auto again = env.LockDir("/s");
  REQUIRE(again.ok());
  env.CrashProcess();  // a dead process holds no flock
  CHECK(env.LockDir("/s").ok());
}

TEST_CASE("RemoveLeftovers removes only names with a listed suffix, and says so", "[mem_env]") {
  MemEnv env("/store");
  REQUIRE(env.CreateDirs("/store").ok());
  for (const char* name : {"1.data", "1.data.tmp", "2.hint.tmp", "tmp", "x.tmp.keep"}) {
    REQUIRE(OpenOrDie(env, std::string("/store/") + name, OpenMode::kWrite)->Close().ok());
  }
  env.ClearCalls();
  auto removed = RemoveLeftovers(env, "/store", {".data.tmp", ".hint.tmp"});
  REQUIRE(removed.ok());
  CHECK(*removed);
  auto names = env.ListDir("/store");
  REQUIRE(names.ok());
  std::sort(names->begin(), names->end());
  CHECK(*names == Calls{"1.data", "tmp", "x.tmp.keep"});
  // No sync of its own: the caller decides when the removals must be durable.
  for (const auto& call : env.Calls()) CHECK(call.rfind("fsync", 0) != 0);

  auto again = RemoveLeftovers(env, "/store", {".data.tmp", ".hint.tmp"});
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  CHECK_FALSE(RemoveLeftovers(env, "/missing", {".tmp"}).ok());
}

}  // namespace
}  // namespace blackout::engines
