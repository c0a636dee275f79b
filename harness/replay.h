// `blackout replay SCENARIO --state ID --to DIR [--point P] [--recover]`:
// one crash state on disk, for debugging by hand (issue 6 item 6).
//
// The workload runs once on a blackoutfs mount with the trace on, exactly as
// the explorer records it (explore.h, RecordWorkload), which saves the
// scenario's crash points. Crash point P (default: the last one the scenario
// has) is loaded into a model::Filesystem with the scenario's behaviour
// model, and crash state ID (any id a generator gives, e.g. "prefix:42",
// "reorder:2:17,18", "torn:30:512", including ids the report's diagnosis
// names) is materialized into DIR as plain files. Then it prints the
// state's generator, the pending ops it kept, dropped and tore, and the
// command that recovers it by hand. With --recover it also runs that
// recovery (the engine's log goes to DIR.log) and checks the invariants
// against the acknowledgements up to P, printing every violation.
//
// Exit codes: 0 the state was written (whatever the check found); 1 the
// recording or the recovery could not run; 2 bad input: an invalid scenario,
// one that cannot be replayed (not an engine power-crash scenario, or one
// with crash/damage steps or a crash trigger), an unknown point or state id
// (named, with the ones that exist), a non-empty DIR.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fusefs/model/filesystem.h"
#include "harness/expected.h"
#include "harness/scenario.h"

namespace blackout::harness {

struct ReplayArgs {
  std::string scenario;
  std::string state;
  std::string to;
  std::string point;  // empty: the scenario's last crash point
  bool recover = false;
  uint64_t seed = 0;  // the seed the report printed (random:N states)
};

// Runs the command; returns its exit code. Output on stdout, errors on stderr.
int Replay(const ReplayArgs& a);

// What crash state `id` of the loaded point keeps, drops and tears. Ids the
// scenario's generators list come back as listed (with their generator);
// other well-formed ids ("reorder:K:LIST" from a diagnosis, "prefix:S",
// "torn:S:B") are described from the pending ops. nullopt: `fs` cannot build
// that state (malformed id, or naming an op that is not pending).
std::optional<model::CrashStateInfo> DescribeCrashState(const model::Filesystem& fs,
                                                        const Scenario& s, const std::string& id,
                                                        uint64_t seed);

// `blackout replay` and `blackout minimize` (minimize.h).
void AddExploreCommands(CLI::App& app, int& exit_code);

}  // namespace blackout::harness
