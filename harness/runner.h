// The runner: runs scenarios on blackoutfs and judges them.
//
// For each scenario and each crash point x crash state, one RUN:
//   mount blackoutfs (fresh temp dir under $TMPDIR, the scenario's model)
//   -> mkdir the store dir inside the mount and `sync`, so the store directory
//      itself is durable, as on a machine where it has existed for a while
//   -> start `blackout engine NAME --dir MNT/store --config JSON`, ask its
//      contract
//   -> run the workload up to the crash point, recording each acknowledgement
//      with the trace position (`seq`) reached when its reply arrived
//   -> crash: kill -9 of the driver (process), plus a `power-cut` leaving the
//      chosen crash state (power); before the cut, the trace tells which ops
//      issued an fsync and `unsynced` what was still pending
//   -> recover: `blackout engine --dump` on the mount, with a time limit (a
//      hang is a failed `recovers`)
//   -> check invariants against the oracle and the contract, name findings
//   -> unmount.
//
// Crash points are taken between ops. Each crash point RE-RUNS the workload
// from a fresh mount up to that point rather than recording once and building
// every crash state from the trace: the mount can only cut power once, and
// building states offline is the crash-state exploration work (issue 6),
// which will replace this loop. `every_sync` first records one full run to
// find the ops that issued an fsync.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/invariants.h"
#include "harness/recovery.h"
#include "harness/scenario.h"

namespace blackout::harness {

struct RunOptions {
  std::string blackout_bin;  // path of build/blackout
  std::string tmp_root;      // where the runs' temp dirs go ($TMPDIR or /tmp)
  uint64_t seed = 0;         // printed with failures; seeds the generators to come
  int jobs = 1;              // crash states run in parallel
  double op_timeout_s = 30;  // one engine reply
  // How explored crash states of built-in engines are recovered
  // (harness/in_memory_recovery.h); `--recovery`.
  RecoveryMode recovery = RecoveryMode::kAuto;
  // Called by exploration as it checks states (point, state id, done, total),
  // from its worker threads, so that a long exploration shows progress; empty: none.
  std::function<void(const std::string&, const std::string&, int, int)> explore_progress;
};

// How a crash trigger's path matches, for the message when it never fired.
inline constexpr const char* kTriggerPaths =
    "; a path matches from the mount root, /store/000001.wal, or as a glob on the file name, "
    "000001.wal, *.wal";

struct CrashStateResult {
  std::string point;   // "end", "after_op:3"
  int items_done = 0;  // workload entries executed before the crash
  std::string state;   // "drop-all", "keep-all", or "process"
  std::string error;   // a setup failure of this run (then nothing was checked)
  bool recovered = false;
  std::string recovery_error;
  CheckOutcome check;
  std::vector<std::string> gaps;  // what was pending at the crash, in words
  std::vector<std::string> findings;
  // Explored crash states (harness/explore.h): {"id","generator","kept",
  // "dropped","torn","diagnosis","reproduce"}; null for a state cut on the mount.
  nlohmann::json exploration;
  // A violating state cut on the mount: which sync would have saved it
  // (Diagnosis::ToJson, explore.h DiagnoseCutState); null otherwise.
  nlohmann::json diagnosis;
  nlohmann::json timeline;  // harness/timeline.h; in report.json when something was lost
  double seconds = 0;
};

struct ScenarioResult {
  const Scenario* scenario = nullptr;
  std::string outcome;                  // "as-expected", "unexpected", "error"
  std::string error;                    // for "error": the setup failure
  std::string mismatch;                 // for "unexpected": what differs from `expect`
  nlohmann::json contract;              // {"process": ..., "power": ...} as the engine declared it
  std::vector<std::string> violations;  // union over crash states, sorted
  std::vector<std::string> findings;    // union over crash states, sorted
  std::vector<CrashStateResult> states;
  nlohmann::json exploration;  // an explored scenario's summary (ExploreScenario); else null
  double seconds = 0;
};

// Called as runs start and finish (from worker threads, serialized by the
// runner).
struct RunObserver {
  std::function<void(const Scenario&, const std::string& point, const std::string& state, int done,
                     int total)>
      on_state_start;
  std::function<void(const Scenario&, const CrashStateResult&)> on_state_done;
  std::function<void(const ScenarioResult&)> on_scenario_done;
};

// Runs every scenario. Stops early (remaining scenarios are reported as
// "error: not run") after a setup error unless keep_going, or on Ctrl-C.
std::vector<ScenarioResult> RunScenarios(const std::vector<Scenario>& scenarios,
                                         const RunOptions& options, const RunObserver& observer,
                                         bool keep_going);

// The JSON form of a result, as report.json stores it.
nlohmann::json ToJson(const ScenarioResult& r, const RunOptions& options);

}  // namespace blackout::harness
