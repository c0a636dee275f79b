// End-to-end tests of issue 7 through the real binary: exec workloads, faults
// and crash triggers in scenarios, and the fault commands of `blackout ctl`
// on a live mount. Each test works in a private TMPDIR and checks that no
// mount is left behind. Reproduce with:
//   ctest -R harness_faults_e2e_test --output-on-failure
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "harness/e2e/process_state.h"
#include "harness/e2e/work_dir.h"
#include "harness/process_cgroup.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using namespace blackout::e2e;

// In the issue's spelling: workload.exec, check.exec.
json ExecScenario(const std::string& workload, const std::string& check) {
  json s = json::parse(R"({
    "name": "exec-e2e", "description": "An exec scenario of the e2e test.",
    "crash": {"kind": "power", "at": "end", "recovery_timeout_s": 2},
    "expect": {"violations": []}
  })");
  s["workload"] = {{"exec", workload}, {"timeout_s", 10}};
  s["check"] = {{"exec", check}, {"invariants", {"recovers", "acked-durable"}}};
  return s;
}

// `blackout run FILE ARGS --out DIR`, which must exit 0 (every outcome as
// expected); its report.json.
json RunExpected(const WorkDir& w, const std::string& file, const std::string& out,
                 const std::string& args = "") {
  Output o = w.Run("run " + file + args + " --out " + out + " --no-color");
  INFO(o.text);
  CHECK(o.code == 0);
  return json::parse(std::ifstream(out + "/report.json"));
}

}  // namespace

TEST_CASE("the exec, fault and program scenarios of the suite run as they expect") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string src = Source();
  Output o = w.Run("run " + src + "/scenarios/exec " + src + "/scenarios/faults " + src +
                   "/scenarios/programs --out " + w.path + "/out --no-color");
  CHECK(o.code == 0);
  CHECK(o.text.find("0 unexpected, 0 errors") != std::string::npos);
  json report = json::parse(std::ifstream(w.path + "/out/report.json"));
  CHECK(report.dump().find("exec-data-lost-after-fsync-error") != std::string::npos);
  // The explored exec scenarios: the in-place compaction passes drop-all and
  // keep-all, and loses its acked records in a prefix state, which carries
  // the diagnosis "fsync of kv.log after the rewrite".
  bool diagnosed = false;
  for (const auto& s : report["scenarios"]) {
    // Every state that lost acknowledged IDs, explored or cut on the mount,
    // carries the timeline report.html draws, the program's acks in it.
    for (const auto& st : s["crash_states"]) {
      if (st.value("lost_writes", 0) == 0 || s["engine"] != "exec") continue;
      INFO(s["name"].get<std::string>() + " " + st["state"].get<std::string>());
      REQUIRE(st.contains("timeline"));
      CHECK_FALSE(st["timeline"]["entries"].empty());
      REQUIRE_FALSE(st["timeline"]["acks"].empty());
      CHECK(st["timeline"]["acks"][0]["label"].get<std::string>().rfind("ack ", 0) == 0);
    }
    if (s["name"] == "exec-compact-in-place-drop-all") CHECK(s["violations"].empty());
    // Cut on the mount, diagnosed too: each record's file is fsynced, its
    // directory entry never is, so the sync that saves it is the
    // directory's.
    if (s["name"] == "exec-records-fsync-file-only") {
      const json& st = s["crash_states"][0];
      REQUIRE(st.contains("diagnosis"));
      CHECK(st["diagnosis"]["found"] == true);
      const std::string text = st["diagnosis"]["text"];
      CHECK(text.find("fsync of directory records/ after trace #") != std::string::npos);
      CHECK(text.find("fsync of file") == std::string::npos);
      CHECK(st["findings"] == json::array({"exec-directory-not-fsynced"}));
    }
    if (s["name"] != "exec-compact-in-place") continue;
    CHECK(s["violations"] == json::array({"acked-durable"}));
    for (const auto& st : s["crash_states"])
      if (st["state"].get<std::string>().rfind("prefix:", 0) == 0 && !st["violations"].empty())
        diagnosed = st["exploration"]["diagnosis"].value("text", "").find("fsync of file kv.log") !=
                    std::string::npos;
  }
  CHECK(diagnosed);
  CHECK(w.Clean());
}

