#include "harness/commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>

#include "fusefs/control/cli_checks.h"
#include "harness/child_process.h"
#include "harness/minimize.h"
#include "harness/progress.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "harness/temp_dir.h"
#include "reports/report.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

void PrintProblems(const std::vector<Problem>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
}

// Loads every scenario under `paths`; appends every problem, including names
// used by two files (reports and shards key on the name).
std::vector<Scenario> LoadAll(const std::vector<std::string>& paths,
                              std::vector<Problem>* problems) {
  std::vector<Scenario> scenarios;
  std::map<std::string, std::string> names;
  for (const auto& file : FindScenarioFiles(paths, problems)) {
    auto s = LoadScenarioFile(file, problems);
    if (!s) continue;
    if (auto it = names.find(s->name); it != names.end()) {
      problems->push_back(
          {file, "$.name", "name '" + s->name + "' is already used by " + it->second});
      continue;
    }
    names[s->name] = file;
    scenarios.push_back(std::move(*s));
  }
  return scenarios;
}

std::string IsoNow() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct RunArgs {
  std::vector<std::string> paths;
  std::string out = "out";
  int jobs = 1;
  std::string shard = "1/1";
  uint64_t seed = 0;
  bool keep_going = false;
  bool quiet = false;
  bool verbose = false;
  bool no_color = false;
  std::string recovery = "auto";
  bool minimize = false;
  int minimize_tries = 200;
};

// DESIGN.md's pipeline ends "diagnose -> minimize -> report": with
// --minimize, each scenario that came out unexpected with violations (a gap
// nobody expected, not an error) is shrunk as `blackout minimize` does, into
// OUT/minimized/NAME.min.json, and its report entry names the file.
void MinimizeUnexpected(const RunArgs& a, const std::vector<ScenarioResult>& results, json& list) {
  const std::string dir = a.out + "/minimized";
  for (size_t i = 0; i < results.size(); ++i) {
    if (Interrupted()) return;
    const ScenarioResult& r = results[i];
    json& entry = list[i];
    if (r.outcome != "unexpected" || r.scenario == nullptr ||
        entry.value("violations", json::array()).empty()) {
      continue;
    }
    const Scenario& s = *r.scenario;
    if (s.exec) {
      entry["minimized_note"] = "an exec scenario has no workload entries to shrink";
      continue;
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    MinimizeArgs m;
    m.scenario = s.file;
    m.out = dir + "/" + s.name + ".min.json";
    m.max_tries = a.minimize_tries;
    m.jobs = a.jobs;
    m.seed = a.seed;
    std::fprintf(stderr, "blackout run: minimizing %s (up to %d runs)\n", s.name.c_str(),
                 a.minimize_tries);
    if (Minimize(m) == 0) {
      entry["minimized"] = m.out;
    } else {
      entry["minimized_note"] = "minimize did not shrink it (its output above says why)";
    }
  }
}

int Run(const RunArgs& a) {
  InstallInterruptHandler();
  std::vector<Problem> problems;
  std::vector<Scenario> all = LoadAll(a.paths, &problems);
  if (!problems.empty()) {
    PrintProblems(problems);
    std::fprintf(stderr, "blackout run: %zu problem(s) in the scenarios; nothing was run\n",
                 problems.size());
    return 2;
  }
  std::smatch m;
  static const std::regex shard_re(R"(^([0-9]+)/([0-9]+)$)");
  if (!std::regex_match(a.shard, m, shard_re) || std::stoul(m[2]) == 0 || std::stoul(m[1]) == 0 ||
      std::stoul(m[1]) > std::stoul(m[2])) {
    std::fprintf(stderr,
                 "blackout run: --shard: expected I/N with 1 <= I <= N (e.g. 2/4), got '%s'\n",
                 a.shard.c_str());
    return 2;
  }
  const size_t shard_i = std::stoul(m[1]) - 1, shard_n = std::stoul(m[2]);
  if (a.jobs < 1) {
    std::fprintf(stderr, "blackout run: --jobs: expected a number >= 1, got %d\n", a.jobs);
    return 2;
  }
  RecoveryMode recovery;
  if (!ParseRecoveryMode(a.recovery, &recovery)) {
    std::fprintf(stderr, "blackout run: --recovery: expected auto, in-memory or child, got '%s'\n",
                 a.recovery.c_str());
    return 2;
  }
  std::string error;
  if (!reports::CheckWritableDir(a.out, &error)) {
    std::fprintf(stderr, "blackout run: --out: %s\n", error.c_str());
    return 2;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    std::fprintf(
        stderr,
        "blackout run: /dev/fuse is missing or not accessible; blackoutfs cannot be mounted. "
        "Install fuse3 and run where /dev/fuse exists (in a container: --device /dev/fuse "
        "--cap-add SYS_ADMIN); see docs/ci.md\n");
    return 2;
  }
  // Scenario i goes to shard i mod N: the suite's sorted order makes every
  // CI job pick the same, disjoint share.
  std::vector<Scenario> scenarios;
  for (size_t i = 0; i < all.size(); ++i)
    if (i % shard_n == shard_i) scenarios.push_back(std::move(all[i]));

  RunOptions options;
  options.blackout_bin = SelfExe();
  options.tmp_root = TempRoot();
  options.seed = a.seed;
  options.jobs = a.jobs;
  options.recovery = recovery;
  const auto level = a.quiet     ? Progress::Level::kQuiet
                     : a.verbose ? Progress::Level::kVerbose
                                 : Progress::Level::kNormal;
  Progress progress(level, isatty(2), static_cast<int>(scenarios.size()), a.seed);
  progress.SetColour(Progress::UseColour(a.no_color));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ScenarioResult> results =
      RunScenarios(scenarios, options, progress.Observer(), a.keep_going);
  progress.Finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int as_expected = 0, unexpected = 0, errors = 0, lost = 0;
  json list = json::array();
  for (const auto& r : results) {
    json j = ToJson(r, options);
    lost += j.value("lost_writes", 0);
    as_expected += r.outcome == "as-expected";
    unexpected += r.outcome == "unexpected";
    errors += r.outcome == "error";
    list.push_back(std::move(j));
  }
  json report = {{"schema_version", reports::kSchemaVersion},
                 {"tool", "blackout"},
                 {"generated_at", IsoNow()},
                 {"seed", a.seed},
                 {"shard", a.shard},
                 {"jobs", a.jobs},
                 {"duration_s", seconds},
                 {"summary",
                  {{"scenarios", results.size()},
                   {"as_expected", as_expected},
                   {"unexpected", unexpected},
                   {"errors", errors},
                   {"lost_writes", lost}}},
                 {"scenarios", list}};
  if (a.minimize) MinimizeUnexpected(a, results, report["scenarios"]);
  if (!reports::WriteReports(a.out, report, &error)) {
    std::fprintf(stderr, "blackout run: writing the reports: %s\n", error.c_str());
    return 2;
  }
  std::fprintf(stderr,
               "blackout run: %zu scenarios: %d as expected, %d unexpected, %d errors in %.1f s "
               "(seed %llu)\n",
               results.size(), as_expected, unexpected, errors, seconds,
               static_cast<unsigned long long>(a.seed));
  std::fprintf(stderr, "reports: %s/report.html, %s/report.md, %s/report.json, %s/junit.xml\n",
               a.out.c_str(), a.out.c_str(), a.out.c_str(), a.out.c_str());
  if (Interrupted()) {
    std::fprintf(stderr, "blackout run: interrupted\n");
    return 2;
  }
  return errors > 0 ? 2 : unexpected > 0 ? 1 : 0;
}

}  // namespace

