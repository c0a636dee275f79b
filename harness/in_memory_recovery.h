// Recovering an explored crash state inside the explorer's process (issue 6).
//
// For a built-in engine, exploration need not write each crash state to disk
// and start a `blackout engine --dump` child on it (about 27 ms a state, most
// of it the process start). Instead the state's files
// (model::Filesystem::CrashStateFiles) go into a MemEnv, the engine opens the
// store there through the same Env seam it uses on a real disk, so the
// recovery code is the one `blackout engine` runs, and its Dump() is the
// observed state. With the `structure` invariant the same session then
// answers `verify`.
//
// What stays the same as the child: the dump (invalid UTF-8 read back from a
// damaged store is replaced by U+FFFD, as the driver's reply line does), the
// error texts of a store that does not open, and the time limit: a recovery
// that has not returned after the scenario's recovery timeout is a failed
// `recovers`, as a child that hangs is. It runs on a thread of its own, which
// is left behind (detached, spinning) when it never returns, since a thread
// cannot be stopped from outside; `--recovery child` isolates such an engine
// in a process instead. What differs: an engine that crashes the process
// (a segfault on a damaged store) takes the explorer with it; the engines'
// recovery is tested under ASan and the fuzzers for that reason.
#pragma once

#include <string>
#include <vector>

#include "fusefs/model/filesystem.h"
#include "harness/recovery.h"
#include "harness/scenario.h"

namespace blackout::harness {

// Opens the store `store` (a path relative to the mount, "store") of the
// crash state made of `files` (CrashStateFiles) with the scenario's engine and
// config, and dumps it. With `verify`, also asks the engine's `verify` op and
// puts the problems it answers into *problems (a failed verify is one
// problem, as VerifyStore reports it).
Recovery RecoverInMemory(const Scenario& s, std::vector<model::StateFile> files,
                         const std::string& store, bool verify,
                         std::vector<std::string>* problems);

}  // namespace blackout::harness