TEST_CASE("an explored exec scenario runs its check once per distinct crash state") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  // 12 records, each file fsynced, their directory entries never: every
  // prefix state loses the records created after it, and each diagnosis
  // re-checks candidate states the others (or the states themselves) had.
  const std::string records = Source() + "/scenarios/exec/records.py";
  const std::string runs = w.path + "/check-runs";
  json s = ExecScenario("python3 " + records + " write 12 --sync file",
                        "echo x >> " + runs + "; python3 " + records + " check");
  s["crash"]["states"] = {"prefix"};
  // A Python start per check, two at a time beside the other tests: room
  // for a loaded machine (the helper's 2 s is for checks that hang).
  s["crash"]["recovery_timeout_s"] = 60;
  s["expect"]["violations"] = {"acked-durable"};
  const std::string file = w.Write("records.json", s);
  json report = RunExpected(w, file, w.path + "/out", " --jobs 2");
  const json& sc = report["scenarios"][0];
  std::set<std::string> distinct;  // states with an outcome of their own
  int rechecks = 0;
  int known = 0;
  int diagnosed = 0;
  for (const auto& st : sc["crash_states"]) {
    const json& ex = st["exploration"];
    if (!ex.contains("same_tree_as")) distinct.insert(st["state"].get<std::string>());
    if (!ex.contains("diagnosis")) continue;
    ++diagnosed;
    CHECK(ex["diagnosis"]["found"] == true);
    rechecks += ex["diagnosis"]["rechecks"].get<int>();
    known += ex["diagnosis"]["rechecks_known"].get<int>();
  }
  CHECK(distinct.size() == 14);  // none, the directory, each of the 12 records
  CHECK(diagnosed == 13);
  CHECK(rechecks > 13);
  // Every candidate state of this workload is one of the prefix states.
  CHECK(known == rechecks);
  std::ifstream in(runs);
  const auto lines = std::count(std::istreambuf_iterator<char>(in), {}, '\n');
  CHECK(lines == static_cast<long>(distinct.size()) + rechecks - known);
  CHECK(w.Clean());
}

