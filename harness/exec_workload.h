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
//   nothing is cut for a process crash -> exec.recover (optional, within
//   crash.recovery_timeout_s) -> exec.check prints the IDs it finds (a
//   non-zero exit: corruption) -> invariants: recovers (recover and check
//   ran and exited 0 in time), acked-durable (contract "acked": every acked
//   ID is found), prefix (no acked ID is missing while a later one is
//   found), no-corruption (check exited 0) -> findings from what was still
//   pending at the cut and from injected fsync errors -> unmount.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "harness/runner.h"
#include "harness/scenario.h"

namespace blackout::harness {

// One crash state of an exec scenario (the runner calls it for s.exec).
// *contract becomes {"process": C, "power": C} with C = exec.contract.
CrashStateResult RunExecCrashState(const Scenario& s, const RunOptions& o, const std::string& state,
                                   nlohmann::json* contract);

}  // namespace blackout::harness
