// Bad input to mount/umount/ctl: one clear error each, exit 2, nothing left
// mounted; and SIGTERM to the daemon unmounts cleanly.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <thread>

#include "harness/e2e/fusefs_test_util.h"
#include "harness/e2e/mount_fixture.h"

namespace blackout::e2e {
namespace {

// A scratch directory (not a mount) removed at scope exit.
struct TempDir {
  TempDir() : path(MakeTempDir("blackout-e2e-bad")) {}
  ~TempDir() {
    if (MountTypeAt(path + "/mnt").empty()) std::filesystem::remove_all(path);
  }
  std::string path;
};

CommandResult Blackout(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BlackoutBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST_CASE("mount on a missing path exits 2 naming the path, and mounts nothing") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string missing = t.path + "/does-not-exist";
  const CommandResult r = Blackout({"mount", missing});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(missing) != std::string::npos);
  CHECK(r.err.find("does not exist") != std::string::npos);
  CHECK(Lines(r.err) == 1);
  CHECK(MountTypeAt(missing).empty());
  CHECK_FALSE(Exists(missing + ".ctl"));
}

TEST_CASE("mount with its control socket or FIFO inside the mount point exits 2 at once") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  std::filesystem::create_directory_symlink(mnt, t.path + "/link");
  // The daemon would make the socket, or open the FIFO, inside its own mount
  // before it serves it, and wait on itself: `timeout` turns such a hang into
  // a failure here instead of a stuck test.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--ctl", mnt + "/inner.ctl"},
        std::vector<std::string>{"--ctl", t.path + "/link/sub/inner.ctl"},
        std::vector<std::string>{"--ctl", mnt},
        std::vector<std::string>{"--lazyfs-fifo", mnt + "/faults.fifo"}}) {
    INFO(args[0] << " " << args[1]);
    std::vector<std::string> argv = {"timeout", "-s", "KILL", "20", BlackoutBin(), "mount", mnt};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = RunCommand(argv);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(args[0] + " " + args[1] + " is inside the mount point " + mnt) !=
          std::string::npos);
    CHECK(Lines(r.err) == 1);
    CHECK(MountTypeAt(mnt).empty());
  }
  // A socket beside the mount point, whose name starts like it, is outside.
  const CommandResult ok = Blackout({"mount", mnt, "--ctl", mnt + "-beside.ctl"});
  REQUIRE(ok.exit_code == 0);
  CHECK(Blackout({"ctl", mnt, "status", "--ctl", mnt + "-beside.ctl"}).exit_code == 0);
  CHECK(Blackout({"umount", mnt, "--ctl", mnt + "-beside.ctl"}).exit_code == 0);
  CHECK(MountTypeAt(mnt).empty());
}