TEST_CASE(
    "an explored exec state's reproduce line replays it: its files in --to, and with --recover "
    "its check run there, the same violation") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string file = Source() + "/scenarios/exec/compact-in-place.json";
  const json report = RunExpected(w, file, w.path + "/out");
  std::string reproduce;
  for (const auto& st : report["scenarios"][0]["crash_states"])
    if (!st["violations"].empty()) reproduce = st["exploration"].value("reproduce", "");
  REQUIRE(reproduce.rfind("blackout replay " + file + " --point end --state ", 0) == 0);
  REQUIRE(reproduce.size() > 10);
  REQUIRE(reproduce.substr(reproduce.size() - 10) == " --recover");
  const std::string args = reproduce.substr(std::string("blackout ").size());
  const std::string replay = args.substr(0, args.rfind(" --recover"));
  // As printed, twice: it reproduces the verdict, and each run writes the
  // state into a new directory under $TMPDIR, named in its output.
  for (int run = 0; run < 2; ++run) {
    Output o = w.Run(args);
    INFO(o.text);
    CHECK(o.code == 1);
    CHECK(o.text.find("violation acked-durable: 5 of 5 acked IDs not found") != std::string::npos);
    const size_t at = o.text.find("materialized into ");
    REQUIRE(at != std::string::npos);
    const size_t from = at + std::string("materialized into ").size();
    const std::string dir = o.text.substr(from, o.text.find(' ', from) - from);
    CHECK(dir.rfind(w.path + "/tmp/blackout-replay-", 0) == 0);
    CHECK(fs::exists(dir + "/kv.log"));
    fs::remove_all(dir);
    fs::remove(dir + ".log");
  }
  const std::string to = w.path + "/state";
  Output o = w.Run(replay + " --to " + to);
  INFO(o.text);
  CHECK(o.code == 0);
  CHECK(o.text.find("pending ops dropped (1):") != std::string::npos);
  CHECK(fs::exists(to + "/kv.log"));
  CHECK(o.text.find("recover and check it by hand: cd " + Source() +
                    "/scenarios/exec && export "
                    "BLACKOUT_MNT=" +
                    to + "; python3 compact.py check") != std::string::npos);
  const std::string checked = w.path + "/checked";
  o = w.Run(replay + " --to " + checked + " --recover");
  CHECK(o.code == 1);  // it breaks an invariant
  CHECK(o.text.find("acknowledged IDs 5, lost 5") != std::string::npos);
  CHECK(o.text.find("violation acked-durable: 5 of 5 acked IDs not found") != std::string::npos);
  CHECK(fs::exists(checked + "/kv.log"));
  fs::remove(checked + ".log");
  // A state with no files at all keeps its (empty) directory, which the
  // output names.
  const std::string empty = w.path + "/empty";
  o = w.Run("replay " + Source() + "/scenarios/exec/records-no-fsync.json --state drop-all --to " +
            empty + " --recover");
  CHECK(o.code == 1);
  CHECK(o.text.find("materialized into " + empty + " ") != std::string::npos);
  CHECK(fs::is_directory(empty));
  CHECK(fs::is_empty(empty));
  fs::remove(empty + ".log");
  // The one crash point of an exec scenario is its end.
  o = w.Run(replay.substr(0, replay.find(" --point ")) +
            " --point after_op:1 --state drop-all --to " + w.path + "/other");
  CHECK(o.code == 2);
  CHECK(o.text.find("its one crash point is 'end'") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("a crash trigger's power cut on the mount is diagnosed from the point it cut at") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  // Each record's file is fsynced, its directory entry never is; the power
  // goes just before the third record's fsync.
  const std::string records = Source() + "/scenarios/exec/records.py";
  json s =
      ExecScenario("python3 " + records + " write 5 --sync file", "python3 " + records + " check");
  s["crash"]["at"] = {
      {"after", {{"op", "fsync"}, {"path", "rec-3"}, {"nth", 1}, {"before", true}}}};
  s["crash"]["recovery_timeout_s"] = 60;
  s["expect"]["violations"] = {"acked-durable"};
  const json report = RunExpected(w, w.Write("trigger.json", s), w.path + "/out");
  const json& st = report["scenarios"][0]["crash_states"][0];
  CHECK(st["point"] == "before fsync rec-3 #1");
  REQUIRE(st.contains("diagnosis"));
  CHECK(st["diagnosis"]["found"] == true);
  const std::string text = st["diagnosis"]["text"];
  CHECK(text.find("fsync of directory records/ after trace #") != std::string::npos);
  CHECK(text.find("would have prevented the loss of 2 acknowledged writes") != std::string::npos);
  // The timeline knows what the cut dropped: the directory operations no
  // fsync of a directory made durable (it showed them kept).
  int dropped_entries = 0;
  for (const auto& e : st["timeline"]["entries"])
    if (e["kind"] == "dir-op") {
      CHECK(e["fate"] == "dropped");
      ++dropped_entries;
    }
  CHECK(dropped_entries >= 3);

  // The program is frozen at the cut: thirty records written as fast as it
  // can, the power going right after the fourth one's fsync; it acks three
  // (the fourth's ack comes after the cut) and writes nothing more.
  s["workload"]["exec"] = "python3 " + records + " write 30 --sync file";
  s["crash"]["at"] = {{"after", {{"op", "fsync"}, {"path", "rec-4"}, {"nth", 1}}}};
  const json fast = RunExpected(w, w.Write("fast.json", s), w.path + "/out2");
  const json& cut = fast["scenarios"][0]["crash_states"][0];
  CHECK(cut["acked_writes"] == 3);
  CHECK(cut["lost_writes"] == 3);
  for (const auto& e : cut["timeline"]["entries"])
    CHECK(e.value("path", "").find("rec-5") == std::string::npos);  // never written
  CHECK(w.Clean());
}

