// build/blackout: the one command-line binary. Each component adds its own
// subcommands; this file only wires them together and maps parse errors to
// exit code 2 (bad usage), as every blackout command does.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "engines/driver/commands.h"
#include "fusefs/control/commands.h"
#include "harness/cli_help.h"
#include "harness/commands.h"
#include "harness/record_commands.h"
#include "harness/replay.h"
#include "reports/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"blackout: crash-consistency testing for storage engines and any program that stores data"};
  app.require_subcommand(1);
  int exit_code = 0;
  blackout::control::AddFilesystemCommands(app, exit_code);
  blackout::engines::AddEngineCommand(app, exit_code);
  blackout::harness::AddHarnessCommands(app, exit_code);
  blackout::harness::AddRecordCommands(app, exit_code);
  blackout::harness::AddExploreCommands(app, exit_code);  // replay, minimize
  blackout::reports::AddReportCommand(app, exit_code);
  blackout::harness::AddHelpExamples(app);  // after every subcommand
  (void)exit_code;
  // CLI11 says only "A subcommand is required" for a misspelt command.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->check_name(argv[1]);
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "blackout: unknown command '%s'; commands: %s (blackout --help)\n",
                   argv[1], names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
