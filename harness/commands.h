// `blackout validate PATH...` and `blackout run PATH... [--out DIR] [--jobs N]
// [--shard I/N] [--seed S] [--keep-going] [--quiet|--verbose]`.
//
// Exit codes (both commands): 0 everything valid / every scenario's outcome
// equals its `expect`; 1 some outcome differs; 2 bad input (an invalid
// scenario, a bad option, an output directory that cannot be written) or a
// setup failure (a mount or an engine that cannot start), or Ctrl-C.
#pragma once

#include <CLI/CLI.hpp>

namespace blackout::harness {

void AddHarnessCommands(CLI::App& app, int& exit_code);

}  // namespace blackout::harness
