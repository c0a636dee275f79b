// End-to-end: `blackout record` then `blackout explore` on a shell command,
// the quickest way to ask "is my program crash-safe?".
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness/e2e/process_state.h"
#include "harness/process_cgroup.h"

namespace {

struct Ran {
  int exit_code = -1;
  std::string out;
};

// Starts `argv` with stdout and stderr to `log`; returns its pid.
pid_t Start(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Ran Run(const std::vector<std::string>& argv) {
  char tmpl[] = "/tmp/blackout-rec-out-XXXXXX";
  close(mkstemp(tmpl));
  const int code = WaitExit(Start(argv, tmpl));
  const std::string out = ReadWhole(tmpl);
  unlink(tmpl);
  return {code, out};
}

std::string Bin() {
  const char* b = std::getenv("BLACKOUT_BIN");
  return b != nullptr ? b : "blackout";
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/blackout-rec-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// No mount left under `dir` (record mounts under $TMPDIR, set to the test's
// own directory, so other runs on the machine do not count).
bool NoMountLeft(const std::string& dir) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + dir + "/") != std::string::npos) return false;
  }
  return true;
}

// Records `script` (sh -c) into `trace` with the mount under dir; REQUIREs success.
void RecordScript(const std::string& dir, const std::string& trace, const std::string& script) {
  const Ran rec =
      Run({"env", "TMPDIR=" + dir, Bin(), "record", "--out", trace, "--", "sh", "-c", script});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
}

const char* kCheck = "test \"$(cat data.txt)\" = 'hello'";

TEST_CASE("explore finds the crash state that loses a file written without fsync") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/nosync.trace";
  const Ran rec = Run({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", trace, "--", "sh",
                       "-c",
                       "test \"$BLACKOUT_MNT\" = \"$PWD\" && echo hello > data.txt && "
                       "echo \"mnt=$BLACKOUT_MNT\""});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  CHECK(rec.out.find("mnt=" + t.path + "/blackout-run-") != std::string::npos);  // $TMPDIR
  CHECK(NoMountLeft(t.path));
  const Ran ex = Run({Bin(), "explore", trace, "--check", kCheck, "--out", t.path + "/report"});
  INFO("reproduce: blackout explore " << trace << " --check '" << kCheck << "'\n" << ex.out);
  CHECK(ex.exit_code == 1);
  CHECK(ex.out.find("VIOLATION drop-all") != std::string::npos);
  std::ifstream in(t.path + "/report/report.json");
  const nlohmann::json report = nlohmann::json::parse(in);
  CHECK(report["kind"] == "explore");
  CHECK(report["violations"].get<int>() >= 1);
  // The shared report schema: the trace is one scenario, each state a crash state.
  CHECK(report["summary"]["unexpected"] == 1);
  REQUIRE(report["scenarios"].size() == 1);
  CHECK(report["scenarios"][0]["outcome"] == "unexpected");
  CHECK(report["scenarios"][0]["crash_states"][0]["violations"][0]["invariant"] == "check");
  for (const char* f : {"report.md", "report.html", "junit.xml"}) {
    CHECK(std::filesystem::exists(t.path + "/report/" + f));
  }
  std::ifstream junit(t.path + "/report/junit.xml");
  const std::string xml((std::istreambuf_iterator<char>(junit)), std::istreambuf_iterator<char>());
  CHECK(xml.find("<failure") != std::string::npos);
  // The printed reproduce line, quotes in the check and all, runs as printed.
  const size_t at = ex.out.find("reproduce: blackout explore ");
  REQUIRE(at != std::string::npos);
  const size_t cmd = at + std::string("reproduce: blackout").size();
  const std::string line = ex.out.substr(cmd, ex.out.find('\n', cmd) - cmd);
  const Ran again = Run({"sh", "-c", "'" + Bin() + "'" + line});
  CHECK(again.exit_code == 1);
  CHECK(again.out.find(": 1 crash state(s) (") != std::string::npos);  // that state alone
  // So does the line that mounts the state (here under the test's directory).
  const size_t look = ex.out.find("look at it on a live mount: ");
  REQUIRE(look != std::string::npos);
  const size_t from = look + std::string("look at it on a live mount: ").size();
  std::string mount_line = ex.out.substr(from, ex.out.find('\n', from) - from);
  mount_line = std::regex_replace(mount_line, std::regex("&& blackout "), "&& '" + Bin() + "' ");
  // Twice: each mounts the state in a directory of its own, which it names.
  for (int run = 0; run < 2; ++run) {
    const Ran mounted = Run({"env", "TMPDIR=" + t.path, "sh", "-c", mount_line});
    INFO(mount_line << "\n" << mounted.out);
    CHECK(mounted.exit_code == 0);
    const size_t named = mounted.out.find("mounted at ");
    REQUIRE(named != std::string::npos);
    const size_t dir_from = named + std::string("mounted at ").size();
    const std::string state_dir =
        mounted.out.substr(dir_from, mounted.out.find(' ', dir_from) - dir_from);
    CHECK(state_dir.rfind(t.path + "/", 0) == 0);
    CHECK_FALSE(std::filesystem::exists(state_dir + "/data.txt"));  // drop-all lost it
    CHECK(Run({Bin(), "umount", state_dir}).exit_code == 0);
  }
}