void AddHarnessCommands(CLI::App& app, int& exit_code) {
  auto validate_paths = std::make_shared<std::vector<std::string>>();
  CLI::App* validate = app.add_subcommand(
      "validate", "Check scenario files (or directories of them) against the scenario format");
  validate->add_option("PATH", *validate_paths, "scenario files or directories")->required();
  validate->callback([validate_paths, &exit_code] {
    std::vector<Problem> problems;
    const auto scenarios = LoadAll(*validate_paths, &problems);
    if (!problems.empty()) {
      PrintProblems(problems);
      std::fprintf(stderr, "blackout validate: %zu problem(s)\n", problems.size());
      exit_code = 2;
      return;
    }
    std::printf("%zu scenario(s) valid\n", scenarios.size());
    exit_code = 0;
  });

  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand(
      "run", "Run crash scenarios on blackoutfs, check invariants and write reports");
  run->add_option("PATH", args->paths, "scenario files or directories")->required();
  run->add_option("--out", args->out,
                  "directory for report.json, report.md, report.html, junit.xml (default out/)")
      ->check(control::NonEmptyPath());
  run->add_option("--jobs", args->jobs, "crash states run in parallel (default 1)");
  run->add_option("--recovery", args->recovery,
                  "how explored crash states of built-in engines are recovered: in-memory (in "
                  "this process, on a MemEnv), child (a `blackout engine` process on the state "
                  "written to disk, which can stop an engine that hangs or crashes) or auto "
                  "(in-memory; the default)");
  run->add_option("--shard", args->shard,
                  "run only shard I of N (1-based, e.g. 2/4) of the sorted suite");
  run->add_option("--seed", args->seed,
                  "seed for anything random; printed with every failure (default 0)")
      ->check(control::WholeNumber(0));
  run->add_flag(
      "--keep-going", args->keep_going,
      "after a setup error (a mount or engine that cannot start), go on with the other scenarios");
  run->add_flag("--quiet", args->quiet, "print only unexpected outcomes, errors and the summary");
  run->add_flag("--verbose", args->verbose, "also print one line per crash state")
      ->excludes("--quiet");
  run->add_flag("--minimize", args->minimize,
                "shrink each scenario that came out unexpected with violations, as `blackout "
                "minimize` does, into OUT/minimized/NAME.min.json; the reports name the file");
  run->add_option("--minimize-tries", args->minimize_tries,
                  "with --minimize: the most runs per scenario (default 200)")
      ->check(control::WholeNumber(1));
  run->add_flag("--no-color", args->no_color,
                "no colour in the output (also NO_COLOR=1; colour is only used on a terminal)");
  run->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace blackout::harness
