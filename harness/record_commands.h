// The `blackout record` and `blackout explore` subcommands (harness/record.h).
#pragma once

#include <CLI/CLI.hpp>

namespace blackout::harness {

// Exit codes: 0 clean (record: the command exited 0), 1 violations found
// (record: the command failed; the crash point is saved anyway), 2 bad
// usage or setup error.
void AddRecordCommands(CLI::App& app, int& exit_code);

}  // namespace blackout::harness