TEST_CASE("explore names what each violating state lost and the fsync that would have saved it") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/save.trace";
  // The atomic-save pattern with the file fsynced and its directory not:
  // conf/ itself is durable (the root is fsynced after the mkdir).
  const Ran rec =
      Run({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", trace, "--", "python3", "-c",
           "import os\n"
           "os.mkdir('conf')\n"
           "root = os.open('.', os.O_RDONLY); os.fsync(root)\n"
           "with open('conf/c.tmp', 'w') as f:\n"
           "    f.write('v2'); f.flush(); os.fsync(f.fileno())\n"
           "os.rename('conf/c.tmp', 'conf/c')\n"});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  const Ran ex =
      Run({Bin(), "explore", trace, "--check", "grep -q v2 conf/c", "--out", t.path + "/report"});
  INFO(ex.out);
  CHECK(ex.exit_code == 1);
  CHECK(ex.out.find("VIOLATION drop-all: check exited") != std::string::npos);
  CHECK(ex.out.find("lost: #") != std::string::npos);
  CHECK(ex.out.find("create /conf/c.tmp") != std::string::npos);
  CHECK(ex.out.find("rename /conf/c.tmp -> /conf/c") != std::string::npos);
  // The directory's fsync, not the file's (which the program made): the
  // diagnosis re-ran the check in the state that fsync would have left.
  CHECK(ex.out.find("fix: fsync of directory conf/ after trace #") != std::string::npos);
  CHECK(ex.out.find("(rename conf/c.tmp -> conf/c) would have prevented") != std::string::npos);
  CHECK(ex.out.find("fix: fsync of file") == std::string::npos);

  std::ifstream in(t.path + "/report/report.json");
  const nlohmann::json report = nlohmann::json::parse(in);
  REQUIRE(report["scenarios"].size() == 1);
  const nlohmann::json& scenario = report["scenarios"][0];
  CHECK(scenario["findings"] == nlohmann::json::array({"exec-directory-not-fsynced"}));
  size_t diagnosed = 0;
  for (const nlohmann::json& st : scenario["crash_states"]) {
    if (st["violations"].empty()) continue;
    REQUIRE(st.contains("exploration"));
    const nlohmann::json& dg = st["exploration"]["diagnosis"];
    CHECK(dg["found"] == true);
    REQUIRE(dg["fixes"].size() == 1);
    CHECK(dg["fixes"][0]["sync"] == "fsync-dir");
    CHECK(dg["fixes"][0]["path"] == "conf");
    CHECK(st["pending_at_crash"].dump().find("rename /conf/c.tmp -> /conf/c") != std::string::npos);
    // Reproducible offline, from the trace, as the summary prints it.
    CHECK(st["reproduce"].get<std::string>().rfind("blackout explore '" + trace + "'", 0) == 0);
    CHECK(st["reproduce"].get<std::string>().find(
              "--states " + st["exploration"]["id"].get<std::string>() + " ") != std::string::npos);
    ++diagnosed;
  }
  CHECK(diagnosed == report["violations"].get<size_t>());

  // --diagnose bounds the re-checks: the first violating state only.
  const Ran one = Run({Bin(), "explore", trace, "--check", "grep -q v2 conf/c", "--diagnose", "1"});
  INFO(one.out);
  CHECK(one.exit_code == 1);
  const size_t fixes = [&] {
    size_t n = 0;
    for (size_t at = one.out.find("fix: "); at != std::string::npos;
         at = one.out.find("fix: ", at + 1))
      ++n;
    return n;
  }();
  CHECK(fixes == 1);
  CHECK(one.out.find("diagnosed the first 1 of " + std::to_string(diagnosed) + " violations") !=
        std::string::npos);
}

