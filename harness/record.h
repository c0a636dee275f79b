// `blackout record` and `blackout explore`: crash-test any command without
// writing a scenario. Record runs the command once on a temporary blackoutfs
// and saves the crash point at its end (the durable view and every pending
// operation, model::Filesystem::SaveCrashPoint); explore rebuilds the crash
// states of that point offline (crash_model.md, "Generators") and runs a
// check command in each. A check that exits non-zero is a violation.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/expected.h"
#include "harness/temp_dir.h"

namespace blackout::harness {

struct RecordOptions {
  std::string out;                   // crash-point file to write (made absolute)
  std::vector<std::string> command;  // argv; run with cwd = the mount, BLACKOUT_MNT set
  std::string model = "posix-strict";
  std::string blackout_bin;  // the binary that mounts (SelfExe())
  double timeout_s = 600;    // the command is killed after this
};

struct RecordResult {
  int command_exit = 0;  // 128+signal when killed, -1 when it could not start
  bool timed_out = false;
  uint64_t seq = 0;    // trace position of the crash point
  uint64_t bytes = 0;  // size of the saved crash point
};

// Mounts, runs the command (stdin, stdout and stderr are the caller's),
// saves the crash point to options.out, unmounts (also on failure).
// Durability: options.out is written by the mount daemon with write(2) and
// not fsynced; it is a work file, not a record that must survive power loss.
[[nodiscard]] Expected<RecordResult> Record(const RecordOptions& options);

struct ExploreOptions {
  std::string trace;  // crash-point file from `blackout record` or ctl crash-point
  std::string check;  // shell command (sh -c), run in each materialized crash state
  std::vector<std::string> states = {"drop-all", "prefix"};  // model generators
  // Empty: the model the trace was recorded under (posix-strict for a trace
  // from before traces named it). Another one than that is refused.
  std::string model;
  uint64_t seed = 1;     // for random:N, printed with every failure
  size_t limit = 1000;   // crash states per generator
  double timeout_s = 60; // per check
  // Violating states diagnosed (each diagnosis asks about a few candidate
  // states, and runs the check in those no checked state had the files
  // of), the first ones in order, after every state is checked; 0: none.
  size_t diagnose = 20;
  // Checks run at once (each in its own materialized state).
  size_t jobs = 1;
  // Called after each crash state is checked: states done, states in all,
  // violations so far.
  std::function<void(size_t, size_t, size_t)> progress;
  std::string tmp_root = TempRoot();  // $TMPDIR, or /tmp
};

struct StateOutcome {
  std::string id;         // stable crash-state id (ctl power-cut --state ID rebuilds it)
  std::string generator;
  std::vector<uint64_t> dropped;  // pending operations lost in this state
  int exit_code = 0;
  bool timed_out = false;
  std::string output;  // the check's stdout and stderr, at most 4 KiB
  nlohmann::json lost;       // the dropped ops in words ("#4 rename /a.tmp -> /a"), bounded
  std::string torn;          // the torn write in words with the bytes it kept, or ""
  nlohmann::json diagnosis;  // a violating state's Diagnosis::ToJson() (diagnosis.h), else null
  bool violation() const { return exit_code != 0 || timed_out; }
};

struct ExploreResult {
  std::string model;
  uint64_t seed = 0;
  std::vector<StateOutcome> states;
  size_t violations = 0;
  size_t diagnosed = 0;  // violating states with a diagnosis (ExploreOptions::diagnose)
  double seconds = 0;  // the whole exploration
};

// Bad input (unreadable trace, not a crash point, unknown model or generator,
// empty check) is an error; a failing check is a violation in the result.
[[nodiscard]] Expected<ExploreResult> Explore(const ExploreOptions& options);
// --states as CLI11 splits it at commas, with the seq lists of reorder:K:S1,S2
// ids put back together ("reorder:2:4", "5" -> "reorder:2:4,5").
std::vector<std::string> JoinStateIds(const std::vector<std::string>& split);

// report.json, report.md, junit.xml and report.html in `dir` (created),
// each written atomically (reports::WriteReports): the shared report schema
// with the explored trace as its one scenario and each crash state as a
// crash_states entry, plus "kind":"explore" and the explore-only keys.
[[nodiscard]] Status WriteExploreReport(const ExploreOptions& options,
                                        const ExploreResult& result, const std::string& dir);

// The summary `blackout explore` prints.
std::string ExploreSummary(const ExploreOptions& options, const ExploreResult& result);

}  // namespace blackout::harness
