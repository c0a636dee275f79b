// Recovering a store after a crash, as the runner does it at a crash step and
// at the scenario's final crash: `blackout engine --dump` with a time limit
// (a hang is a failed `recovers`), and, for the `structure` invariant, the
// engine's own `verify` op on the recovered store.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/expected.h"
#include "harness/scenario.h"

namespace blackout::harness {

// How an explored crash state of a built-in engine is recovered (`--recovery`):
// in the explorer's process on a MemEnv (harness/in_memory_recovery.h; what
// `auto` means), or by a `blackout engine --dump` child on the state written
// to disk, which can stop an engine that hangs or crashes.
enum class RecoveryMode { kAuto, kInMemory, kChild };

// Parses "auto", "in-memory", "child"; false for anything else.
bool ParseRecoveryMode(const std::string& text, RecoveryMode* mode);

struct Recovery {
  bool recovered = false;
  std::string error;  // when !recovered: why, for the `recovers` violation
  nlohmann::json dump;
  bool interrupted = false;  // Ctrl-C: not a finding
};

// Opens the store at `store` with the scenario's engine and config and dumps
// it. The driver's stderr goes to `log`.
Recovery RecoverStore(const std::string& blackout_bin, const Scenario& s, const std::string& store,
                      const std::string& log);

// Opens the store in a driver, asks `verify`, and kills the driver without
// closing the store (so the check itself writes nothing a close would).
// Returns the problems the engine answered; fails if the driver does not
// answer.
Expected<std::vector<std::string>> VerifyStore(const std::string& blackout_bin, const Scenario& s,
                                               const std::string& store, const std::string& log);

}  // namespace blackout::harness