TEST_CASE(
    "explore --states takes a crash-state id as explore lists it and checks that state alone; "
    "an id the point does not have exits 2") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/three.trace";
  RecordScript(t.path, trace, "echo a > a && echo b > b && echo c > c");
  const std::string check = "test -f a && test -f b && test -f c";
  const Ran all = Run({Bin(), "explore", trace, "--check", check, "--states", "reorder:2", "--out",
                       t.path + "/all"});
  REQUIRE(all.exit_code == 1);
  std::ifstream in(t.path + "/all/report.json");
  const nlohmann::json report = nlohmann::json::parse(in);
  // A state that drops two ops: its id lists them with a comma, which
  // --states also splits at.
  std::string id;
  for (const auto& st : report["scenarios"][0]["crash_states"]) {
    const std::string sid = st.value("exploration", nlohmann::json::object()).value("id", "");
    if (sid.find(',') != std::string::npos) id = sid;
  }
  REQUIRE_FALSE(id.empty());
  for (const std::string& states : {id, "drop-all," + id}) {
    const Ran one = Run({Bin(), "explore", trace, "--check", check, "--states", states});
    INFO(one.out);
    CHECK(one.exit_code == 1);
    CHECK(one.out.find(states == id ? ": 1 crash state(s) (" + id + ", model"
                                    : ": 2 crash state(s) (drop-all, " + id + ", model") !=
          std::string::npos);
    CHECK(one.out.find("VIOLATION " + id + ":") != std::string::npos);
  }
  const Ran bad = Run({Bin(), "explore", trace, "--check", check, "--states", "prefix:999"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("--states prefix:999 is neither a generator") != std::string::npos);
  // It names ids the generator does give here, and they are taken.
  const size_t listed = bad.out.find("; its generator prefix gives ");
  REQUIRE(listed != std::string::npos);
  const size_t first = bad.out.find(" here: ", listed) + 7;
  const std::string example = bad.out.substr(first, bad.out.find_first_of(",\n", first) - first);
  CHECK(example.rfind("prefix:", 0) == 0);
  const Ran taken = Run({Bin(), "explore", trace, "--check", check, "--states", example});
  CHECK(taken.exit_code != 2);
  CHECK(taken.out.find(": 1 crash state(s) (" + example + ", model") != std::string::npos);
  // A check's time limit is part of its verdict: the reproduce line keeps it.
  const Ran timed = Run(
      {Bin(), "explore", trace, "--check", "false", "--states", "drop-all", "--timeout", "7.5"});
  CHECK(timed.out.find("--states drop-all --model posix-strict --seed 1 --timeout 7.5") !=
        std::string::npos);
}

