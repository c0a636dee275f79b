// Real programs on blackoutfs: sqlite3 in WAL and DELETE journal modes, git,
// and fio with verification. Each test prints the mount command and the
// program's output when it fails.
#include <catch2/catch.hpp>

#include "harness/e2e/fusefs_test_util.h"
#include "harness/e2e/mount_fixture.h"

namespace blackout::e2e {
namespace {

bool Have(const std::string& program) {
  return RunCommand({"sh", "-c", "command -v " + program}).exit_code == 0;
}

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

TEST_CASE("sqlite3 works in WAL and DELETE journal modes and stays consistent after a power cut") {
  if (!Have("sqlite3")) FAIL("sqlite3 is not installed (scripts/deps.sh installs it)");
  const std::string mode = GENERATE(as<std::string>{}, "WAL", "DELETE");
  MountFixture m;
  INFO(m.Reproduce() << " ; journal_mode " << mode);
  const std::string db = m.Path("test.db");
  const CommandResult create =
      RunCommand({"sqlite3", db,
                  "PRAGMA journal_mode=" + mode +
                      ";"
                      "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<2000)"
                      " INSERT INTO t(v) SELECT printf('value-%05d', i) FROM n;"
                      "CREATE INDEX tv ON t(v);"});
  INFO(Describe(create));
  REQUIRE(create.exit_code == 0);
  for (int i = 0; i < 5; ++i) {
    const CommandResult insert =
        RunCommand({"sqlite3", db, "INSERT INTO t(v) VALUES ('txn-" + std::to_string(i) + "');"});
    INFO(Describe(insert));
    REQUIRE(insert.exit_code == 0);
  }
  const CommandResult check =
      RunCommand({"sqlite3", db, "PRAGMA integrity_check; SELECT count(*) FROM t;"});
  INFO(Describe(check));
  CHECK(check.out == "ok\n2005\n");
  // SQLite fsyncs its files, so what survives must still be a consistent
  // database (how many transactions survive depends on its directory syncs).
  m.PowerCut();
  if (Exists(db)) {
    const CommandResult after = RunCommand({"sqlite3", db, "PRAGMA integrity_check;"});
    INFO(Describe(after));
    CHECK(after.out == "ok\n");
  }
}

TEST_CASE("git init, add, commit and fsck work on the mount") {
  if (!Have("git")) FAIL("git is not installed");
  MountFixture m;
  INFO(m.Reproduce());
  const std::string repo = m.Path("repo");
  std::filesystem::create_directory(repo);
  WriteFile(repo + "/README", "hello from blackoutfs\n", false);
  std::filesystem::create_directory(repo + "/src");
  WriteFile(repo + "/src/main.c", "int main(void) { return 0; }\n", false);
  const std::vector<std::vector<std::string>> steps = {
      {"git", "init", "-q"},
      {"git", "add", "-A"},
      {"git", "-c", "user.name=blackout", "-c", "user.email=blackout@example.invalid", "commit",
       "-q", "-m", "first"},
      {"git", "fsck", "--full", "--strict"},
      {"git", "log", "--oneline"}};
  for (const auto& step : steps) {
    const CommandResult r = RunCommand(step, repo);
    INFO(step[1] << ": " << Describe(r));
    REQUIRE(r.exit_code == 0);
  }
}

TEST_CASE("fio random writes verify with crc32c") {
  if (!Have("fio")) FAIL("fio is not installed (scripts/deps.sh installs it)");
  MountFixture m;
  INFO(m.Reproduce());
  const CommandResult r =
      RunCommand({"fio", "--name=randwrite", "--directory=" + m.mnt(), "--rw=randwrite", "--bs=4k",
                  "--size=8m", "--ioengine=psync", "--verify=crc32c", "--do_verify=1",
                  "--verify_fatal=1", "--fsync=16", "--numjobs=1"});
  INFO(Describe(r));
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("verify") == std::string::npos);
}

}  // namespace
}  // namespace blackout::e2e