TEST_CASE("mount with an unknown model exits 2 and lists the models") {
  ExitSkippedWithoutFuse();
  TempDir t;
  std::filesystem::create_directory(t.path + "/mnt");
  const CommandResult r = Blackout({"mount", t.path + "/mnt", "--model", "zfs"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("posix-strict, ext4-ordered, ext4-writeback, btrfs, xfs") != std::string::npos);
  CHECK(MountTypeAt(t.path + "/mnt").empty());
}

TEST_CASE("mount with --dirty-limit not a size, or without --writeback-cache, exits 2") {
  ExitSkippedWithoutFuse();
  TempDir t;
  std::filesystem::create_directory(t.path + "/mnt");
  CommandResult r =
      Blackout({"mount", t.path + "/mnt", "--writeback-cache", "--dirty-limit", "lots"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--dirty-limit 'lots' is not a size") != std::string::npos);
  CHECK(Lines(r.err) == 1);
  r = Blackout({"mount", t.path + "/mnt", "--dirty-limit", "64M"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--dirty-limit requires --writeback-cache") != std::string::npos);
  CHECK(MountTypeAt(t.path + "/mnt").empty());
}

TEST_CASE("mount with a spill directory that is missing, in memory or inside the mount exits 2") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases = {
      {{"--spill-dir", t.path + "/missing"},
       "--spill-dir " + t.path + "/missing is not an existing directory"},
      {{"--spill-dir", mnt}, "--spill-dir " + mnt + " is inside the mount point " + mnt},
      {{"--spill-after", "lots"}, "--spill-after 'lots' is not a size"},
      {{"--no-spill", "--spill-dir", t.path}, "--no-spill excludes --spill-dir"},
  };
  // /dev/shm is tmpfs: the daemon refuses it before it mounts.
  if (std::filesystem::is_directory("/dev/shm")) {
    cases.push_back({{"--spill-dir", "/dev/shm"}, "spill directory /dev/shm is on tmpfs"});
  }
  for (const Case& c : cases) {
    INFO(c.args[0] << " " << c.args[1]);
    std::vector<std::string> argv = {"mount", mnt};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const CommandResult r = Blackout(argv);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.says) != std::string::npos);
    // CLI11 adds a hint line to its own errors (the flags that exclude each other).
    if (c.args[0] != "--no-spill") CHECK(Lines(r.err) == 1);
    CHECK(MountTypeAt(mnt).empty());
    CHECK_FALSE(Exists(mnt + ".ctl"));
  }
}

TEST_CASE("mount with two transports, or an unknown BLACKOUT_TRANSPORT, exits 2 naming it") {
  ExitSkippedWithoutFuse();
  TempDir t;
  std::filesystem::create_directory(t.path + "/mnt");
  CommandResult r = Blackout({"mount", t.path + "/mnt", "--io-uring", "--dev-fuse"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--io-uring excludes --dev-fuse") != std::string::npos);
  r = RunCommand({"env", "BLACKOUT_TRANSPORT=uring", BlackoutBin(), "mount", t.path + "/mnt"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("BLACKOUT_TRANSPORT=uring is unknown; transports: auto, io-uring, dev-fuse") !=
        std::string::npos);
  CHECK(Lines(r.err) == 1);
  CHECK(MountTypeAt(t.path + "/mnt").empty());
}

TEST_CASE("a second mount on the same path exits 2 and leaves the first one working") {
  MountFixture m;
  const CommandResult r = Blackout({"mount", m.mnt()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("already a mount point") != std::string::npos);
  CHECK(Lines(r.err) == 1);
  CHECK(m.Ctl({"status"})["ok"] == true);
  WriteFile(m.Path("still-works"), "yes", false);
  CHECK(ReadFileIfExists(m.Path("still-works")) == "yes");
}

TEST_CASE("a second mount elsewhere with a control socket in use exits 2") {
  MountFixture m;
  TempDir t;
  std::filesystem::create_directory(t.path + "/mnt");
  const CommandResult r = Blackout({"mount", t.path + "/mnt", "--ctl", m.socket()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("in use") != std::string::npos);
  CHECK(MountTypeAt(t.path + "/mnt").empty());
}

TEST_CASE("ctl with an unknown command or a missing argument exits 2 with one clear error") {
  MountFixture m;
  const uint64_t epoch = m.Ctl({"status"})["epoch"];
  CommandResult r = m.CtlCommand({"reboot"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown command 'reboot'") != std::string::npos);
  CHECK(r.err.find("power-cut") != std::string::npos);
  CHECK(Lines(r.err) == 1);
  r = m.CtlCommand({"snapshot"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("snapshot needs a directory") != std::string::npos);
  r = m.CtlCommand({"power-cut", "--state", "half"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("drop-all, keep-all") != std::string::npos);
  r = Blackout({"ctl", m.mnt()});
  CHECK(r.exit_code == 2);
  // Nothing of that changed the mount.
  CHECK(m.Ctl({"status"})["epoch"] == epoch);
}

// One request on the control socket, as a program other than `blackout ctl`
// would send it; returns the reply line.
std::string RawRequest(const std::string& socket_path, const nlohmann::json& request) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path.c_str());
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  const std::string line = request.dump() + "\n";
  REQUIRE(write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  std::string reply;
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') reply.push_back(c);
  close(fd);
  return reply;
}

TEST_CASE("ctl asked to write its output inside the mount exits 2 and leaves the state as it was") {
  MountFixture m;
  WriteFile(m.Path("pending"), "not synced", false);
  const nlohmann::json before = m.Ctl({"status"});
  // Directly, relative to the working directory, and through a symbolic link
  // outside the mount that leads into it.
  const std::string link = m.scratch() + "/into-mount";
  std::filesystem::create_directories(m.scratch());
  std::filesystem::create_directory_symlink(m.mnt(), link);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"snapshot", m.Path("snap")},
        std::vector<std::string>{"snapshot", link + "/deeper/snap", "--view", "volatile"},
        std::vector<std::string>{"saved-points", m.mnt()}}) {
    INFO(args[0] << " " << args[1]);
    const CommandResult r = m.CtlCommand(args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(args[1] + " is inside the mount " + m.mnt()) != std::string::npos);
    CHECK(Lines(r.err) == 1);
  }
  // The daemon refuses the same requests from any other client.
  for (const nlohmann::json& request :
       {nlohmann::json{{"cmd", "snapshot"}, {"dir", link + "/snap"}},
        nlohmann::json{{"cmd", "saved-points"}, {"dir", m.mnt()}},
        nlohmann::json{{"cmd", "crash-point"}, {"path", m.Path("point.bin")}}}) {
    INFO(request.dump());
    const nlohmann::json reply = nlohmann::json::parse(RawRequest(m.socket(), request));
    CHECK(reply["ok"] == false);
    CHECK(reply["error"].get<std::string>().find("is inside the mount") != std::string::npos);
  }
  CHECK_FALSE(Exists(m.Path("snap")));
  CHECK_FALSE(Exists(m.Path("point.bin")));
  const nlohmann::json after = m.Ctl({"status"});
  CHECK(after["pending_ops"] == before["pending_ops"]);
  CHECK(after["seq"] == before["seq"]);
  // A directory beside the mount, whose name starts like the mount's, is outside it.
  const std::string beside = m.mnt() + "-snapshot";
  CHECK(m.CtlCommand({"snapshot", beside}).exit_code == 0);
  CHECK(ReadFileIfExists(beside + "/pending") == std::nullopt);  // durable view: never synced
  std::filesystem::remove_all(beside);
}

TEST_CASE("ctl failing inside the daemon exits 1 with the daemon's error") {
  MountFixture m;
  // Materializing into a non-empty directory fails in the model.
  WriteFile(m.scratch() + "/occupied", "x", false);
  const CommandResult r = m.CtlCommand({"snapshot", m.scratch()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("snapshot") != std::string::npos);
  CHECK(nlohmann::json::parse(r.out)["ok"] == false);
}

TEST_CASE("ctl on a socket nobody answers exits 2, names the socket and suggests mount") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", (mnt + ".ctl").c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    close(fd);  // what a daemon killed with -9 leaves behind
  }
  const CommandResult r = Blackout({"ctl", mnt, "status"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(mnt + ".ctl") != std::string::npos);
  CHECK(r.err.find("blackout mount") != std::string::npos);
  CHECK(Lines(r.err) == 1);

  SECTION("mount then removes the stale socket and works") {
    const CommandResult mounted = Blackout({"mount", mnt});
    REQUIRE(mounted.exit_code == 0);
    CHECK(MountTypeAt(mnt) == "fuse.blackout");
    CHECK(Blackout({"umount", mnt}).exit_code == 0);
    CHECK(MountTypeAt(mnt).empty());
  }
}

TEST_CASE("umount of a path that is not a blackout mount exits 2") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const CommandResult r = Blackout({"umount", t.path});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("not a blackout mount") != std::string::npos);
}

TEST_CASE("SIGTERM, SIGINT or SIGHUP to the daemon unmounts cleanly and removes the socket") {
  ExitSkippedWithoutFuse();
  const int sig = GENERATE(SIGTERM, SIGINT, SIGHUP);
  INFO("signal " << sig);
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  const CommandResult r = Blackout({"mount", mnt});
  REQUIRE(r.exit_code == 0);
  std::smatch match;
  const bool has_pid = std::regex_search(r.out, match, std::regex("pid ([0-9]+)"));
  if (!has_pid) (void)Blackout({"umount", mnt});
  REQUIRE(has_pid);
  const pid_t pid = std::stoi(match[1]);
  WriteFile(mnt + "/f", "x", false);
  REQUIRE(kill(pid, sig) == 0);
  bool gone = false;
  for (int i = 0; i < 250 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gone = MountTypeAt(mnt).empty() && kill(pid, 0) != 0;
  }
  if (!gone) (void)RunCommand({"fusermount3", "-u", "-z", mnt});
  CHECK(gone);
  CHECK_FALSE(Exists(mnt + ".ctl"));
}

TEST_CASE("a test process that ends through std::terminate unmounts its fixtures' mounts") {
  ExitSkippedWithoutFuse();
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No destructor runs from here on, as when Catch2's reporter throws.
    signal(SIGABRT, SIG_DFL);
    close(pipe_fds[0]);
    MountFixture m;
    const std::string line = m.mnt() + "\n";
    if (write(pipe_fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
    std::terminate();
  }
  close(pipe_fds[1]);
  std::string mnt;
  char c;
  while (read(pipe_fds[0], &c, 1) == 1 && c != '\n') mnt += c;
  close(pipe_fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE_FALSE(mnt.empty());
  INFO("the child's mount point: " << mnt);
  const bool left = !MountTypeAt(mnt).empty();
  if (left) (void)RunCommand({"fusermount3", "-u", "-z", mnt});
  CHECK(WIFSIGNALED(status));
  CHECK_FALSE(left);
  CHECK_FALSE(Exists(std::filesystem::path(mnt).parent_path().string()));  // its directory too
}

TEST_CASE("after kill -9 of the daemon, umount falls back to fusermount3 and a remount works") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  const CommandResult r = Blackout({"mount", mnt, "--model", "ext4-ordered"});
  REQUIRE(r.exit_code == 0);
  std::smatch match;
  const bool has_pid = std::regex_search(r.out, match, std::regex("pid ([0-9]+)"));
  if (!has_pid) (void)Blackout({"umount", mnt});
  REQUIRE(has_pid);
  const pid_t pid = std::stoi(match[1]);
  kill(pid, SIGKILL);
  for (int i = 0; i < 250 && kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const CommandResult u = Blackout({"umount", mnt});
  if (!MountTypeAt(mnt).empty()) (void)RunCommand({"fusermount3", "-u", "-z", mnt});
  CHECK(u.exit_code == 0);
  CHECK(u.err.find("fusermount3") != std::string::npos);
  CHECK(MountTypeAt(mnt).empty());
  // The dead daemon's socket is stale; mount replaces it.
  REQUIRE(Blackout({"mount", mnt}).exit_code == 0);
  const CommandResult status = Blackout({"ctl", mnt, "status"});
  CHECK(status.exit_code == 0);
  CHECK(nlohmann::json::parse(status.out)["model"] == "posix-strict");
  CHECK(Blackout({"umount", mnt}).exit_code == 0);
  if (!MountTypeAt(mnt).empty()) (void)RunCommand({"fusermount3", "-u", "-z", mnt});
  CHECK(MountTypeAt(mnt).empty());
}

TEST_CASE("a mount left behind by a killed daemon is cleaned up by the next mount") {
  ExitSkippedWithoutFuse();
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  const CommandResult r = Blackout({"mount", mnt});
  REQUIRE(r.exit_code == 0);
  std::smatch match;
  const bool has_pid = std::regex_search(r.out, match, std::regex("pid ([0-9]+)"));
  if (!has_pid) (void)Blackout({"umount", mnt});
  REQUIRE(has_pid);
  const pid_t pid = std::stoi(match[1]);
  kill(pid, SIGKILL);
  for (int i = 0; i < 250 && kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(MountTypeAt(mnt) == "fuse.blackout");  // the stale mount is still there
  const CommandResult again = Blackout({"mount", mnt});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("stale blackout mount") != std::string::npos);
  CHECK(Blackout({"ctl", mnt, "status"}).exit_code == 0);
  CHECK(Blackout({"umount", mnt}).exit_code == 0);
  if (!MountTypeAt(mnt).empty()) (void)RunCommand({"fusermount3", "-u", "-z", mnt});
  CHECK(MountTypeAt(mnt).empty());
}

}  // namespace
}  // namespace blackout::e2e