TEST_CASE("explore --jobs runs checks side by side and reports what one at a time reports") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/files.trace";
  // Eight files, each fsynced, their directory entries not.
  RecordScript(t.path, trace,
               "mkdir d && for i in 1 2 3 4 5 6 7 8; do echo r$i > d/f$i && sync d/f$i; done");
  // The check counts its runs outside the state, and each sleeps a little,
  // so that two jobs overlap.
  const std::string runs = t.path + "/runs";
  const std::string check =
      "echo x >> " + runs + "; sleep 0.1; test $(ls d 2>/dev/null | wc -l) -eq 8";
  std::string reports[2];
  for (int jobs : {1, 2}) {
    std::filesystem::remove(runs);
    const std::string out = t.path + "/report-" + std::to_string(jobs);
    const Ran ex = Run(
        {Bin(), "explore", trace, "--check", check, "--jobs", std::to_string(jobs), "--out", out});
    INFO(ex.out);
    CHECK(ex.exit_code == 1);
    std::ifstream in(out + "/report.json");
    nlohmann::json report = nlohmann::json::parse(in);
    CHECK(report["jobs"] == jobs);
    const nlohmann::json& scenario = report["scenarios"][0];
    // The check ran once per listed state and once per re-check no state
    // answered; here every candidate state is a listed one.
    int rechecks = 0, known = 0;
    for (const auto& st : scenario["crash_states"]) {
      if (!st["exploration"].contains("diagnosis")) continue;
      rechecks += st["exploration"]["diagnosis"]["rechecks"].get<int>();
      known += st["exploration"]["diagnosis"]["rechecks_known"].get<int>();
    }
    CHECK(rechecks > 0);
    CHECK(known == rechecks);
    const std::string counted = ReadWhole(runs);
    CHECK(std::count(counted.begin(), counted.end(), '\n') ==
          static_cast<long>(scenario["crash_states"].size()));
    // The same report but for times and temporary paths.
    for (auto& st : report["scenarios"][0]["crash_states"]) st.erase("seconds");
    reports[jobs - 1] = std::regex_replace(report["scenarios"][0]["crash_states"].dump(),
                                           std::regex("/tmp/blackout-explore-[A-Za-z0-9]+"), "T");
  }
  CHECK(reports[0] == reports[1]);
  // A count that is no count: one error naming the option, exit 2.
  const Ran bad = Run({Bin(), "explore", trace, "--check", "true", "--jobs", "0"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("--jobs") != std::string::npos);
  CHECK(NoMountLeft(t.path));
}

TEST_CASE("explore that runs for a while reports its progress in a log") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/appends.trace";
  RecordScript(t.path, trace, "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo $i >> f; done");
  // A dozen crash states or more at 0.5 s each: past the 5 s after which a
  // log (stderr not a terminal, as here) gets a progress line.
  const Ran ex = Run({Bin(), "explore", trace, "--check", "sleep 0.5", "--states", "prefix"});
  INFO(ex.out);
  CHECK(ex.exit_code == 0);
  const std::regex line(R"(explore: \d+/\d+ crash states checked, 0 violation\(s\), \d+ s\n)");
  CHECK(std::regex_search(ex.out, line));
  CHECK(ex.out.find("\r") == std::string::npos);  // no terminal control in a log
}

// The pid the command wrote to `file`, once it has (up to 20 s).
pid_t WaitPidFile(const std::string& file) {
  for (int i = 0; i < 2000; ++i) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    usleep(10000);
  }
  return 0;
}

TEST_CASE("Ctrl-C during record or explore stops the command, unmounts, and leaves nothing") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  // The command runs in a process group of its own, which the terminal's
  // SIGINT does not reach: blackout must stop it.
  const std::string pid_file = t.path + "/command.pid";
  const std::string trace = t.path + "/never.trace";
  const std::string log = t.path + "/record.log";
  pid_t blackout = Start({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", trace, "--", "sh",
                          "-c", "echo $$ > " + pid_file + "; exec sleep 60"},
                         log);
  pid_t command = WaitPidFile(pid_file);
  REQUIRE(command > 0);
  kill(blackout, SIGINT);
  CHECK(WaitExit(blackout) == 2);
  INFO(ReadWhole(log));
  CHECK(ReadWhole(log).find("record: interrupted") != std::string::npos);
  CHECK_FALSE(blackout::e2e::ProcessRunning(command));
  CHECK(NoMountLeft(t.path));
  CHECK_FALSE(std::filesystem::exists(trace));

  // explore: the same for the check, and no materialized state left.
  RecordScript(t.path, trace, "echo a > f");
  std::filesystem::remove(pid_file);
  blackout = Start({"env", "TMPDIR=" + t.path, Bin(), "explore", trace, "--check",
                    "echo $$ > " + pid_file + "; exec sleep 60", "--out", t.path + "/report"},
                   log);
  command = WaitPidFile(pid_file);
  REQUIRE(command > 0);
  kill(blackout, SIGTERM);
  CHECK(WaitExit(blackout) == 2);
  CHECK(ReadWhole(log).find("explore: interrupted") != std::string::npos);
  CHECK_FALSE(blackout::e2e::ProcessRunning(command));
  for (const auto& entry : std::filesystem::directory_iterator(t.path)) {
    CHECK(entry.path().filename().string().rfind("blackout-explore-", 0) != 0);
  }
  CHECK_FALSE(std::filesystem::exists(t.path + "/report/report.json"));
}

