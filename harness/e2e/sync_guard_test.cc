// End-to-end: sync(2) and syncfs(2) of commands blackout starts reach the
// mount (harness/sync_guard.h). Each "survives" case has a twin without the
// guard, or with a sync aimed elsewhere, that loses the data: so the
// survivals are the guard's doing, not the mount forgetting to drop writes.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/e2e/mount_fixture.h"

namespace {

using blackout::e2e::BlackoutBin;
using blackout::e2e::CommandResult;
using blackout::e2e::MountFixture;
using blackout::e2e::ReadWholeFile;
using blackout::e2e::RunCommand;

std::vector<std::string> Guarded(const MountFixture& m, std::vector<std::string> command) {
  std::vector<std::string> argv = {BlackoutBin(), "sync-guard", "--mount", m.mnt(), "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

std::string Helper() {
  const char* h = std::getenv("SYNCFS_HELPER");
  if (h == nullptr) throw std::runtime_error("SYNCFS_HELPER is not set (run the test with ctest)");
  return h;
}

const char* kShell = "echo data > f && sync";

TEST_CASE("echo data > f && sync under the guard survives a power cut") {
  MountFixture m;
  const CommandResult r = RunCommand(Guarded(m, {"sh", "-c", kShell}), m.mnt());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  m.PowerCut();
  INFO("reproduce: " << m.Reproduce() << "; cd MNT; blackout sync-guard --mount MNT -- sh -c '"
                     << kShell << "'; blackout ctl MNT power-cut; cat MNT/f");
  CHECK(ReadWholeFile(m.Path("f")) == "data\n");
}

TEST_CASE("without the guard, the same sync never reaches the mount and the power cut loses f") {
  MountFixture m;
  const CommandResult r = RunCommand({"sh", "-c", kShell}, m.mnt());
  REQUIRE(r.exit_code == 0);
  m.PowerCut();
  CHECK_FALSE(std::filesystem::exists(m.Path("f")));
}

TEST_CASE("syncfs on the mount from a static binary under the guard makes its write durable") {
  MountFixture m;
  const CommandResult r = RunCommand(Guarded(m, {Helper(), m.Path("g"), "kept", m.mnt()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  m.PowerCut();
  CHECK(ReadWholeFile(m.Path("g")) == "kept");
}

TEST_CASE("syncfs of another file system under the guard does not make the mount durable") {
  MountFixture m;
  const CommandResult r = RunCommand(Guarded(m, {Helper(), m.Path("g"), "lost", m.scratch()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);  // the kernel ran the real syncfs of the scratch directory
  m.PowerCut();
  CHECK_FALSE(std::filesystem::exists(m.Path("g")));
}

TEST_CASE("the guard passes the command's exit status, and 127 for a command that cannot run") {
  MountFixture m;
  CHECK(RunCommand(Guarded(m, {"sh", "-c", "sync; exit 3"}), m.mnt()).exit_code == 3);
  const CommandResult missing = RunCommand(Guarded(m, {"/nonexistent/program"}));
  CHECK(missing.exit_code == 127);
  CHECK(missing.err.find("/nonexistent/program") != std::string::npos);
  // The guard's supervisor holds nothing on the mount: it unmounts at once.
  CHECK(RunCommand({BlackoutBin(), "umount", m.mnt()}).exit_code == 0);
}

TEST_CASE("record: a shell script's sync keeps its file in every crash state explore builds") {
  MountFixture skip_without_fuse;  // exits 77 without /dev/fuse
  const std::string dir = skip_without_fuse.scratch();
  const std::string check = "grep -q data f";
  for (const bool synced : {true, false}) {
    const std::string trace = dir + (synced ? "/synced.trace" : "/unsynced.trace");
    const CommandResult rec = RunCommand({BlackoutBin(), "record", "--out", trace, "--", "sh", "-c",
                                          synced ? kShell : "echo data > f"});
    INFO(rec.err);
    REQUIRE(rec.exit_code == 0);
    const CommandResult ex = RunCommand({BlackoutBin(), "explore", trace, "--check", check});
    INFO("reproduce: blackout explore " << trace << " --check '" << check << "'\n" << ex.out);
    CHECK(ex.exit_code == (synced ? 0 : 1));
  }
}

TEST_CASE("exec workload: an ack after sync is kept; the same ack without sync is lost") {
  MountFixture skip_without_fuse;
  const std::string dir = skip_without_fuse.scratch();
  auto scenario = [&](const std::string& name, const std::string& sync, const std::string& v) {
    const nlohmann::json s = {
        {"name", name},
        {"description", "a shell workload that acks after writing a file"},
        {"exec",
         {{"workload", "echo x > \"$BLACKOUT_MNT/f\"" + sync + " && echo ack 1"},
          {"check", "grep -q x \"$BLACKOUT_MNT/f\" 2>/dev/null && echo 1; true"}}},
        {"fs", {{"model", "posix-strict"}}},
        {"crash", {{"kind", "power"}, {"at", "end"}, {"states", {"drop-all"}}}},
        {"check", {"recovers", "acked-durable"}},
        {"expect", {{"violations", v.empty() ? nlohmann::json::array() : nlohmann::json{v}}}}};
    std::ofstream(dir + "/" + name + ".json") << s.dump(2);
  };
  scenario("sync-acked", " && sync", "");
  scenario("nosync-acked", "", "acked-durable");
  const CommandResult run =
      RunCommand({BlackoutBin(), "run", dir + "/sync-acked.json", dir + "/nosync-acked.json",
                  "--out", dir + "/out"});
  INFO("reproduce: blackout run " << dir << "/sync-acked.json " << dir << "/nosync-acked.json\n"
                                  << run.out << run.err);
  CHECK(run.exit_code == 0);
}

}  // namespace
