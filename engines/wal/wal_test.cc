#include "engines/wal/wal.h"

#include <catch2/catch.hpp>

#include "engines/common/mem_env.h"
#include "engines/wal/wal_format.h"

namespace blackout::engines {
namespace {

using Calls = std::vector<std::string>;
constexpr const char* kDir = "/db";

WalOptions Opts(bool fixed, std::string mode = "sync") {
  WalOptions o;
  o.fixed = fixed;
  o.sync_mode = std::move(mode);
  return o;
}

std::unique_ptr<WriteAheadLog> OpenOrDie(MemEnv& env, const WalOptions& o) {
  auto wal = WriteAheadLog::Open(&env, kDir, o);
  INFO(wal.status().ToString());
  REQUIRE(wal.ok());
  return std::move(wal).value();
}

std::vector<std::string> Keys(const std::vector<WalRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.key);
  return out;
}

std::vector<std::string> ReplayKeys(WriteAheadLog& wal, int64_t after = 0) {
  auto r = wal.Replay(after);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return Keys(*r);
}

TEST_CASE("WAL appends, batches and checkpoints get increasing seqs and replay in order", "[wal]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(*wal->Append("PUT", "a", "1") == 1);
  CHECK(*wal->Append("DELETE", "b") == 2);
  const uint64_t commit = *wal->AppendBatch({{"PUT", "c", "3"}, {"PUT", "d", "4"}});
  CHECK(commit == (fixed ? 6u : 5u));  // fixed adds a BEGIN record
  const uint64_t cp = *wal->Checkpoint();
  CHECK(cp == commit + 1);
  CHECK(wal->current_seq() == cp);
  CHECK(ReplayKeys(*wal) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(ReplayKeys(*wal, 2) == std::vector<std::string>{"c", "d"});
  auto raw = wal->Iterate();
  REQUIRE(raw.ok());
  CHECK(raw->back().op_type == "CHECKPOINT");
  CHECK(wal->Append("BOGUS", "k").status().IsInvalidArgument());
  REQUIRE(wal->Close().ok());
  CHECK(wal->Append("PUT", "late").status().IsIOError());
}

TEST_CASE("WAL reopened after a clean close keeps its records and seq", "[wal]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    REQUIRE(wal->Append("PUT", "a", "1").ok());
    REQUIRE(wal->Append("PUT", "b", "2").ok());
    REQUIRE(wal->Close().ok());
  }
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(wal->current_seq() == 2);
  CHECK(*wal->Append("PUT", "c", "3") == 3);
  CHECK(ReplayKeys(*wal) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("WAL rotates after the write once a segment reaches max_file_size", "[wal]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  WalOptions o = Opts(fixed);
  o.max_file_size = 100;
  auto wal = OpenOrDie(env, o);
  for (int i = 0; i < 10; ++i) REQUIRE(wal->Append("PUT", "k" + std::to_string(i), "v").ok());
  auto segs = wal->SegmentPaths();
  REQUIRE(segs.ok());
  CHECK(segs->size() > 2);
  CHECK(segs->front() == "/db/000001.wal");
  REQUIRE(wal->Close().ok());
  auto again = OpenOrDie(env, o);
  CHECK(ReplayKeys(*again).size() == 10);
}

TEST_CASE(
    "WAL batch mode: default loses buffered acked records on a process crash, fixed does not "
    "(H-W7)",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed, "batch"));
    for (int i = 0; i < 5; ++i) REQUIRE(wal->Append("PUT", "k" + std::to_string(i), "v").ok());
    env.CrashProcess();
  }
  auto wal = OpenOrDie(env, Opts(fixed, "batch"));
  CHECK(ReplayKeys(*wal).size() == (fixed ? 5u : 0u));
}

TEST_CASE(
    "WAL sync mode: default loses fsynced records on power loss (no directory fsync, H-W3), fixed "
    "keeps them",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    REQUIRE(wal->Append("PUT", "a", "1").ok());
    REQUIRE(wal->Append("PUT", "b", "2").ok());
    env.CrashPower();
  }
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(ReplayKeys(*wal) ==
        (fixed ? std::vector<std::string>{"a", "b"} : std::vector<std::string>{}));
}

TEST_CASE("WAL torn batch: default replays its valid prefix (H-W1), fixed replays none of it",
          "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    REQUIRE(wal->Append("PUT", "solo", "s").ok());
    REQUIRE(wal->AppendBatch({{"PUT", "b1", "x"}, {"PUT", "b2", "y"}}).ok());
    REQUIRE(wal->Close().ok());
  }
  // Tear the batch's write inside its COMMIT record (the last 25 or more bytes).
  std::string data = env.ReadFileForTest("/db/000001.wal");
  env.WriteFileForTest("/db/000001.wal", data.substr(0, data.size() - 10));
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(ReplayKeys(*wal) ==
        (fixed ? std::vector<std::string>{"solo"} : std::vector<std::string>{"solo", "b1", "b2"}));
}