TEST_CASE("record stops what its command left running in the background, then unmounts") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string pid_file = t.path + "/background.pid";
  // A server started with setsid leaves the command's process group; the
  // command's cgroup leaf holds it where the machine has cgroup v2.
  const std::string server_file = t.path + "/server.pid";
  const bool leaves = blackout::harness::ProcessCgroup::Supported();
  const std::string server =
      leaves ? "; setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! > " + server_file : "";
  const Ran rec = Run({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", t.path + "/bg.trace",
                       "--", "sh", "-c", "sleep 60 & echo $! > " + pid_file + server});
  INFO(rec.out);
  CHECK(rec.exit_code == 0);
  const pid_t background = WaitPidFile(pid_file);
  REQUIRE(background > 0);
  CHECK_FALSE(blackout::e2e::ProcessRunning(background));
  if (leaves) {
    const pid_t server_pid = WaitPidFile(server_file);
    REQUIRE(server_pid > 0);
    for (int i = 0; i < 200 && blackout::e2e::ProcessRunning(server_pid); ++i) usleep(10000);
    CHECK_FALSE(blackout::e2e::ProcessRunning(server_pid));
  } else {
    WARN("the setsid server is not tried: no writable cgroup v2 hierarchy here");
  }
  CHECK(NoMountLeft(t.path));
}

TEST_CASE("a torn state says which write it tore and how much of it reached the disk") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/torn.trace";
  // A durable 6000-byte file overwritten in place, never synced again.
  const Ran rec = Run({Bin(), "record", "--out", trace, "--", "python3", "-c",
                       "import os\n"
                       "fd = os.open('f', os.O_WRONLY | os.O_CREAT, 0o644)\n"
                       "os.write(fd, b'a' * 6000); os.fsync(fd)\n"
                       "d = os.open('.', os.O_RDONLY); os.fsync(d)\n"
                       "os.pwrite(fd, b'b' * 6000, 0)\n"});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  const std::string check = "test \"$(tr -d a < f)\" = \"\" || test \"$(tr -d b < f)\" = \"\"";
  const std::string out = t.path + "/out";
  const Ran ex =
      Run({Bin(), "explore", trace, "--check", check, "--states", "torn:5:512", "--out", out});
  INFO(ex.out);
  CHECK(ex.exit_code == 1);
  CHECK(ex.out.find("lost: #5 write /f [0, +6000) torn: its first 512 bytes reached the disk") !=
        std::string::npos);
  const nlohmann::json report = nlohmann::json::parse(std::ifstream(out + "/report.json"));
  CHECK(report.dump().find("torn: its first 512 bytes reached the disk") != std::string::npos);
}

TEST_CASE("explore reports no violation when the file and its directory are fsynced") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/synced.trace";
  // coreutils sync FILE fsyncs that file; `sync .` fsyncs the directory.
  const Ran rec = Run({Bin(), "record", "--out", trace, "--", "sh", "-c",
                       "echo hello > data.txt && sync data.txt && sync ."});
  INFO(rec.out);
  REQUIRE(rec.exit_code == 0);
  const Ran ex = Run({Bin(), "explore", trace, "--check", kCheck, "--states",
                      "drop-all,prefix,reorder:1"});
  INFO("reproduce: blackout explore " << trace << " --check '" << kCheck << "'\n" << ex.out);
  CHECK(ex.exit_code == 0);
  CHECK(ex.out.find("clean") != std::string::npos);
}

