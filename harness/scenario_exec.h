// The parts of the scenario format for faults beyond power loss and for any
// program (issue 7), parsed beside the engine scenario (scenario.cc calls
// ParseExecAndFaults):
//
//   "exec": {"workload": CMD, "recover": CMD, "check": CMD,
//            "contract": "acked"|"none", "timeout_s": N}
//       instead of "engine" and "workload": CMD runs with /bin/sh -c in the
//       scenario file's directory, with BLACKOUT_MNT (the mount point) and
//       BLACKOUT_CTL (its control socket) in the environment. The workload
//       prints "ack ID" for each operation it considers durable; check
//       prints the IDs it finds, one per line, or exits non-zero for
//       corruption; recover (optional) runs first. harness/exec_workload.h.
//   "faults": [{"op":OP,"path":GLOB,"errno":E,"nth":N|"from":N,"count":C}]
//       error injection, sent as "fail" requests before the workload runs
//       (fusefs/control/fault_protocol.h); engine scenarios take them too.
//   "fs": {"capacity": BYTES|"64K"|"10M"}  writes past it fail with ENOSPC.
//   "crash": {"at": {"after": {"op":OP,"path":GLOB,"nth":N,"before":false}}}
//       the power is cut by the mount itself right after (before) the Nth
//       matching operation (a "crash-after" trigger); exec scenarios only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace blackout::harness {

struct Scenario;
struct Problem;

// Appends every problem found; returns how many.
int ParseExecAndFaults(const nlohmann::json& doc, const std::string& file, Scenario* s,
                       std::vector<Problem>* problems);

// Invariants an exec scenario can check.
const std::vector<std::string>& ExecInvariants();

}  // namespace blackout::harness