TEST_CASE("a check that exits non-zero still has its losses judged, no-corruption listed or not") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  // Nothing is fsynced: the power cut loses the acked ID. The check fails
  // (as a Python check does on a missing file) and prints nothing.
  json s = ExecScenario("sh -c 'echo v > f; echo ack 1'", "exit 3");
  s["expect"]["violations"] = {"acked-durable"};
  const json report = RunExpected(w, w.Write("failing-check.json", s), w.path + "/out");
  const json& st = report["scenarios"][0]["crash_states"][0];
  CHECK(st["lost_writes"] == 1);
  REQUIRE(st["violations"].size() == 1);
  CHECK(st["violations"][0]["invariant"] == "acked-durable");
  CHECK(w.Clean());
}

TEST_CASE("an exec workload that is not found or prints no acks is a setup error, exit 2") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string missing =
      w.Write("missing.json", ExecScenario("no-such-program-xyz", "true"));
  Output o = w.Run("run " + missing + " --out " + w.path + "/out1 --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(missing + ": $.workload.exec could not run (exit 127") != std::string::npos);
  const std::string silent = w.Write("silent.json", ExecScenario("echo hello", "true"));
  o = w.Run("run " + silent + " --out " + w.path + "/out2 --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(silent + ": $.workload.exec printed no `ack ID` line (exit 0, stdout began "
                             "with 'hello')") != std::string::npos);
  json s = ExecScenario("echo ack 1", "echo 1");
  s["recover"] = {{"exec", "no-such-recover-xyz"}};
  const std::string norecover = w.Write("no-recover.json", s);
  o = w.Run("run " + norecover + " --out " + w.path + "/out3 --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(norecover + ": $.recover.exec could not run (exit 127") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE(
    "a check that finds corruption counts the acks it did not print as lost, and a recover that "
    "fails counts all of them") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  json s = ExecScenario("echo ack 1; echo ack 2; echo ack 3", "echo 1; exit 1");
  s["check"]["invariants"] = {"recovers", "acked-durable", "no-corruption"};
  // The check found corruption, and did not find 2 and 3: both are told.
  s["expect"]["violations"] = {"acked-durable", "no-corruption"};
  json report = RunExpected(w, w.Write("corrupt.json", s), w.path + "/out");
  const json& st = report["scenarios"][0]["crash_states"][0];
  CHECK(st["lost_writes"] == 2);  // 2 and 3: the check could not read them
  CHECK(st.dump().find("$.check.exec exited 1 (no output on stderr)") != std::string::npos);

  s = ExecScenario("echo ack 1; echo ack 2", "echo 1; echo 2");
  s["recover"] = {{"exec", "echo broken >&2; exit 3"}};
  s["expect"]["violations"] = {"recovers"};
  report = RunExpected(w, w.Write("recover-fails.json", s), w.path + "/out2");
  const json& rec = report["scenarios"][0]["crash_states"][0];
  CHECK(rec["lost_writes"] == 2);  // nothing was read back
  CHECK(rec.dump().find("$.recover.exec exited 3: broken") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE(
    "a check that hangs is killed at the time limit: exit 2 naming the file and "
    "$.check.exec, on the mount and in explored states") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  json s = ExecScenario("echo ack 1", "sleep 30");
  const std::string file = w.Write("hang.json", s);
  Output o = w.Run("run " + file + " --out " + w.path + "/out --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(file + ": $.check.exec did not finish within 2 s") != std::string::npos);
  s["crash"]["states"] = {"prefix"};
  const std::string explored = w.Write("hang-explored.json", s);
  o = w.Run("run " + explored + " --out " + w.path + "/out2 --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(explored + ": $.check.exec did not finish within 2 s") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE(
    "an exec workload and check that leave a job in the background finish when they exit, "
    "and the job is stopped, also one started in a session of its own") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  // The jobs keep stdout open: the run must not wait for them (it waited for
  // the workload's 10 s limit and reported an error), nor leave them running.
  // A job started with setsid leaves the workload's process group; the
  // workload's cgroup leaf holds it where the machine has cgroup v2.
  const std::string workload_pid = w.path + "/workload-job.pid";
  const std::string check_pid = w.path + "/check-job.pid";
  const std::string server_pid = w.path + "/workload-server.pid";
  const bool leaves = blackout::harness::ProcessCgroup::Supported();
  const std::string server =
      leaves ? "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! > " + server_pid + "; " : "";
  json s = ExecScenario(server + "sleep 60 & echo $! > " + workload_pid + "; echo ack 1",
                        "sleep 60 & echo $! > " + check_pid + "; echo 1");
  const std::string file = w.Write("background.json", s);
  Output o = w.Run("run " + file + " --out " + w.path + "/out --no-color");
  INFO(o.text);
  CHECK(o.code == 0);
  CHECK(o.text.find("1 as expected") != std::string::npos);
  std::vector<std::string> jobs = {workload_pid, check_pid};
  if (leaves) {
    jobs.push_back(server_pid);
  } else {
    WARN("the setsid job is not tried: no writable cgroup v2 hierarchy here");
  }
  for (const std::string& f : jobs) {
    INFO(f);
    pid_t job = 0;
    std::ifstream(f) >> job;
    REQUIRE(job > 0);
    for (int i = 0; i < 200 && ProcessRunning(job); ++i) usleep(10000);
    CHECK_FALSE(ProcessRunning(job));
  }
  CHECK(w.Clean());
}

TEST_CASE(
    "bad faults in an exec scenario are refused before anything runs: exit 2 naming the "
    "file, the entry and the accepted values") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  json s = ExecScenario("echo ack 1", "echo 1");
  s["faults"] = json::parse(R"([{"op": "frob"}, {"op": "write", "errno": "EPERM"},
                                {"op": "write", "path": "[x"}])");
  const std::string file = w.Write("bad-faults.json", s);
  Output o = w.Run("run " + file + " --out " + w.path + "/out --no-color");
  CHECK(o.code == 2);
  CHECK(o.text.find(file + ": $.faults[0]: fail: unknown op 'frob'; ops: read,") !=
        std::string::npos);
  CHECK(o.text.find(file + ": $.faults[1]: fail: unknown errno \"EPERM\"; errnos: EIO") !=
        std::string::npos);
  CHECK(o.text.find(file + ": $.faults[2]: fail: invalid path glob '[x'") != std::string::npos);
  CHECK(o.text.find("nothing was run") != std::string::npos);
  CHECK(w.Clean());
}

TEST_CASE("ctl fail, crash-after and mount --capacity act on a live mount") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string mnt = w.path + "/mnt";
  fs::create_directories(mnt);
  REQUIRE(w.Run("mount " + mnt + " --model ext4-ordered --capacity 64K").code == 0);
  struct Unmount {
    WorkDir& w;
    std::string mnt;
    ~Unmount() { w.Run("umount " + mnt); }
  } unmount{w, mnt};

  struct statvfs st {};
  REQUIRE(statvfs(mnt.c_str(), &st) == 0);
  CHECK(st.f_blocks * st.f_frsize == 65536);

  // Injected ENOSPC on writes to *.log only.
  CHECK(w.Run("ctl " + mnt + " fail --op write --path '*.log' --errno ENOSPC").code == 0);
  int fd = open((mnt + "/a.log").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  errno = 0;
  CHECK(write(fd, "x", 1) == -1);
  CHECK(errno == ENOSPC);
  close(fd);
  fd = open((mnt + "/a.db").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "x", 1) == 1);
  close(fd);
  CHECK(w.Run("ctl " + mnt + " clear-faults").code == 0);

  // A failed fsync drops a.db's un-synced write: nothing of it is pending,
  // and unsynced names it under failed_writeback (a power cut loses it).
  CHECK(w.Run("ctl " + mnt + " fail --op fsync --path '*.db' --errno EIO --nth 1").code == 0);
  fd = open((mnt + "/a.db").c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  errno = 0;
  CHECK(fsync(fd) == -1);
  CHECK(errno == EIO);
  close(fd);
  const json unsynced = json::parse(w.Run("ctl " + mnt + " unsynced").text);
  CHECK(unsynced["files"].empty());
  REQUIRE(unsynced["failed_writeback"].size() == 1);
  CHECK(unsynced["failed_writeback"][0]["path"] == "/a.db");
  CHECK(w.Run("ctl " + mnt + " clear-faults").code == 0);

  // Bad usage: exit 2 with the accepted values.
  Output bad = w.Run("ctl " + mnt + " fail --op frob");
  CHECK(bad.code == 2);
  CHECK(bad.text.find("fallocate") != std::string::npos);
  bad = w.Run("ctl " + mnt + " fail --op write --errno EPERM");
  CHECK(bad.code == 2);
  bad = w.Run("ctl " + mnt + " fail --op write --path '[x'");
  CHECK(bad.code == 2);
  // Counts start at 1: 0 (or a negative number) is refused, not taken as
  // "not given" (a rule for every fsync) or wrapped around.
  for (const std::string opts :
       {"fail --op fsync --nth 0", "fail --op fsync --from 0", "fail --op fsync --count 0",
        "crash-after --op fsync --nth 0", "fail --op fsync --nth -1", "status --timeout 0"}) {
    bad = w.Run("ctl " + mnt + " " + opts);
    INFO(opts);
    CHECK(bad.code == 2);
    const std::string option = opts.substr(opts.rfind(" --") + 1);
    CHECK(bad.text.find(option.substr(0, option.find(' '))) != std::string::npos);
  }
  CHECK(json::parse(w.Run("ctl " + mnt + " faults").text)["rules"].empty());
  CHECK(w.Run("mount " + w.path + "/tmp --capacity lots").code == 2);
  CHECK(w.Run("mount " + w.path + "/tmp --trace-limit -5").code == 2);

  // The power goes right after the 1st fsync of *.log: its data survives,
  // the later unsynced write does not.
  CHECK(w.Run("ctl " + mnt + " crash-after --op fsync --path '*.log' --nth 1").code == 0);
  fd = open((mnt + "/b.log").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "durable", 7) == 7);
  CHECK(fsync(fd) == 0);
  errno = 0;
  CHECK(write(fd, "lost", 4) == -1);  // a handle of the world before the cut
  CHECK(errno == EIO);
  close(fd);
  Output faults = w.Run("ctl " + mnt + " faults");
  CHECK(faults.text.find("\"triggered_cuts\": 1") != std::string::npos);
  std::ifstream in(mnt + "/b.log");
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(got == "durable");
}

TEST_CASE(
    "ctl crash-after --save saves the point inside a rewrite on a live mount, cutting nothing") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string mnt = w.path + "/mnt";
  const std::string saved = w.path + "/saved";
  fs::create_directories(mnt);
  fs::create_directories(saved);
  REQUIRE(w.Run("mount " + mnt).code == 0);
  struct Unmount {
    WorkDir& w;
    std::string mnt;
    ~Unmount() { w.Run("umount " + mnt); }
  } unmount{w, mnt};

  CHECK(w.Run("ctl " + mnt + " fail --op write --save").code == 2);
  CHECK(w.Run("ctl " + mnt + " saved-points").code == 2);
  // Right before the 2nd fsync of *.log: the rewrite of an fsynced file
  // (O_TRUNC, then the new bytes) is pending there.
  REQUIRE(
      w.Run("ctl " + mnt + " crash-after --op fsync --path '*.log' --nth 2 --before --save").code ==
      0);
  int fd = open((mnt + "/a.log").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "old-records", 11) == 11);
  CHECK(fsync(fd) == 0);
  close(fd);
  fd = open((mnt + "/a.log").c_str(), O_WRONLY | O_TRUNC);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "kept", 4) == 4);
  CHECK(fsync(fd) == 0);          // the point is saved; the fsync happens
  CHECK(write(fd, "+", 1) == 1);  // nothing was cut: the handle still works
  close(fd);
  CHECK(w.Run("ctl " + mnt + " faults").text.find("\"triggered_cuts\": 0") != std::string::npos);

  Output o = w.Run("ctl " + mnt + " saved-points " + saved);
  REQUIRE(o.code == 0);
  json reply = json::parse(o.text);
  REQUIRE(reply["points"].size() == 1);
  const json& p = reply["points"][0];
  CHECK(p["op"] == "fsync");
  CHECK(p["before"] == true);
  CHECK(p["path"] == "/a.log");
  CHECK(fs::file_size(p["file"].get<std::string>()) == p["bytes"].get<uint64_t>());
  CHECK(json::parse(w.Run("ctl " + mnt + " saved-points " + saved).text)["points"].empty());
}

