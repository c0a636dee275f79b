// Exec workloads: crash-testing any program, not only the built-in engines
// (scenario_exec.h has the scenario fields).
//
// One run:
//   mount blackoutfs (the scenario's model and capacity) -> `sync`, so the
//   empty mount is durable -> send the scenario's faults and crash trigger
//   -> run exec.workload with BLACKOUT_MNT and BLACKOUT_CTL set, recording
//   each "ack ID" line with the trace position reached when it was read
//   -> crash: when a crash trigger fired, the mount has cut the power
//   itself and the workload is killed; otherwise the workload ran to its
//   end and a power cut leaves the chosen state (drop-all, keep-all), or
//   nothing is cut for a process crash -> recover.exec (optional, within
//   crash.recovery_timeout_s) -> check.exec prints the IDs it finds (a
//   non-zero exit: corruption; a check that outlives the time limit is a
//   setup error) -> invariants: recovers (recover ran and exited 0 in
//   time), acked-durable (contract "acked": every acked
//   ID is found), prefix (no acked ID is missing while a later one is
//   found), no-corruption (check exited 0) -> findings from what was still
//   pending at the cut and from injected fsync errors -> unmount.
// Generators beyond drop-all/keep-all and the models beyond the first two
// are explored offline from the crash point saved at the end
// (ExploreExecScenario).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/runner.h"
#include "harness/scenario.h"

namespace blackout::harness {

// One crash state of an exec scenario cut on the mount (the runner calls it
// for s.exec when !UsesExecExploration(s)). *contract becomes
// {"process": C, "power": C} with C = exec.contract. A setup problem (the
// program not found, no acks, a check that hangs) comes back in `error`.
CrashStateResult RunExecCrashState(const Scenario& s, const RunOptions& o, const std::string& state,
                                   nlohmann::json* contract);

// Whether an exec scenario is explored offline: a power crash with a
// generator beyond drop-all/keep-all or a behaviour model beyond the first
// two (explore.h, UsesExploration), and no crash trigger (a trigger cuts the
// power inside the mount, leaving drop-all).
bool UsesExecExploration(const Scenario& s);

// Explores an exec scenario: the workload runs once on the mount (faults,
// capacity and all), the crash point at its end is saved
// (Filesystem::SaveCrashPoint), the mount goes, and for each crash state of
// each generator the state is materialized into a directory where recover
// and check run with BLACKOUT_MNT set to it and BLACKOUT_CTL empty (no
// mount: a program that talks to the control socket during recovery needs
// the mount path). States with identical trees are checked once; a
// violating state carries its diagnosis (diagnosis.h), and its findings
// are named by the sync that would have saved it. The saved point does not
// carry the mount's capacity or fault rules: recovery runs unlimited and
// fault-free. A setup failure (also one state's) comes back as one result
// with `error` set.
// *summary (when not null) as ExploreScenario's, with "recovery": "exec".
std::vector<CrashStateResult> ExploreExecScenario(const Scenario& s, const RunOptions& o,
                                                  nlohmann::json* contract,
                                                  nlohmann::json* summary = nullptr);

// One `ack ID` line of an exec workload.
struct ExecAck {
  std::string id;
  uint64_t seq = 0;  // trace position when the line was read
};

// An exec workload run once on the mount, its crash point at the end saved:
// what ExploreExecScenario and `blackout replay` of an exec scenario work on.
struct ExecPoint {
  std::string file;           // the saved crash point
  uint64_t seq = 0;           // the trace position at the end
  nlohmann::json trace;       // {"entries": [...]} of the recording
  nlohmann::json unsynced;    // the `unsynced` reply at the end
  std::vector<ExecAck> acks;  // in the order the workload printed them
};
// Records into `work`/end.point. Returns a setup error, or "".
std::string RecordExecPoint(const Scenario& s, const RunOptions& o, const std::string& work,
                            ExecPoint* out);
// Runs the scenario's recover and check in `dir`, a crash state
// materialized there (BLACKOUT_MNT=dir, as ExploreExecScenario does), and
// judges them against the point's acks. Returns a setup error, or "".
std::string CheckExecStateIn(const Scenario& s, const ExecPoint& point, const std::string& dir,
                             CrashStateResult* r);

}  // namespace blackout::harness