TEST_CASE(
    "record of a command that cannot run exits 2 naming it, mounts nothing, writes no trace") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/never.trace";
  const std::string not_exec = t.path + "/plain-file";
  std::ofstream(not_exec) << "echo not executable\n";
  for (const auto& [program, why] : std::vector<std::pair<std::string, std::string>>{
           {"blackout-no-such-program", "is not found in PATH"},
           {t.path + "/missing", "is not an executable file"},
           {not_exec, "is not an executable file"},
           {"./prog", "is relative, and the command starts in the fresh, empty mount"}}) {
    INFO(program);
    const Ran rec =
        Run({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", trace, "--", program, "arg"});
    CHECK(rec.exit_code == 2);
    CHECK(rec.out.find("cannot run the command: " + program + " " + why) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(trace));
    CHECK(NoMountLeft(t.path));
  }
}

TEST_CASE("explore refuses a file that is not a crash point, and an unknown generator, with exit 2") {
  TempDir t;
  std::ofstream(t.path + "/junk") << "not a trace";
  const Ran bad = Run({Bin(), "explore", t.path + "/junk", "--check", "true"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("not a crash point") != std::string::npos);
  const Ran missing = Run({Bin(), "explore", t.path + "/none", "--check", "true"});
  CHECK(missing.exit_code == 2);
}

TEST_CASE(
    "mount --load starts a live mount from a recorded crash point, its operations pending or "
    "cut to a crash state of it; a bad file or state exits 2 naming it") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/t.trace";
  // durable.txt and its entry are synced; pending.txt is not.
  RecordScript(t.path, trace,
               "echo kept > durable.txt && sync durable.txt . && echo lost > pending.txt");
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  auto read = [&](const std::string& name) {
    return std::filesystem::exists(mnt + "/" + name) ? ReadWhole(mnt + "/" + name) : "<none>";
  };
  struct Unmount {
    std::string mnt;
    ~Unmount() { (void)Run({Bin(), "umount", mnt}); }
  };
  {
    Unmount u{mnt};
    const Ran m = Run({Bin(), "mount", mnt, "--load", trace});
    INFO(m.out);
    REQUIRE(m.exit_code == 0);
    // As the program left it, then the power goes: what was not synced goes too.
    CHECK(read("durable.txt") == "kept\n");
    CHECK(read("pending.txt") == "lost\n");
    CHECK(Run({Bin(), "ctl", mnt, "power-cut"}).exit_code == 0);
    CHECK(read("durable.txt") == "kept\n");
    CHECK(read("pending.txt") == "<none>");
  }
  {
    Unmount u{mnt};
    REQUIRE(Run({Bin(), "mount", mnt, "--load", trace, "--load-state", "drop-all"}).exit_code == 0);
    CHECK(read("durable.txt") == "kept\n");
    CHECK(read("pending.txt") == "<none>");
  }
  // A point keeps the model it was recorded under: the mount and explore
  // take it, and refuse another (which ops are pending depends on it).
  const std::string ext4 = t.path + "/ext4.trace";
  const Ran rec = Run({"env", "TMPDIR=" + t.path, Bin(), "record", "--out", ext4, "--model",
                       "ext4-ordered", "--", "sh", "-c", "echo x > f"});
  REQUIRE(rec.exit_code == 0);
  {
    Unmount u{mnt};
    const Ran m = Run({Bin(), "mount", mnt, "--load", ext4});
    REQUIRE(m.exit_code == 0);
    CHECK(m.out.find("(model ext4-ordered,") != std::string::npos);
  }
  const Ran ex = Run({Bin(), "explore", ext4, "--check", "true"});
  CHECK(ex.exit_code == 0);
  CHECK(ex.out.find("model ext4-ordered") != std::string::npos);
  const Ran other = Run({Bin(), "explore", ext4, "--check", "true", "--model", "posix-strict"});
  CHECK(other.exit_code == 2);
  CHECK(other.out.find(ext4 + " was recorded under ext4-ordered") != std::string::npos);

  std::ofstream(t.path + "/junk") << "not a crash point";
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--load", ext4, "--model", "xfs"},
            "the crash point " + ext4 + " was saved under ext4-ordered"},
           {{"--load", t.path + "/none"}, "--load: cannot open " + t.path + "/none"},
           {{"--load", t.path + "/junk"}, "--load: " + t.path + "/junk is not a saved crash point"},
           {{"--load", trace, "--load-state", "prefix:x"},
            "--load-state: the crash point " + trace + " has no crash state 'prefix:x'"},
           {{"--load-state", "drop-all"}, "--load-state requires --load"}}) {
    std::vector<std::string> argv = {Bin(), "mount", mnt};
    argv.insert(argv.end(), args.begin(), args.end());
    const Ran bad = Run(argv);
    INFO(bad.out);
    CHECK(bad.exit_code == 2);
    CHECK(bad.out.find(message) != std::string::npos);
    CHECK(NoMountLeft(t.path));
  }
}

