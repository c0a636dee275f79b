#include "harness/record.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "fusefs/control/client.h"
#include "fusefs/model/filesystem.h"
#include "harness/child_process.h"
#include "harness/diagnosis.h"
#include "harness/explore.h"
#include "harness/findings.h"
#include "harness/mounted_fs.h"
#include "harness/process_cgroup.h"
#include "harness/replay.h"
#include "harness/sync_guard.h"
#include "harness/temp_dir.h"
#include "harness/util.h"
#include "reports/report.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

struct Finished {
  int exit_code = -1;
  bool timed_out = false;
  bool interrupted = false;  // SIGINT or SIGTERM to blackout: the command was killed
};

// Runs argv in `cwd` with BLACKOUT_MNT=`mnt` (and BLACKOUT_STATE when
// given); output to `out_fd` or, if negative, the caller's stdout/stderr.
Finished RunIn(const std::vector<std::string>& argv, const std::string& cwd,
               const std::string& mnt, const std::string& state, int out_fd, double timeout_s) {
  Finished f;
  // Everything the child needs is built before the fork: this process has
  // other threads, and between fork and exec the child may only make calls
  // that take no lock another thread could have held (setenv and stdio do).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("BLACKOUT_MNT=", 0) == 0 || entry.rfind("BLACKOUT_STATE=", 0) == 0) continue;
    env_strings.push_back(entry);
  }
  env_strings.push_back("BLACKOUT_MNT=" + mnt);
  if (!state.empty()) env_strings.push_back("BLACKOUT_STATE=" + state);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string cannot_run = "blackout: cannot run " + argv[0] + "\n";
  // What the command starts in another session (setsid, a double fork)
  // stays in this leaf and is stopped with it, when it goes out of scope.
  const std::unique_ptr<ProcessCgroup> cgroup = ProcessCgroup::Create();
  const pid_t pid = cgroup ? cgroup->Fork() : fork();
  if (pid < 0) return f;
  if (pid == 0) {
    setpgid(0, 0);  // so that a timeout kills the whole command
    if (chdir(cwd.c_str()) != 0) _exit(127);
    if (out_fd >= 0) {
      dup2(out_fd, 1);
      dup2(out_fd, 2);
      const int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
    }
    execvpe(args[0], args.data(), envp.data());
    (void)!write(2, cannot_run.data(), cannot_run.size());
    _exit(127);
  }
  setpgid(pid, pid);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(timeout_s * 1000));
  int status = 0;
  while (true) {
    // Seen exited but not reaped yet, so that the group's id is still its.
    siginfo_t info{};
    const int r = waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid) {
      // What the command left running in its process group (a job it put
      // in the background) would outlive the recording: stop it too.
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    if (r < 0 && errno != EINTR) return f;
    // The command has a process group of its own, which a Ctrl-C on the
    // terminal does not reach: blackout stops it.
    const bool interrupted = Interrupted();
    if (interrupted || std::chrono::steady_clock::now() > deadline) {
      f.interrupted = interrupted;
      f.timed_out = !interrupted;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return f;
}

std::string ReadAllFile(const std::string& path, size_t limit = SIZE_MAX) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > limit) s = s.substr(0, limit) + "\n[... cut at " + std::to_string(limit) + " bytes]";
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// `text` as one shell word: single-quoted, a quote inside written '\''.
std::string ShellQuote(const std::string& text) {
  std::string q = "'";
  for (char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string IsoNow() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string Dropped(const std::vector<uint64_t>& seqs) {
  if (seqs.empty()) return "none";
  std::string s;
  for (size_t i = 0; i < seqs.size() && i < 12; ++i) s += (i ? ", #" : "#") + std::to_string(seqs[i]);
  if (seqs.size() > 12) s += ", ... (" + std::to_string(seqs.size()) + " in all)";
  return s;
}

// The explore command that checks `states` (generators or crash-state ids,
// comma-separated) of the trace again, as the summary and the report print it.
std::string ExploreCommand(const ExploreOptions& options, const ExploreResult& result,
                           const std::string& states) {
  std::string command = "blackout explore " + ShellQuote(options.trace) + " --check " +
                        ShellQuote(options.check) + " --states " + states + " --model " +
                        result.model + " --seed " + std::to_string(result.seed);
  // A timeout is part of the verdict ("check timed out").
  if (options.timeout_s != ExploreOptions{}.timeout_s) {
    std::ostringstream t;
    t << options.timeout_s;
    command += " --timeout " + t.str();
  }
  return command;
}

// The ops a state lost, in words where the trace names them.
std::string LostInWords(const StateOutcome& o) {
  std::string s;
  if (!o.lost.is_array() || o.lost.empty()) {
    if (!o.dropped.empty()) s = "pending ops " + Dropped(o.dropped);
  } else {
    for (const json& w : o.lost) s += (s.empty() ? "" : ", ") + w.get<std::string>();
  }
  if (!o.torn.empty()) s += (s.empty() ? "" : ", ") + o.torn;
  return s.empty() ? "nothing pending" : s;
}

// Why `program` (a command's argv[0]) cannot be started, or "" when it can
// be: execvp's rules, checked before anything is mounted. The command runs
// in the fresh, empty mount, so a relative path with a slash never exists.
std::string WhyNotRunnable(const std::string& program) {
  const auto runnable = [](const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (program[0] != '/') {
      return program +
             " is relative, and the command starts in the fresh, empty mount; give "
             "an absolute path";
    }
    return runnable(program) ? "" : program + " is not an executable file";
  }
  const char* env = std::getenv("PATH");
  std::stringstream dirs(env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (runnable((dir.empty() ? "." : dir) + "/" + program)) return "";
  }
  return program + " is not found in PATH";
}

// For an id that is no crash state of the point: a few ids its generator
// does give ("torn:3:7" -> the point's torn states), or "".
std::string SameGeneratorIds(const model::Filesystem& fs, const std::string& id, uint64_t seed) {
  std::string generator;
  size_t total = 0;
  constexpr size_t kShown = 8;
  const std::vector<std::string> ids = fs.SameGeneratorIds(id, seed, kShown, &generator, &total);
  if (total == 0) {
    return fs.CrashStates(generator, seed, 1).ok()
               ? "; its generator " + generator + " gives no state at this point"
               : "";
  }
  std::string shown;
  for (const std::string& s : ids) shown += (shown.empty() ? "" : ", ") + s;
  return "; its generator " + generator + " gives " + std::to_string(total) + " here: " + shown +
         (total > ids.size() ? ", ..." : "");
}

}  // namespace

std::vector<std::string> JoinStateIds(const std::vector<std::string>& split) {
  std::vector<std::string> states;
  for (const std::string& g : split) {
    const bool seq = !g.empty() && g.find_first_not_of("0123456789") == std::string::npos;
    if (seq && !states.empty() && states.back().rfind("reorder:", 0) == 0 &&
        std::count(states.back().begin(), states.back().end(), ':') == 2) {
      states.back() += "," + g;
    } else {
      states.push_back(g);
    }
  }
  return states;
}

Expected<RecordResult> Record(const RecordOptions& options) {
  if (options.command.empty()) return Error{"record: give the command after --"};
  if (const std::string why = WhyNotRunnable(options.command[0]); !why.empty()) {
    return Error{"record: cannot run the command: " + why};
  }
  const std::string out = std::filesystem::absolute(options.out).lexically_normal().string();
  if (!std::filesystem::is_directory(std::filesystem::path(out).parent_path())) {
    return Error{"record: --out " + options.out + ": directory " +
                 std::filesystem::path(out).parent_path().string() + " does not exist"};
  }
  Expected<std::unique_ptr<MountedFs>> mounted =
      MountedFs::Mount(options.blackout_bin, options.model, TempRoot());
  if (!mounted.ok()) return Error{"record: " + mounted.error()};
  MountedFs& fs = **mounted;
  RecordResult result;
  // Under the sync guard, so that the command's sync(2)/syncfs(2) reach the
  // mount (harness/sync_guard.h).
  const Finished f =
      RunIn(SyncGuardArgv(options.blackout_bin, fs.mountpoint(), options.command),
            fs.mountpoint(), fs.mountpoint(), "", -1, options.timeout_s);
  if (f.interrupted) return Error{"record: interrupted; the command was stopped, nothing saved"};
  result.command_exit = f.exit_code;
  result.timed_out = f.timed_out;
  // The control socket's crash-point request (control/server.h).
  control::Result<control::ControlClient> client =
      control::ControlClient::Connect(control::DefaultSocketPath(fs.mountpoint()));
  if (!client.ok()) return Error{"record: " + client.error()};
  control::Result<json> saved =
      client->Call(json{{"cmd", "crash-point"}, {"path", out}}, std::chrono::seconds(120));
  if (!saved.ok()) return Error{"record: saving the crash point: " + saved.error()};
  if (!saved->value("ok", false)) {
    return Error{"record: saving the crash point: " + saved->value("error", std::string("failed"))};
  }
  result.seq = saved->value("seq", uint64_t{0});
  result.bytes = saved->value("bytes", uint64_t{0});
  return result;  // ~MountedFs unmounts
}

Expected<ExploreResult> Explore(const ExploreOptions& given) {
  const auto started = std::chrono::steady_clock::now();
  ExploreOptions options = given;
  if (options.check.empty()) return Error{"explore: --check is empty; give a shell command"};
  std::ifstream in(options.trace, std::ios::binary);
  if (!in) return Error{"explore: cannot read " + options.trace + ": " + std::strerror(errno)};
  std::stringstream bytes;
  bytes << in.rdbuf();
  const auto saved_model = model::Filesystem::SavedModel(bytes.str());
  if (!saved_model.ok()) {
    return Error{"explore: " + options.trace +
                 " is not a crash point (make one with `blackout record --out FILE -- CMD`)"};
  }
  const std::string recorded =
      *saved_model ? std::string(model::Name(**saved_model)) : std::string();
  if (options.model.empty()) options.model = recorded.empty() ? "posix-strict" : recorded;
  model::Result<model::BehaviourModel> m = model::ParseBehaviourModel(options.model);
  if (!m.ok()) {
    return Error{"explore: --model " + options.model +
                 " is unknown; models: " + model::BehaviourModelNames()};
  }
  if (!recorded.empty() && options.model != recorded) {
    return Error{"explore: --model " + options.model + ": " + options.trace +
                 " was recorded under " + recorded +
                 ", and which operations are still pending at a crash point depends on the "
                 "model's sync rules; explore it without --model, or record again with --model " +
                 options.model};
  }
  model::Options fs_options;
  fs_options.model = *m;
  model::Filesystem fs(fs_options);
  if (!fs.LoadCrashPoint(bytes.str()).ok()) {
    return Error{"explore: " + options.trace +
                 " is not a crash point (make one with `blackout record --out FILE -- CMD`)"};
  }
  ExploreResult result;
  result.model = options.model;
  result.seed = options.seed;
  std::vector<model::CrashStateInfo> states;
  std::set<uint64_t> seen;  // one check per distinct tree across generators
  for (const std::string& g : options.states) {
    model::Result<std::vector<model::CrashStateInfo>> got =
        fs.CrashStates(g, options.seed, options.limit);
    if (!got.ok()) {
      // One crash state, by the id explore lists it under.
      const std::optional<model::CrashStateInfo> one =
          g.find(':') == std::string::npos ? std::nullopt
                                           : DescribeCrashState(fs, Scenario{}, g, options.seed);
      const model::Result<uint64_t> hash = fs.CrashStateHash(g);
      if (!one || !hash.ok()) {  // DescribeCrashState asks IsCrashState
        return Error{"explore: --states " + g +
                     " is neither a generator (drop-all, keep-all, prefix, reorder:K, torn, "
                     "random:N) nor a crash-state id of this point under " +
                     result.model +
                     " (prefix:S, reorder:K:S1,S2, torn:S:B with B at a 512-byte sector "
                     "boundary, random:N:SEED:I, as explore lists them)" +
                     SameGeneratorIds(fs, g, options.seed)};
      }
      got = std::vector<model::CrashStateInfo>{*one};
      got->back().tree_hash = *hash;
    }
    for (model::CrashStateInfo& s : *got) {
      if (seen.insert(s.tree_hash).second) states.push_back(std::move(s));
    }
  }
  // Removed on every way out, an interruption included.
  Expected<TempDir> temp = TempDir::Make(options.tmp_root, "blackout-explore");
  if (!temp.ok()) return Error{"explore: " + temp.error()};
  const std::string work = temp->path();
  // The pending ops in the trace's words (the loaded crash point traces
  // them), for what each state lost and for the diagnosis.
  json trace = {{"entries", json::array()}};
  std::map<uint64_t, json> by_seq;
  for (const model::TraceEntry& e : fs.Trace()) {
    json entry = {
        {"seq", e.seq},       {"op", e.op},
        {"ino", e.ino},       {"path", e.path.empty() || e.path[0] == '/' ? e.path : "/" + e.path},
        {"offset", e.offset}, {"length", e.length},
        {"detail", e.detail}};
    by_seq[e.seq] = entry;
    trace["entries"].push_back(std::move(entry));
  }
  // Runs the check in crash state `id`, in a directory of its own (checks
  // run --jobs at a time): its exit code and output. False with *dir_out
  // set when the state could not be materialized there.
  std::atomic<int> counter{0};
  auto check_state = [&](const std::string& id, StateOutcome* o, std::string* dir_out) -> bool {
    const std::string dir = work + "/state-" + std::to_string(counter++);
    const std::string log = dir + ".out";
    *dir_out = dir;
    struct Remove {
      std::string dir, log;
      ~Remove() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        std::filesystem::remove(log, ec);
      }
    } remove{dir, log};
    if (!fs.MaterializeCrashState(id, dir).ok()) return false;
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const Finished f = RunIn({"sh", "-c", options.check}, dir, dir, id, fd, options.timeout_s);
    if (fd >= 0) close(fd);
    o->exit_code = f.exit_code;
    o->timed_out = f.timed_out;
    o->output = ReadAllFile(log, 4096);
    return true;
  };
  std::atomic<size_t> done{0};
  auto interrupted = [&] {
    return Error{"explore: interrupted after " + std::to_string(done.load()) +
                 " crash states; no report written"};
  };
  RecheckMemo memo(fs);
  auto outcome = [](const StateOutcome& o) {
    return o.violation() ? std::vector<std::string>{"check"} : std::vector<std::string>{};
  };
  result.states.resize(states.size());
  std::vector<char> materialized(states.size(), 1);
  std::vector<std::string> dirs(states.size());
  std::atomic<size_t> violations{0};
  std::mutex progress_mu;
  const int jobs = static_cast<int>(std::max<size_t>(1, options.jobs));
  ParallelFor(static_cast<int>(states.size()), jobs, [&](int k) {
    if (Interrupted()) return;
    const model::CrashStateInfo& s = states[k];
    StateOutcome& o = result.states[k];
    o.id = s.id;
    o.generator = s.generator;
    o.dropped = s.dropped;
    o.lost = DescribeOps(s.dropped, by_seq, kDescribedOps);
    if (s.torn)
      o.torn = DescribeOps({s.torn}, by_seq)[0].get<std::string>() + " torn: its first " +
               std::to_string(s.torn_bytes) + " bytes reached the disk";
    if (!check_state(s.id, &o, &dirs[k])) {
      materialized[k] = 0;
      return;
    }
    if (Interrupted()) return;
    memo.Put(s.tree_hash, outcome(o));
    if (o.violation()) ++violations;
    const size_t n = ++done;
    std::lock_guard lock(progress_mu);
    if (options.progress) options.progress(n, states.size(), violations.load());
  });
  for (size_t k = 0; k < states.size(); ++k) {
    if (!materialized[k]) {
      return Error{"explore: cannot materialize crash state " + states[k].id + " into " + dirs[k]};
    }
  }
  if (Interrupted()) return interrupted();
  result.violations = violations.load();
  // Then the diagnoses of the first --diagnose violating states, once the
  // memo knows every listed state.
  std::vector<size_t> diagnosed;
  for (size_t k = 0; k < states.size() && diagnosed.size() < options.diagnose; ++k)
    if (result.states[k].violation()) diagnosed.push_back(k);
  result.diagnosed = diagnosed.size();
  ParallelFor(static_cast<int>(diagnosed.size()), jobs, [&](int i) {
    if (Interrupted()) return;
    const model::CrashStateInfo& s = states[diagnosed[i]];
    StateOutcome& o = result.states[diagnosed[i]];
    // Which sync would have saved it (diagnosis.h): the state re-checked
    // with the ops that sync would have made durable kept too.
    DiagnosisInput di = DiagnosisFor(&trace, options.model, s);
    di.violated = {"check"};
    int known = 0;
    di.recheck = memo.Wrap(
        [&](const std::string& id) -> std::optional<std::vector<std::string>> {
          StateOutcome again;
          std::string dir;
          if (Interrupted() || !check_state(id, &again, &dir) || Interrupted()) return std::nullopt;
          return outcome(again);
        },
        &known);
    Diagnosis dg = Diagnose(di);
    dg.rechecks_known = known;
    o.diagnosis = dg.ToJson();
  });
  if (Interrupted()) return interrupted();  // during the last diagnosis
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

std::string ExploreSummary(const ExploreOptions& options, const ExploreResult& result) {
  std::ostringstream s;
  s << "explore " << options.trace << ": " << result.states.size() << " crash state(s) ("
    << Join(options.states, ", ") << ", model " << result.model << ", seed " << result.seed
    << "), " << result.violations << " violation(s)\n";
  for (const StateOutcome& o : result.states) {
    if (!o.violation()) continue;
    s << "  VIOLATION " << o.id << ": check "
      << (o.timed_out ? std::string("timed out") : "exited " + std::to_string(o.exit_code));
    std::string first = o.output.substr(0, o.output.find('\n'));
    if (!first.empty()) s << ": " << first;
    s << "\n    lost: " << LostInWords(o);
    if (o.diagnosis.is_object() && !o.diagnosis.value("text", "").empty()) {
      s << "\n    " << (o.diagnosis.value("found", false) ? "fix: " : "no fix: ")
        << o.diagnosis.value("text", "");
    }
    s << "\n    reproduce: " << ExploreCommand(options, result, o.id) << "\n";
    s << "    look at it on a live mount: dir=$(mktemp -d) && blackout mount \"$dir\" --load "
      << ShellQuote(options.trace) << " --load-state " << o.id
      << " && echo \"mounted at $dir (blackout umount $dir when done)\"\n";
  }
  if (result.violations == 0) s << "  clean: the check passed in every crash state\n";
  if (options.diagnose > 0 && result.diagnosed < result.violations) {
    s << "  diagnosed the first " << result.diagnosed << " of " << result.violations
      << " violations (--diagnose N for more; each may run the check in a few more states)\n";
  }
  return s.str();
}

Status WriteExploreReport(const ExploreOptions& options, const ExploreResult& result,
                          const std::string& dir) {
  // The shared report schema (reports/report.h), one "scenario" for the
  // explored trace, so report.md, junit.xml and report.html render it as
  // they render `blackout run`; the explore-only keys stay beside it.
  const std::string reproduce = ExploreCommand(options, result, Join(options.states, ","));
  json states = json::array();
  json crash_states = json::array();
  json scenario_findings = json::array();
  for (const StateOutcome& o : result.states) {
    states.push_back({{"id", o.id},
                      {"generator", o.generator},
                      {"dropped", o.dropped},
                      {"lost", o.lost},
                      {"torn", o.torn},
                      {"diagnosis", o.diagnosis},
                      {"exit_code", o.exit_code},
                      {"timed_out", o.timed_out},
                      {"violation", o.violation()},
                      {"output", o.output}});
    json violations = json::array();
    if (o.violation()) {
      violations.push_back(
          {{"invariant", "check"},
           {"message", (o.timed_out ? std::string("the check timed out")
                                    : "the check exited " + std::to_string(o.exit_code)) +
                           (o.output.empty() ? "" : ": " + o.output)}});
    }
    json pending = json::array();
    if (o.lost.is_array() && !o.lost.empty()) {
      for (const json& w : o.lost) pending.push_back("dropped " + w.get<std::string>());
    } else {
      for (uint64_t seq : o.dropped) pending.push_back("dropped #" + std::to_string(seq));
    }
    if (!o.torn.empty()) pending.push_back(o.torn);
    // This state alone, offline, as the summary prints it; BLACKOUT_STATE
    // names it inside the check.
    const std::string state_reproduce = ExploreCommand(options, result, o.id);
    // Named, as for an exec scenario, by the sync that would have saved the state.
    json findings = json::array();
    if (o.diagnosis.is_object() && o.diagnosis.value("found", false)) {
      for (const json& fix : o.diagnosis["fixes"]) {
        const std::string name =
            fix.value("sync", "") == "fsync-dir" ? kExecDirectoryNotFsynced : kExecFileNotFsynced;
        if (std::find(findings.begin(), findings.end(), name) == findings.end()) {
          findings.push_back(name);
        }
        if (std::find(scenario_findings.begin(), scenario_findings.end(), name) ==
            scenario_findings.end()) {
          scenario_findings.push_back(name);
        }
      }
    }
    crash_states.push_back({{"point", "end"},
                            {"state", o.id},
                            {"generator", o.generator},
                            {"recovered", true},
                            {"lost_writes", 0},
                            {"violations", std::move(violations)},
                            {"pending_at_crash", std::move(pending)},
                            {"findings", std::move(findings)},
                            {"error", ""},
                            {"reproduce", state_reproduce}});
    if (!o.diagnosis.is_null()) {
      crash_states.back()["exploration"] = {{"id", o.id},
                                            {"generator", o.generator},
                                            {"dropped", o.lost},
                                            {"dropped_ops", o.dropped.size()},
                                            {"diagnosis", o.diagnosis},
                                            {"reproduce", state_reproduce}};
    }
  }
  const bool ok = result.violations == 0;
  const std::string name = std::filesystem::path(options.trace).filename().string();
  json scenario{
      {"name", name},
      {"file", options.trace},
      {"description", "blackout explore: the check `" + options.check +
                          "` in every crash state of the recorded trace"},
      {"engine", "exec"},
      {"config", json::object()},
      {"profile", "-"},
      {"model", result.model},
      {"crash_kind", "power"},
      {"crash_at", "end"},
      {"states_requested", options.states},
      {"check", json::array({"check-command"})},
      {"expect", {{"violations", json::array()}}},
      {"outcome", ok ? "as-expected" : "unexpected"},
      {"error", ""},
      {"mismatch",
       ok ? "" : "the check failed in " + std::to_string(result.violations) + " crash state(s)"},
      {"contract", json::object()},
      {"violations", ok ? json::array() : json::array({"check"})},
      {"findings", scenario_findings},
      {"acked_writes", 0},
      {"lost_writes", 0},
      {"seconds", result.seconds},
      {"reproduce", reproduce},
      {"crash_states", std::move(crash_states)}};
  json report{{"schema_version", reports::kSchemaVersion},
              {"tool", "blackout"},
              {"generated_at", IsoNow()},
              {"seed", result.seed},
              {"shard", "1/1"},
              {"jobs", options.jobs},
              {"duration_s", result.seconds},
              {"summary",
               {{"scenarios", 1},
                {"as_expected", ok ? 1 : 0},
                {"unexpected", ok ? 0 : 1},
                {"errors", 0},
                {"lost_writes", 0}}},
              {"scenarios", json::array({std::move(scenario)})},
              {"kind", "explore"},
              {"trace", options.trace},
              {"check", options.check},
              {"generators", options.states},
              {"model", result.model},
              {"states", std::move(states)},
              {"violations", result.violations},
              {"ok", ok}};
  std::string error;
  if (!reports::WriteReports(dir, report, &error)) return Error{error};
  return Ok();
}

}  // namespace blackout::harness
