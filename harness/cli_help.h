// Examples for `blackout --help` and every subcommand's --help, kept in one
// place so that they read as one manual. Subcommands that set a footer of
// their own keep it.
#pragma once

#include <CLI/CLI.hpp>

namespace blackout::harness {

// Call after every subcommand has been added.
void AddHelpExamples(CLI::App& app);

}  // namespace blackout::harness
