// `blackout engine`: see driver.h for the protocol and exit codes.
#ifndef BLACKOUT_ENGINES_DRIVER_COMMANDS_H_
#define BLACKOUT_ENGINES_DRIVER_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace blackout::engines {

// Adds the `engine` subcommand; its exit code is stored in exit_code.
void AddEngineCommand(CLI::App& app, int& exit_code);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_DRIVER_COMMANDS_H_
