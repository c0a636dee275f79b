// The parts of the scenario format for faults beyond power loss and for any
// program (issue 7), parsed beside the engine scenario (scenario.cc calls
// ParseExecAndFaults):
//
//   "workload": {"exec": CMD, "contract": "acked"|"none", "timeout_s": N},
//   "recover": {"exec": CMD},
//   "check": {"exec": CMD, "invariants": [...]}
//       instead of "engine" and a workload list: CMD runs with /bin/sh -c in
//       the scenario file's directory, with BLACKOUT_MNT (the mount point)
//       and BLACKOUT_CTL (its control socket) in the environment. The
//       workload prints "ack ID" for each operation it considers durable;
//       check prints the IDs it finds, one per line, or exits non-zero for
//       corruption; recover (optional) runs first. "invariants" defaults to
//       ExecInvariants(); contract to "acked"; timeout_s (the workload's time
//       limit) to 60. harness/exec_workload.h runs them.
//   "exec": {"workload": CMD, "recover": CMD, "check": CMD,
//            "contract": ..., "timeout_s": N} with "check": [...]
//       the older spelling of the same; a file giving both is refused.
//   "faults": [{"op":OP,"path":GLOB,"errno":E,"nth":N|"from":N,"count":C}]
//       error injection, sent as "fail" requests before the workload runs
//       (fusefs/control/fault_protocol.h); engine scenarios take them too.
//   "fs": {"capacity": BYTES|"64K"|"10M"}  writes past it fail with ENOSPC.
//   "crash": {"at": {"after": {"op":OP,"path":GLOB,"nth":N,"before":false}}}
//       the power is cut by the mount itself right after (before) the Nth
//       matching operation (a "crash-after" trigger); engine scenarios too,
//       where the op in flight at the cut is not acknowledged (runner.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace blackout::harness {

struct Scenario;
struct Problem;

// Whether `doc` is an exec scenario, in either spelling (scenario.cc skips
// the engine and the workload list then).
bool IsExecScenario(const nlohmann::json& doc);

// Appends every problem found; returns how many.
int ParseExecAndFaults(const nlohmann::json& doc, const std::string& file, Scenario* s,
                       std::vector<Problem>* problems);

// Invariants an exec scenario can check.
const std::vector<std::string>& ExecInvariants();

}  // namespace blackout::harness