TEST_CASE(
    "a crash trigger with generators beyond drop-all is explored at its point inside the "
    "call, and its reproduce line replays the violating state") {
  SkipWithoutFuse();
  WorkDir w("faults_e2e_test");
  const std::string file =
      Source() + "/scenarios/holes/wal-truncate-in-place-rewrite-before-fsync.json";
  Output o = w.Run("run " + file + " --out " + w.path + "/out --no-color");
  CHECK(o.code == 0);
  json report = json::parse(std::ifstream(w.path + "/out/report.json"));
  REQUIRE(report["scenarios"].size() == 1);
  const json& s = report["scenarios"][0];
  CHECK(s["violations"] == json::array({"acked-durable"}));
  // Only a state that keeps the O_TRUNC and drops the rewrite loses data:
  // drop-all and keep-all at the same point do not.
  std::string reproduce;
  for (const auto& st : s["crash_states"]) {
    CHECK(st["point"] == "before fsync *.wal #6");
    const std::string id = st["state"];
    if (id == "drop-all" || id == "keep-all") CHECK(st["violations"].empty());
    if (!st["violations"].empty() && reproduce.empty()) {
      reproduce = st["exploration"].value("reproduce", "");
      // The fix is the fsync the engine was about to make: the sentence
      // says the crash came just before it.
      const std::string text = st["exploration"]["diagnosis"].value("text", "");
      CHECK(text.find("fsync of file store/000001.wal after trace #") == 0);
      CHECK(text.find("; the crash came just before the engine's own fsync of "
                      "store/000001.wal: what it wrote there since its last sync is not atomic") !=
            std::string::npos);
    }
  }
  REQUIRE(reproduce.rfind("blackout replay ", 0) == 0);
  // As printed, with the point quoted for the shell; into a directory of ours.
  const std::string args = reproduce.substr(std::string("blackout ").size());
  const std::string to = w.path + "/replayed";
  o = w.Run(args.substr(0, args.rfind(" --recover")) + " --to " + to + " --recover");
  CHECK(o.code == 1);
  CHECK(o.text.find("violation acked-durable") != std::string::npos);

  // With `every`, a point before each fsync, none counted by hand: only the
  // one inside truncate, before the rewrite's fsync (the 6th), loses data.
  json every = json::parse(std::ifstream(file));
  every["name"] = "wal-truncate-every-fsync";
  every["crash"]["at"]["after"] = {
      {"op", "fsync"}, {"path", "*.wal"}, {"before", true}, {"every", true}};
  o = w.Run("run " + w.Write("every.json", every) + " --out " + w.path + "/out2 --no-color");
  CHECK(o.code == 0);
  report = json::parse(std::ifstream(w.path + "/out2/report.json"));
  std::set<std::string> points, violating;
  for (const auto& st : report["scenarios"][0]["crash_states"]) {
    points.insert(st["point"].get<std::string>());
    if (!st["violations"].empty()) violating.insert(st["point"].get<std::string>());
  }
  CHECK(points.size() == 6);
  CHECK(points.count("before fsync *.wal #1") == 1);
  CHECK(violating == std::set<std::string>{"before fsync *.wal #6"});
  CHECK(w.Clean());
}
