// Crash-state exploration: record once, explore offline (issue 6).
//
// The workload runs ONCE on a blackoutfs mount with the trace on. At each
// crash point (a trace position between two workload entries: end,
// {after_op:N}, every_op, every_sync) the harness asks the mount to save the
// crash point (`crash-point`: the durable view and the pending operations,
// Filesystem::SaveCrashPoint) and copies the acknowledgements so far. Saving
// at each point while running is the choice made here, rather than rebuilding
// earlier positions from the trace: a crash point costs one compressed copy of
// the durable view plus the pending ops, and the model needs no replay code.
//
// Then, offline, for each crash point and each generator of `crash.states`
// (fusefs/model/crash_model.md, "Generators"): a model::Filesystem with the
// scenario's behaviour model loads the crash point, lists the crash states,
// materializes each into a temporary directory, recovers it there
// (`blackout engine NAME --dump --dir DIR/store`) and checks the invariants
// against the acks up to that point. Identical trees (same tree hash) are
// recovered once. `--jobs N` recovers N states at a time.
//
// A violating state is diagnosed (diagnosis.h) and carries the command that
// reproduces it (`blackout replay FILE --point P --state ID --to DIR --recover`).
//
// Which scenarios are explored: power-crash scenarios that ask for a
// generator beyond drop-all/keep-all or a behaviour model beyond the first
// two, and that have no workload crash/damage steps (those cut power on the
// mount, mid-run). Others keep the runner's mount path: one mount, one power
// cut per crash state (runner.h), which is also the path for programs that
// need FUSE to recover. Engine scenarios with faults or a capacity stay on
// the mount too (runner.cc). A crash trigger (crash.at.after) is a crash
// point inside an engine call: explored, the recording run arms it to save
// the point instead of cutting (`crash-after` with "save"), and its
// SavedPoint, named as the trigger ("before fsync *.wal #6"), has the acks
// of the entries finished before the call and the call as `in_flight`
// (with `every`, one such point per matching operation from the nth on);
// with drop-all only it stays on the mount, where the trigger cuts.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fusefs/model/filesystem.h"
#include "harness/expected.h"
#include "harness/oracle.h"
#include "harness/runner.h"
#include "harness/scenario.h"

