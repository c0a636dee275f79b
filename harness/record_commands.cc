#include "harness/record_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "fusefs/control/cli_checks.h"
#include "harness/child_process.h"
#include "harness/record.h"
#include "harness/sync_guard.h"
#include "reports/report.h"

namespace blackout::harness {
namespace {

struct RecordArgs {
  RecordOptions options;
};

int RunRecord(RecordOptions options) {
  // Ctrl-C or SIGTERM stops the command and unmounts (exit 2), rather than
  // leaving both behind.
  InstallInterruptHandler();
  options.blackout_bin = SelfExe();
  Expected<RecordResult> r = Record(options);
  if (!r.ok()) {
    std::cerr << "blackout: " << r.error() << "\n";
    return 2;
  }
  std::cout << "recorded " << options.out << ": crash point at trace #" << r->seq << " ("
            << r->bytes << " bytes); explore it with: blackout explore " << options.out
            << " --check 'COMMAND'\n";
  if (r->timed_out || r->command_exit != 0) {
    std::cerr << "blackout: record: the command "
              << (r->timed_out ? std::string("timed out")
                               : "exited " + std::to_string(r->command_exit))
              << "; the crash point was saved anyway\n";
    return 1;
  }
  return 0;
}

int RunExplore(ExploreOptions options, const std::string& out_dir) {
  options.states = JoinStateIds(options.states);
  // Checked before the crash states are run, which may take long.
  if (std::string error; !out_dir.empty() && !reports::CheckWritableDir(out_dir, &error)) {
    std::cerr << "blackout: explore: --out " << out_dir << ": " << error << "\n";
    return 2;
  }
  // Ctrl-C or SIGTERM stops the running check and removes the states.
  InstallInterruptHandler();
  // Progress on stderr: on a terminal one line rewritten in place, else (a
  // CI log) a plain line every few seconds once the run has taken that long.
  using Clock = std::chrono::steady_clock;
  const bool terminal = isatty(2) != 0;
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  bool shown = false;
  options.progress = [&](size_t done, size_t total, size_t violations) {
    const Clock::time_point now = Clock::now();
    const auto every = terminal ? std::chrono::milliseconds(200) : std::chrono::seconds(5);
    if (now - last < every && !(terminal && done == total)) return;
    last = now;
    const double seconds = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "%sexplore: %zu/%zu crash states checked, %zu violation(s), %.0f s%s",
                 terminal ? "\r\033[K" : "", done, total, violations, seconds,
                 terminal ? "" : "\n");
    shown = terminal;
  };
  Expected<ExploreResult> r = Explore(options);
  if (shown) std::fprintf(stderr, "\r\033[K");
  if (!r.ok()) {
    std::cerr << "blackout: " << r.error() << "\n";
    return 2;
  }
  std::cout << ExploreSummary(options, *r);
  if (!out_dir.empty()) {
    Status st = WriteExploreReport(options, *r, out_dir);
    if (!st.ok()) {
      std::cerr << "blackout: explore: --out " << out_dir << ": " << st.error() << "\n";
      return 2;
    }
    std::cout << "reports: " << out_dir << "/report.html, " << out_dir << "/report.md, "
              << out_dir << "/report.json, " << out_dir << "/junit.xml\n";
  }
  return r->violations == 0 ? 0 : 1;
}

}  // namespace

void AddRecordCommands(CLI::App& app, int& exit_code) {
  auto rec = std::make_shared<RecordOptions>();
  CLI::App* record = app.add_subcommand(
      "record",
      "Run COMMAND on a temporary blackoutfs (cwd inside the mount, BLACKOUT_MNT set) and save "
      "the crash point at its end to TRACE");
  record->add_option("--out", rec->out, "crash-point file to write (TRACE)")
      ->required()
      ->check(control::NonEmptyPath());
  record->add_option("--model", rec->model,
                     "behaviour model of the mount: posix-strict (default), ext4-ordered, "
                     "ext4-writeback, btrfs, xfs");
  record->add_option("--timeout", rec->timeout_s, "seconds before COMMAND is killed (default 600)")
      ->check(control::PositiveSeconds());
  record->add_option("COMMAND", rec->command, "the command and its arguments, after --")
      ->required();
  record->callback([rec, &exit_code] { exit_code = RunRecord(*rec); });

  auto ex = std::make_shared<ExploreOptions>();
  auto out_dir = std::make_shared<std::string>();
  CLI::App* explore = app.add_subcommand(
      "explore",
      "Run a check command in every crash state of a recorded TRACE (cwd and BLACKOUT_MNT = the "
      "materialized state, BLACKOUT_STATE = its id); a non-zero exit is a violation");
  explore->add_option("TRACE", ex->trace, "crash-point file from blackout record")->required();
  explore->add_option("--check", ex->check, "shell command that exits 0 when the state is fine")
      ->required();
  explore
      ->add_option("--states", ex->states,
                   "generators, comma-separated: drop-all, keep-all, prefix, reorder:K, torn, "
                   "random:N (default drop-all,prefix); or crash-state ids as explore lists "
                   "them (prefix:S, reorder:K:S1,S2, torn:S:B, random:N:SEED:I), each one state")
      ->delimiter(',');
  explore->add_option("--model", ex->model,
                      "behaviour model, the one the trace was recorded under (the default; "
                      "another is refused): posix-strict, ext4-ordered, ext4-writeback, "
                      "btrfs, xfs");
  explore->add_option("--seed", ex->seed, "seed for random:N (default 1)")
      ->check(control::WholeNumber(0));
  explore->add_option("--limit", ex->limit, "crash states per generator (default 1000)")
      ->check(control::WholeNumber(1));
  explore->add_option("--timeout", ex->timeout_s, "seconds per check (default 60)")
      ->check(control::PositiveSeconds());
  explore
      ->add_option("--diagnose", ex->diagnose,
                   "violating states to diagnose, the first ones: which fsync would have "
                   "saved each (default 20; 0: none)")
      ->check(control::WholeNumber(0));
  explore->add_option("--jobs", ex->jobs, "checks run in parallel (default 1)")
      ->check(CLI::Range(size_t{1}, size_t{256}));
  explore
      ->add_option("--out", *out_dir,
                   "directory for report.html, report.md, report.json and junit.xml")
      ->check(control::NonEmptyPath());
  explore->callback([ex, out_dir, &exit_code] { exit_code = RunExplore(*ex, *out_dir); });

  AddSyncGuardCommand(app, exit_code);
}

}  // namespace blackout::harness
