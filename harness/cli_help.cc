#include "harness/cli_help.h"

#include <map>
#include <string>

namespace blackout::harness {

void AddHelpExamples(CLI::App& app) {
  app.footer(
      "Examples:\n"
      "  blackout validate scenarios/                 check scenario files\n"
      "  blackout run scenarios/ --out out            run a suite; writes "
      "out/report.{json,md,html}, junit.xml\n"
      "  blackout report out/report.json -f html -o r.html   render a saved report again\n"
      "  blackout mount /tmp/mnt --model ext4-ordered run any program on blackoutfs...\n"
      "  blackout ctl /tmp/mnt power-cut              ...cut power, then look at what survived\n"
      "  blackout umount /tmp/mnt\n"
      "  blackout record --out t.trace -- PROGRAM...  record a program once, then\n"
      "  blackout explore t.trace --check 'CMD'       check it in every crash state\n"
      "Run `blackout SUBCOMMAND --help` for every option of a subcommand.\n"
      "Colour (blackout run): only on a terminal; run --no-color or NO_COLOR=1 turns it off.\n"
      "Exit codes: 0 as expected, 1 an outcome differs (or the command failed), 2 bad usage.");
  static const std::map<std::string, std::string> examples = {
      {"validate",
       "Examples:\n"
       "  blackout validate scenarios/\n"
       "  blackout validate scenarios/seed/lsm-wal-missing-fsync-power.json\n"
       "Each problem names the file, the JSON path and what was expected."},
      {"run",
       "Examples:\n"
       "  blackout run scenarios/ --out out\n"
       "  blackout run scenarios/seed --jobs 2 --shard 1/4 --seed 7 --keep-going\n"
       "  blackout run scenarios/seed/lsm-wal-missing-fsync-power.json --verbose --no-color\n"
       "Writes report.json, report.md, report.html and junit.xml into --out.\n"
       "Exit codes: 0 every outcome as expected, 1 some differ, 2 bad input or setup error."},
      {"mount",
       "Examples:\n"
       "  mkdir -p /tmp/mnt && blackout mount /tmp/mnt\n"
       "  blackout mount /tmp/mnt --model ext4-ordered --ctl /tmp/mnt.ctl\n"
       "Unmount with `blackout umount /tmp/mnt`."},
      {"umount",
       "Examples:\n"
       "  blackout umount /tmp/mnt\n"
       "  blackout umount /tmp/mnt --ctl /tmp/mnt.ctl"},
      {"ctl",
       "Examples:\n"
       "  blackout ctl /tmp/mnt status\n"
       "  blackout ctl /tmp/mnt unsynced\n"
       "  blackout ctl /tmp/mnt power-cut --state keep-all\n"
       "  blackout ctl /tmp/mnt snapshot /tmp/durable --view durable\n"
       "  blackout ctl /tmp/mnt trace stop                 ...and trace start, trace save FILE\n"
       "  blackout ctl /tmp/mnt load /tmp/sqlite.trace --state prefix:12"},
      {"engine",
       "Examples:\n"
       "  echo '{\"op\":\"put\",\"key\":\"k\",\"value\":\"v\"}' | blackout engine lsm --dir "
       "/tmp/mnt/db\n"
       "  blackout engine wal --dir /tmp/mnt/db --config '{\"sync_mode\":\"batch\"}'\n"
       "  blackout engine lsm --dir /tmp/mnt/db --dump"},
      {"record",
       "Examples:\n"
       "  blackout record --out /tmp/sqlite.trace -- sqlite3 db.sqlite 'create table t(x); insert "
       "into t values(1);'\n"
       "  blackout record --out /tmp/git.trace --model ext4-ordered -- sh -c 'git init -q r && cd "
       "r && git commit -q --allow-empty -m x'\n"
       "Then explore it: blackout explore /tmp/sqlite.trace --check '...'"},
      {"explore",
       "Examples:\n"
       "  blackout explore /tmp/sqlite.trace --check 'sqlite3 db.sqlite \"pragma integrity_check\" "
       "| grep -qx ok'\n"
       "  blackout explore /tmp/git.trace --check 'git -C r fsck' --states prefix,reorder:2 --out "
       "out\n"
       "With --out, render the report again with `blackout report out/report.json -f html`."},
      {"replay",
       "Examples:\n"
       "  blackout replay scenarios/explore/lsm-flush-missing-dir-fsync-reorder.json --state "
       "prefix:14 --to /tmp/state\n"
       "  blackout replay SCENARIO --point end --state prefix:12 --recover\n"
       "A report's `reproduce` line for a crash state is such a command. --to must be new or "
       "empty; without it the state goes into a new directory under $TMPDIR, named in the "
       "output. With --recover, the engine's log is written beside the directory (DIR.log), and "
       "the exit code is 1 when the state breaks an invariant (0 when it breaks none), as "
       "explore's."},
      {"minimize",
       "Examples:\n"
       "  blackout minimize scenarios/seed/no-directory-fsync-anywhere-wal-power.json\n"
       "  blackout minimize my.json --out my.min.json --max-tries 50 --jobs 2\n"
       "Keeps removing workload entries while the scenario still fails the same invariants "
       "(and finding); progress on stderr."},
  };
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (!sub->get_footer().empty()) continue;
    auto it = examples.find(sub->get_name());
    if (it != examples.end()) sub->footer(it->second);
  }
}

}  // namespace blackout::harness