TEST_CASE(
    "ctl load puts a crash point on a live mount: nothing the kernel cached of the old files "
    "shows, and a bad file or state exits 2 leaving the mount as it was") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/t.trace";
  RecordScript(t.path, trace,
               "echo kept > durable.txt && sync durable.txt . && echo lost > pending.txt");
  std::ofstream(t.path + "/junk") << "not a crash point";
  REQUIRE(mkfifo((t.path + "/fifo").c_str(), 0600) == 0);  // would hang a reader
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  auto read = [&](const std::string& name) {
    std::ifstream in(mnt + "/" + name);
    if (!in) return std::string("<none>");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  // A point whose first inode is a directory.
  const std::string nested = t.path + "/nested.trace";
  RecordScript(t.path, nested, "mkdir e && echo in > e/x && sync e/x e .");
  for (const std::string mode : {"", "--writeback-cache"}) {
    INFO("mount options: " << mode);
    struct Unmount {
      std::string mnt;
      ~Unmount() { (void)Run({Bin(), "umount", mnt}); }
    } u{mnt};
    std::vector<std::string> mount = {Bin(), "mount", mnt};
    if (!mode.empty()) mount.push_back(mode);
    REQUIRE(Run(mount).exit_code == 0);
    // A directory the kernel holds by its number (a working directory, an
    // O_PATH descriptor) answers ESTALE afterwards, as after a power cut; it
    // does not turn into the point's directory of the same number.
    std::filesystem::create_directory(mnt + "/held");
    const int held = open((mnt + "/held").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(held >= 0);
    REQUIRE(Run({Bin(), "ctl", mnt, "load", nested}).exit_code == 0);
    struct stat st {};
    CHECK(fstatat(held, "x", &st, 0) != 0);
    CHECK(read("e/x") == "in\n");
    close(held);
    // The kernel caches all three names: durable.txt with other bytes in
    // its page cache (likely the same inode number as the point's file),
    // old.txt, and pending.txt as a name that does not exist.
    std::ofstream(mnt + "/durable.txt") << "stale bytes\n";
    std::ofstream(mnt + "/old.txt") << "old\n";
    REQUIRE(read("durable.txt") == "stale bytes\n");
    REQUIRE(read("pending.txt") == "<none>");

    for (const auto& [args, message] :
         std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"load"}, "ctl: load needs a crash point"},
             {{"load", t.path + "/none"}, "ctl: load: cannot read " + t.path + "/none"},
             {{"load", mnt + "/old.txt"}, "is inside the mount " + mnt},
             {{"load", t.path + "/junk"}, t.path + "/junk is not a saved crash point"},
             {{"load", trace, "--state", "prefix:999"}, "has no crash state 'prefix:999'"},
             {{"load", trace, trace}, "ctl: load takes one file"},
             {{"load", ""}, "ctl: load: the path is empty"},
             {{"load", t.path + "/fifo"}, "is not a regular file"}}) {
      std::vector<std::string> argv = {Bin(), "ctl", mnt};
      argv.insert(argv.end(), args.begin(), args.end());
      const Ran bad = Run(argv);
      INFO(bad.out);
      CHECK(bad.exit_code == 2);
      CHECK(bad.out.find(message) != std::string::npos);
    }
    CHECK(read("old.txt") == "old\n");  // nothing changed

    const Ran load = Run({Bin(), "ctl", mnt, "load", trace});
    INFO(load.out);
    REQUIRE(load.exit_code == 0);
    CHECK(read("durable.txt") == "kept\n");
    CHECK(read("pending.txt") == "lost\n");
    CHECK(read("old.txt") == "<none>");
    const Ran unsynced = Run({Bin(), "ctl", mnt, "unsynced"});
    CHECK(unsynced.out.find("\"/pending.txt\"") != std::string::npos);
    // The point's crash states, on the mount.
    REQUIRE(Run({Bin(), "ctl", mnt, "power-cut"}).exit_code == 0);
    CHECK(read("durable.txt") == "kept\n");
    CHECK(read("pending.txt") == "<none>");
    REQUIRE(Run({Bin(), "ctl", mnt, "load", trace, "--state", "keep-all"}).exit_code == 0);
    CHECK(read("pending.txt") == "lost\n");
    CHECK(Run({Bin(), "ctl", mnt, "unsynced"}).out.find("pending.txt") == std::string::npos);
  }
  CHECK(NoMountLeft(t.path));
}

