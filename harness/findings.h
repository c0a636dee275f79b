// Naming what a crash state shows: the seed's findings, recognised from what
// was pending (not yet durable) when power was cut and what was lost.
//
// This is a first, rule-based diagnosis: each rule names one known gap by the
// engine, its configuration, the files or directories that still had pending
// data or entries at the crash (blackoutfs `unsynced`), and whether
// acknowledged writes were lost. It answers "which missing sync explains the
// loss" for the gaps the seed names; the general diagnosis (re-checking the
// crash state with one more fsync applied) replaces it with the crash-state
// exploration work.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/scenario.h"

namespace blackout::harness {

// One object that was not durable at the crash, relative to the store dir.
struct Gap {
  enum class Kind { kFileData, kDirEntries };
  Kind kind;
  std::string path;  // "wal.log", "." (the store dir itself)
  uint64_t pending;  // bytes or entries
  uint64_t since;    // trace position of the oldest pending operation
};

// Reads blackoutfs's `unsynced` reply, keeping what lies inside `store`
// (a path relative to the mount root, e.g. "/store").
std::vector<Gap> GapsInStore(const nlohmann::json& unsynced, const std::string& store);

struct FindingContext {
  const Scenario* scenario = nullptr;
  CrashKind kind = CrashKind::kPower;
  int lost_writes = 0;
  std::vector<Gap> gaps;
};

// Names of the findings this crash state shows (possibly none).
std::vector<std::string> DiagnoseFindings(const FindingContext& ctx);

// The findings named outside DiagnoseFindings: by an exec workload's gaps or
// diagnosis (exec_workload.cc, record.cc) and by the LSM's diagnosis
// (explore.cc).
inline constexpr const char* kExecFileNotFsynced = "exec-file-not-fsynced";
inline constexpr const char* kExecDirectoryNotFsynced = "exec-directory-not-fsynced";
inline constexpr const char* kExecDataLostAfterFsyncError = "exec-data-lost-after-fsync-error";
inline constexpr const char* kLsmFlushMissingDirFsync = "lsm-flush-missing-dir-fsync";

// Every finding name a run can report, sorted: what a scenario's
// expect.finding may name.
const std::vector<std::string>& KnownFindings();

// One line per gap for reports: "file store/wal.log: 480 bytes not fsynced
// (since trace #12)". `under`: the directory the gaps were found in, from the
// mount root ("store"; "" for the mount itself), so that paths read as the
// diagnosis names them.
std::string DescribeGap(const Gap& g, const std::string& under = "");

}  // namespace blackout::harness