TEST_CASE(
    "WAL full truncate: default restarts seqs at 1 so replay(after) skips new records (H-W2), "
    "fixed does not",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  uint64_t cp = 0;
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    for (int i = 0; i < 3; ++i) REQUIRE(wal->Append("PUT", "old" + std::to_string(i), "v").ok());
    cp = *wal->Checkpoint();
    REQUIRE(wal->Truncate(static_cast<int64_t>(cp)).ok());
    REQUIRE(wal->Close().ok());
  }
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(wal->current_seq() == (fixed ? cp : 0u));
  REQUIRE(wal->Append("PUT", "new", "v").ok());
  CHECK(ReplayKeys(*wal, static_cast<int64_t>(cp)) ==
        (fixed ? std::vector<std::string>{"new"} : std::vector<std::string>{}));
}

TEST_CASE(
    "WAL torn tail: default appends behind it and loses the new record (H-W4), fixed cuts it off",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    REQUIRE(wal->Append("PUT", "a", "1").ok());
    REQUIRE(wal->Append("PUT", "b", std::string(40, 'x')).ok());
    REQUIRE(wal->Close().ok());
  }
  std::string data = env.ReadFileForTest("/db/000001.wal");
  env.WriteFileForTest("/db/000001.wal", data.substr(0, data.size() - 20));  // torn "b"
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    CHECK(ReplayKeys(*wal) == std::vector<std::string>{"a"});
    REQUIRE(wal->Append("PUT", "c", "3").ok());
    REQUIRE(wal->Close().ok());
  }
  // Default: the torn record's length swallows "c", the CRC fails, replay stops.
  auto wal = OpenOrDie(env, Opts(fixed));
  CHECK(ReplayKeys(*wal) ==
        (fixed ? std::vector<std::string>{"a", "c"} : std::vector<std::string>{"a"}));
}

TEST_CASE(
    "WAL misframed tail: default cannot open (REF's uncaught struct.error), fixed cuts it off",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  {
    auto wal = OpenOrDie(env, Opts(fixed));
    REQUIRE(wal->Append("PUT", "a", "1").ok());
    REQUIRE(wal->Close().ok());
  }
  // A length field of 10, shorter than any record, followed by 10 bytes.
  env.WriteFileForTest("/db/000001.wal", env.ReadFileForTest("/db/000001.wal") +
                                             std::string("\x0a\0\0\0", 4) + std::string(10, 'z'));
  auto wal = WriteAheadLog::Open(&env, kDir, Opts(fixed));
  if (!fixed) {
    REQUIRE_FALSE(wal.ok());
    CHECK(wal.status().IsCorruption());
    CHECK(wal.status().message().find("struct.error") != std::string::npos);
    return;
  }
  REQUIRE(wal.ok());
  REQUIRE((*wal)->Append("PUT", "b", "2").ok());
  CHECK(ReplayKeys(**wal) == std::vector<std::string>{"a", "b"});
}

TEST_CASE(
    "WAL damaged seq field: default returns the record with the wrong seq (H-W6), fixed never does",
    "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  WalOptions o = Opts(fixed);
  o.max_file_size = 60;  // one record per segment: the damage is in a sealed segment
  {
    auto wal = OpenOrDie(env, o);
    REQUIRE(wal->Append("PUT", "a", "1").ok());
    REQUIRE(wal->Append("PUT", "b", "2").ok());
    REQUIRE(wal->Close().ok());
  }
  std::string data = env.ReadFileForTest("/db/000001.wal");
  const size_t seq_at = fixed ? wal_format::kHeaderSize + 8 : 8;
  data[seq_at] = 7;
  env.WriteFileForTest("/db/000001.wal", data);
  auto wal = WriteAheadLog::Open(&env, kDir, o);
  if (fixed) {
    CHECK(wal.status().IsCorruption());
  } else {
    REQUIRE(wal.ok());
    auto records = (*wal)->Replay(0);
    REQUIRE(records.ok());
    REQUIRE(records->size() == 2);
    CHECK((*records)[0].seq == 7);
  }
}

TEST_CASE("WAL second opener: default shares the directory, fixed refuses with Busy",
          "[wal][hole]") {
  const bool fixed = GENERATE(false, true);
  MemEnv env(kDir);
  auto first = OpenOrDie(env, Opts(fixed));
  auto second = WriteAheadLog::Open(&env, kDir, Opts(fixed));
  if (fixed) {
    CHECK(second.status().IsBusy());
  } else {
    CHECK(second.ok());
  }
}

