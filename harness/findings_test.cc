// The rule-based finding names (findings.h): each names its gap only where
// the engine's configuration has it.
#include "harness/findings.h"

#include <catch2/catch.hpp>

using blackout::harness::CrashKind;
using blackout::harness::DiagnoseFindings;
using blackout::harness::FindingContext;
using blackout::harness::Gap;
using blackout::harness::Scenario;

namespace {

std::vector<std::string> Findings(const std::string& engine, const nlohmann::json& config,
                                  std::vector<Gap> gaps, int lost,
                                  CrashKind kind = CrashKind::kPower) {
  Scenario s;
  s.engine = engine;
  s.config = config;
  FindingContext c;
  c.scenario = &s;
  c.kind = kind;
  c.lost_writes = lost;
  c.gaps = std::move(gaps);
  return DiagnoseFindings(c);
}

const Gap kDataFile{Gap::Kind::kFileData, "4.data", 66, 32};
const Gap kStoreDir{Gap::Kind::kDirEntries, ".", 2, 30};

}  // namespace

TEST_CASE("bitcask's conditional fsync is named only with sync_writes off") {
  using V = std::vector<std::string>;
  CHECK(Findings("bitcask", {{"sync_writes", false}}, {kDataFile}, 3) ==
        V{"bitcask-flush-always-fsync-conditional"});
  // sync_writes is on by default: an un-fsynced data file is then another
  // gap (a compaction's merged file), not this one.
  CHECK(Findings("bitcask", nlohmann::json::object(), {kDataFile}, 3).empty());
  CHECK(Findings("bitcask", {{"sync_writes", true}}, {kDataFile}, 3).empty());
  // Nothing lost, nothing named; a process crash keeps the page cache.
  CHECK(Findings("bitcask", {{"sync_writes", false}}, {kDataFile}, 0).empty());
  CHECK(Findings("bitcask", {{"sync_writes", false}}, {kDataFile}, 3, CrashKind::kProcess).empty());
  CHECK(Findings("bitcask", nlohmann::json::object(), {kDataFile, kStoreDir}, 3) ==
        V{"no-directory-fsync-anywhere"});
}

TEST_CASE("the LSM's WAL finding needs wal.log pending, the WAL batch one a batch mode") {
  using V = std::vector<std::string>;
  CHECK(Findings("lsm", nlohmann::json::object(), {{Gap::Kind::kFileData, "wal.log", 10, 5}}, 2) ==
        V{"lsm-wal-missing-fsync"});
  CHECK(Findings("lsm", nlohmann::json::object(), {kDataFile}, 2).empty());
  CHECK(Findings("wal", {{"sync_mode", "batch"}}, {}, 1, CrashKind::kProcess) ==
        V{"wal-batch-sync-force-override"});
  CHECK(Findings("wal", {{"sync_mode", "sync"}}, {}, 1, CrashKind::kProcess).empty());
}
