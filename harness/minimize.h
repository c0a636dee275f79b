// `blackout minimize SCENARIO [--out FILE] [--max-tries N] [--jobs N]`:
// shrinks a failing scenario to a smaller one that fails the same way
// (issue 6 item 6).
//
// "Fails": some crash state violates an invariant. The target is the set of
// invariants the original violates (union over its crash states), plus the
// finding `expect.finding` names when the original run reports it. A
// candidate counts only if it loads as a valid scenario and its run violates
// exactly the target set (and reports that finding): a candidate that
// "fails" by some other violation is a different bug.
//
// Steps, each verified by a run:
//  1. Fewer crash points: crash.at every_op/every_sync becomes the first
//     failing point (`{after_op:N}` or `end`), and an `{after_op:N}` point
//     becomes `end` with the workload cut after op N (later entries cannot
//     change a state saved before them). Then crash.states keeps only the
//     generators whose states violated.
//  2. Fewer workload entries: delta debugging (Zeller's ddmin, complements
//     only) over the entries after `repeat` expansion ({i} substituted), so
//     single repetitions can go. Steps (sync, restart, crash, damage) are
//     entries like ops; a candidate the loader refuses (e.g. no op left) is
//     skipped without a run. An after_op point that step 1 could not turn
//     into `end` is pinned: its op is never removed and N follows it.
// Bounded by --max-tries runs (default 200); the best scenario so far is
// written when the bound is reached.
//
// The result is written as a scenario file (default NAME.min.json beside the
// input; never the input itself) with name NAME-min, the same check list and
// expect.violations = the target, so `blackout run` on it is as-expected.
// Progress on stderr. Exit codes: 0 written; 1 the scenario does not fail
// (nothing to minimize) or its run errs; 2 bad input (invalid scenario, an
// exec scenario, --out naming the input, an unwritable --out), or Ctrl-C.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace blackout::harness {

struct MinimizeArgs {
  std::string scenario;
  std::string out;  // empty: NAME.min.json beside the input
  int max_tries = 200;
  int jobs = 1;
  uint64_t seed = 0;
};

int Minimize(const MinimizeArgs& a);

// The workload of a scenario document with every `repeat` expanded ({i}
// substituted in every string, nested ones too) and `repeat` removed.
std::vector<nlohmann::json> ExpandWorkload(const nlohmann::json& workload);

// ddmin over `n` elements: returns the indices of a 1-minimal subset (no
// single chunk of the final granularity can be removed) for which
// `fails(subset)` holds, assuming it holds for all of them. `pinned`
// indices are never removed. Stops asking once `budget()` is false.
std::vector<int> DeltaDebug(int n, const std::vector<int>& pinned,
                            const std::function<bool(const std::vector<int>&)>& fails,
                            const std::function<bool()>& budget);

void AddMinimizeCommand(CLI::App& app, int& exit_code);

}  // namespace blackout::harness