TEST_CASE("WAL fixed truncate survives power loss right after it returns", "[wal]") {
  MemEnv env(kDir);
  WalOptions o = Opts(true);
  o.max_file_size = 120;
  {
    auto wal = OpenOrDie(env, o);
    for (int i = 0; i < 8; ++i) REQUIRE(wal->Append("PUT", "k" + std::to_string(i), "v").ok());
    REQUIRE(wal->Truncate(5).ok());
    env.CrashPower();
  }
  auto wal = OpenOrDie(env, o);
  CHECK(ReplayKeys(*wal) == std::vector<std::string>{"k5", "k6", "k7"});
  CHECK(wal->current_seq() == 8);
}

// ---- Fidelity per operation (ENGINES.md 2.3) ----------------------------------

TEST_CASE("WAL sync mode fidelity: one write and one fsync per append", "[wal][fidelity]") {
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(false));
  REQUIRE(wal->Append("PUT", "k", "v").ok());
  REQUIRE(wal->Close().ok());
  CHECK(env.Calls() == Calls{"open 000001.wal O_APPEND|O_CREAT|O_WRONLY", "write 000001.wal 27",
                             "fsync 000001.wal", "fsync 000001.wal"});
}

TEST_CASE("WAL batch mode fidelity: fsync on the 100th append only; a forced sync keeps the count",
          "[wal][fidelity]") {
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(false, "batch"));
  env.ClearCalls();
  for (int i = 0; i < 99; ++i) REQUIRE(wal->Append("PUT", "k", "v").ok());
  CHECK(env.Calls().empty());  // 99 * 27 bytes stay in the 4 KiB buffer
  REQUIRE(wal->Append("PUT", "k", "v").ok());
  CHECK(env.Calls() == Calls{"write 000001.wal 2700", "fsync 000001.wal"});
  env.ClearCalls();
  for (int i = 0; i < 50; ++i) REQUIRE(wal->Append("PUT", "k", "v").ok());
  REQUIRE(wal->Checkpoint().ok());  // forced: fsync, count stays at 50
  CHECK(env.Calls() == Calls{"write 000001.wal 1375", "fsync 000001.wal"});
  env.ClearCalls();
  for (int i = 0; i < 50; ++i) REQUIRE(wal->Append("PUT", "k", "v").ok());
  CHECK(env.Calls() == Calls{"write 000001.wal 1350", "fsync 000001.wal"});
}

TEST_CASE("WAL append_batch fidelity: one write and an fsync whatever the mode",
          "[wal][fidelity]") {
  const std::string mode = GENERATE(std::string("sync"), std::string("batch"), std::string("none"));
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(false, mode));
  env.ClearCalls();
  REQUIRE(wal->AppendBatch({{"PUT", "k", "v"}, {"DELETE", "k", ""}}).ok());
  CHECK(env.Calls() == Calls{"write 000001.wal 78", "fsync 000001.wal"});
}

TEST_CASE("WAL unknown sync mode fidelity: no flush and no fsync on append", "[wal][fidelity]") {
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(false, "async"));
  env.ClearCalls();
  REQUIRE(wal->Append("PUT", "k", "v").ok());
  CHECK(env.Calls().empty());
}

TEST_CASE("WAL truncate fidelity: fsync active, rewrite in place with wb, unlink emptied files",
          "[wal][fidelity]") {
  MemEnv env(kDir);
  WalOptions o = Opts(false);
  o.max_file_size = 54;  // two records per segment
  auto wal = OpenOrDie(env, o);
  for (int i = 0; i < 5; ++i) REQUIRE(wal->Append("PUT", "k", "v").ok());
  env.ClearCalls();
  REQUIRE(wal->Truncate(3).ok());
  CHECK(env.Calls() == Calls{"fsync 000003.wal", "unlink 000001.wal",
                             "open 000002.wal O_CREAT|O_TRUNC|O_WRONLY", "write 000002.wal 27",
                             "fsync 000002.wal", "open 000003.wal O_CREAT|O_TRUNC|O_WRONLY",
                             "write 000003.wal 27", "fsync 000003.wal",
                             "open 000003.wal O_APPEND|O_CREAT|O_WRONLY"});
}

TEST_CASE("WAL fixed rotation fidelity: header fsync and directory fsync for each new segment",
          "[wal][fidelity]") {
  MemEnv env(kDir);
  auto wal = OpenOrDie(env, Opts(true));
  CHECK(env.Calls() == Calls{"open LOCK O_CREAT|O_RDWR",
                             "open 000001.wal O_APPEND|O_CREAT|O_WRONLY", "write 000001.wal 20",
                             "fsync 000001.wal", "fsync ."});
}

}  // namespace
}  // namespace blackout::engines