namespace blackout::harness {

// One crash point saved by the recording run.
struct SavedPoint {
  int items_done = 0;  // workload entries executed before it
  std::string name;    // "end", "after_op:3"
  std::string file;    // SaveCrashPoint bytes
  uint64_t seq = 0;    // trace position
  std::vector<Ack> acks;  // acknowledged so far, `synced` as of this point
  // A point inside an engine call (a crash trigger, saving): the op in
  // flight, with the reply it got once the call finished. Not acknowledged
  // at the point, yet it may have taken effect: judged both ways.
  std::optional<Ack> in_flight;
};

struct RecordedRun {
  nlohmann::json contract;  // {"process","power"}
  nlohmann::json trace;     // {"entries":[...]} of the whole run
  std::vector<SavedPoint> points;
};

// Runs the whole workload once on a fresh mount, saving the scenario's crash
// points into `save_dir` (which must exist). Implemented in runner.cc, beside
// the workload loop it shares.
Expected<RecordedRun> RecordWorkload(const Scenario& s, const RunOptions& o,
                                     const std::string& save_dir);

// Whether RunScenarios explores `s` offline (see above).
bool UsesExploration(const Scenario& s);

// Records `s` once and checks every crash state of every crash point. A
// setup failure comes back as one result with `error` set.
// *summary (when not null) says where the time went: {"recovery": "in-memory"
// | "child", "crash_points", "states", "distinct_states", "record_s",
// "generate_s", "check_s", "diagnose_s"} (reports/report-schema.md).
std::vector<CrashStateResult> ExploreScenario(const Scenario& s, const RunOptions& o,
                                              nlohmann::json* contract,
                                              nlohmann::json* summary = nullptr);

// A crash point loaded for offline work (replay, diagnosis).
struct LoadedPoint {
  std::unique_ptr<model::Filesystem> fs;
};
Expected<LoadedPoint> LoadPoint(const Scenario& s, const std::string& file);

// Recovers crash state `id` of a loaded point and checks it against
// `oracle`: in memory (harness/in_memory_recovery.h) unless o.recovery asks
// for the child, which materializes the state into `dir` (must not exist or
// be empty) and runs `blackout engine --dump` there.
struct StateCheck {
  std::string error;  // setup failure (nothing checked)
  bool recovered = false;
  std::string recovery_error;
  CheckOutcome check;
  // Where the time went (BENCHMARKS.md, exploration): building the state's
  // files (in memory, or written into `dir`), the engine's recovery (with
  // `verify` for the structure invariant), and building the observed state
  // and checking the invariants.
  double materialize_s = 0, recover_s = 0, check_s = 0;
};
// `in_flight_applied`, when given: the oracle with the op in flight at the
// point acknowledged (SavedPoint::in_flight); the judgement with fewer
// violations stands.
StateCheck CheckState(const Scenario& s, const RunOptions& o, const model::Filesystem& fs,
                      const std::string& id, const Oracle& oracle, const std::string& contract,
                      const std::string& dir, const Oracle* in_flight_applied = nullptr);

// Whether a power cut on the mount is diagnosed (which sync would have saved
// the state): the crash point saved before the cut is all the diagnosis
// needs when nothing else shaped the state. Not with crash or damage steps
// (earlier recoveries are part of the judgement), faults (the disk's
// answers are part of the workload) or a capacity (offline, the recovery
// would run without it).
bool DiagnosedOnMount(const Scenario& s);

// What was pending at a saved crash point, as `ctl unsynced` answers (a
// timeline's fates for a cut no `unsynced` could precede); null when the
// point cannot be loaded.
nlohmann::json UnsyncedAtPoint(const Scenario& s, const std::string& file);

// Which sync would have saved a crash state cut on the mount (runner.cc), as
// an explored state's diagnosis says (diagnosis.h): the mount saved its crash
// point just before the cut, and each candidate state is rebuilt from that
// point and checked as explore checks its states (CheckState, in `work_dir`
// where it needs a directory). Returns Diagnosis::ToJson(), and adds to
// `findings` those only a diagnosis names, as for an explored state.
struct CutState {
  std::string point_file;  // the mount's crash-point, saved before the cut
  std::string state;       // the generator cut to: "drop-all", "keep-all"
  nlohmann::json trace;    // {"entries":[...]} of the mount
  const Oracle* oracle = nullptr;
  const Oracle* applied = nullptr;    // with the uncertain ops acknowledged, or null
  std::string contract;               // the power contract
  std::vector<std::string> violated;  // what the cut state violates
  int lost_writes = 0;
  std::string work_dir;
};
Expected<nlohmann::json> DiagnoseCutState(const Scenario& s, const RunOptions& o,
                                          const CutState& cut, std::vector<std::string>* findings);

// Words for pending ops ("#12 write /store/wal [0, +42)"), from a trace
// indexed by seq.
// indexed by seq. With `limit` > 0 and more ops than that, the first and
// the last limit/2 and one "... N more ..." line between them: a report
// lists thousands of states, and whole lists would make it grow with the
// square of the pending ops.
nlohmann::json DescribeOps(const std::vector<uint64_t>& seqs,
                           const std::map<uint64_t, nlohmann::json>& trace, size_t limit = 0);
// A scenario's `exploration` summary (reports/report-schema.md) from the
// times (Now()) its phases ended.
struct ExplorationTimes {
  double started = 0, recorded = 0, generated = 0, checked = 0, diagnosed = 0;
};
nlohmann::json ExplorationSummary(const std::string& recovery, size_t crash_points, size_t states,
                                  size_t distinct_states, const ExplorationTimes& t);

// The limit explored states use in reports (their counts are given whole).
inline constexpr size_t kDescribedOps = 24;

// What a report says of explored crash state `info` (its `exploration`,
// reports/report-schema.md): id, generator, the ops kept and dropped, in
// words and counted, and the torn write if there is one.
nlohmann::json DescribeState(const model::CrashStateInfo& info,
                             const std::map<uint64_t, nlohmann::json>& trace);
// `r`, the result of the state `first` whose tree state `info` has too, made
// the result of `info`: the same outcome, described as `info`, with
// `same_tree_as` naming `first`.
void SameTreeResult(const model::CrashStateInfo& info, const model::CrashStateInfo& first,
                    const std::map<uint64_t, nlohmann::json>& trace, CrashStateResult* r);

// The reproducer line of one explored state.
std::string ReplayCommand(const Scenario& s, const std::string& point, const std::string& id);

// report.html's timelines of explored states: only where something was
// lost, violating states first, at most 20 of them (a timeline grows with
// the trace, and a thousand of them help nobody). `draw(i)` builds the
// timeline of results[i].
void AddTimelines(std::vector<CrashStateResult>& results,
                  const std::function<nlohmann::json(size_t)>& draw);

}  // namespace blackout::harness
