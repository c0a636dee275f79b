#include "engines/driver/commands.h"

#include <sys/stat.h>

#include <iostream>
#include <memory>

#include "engines/driver/driver.h"

namespace blackout::engines {

void AddEngineCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<EngineCommandOptions>();
  std::string names;
  for (const auto& e : EngineRegistry())
    names += names.empty() ? e.name : std::string(", ") + e.name;
  CLI::App* cmd = app.add_subcommand(
      "engine",
      "Run a reference engine as a JSON-lines server on stdin/stdout (engines: " + names + ")");
  cmd->add_option("name", options->engine, "engine name")->required();
  cmd->add_option("--dir", options->dir,
                  "store directory (made if missing: a crash state may have lost it)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& dir) -> std::string {
            struct stat st {};
            if (stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
              return dir + " exists and is not a directory";
            return "";
          },
          "DIR"));
  cmd->add_option("--config", options->config_json,
                  "engine configuration as a JSON object, e.g. '{\"profile\":\"fixed\"}'");
  cmd->add_flag("--dump", options->dump, "open (recover) the store, print its contents, exit");
  cmd->callback([options, &exit_code] {
    exit_code = RunEngineCommand(*options, Env::Posix(), std::cin, std::cout);
  });
}

}  // namespace blackout::engines