TEST_CASE(
    "ctl trace stop and start leave the operations between out of the trace, and trace save "
    "writes it to a file; bad arguments exit 2") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string mnt = t.path + "/mnt";
  std::filesystem::create_directory(mnt);
  struct Unmount {
    std::string mnt;
    ~Unmount() { (void)Run({Bin(), "umount", mnt}); }
  } u{mnt};
  REQUIRE(Run({Bin(), "mount", mnt, "--no-trace"}).exit_code == 0);
  std::ofstream(mnt + "/untraced") << "x";
  REQUIRE(Run({Bin(), "ctl", mnt, "trace", "start"}).exit_code == 0);
  std::ofstream(mnt + "/traced") << "y";
  REQUIRE(Run({Bin(), "ctl", mnt, "trace", "stop"}).exit_code == 0);
  std::ofstream(mnt + "/after") << "z";
  const std::string file = t.path + "/trace.json";
  const Ran save = Run({Bin(), "ctl", mnt, "trace", "save", file});
  INFO(save.out);
  REQUIRE(save.exit_code == 0);
  std::ifstream in(file);
  const nlohmann::json saved = nlohmann::json::parse(in);
  CHECK(saved["tracing"] == false);
  std::vector<std::string> paths;
  for (const auto& e : saved["entries"]) paths.push_back(e["path"]);
  CHECK(std::count(paths.begin(), paths.end(), "/traced") >= 2);  // its create and write
  CHECK(std::count(paths.begin(), paths.end(), "/untraced") == 0);
  CHECK(std::count(paths.begin(), paths.end(), "/after") == 0);
  // The file is written by the command, in the user's view: /dev/stdout is
  // this shell's.
  const Ran to_stdout = Run({Bin(), "ctl", mnt, "trace", "save", "/dev/stdout"});
  CHECK(to_stdout.exit_code == 0);
  CHECK(to_stdout.out.find("\"op\": \"create\"") != std::string::npos);
  // Still pending, all three: the trace is a record, not the model.
  const Ran unsynced = Run({Bin(), "ctl", mnt, "unsynced"});
  for (const char* name : {"/untraced", "/traced", "/after"})
    CHECK(unsynced.out.find(name) != std::string::npos);

  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"trace", "rewind"}, "ctl: trace rewind is unknown"},
           {{"trace", "save"}, "ctl: trace save needs one file"},
           {{"trace", "stop", "now"}, "ctl: trace stop takes no argument"},
           {{"trace", "save", mnt + "/t.json"}, "is inside the mount " + mnt},
           {{"trace", "save", t.path + "/no/such/t.json"}, "cannot write " + t.path + "/no/such"},
           {{"trace", "save", ""}, "ctl: trace: the path is empty"},
           {{"status", "--state", "prefix:1"}, "--state applies to power-cut and load only"}}) {
    std::vector<std::string> argv = {Bin(), "ctl", mnt};
    argv.insert(argv.end(), args.begin(), args.end());
    const Ran bad = Run(argv);
    INFO(bad.out);
    CHECK(bad.exit_code == (message.rfind("cannot write", 0) == 0 ? 1 : 2));
    CHECK(bad.out.find(message) != std::string::npos);
  }
}

TEST_CASE("explore with an --out it cannot write exits 2 before it runs any crash state") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  TempDir t;
  const std::string trace = t.path + "/t.trace";
  RecordScript(t.path, trace, "echo hello > data.txt");
  std::ofstream(t.path + "/a-file") << "x";
  const std::string marker = t.path + "/checked";
  const Ran ex = Run(
      {Bin(), "explore", trace, "--check", "touch " + marker, "--out", t.path + "/a-file/report"});
  INFO(ex.out);
  CHECK(ex.exit_code == 2);
  CHECK(ex.out.find("--out " + t.path + "/a-file/report: cannot create the output directory") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));  // no crash state was checked
}

}  // namespace
