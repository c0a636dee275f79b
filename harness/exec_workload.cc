#include "harness/exec_workload.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "fusefs/control/client.h"
#include "harness/child_process.h"
#include "harness/findings.h"
#include "harness/mounted_fs.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Tail(const std::string& file, size_t max = 400) {
  std::ifstream in(file);
  std::stringstream b;
  b << in.rdbuf();
  std::string s = b.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.size() > max ? "..." + s.substr(s.size() - max) : s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b);
}

// argv that runs `command` with /bin/sh in `dir` with the mount's variables.
std::vector<std::string> ShellArgv(const ExecSpec& e, const std::string& mnt,
                                   const std::string& ctl, const std::string& command) {
  return {"/usr/bin/env",
          "BLACKOUT_MNT=" + mnt,
          "BLACKOUT_CTL=" + ctl,
          "/bin/sh",
          "-c",
          "cd \"$0\" || exit 126; eval \"$1\"",
          e.dir,
          command};
}

// A request to the mount's control socket; an error reply is an error.
Expected<json> Call(const std::string& socket, const json& request) {
  auto client = control::ControlClient::Connect(socket);
  if (!client.ok()) return Error{client.error()};
  auto reply = client->Call(request, std::chrono::seconds(30));
  if (!reply.ok()) return Error{reply.error()};
  if (!reply->value("ok", false))
    return Error{request.value("cmd", "") + ": " + reply->value("error", reply->dump())};
  return *reply;
}

struct ExecAck {
  std::string id;
  uint64_t seq = 0;  // trace position when the line was read
};

// Runs a command to its end within `timeout_s`; stdout is returned, stderr
// goes to `log`.
struct Finished {
  bool started = false, timed_out = false;
  int exit_code = -1;
  std::string out;
  std::string error;
};
Finished RunToEnd(const std::vector<std::string>& argv, const std::string& log, double timeout_s) {
  Finished f;
  auto child = ChildProcess::Start(argv, log);
  if (!child.ok()) {
    f.error = child.error();
    return f;
  }
  f.started = true;
  child->CloseStdin();
  const double t0 = Now();
  auto out = child->ReadAll(timeout_s);
  if (!out.ok()) {
    child->Kill();
    f.timed_out = true;
    return f;
  }
  f.out = std::move(*out);
  auto code = child->Wait(std::max(1.0, timeout_s - (Now() - t0)));
  if (!code.ok()) {
    child->Kill();
    f.timed_out = true;
    return f;
  }
  f.exit_code = *code;
  return f;
}

}  // namespace

CrashStateResult RunExecCrashState(const Scenario& s, const RunOptions& o, const std::string& state,
                                   json* contract) {
  const ExecSpec& e = *s.exec;
  CrashStateResult r;
  r.point = s.crash_trigger.is_null()
                ? "end"
                : std::string(s.crash_trigger.value("before", false) ? "before " : "after ") +
                      s.crash_trigger.value("op", "") + " " + s.crash_trigger.value("path", "*") +
                      " #" + std::to_string(s.crash_trigger.value("nth", uint64_t{1}));
  r.state = s.crash_kind == CrashKind::kPower ? state : "process";
  *contract = {{"process", e.contract}, {"power", e.contract}};
  const double t0 = Now();
  auto finish = [&](std::string error) {
    r.error = std::move(error);
    r.seconds = Now() - t0;
    return r;
  };

  std::vector<std::string> extra;
  if (s.capacity_bytes) extra = {"--capacity", std::to_string(s.capacity_bytes)};
  auto fs = MountedFs::Mount(o.blackout_bin, s.model, o.tmp_root, extra);
  if (!fs.ok()) return finish(fs.error());
  const std::string mnt = (*fs)->mountpoint();
  const std::string ctl = control::DefaultSocketPath(mnt);
  FsControl& control = (*fs)->control();
  if (auto r0 = control.Sync(); !r0.ok()) return finish(r0.error());
  for (const json& f : s.faults)
    if (auto rep = Call(ctl, f); !rep.ok()) return finish("$.faults: " + rep.error());
  if (!s.crash_trigger.is_null())
    if (auto rep = Call(ctl, s.crash_trigger); !rep.ok())
      return finish("$.crash.at: " + rep.error());

  // The workload, reading its acks as they come.
  const std::string wlog = (*fs)->dir() + "/workload.log";
  auto child = ChildProcess::Start(ShellArgv(e, mnt, ctl, e.workload), wlog);
  if (!child.ok()) return finish("cannot start $.exec.workload: " + child.error());
  child->CloseStdin();
  std::vector<ExecAck> acks;
  std::vector<std::string> junk;  // stdout lines that are not acks (shown on error)
  const double deadline = Now() + e.timeout_s;
  bool triggered = false, eof = false;
  auto trigger_fired = [&]() -> bool {
    if (s.crash_trigger.is_null()) return false;
    auto rep = Call(ctl, {{"cmd", "faults"}});
    return rep.ok() && rep->value("triggered_cuts", 0) > 0;
  };
  while (!eof) {
    if (Interrupted()) return finish("interrupted");
    if (Now() > deadline) {
      child->Kill();
      return finish("$.exec.workload did not finish within " +
                    std::to_string(static_cast<int>(e.timeout_s)) + " s (exec.timeout_s); " +
                    std::to_string(acks.size()) + " acks so far; its stderr: " + Tail(wlog));
    }
    auto line = child->ReadLine(0.05);
    if (!line.ok()) {
      if (line.error().find("closed its output") != std::string::npos) eof = true;
      if (trigger_fired()) {
        // The mount cut the power: what the program does from now on
        // happens after the crash; stop it here.
        triggered = true;
        child->Kill();
        break;
      }
      continue;
    }
    const std::string text = Trim(*line);
    if (text.rfind("ack ", 0) == 0 && !Trim(text.substr(4)).empty()) {
      auto seq = control.Seq();
      acks.push_back({Trim(text.substr(4)), seq.ok() ? *seq : 0});
    } else if (!text.empty() && junk.size() < 5) {
      junk.push_back(text);
    }
  }
  int exit_code = -1;
  if (!triggered) {
    auto code = child->Wait(std::max(1.0, deadline - Now()));
    if (!code.ok()) {
      child->Kill();
      return finish("$.exec.workload closed its output but did not exit: " + code.error());
    }
    exit_code = *code;
    triggered = trigger_fired();
  }
  if (exit_code == 126 || exit_code == 127)
    return finish("$.exec.workload could not run (exit " + std::to_string(exit_code) +
                  ": command not found or not executable): " + Tail(wlog));
  if (acks.empty()) {
    std::string seen = junk.empty() ? "nothing" : "'" + junk.front() + "'";
    return finish("$.exec.workload printed no `ack ID` line (exit " + std::to_string(exit_code) +
                  ", stdout began with " + seen +
                  "); it must print one per durable operation; "
                  "its stderr: " +
                  Tail(wlog));
  }
  if (!s.crash_trigger.is_null() && !triggered)
    return finish("$.crash.at.after: the crash trigger never fired (the workload exited " +
                  std::to_string(exit_code) + " before the matching operation)");

  // The crash.
  std::vector<Gap> gaps;
  if (s.crash_kind == CrashKind::kPower && !triggered) {
    auto unsynced = control.Unsynced();
    if (!unsynced.ok()) return finish(unsynced.error());
    gaps = GapsInStore(*unsynced, "");
    for (const auto& g : gaps) r.gaps.push_back(DescribeGap(g));
    auto cut = control.PowerCut(state);
    if (!cut.ok()) return finish(cut.error());
  }
  bool fsync_failed = false;
  if (auto trace = control.Trace(); trace.ok())
    for (const auto& t : trace->value("entries", json::array()))
      if (t.value("detail", "").rfind("injected", 0) == 0 &&
          t.value("op", "").find("sync") != std::string::npos)
        fsync_failed = true;

  // Recovery and check, each within the recovery time limit.
  const std::string rlog = (*fs)->dir() + "/recovery.log";
  r.recovered = true;
  if (!e.recover.empty()) {
    Finished rec = RunToEnd(ShellArgv(e, mnt, ctl, e.recover), rlog, s.recovery_timeout_s);
    if (!rec.started) return finish("cannot start $.exec.recover: " + rec.error);
    if (rec.timed_out || rec.exit_code != 0) {
      r.recovered = false;
      r.recovery_error =
          rec.timed_out
              ? "exec.recover did not finish within " +
                    std::to_string(static_cast<int>(s.recovery_timeout_s)) +
                    " s (crash.recovery_timeout_s)"
              : "exec.recover exited " + std::to_string(rec.exit_code) + ": " + Tail(rlog);
    }
  }
  std::set<std::string> found;
  bool corrupt = false;
  std::string corrupt_why;
  if (r.recovered) {
    Finished chk = RunToEnd(ShellArgv(e, mnt, ctl, e.check), rlog, s.recovery_timeout_s);
    if (!chk.started) return finish("cannot start $.exec.check: " + chk.error);
    if (chk.timed_out) {
      r.recovered = false;
      r.recovery_error = "exec.check did not finish within " +
                         std::to_string(static_cast<int>(s.recovery_timeout_s)) +
                         " s (crash.recovery_timeout_s)";
    } else if (chk.exit_code == 126 || chk.exit_code == 127) {
      return finish("$.exec.check could not run (exit " + std::to_string(chk.exit_code) +
                    "): " + Tail(rlog));
    } else {
      corrupt = chk.exit_code != 0;
      corrupt_why = "exec.check exited " + std::to_string(chk.exit_code) + ": " + Tail(rlog);
      std::istringstream lines(chk.out);
      for (std::string l; std::getline(lines, l);)
        if (!Trim(l).empty()) found.insert(Trim(l));
    }
  }

  // Judge.
  auto listed = [&](const char* inv) { return std::count(s.check.begin(), s.check.end(), inv); };
  CheckOutcome& out = r.check;
  out.acked_writes = static_cast<int>(acks.size());
  std::vector<std::string> missing;
  int first_missing = -1, last_found = -1;
  for (size_t i = 0; i < acks.size(); ++i) {
    if (found.count(acks[i].id)) {
      last_found = static_cast<int>(i);
    } else {
      missing.push_back(acks[i].id);
      if (first_missing < 0) first_missing = static_cast<int>(i);
    }
  }
  if (r.recovered && !corrupt) {
    out.lost_writes = static_cast<int>(missing.size());
    if (e.contract == "acked") out.promised_lost = out.lost_writes;
    for (size_t i = 0; i < missing.size() && i < 5; ++i)
      out.lost_examples.push_back("ack " + missing[i]);
  }
  if (!r.recovered && listed("recovers")) out.violations.push_back({"recovers", r.recovery_error});
  if (corrupt && listed("no-corruption")) out.violations.push_back({"no-corruption", corrupt_why});
  if (r.recovered && !corrupt && e.contract == "acked" && !missing.empty() &&
      listed("acked-durable")) {
    std::string ids;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) ids += (i ? ", " : "") + missing[i];
    out.violations.push_back({"acked-durable", std::to_string(missing.size()) + " of " +
                                                   std::to_string(acks.size()) +
                                                   " acked IDs not found after the crash (" + ids +
                                                   (missing.size() > 5 ? ", ..." : "") + ")"});
  }
  if (r.recovered && !corrupt && first_missing >= 0 && last_found > first_missing &&
      listed("prefix"))
    out.violations.push_back({"prefix", "ack " + acks[first_missing].id +
                                            " is missing while the later ack " +
                                            acks[last_found].id + " survived"});

  // Findings: what the program left undone, in the words of its trace.
  if (out.lost_writes > 0) {
    auto has = [&](Gap::Kind k) {
      return std::any_of(gaps.begin(), gaps.end(), [&](const Gap& g) { return g.kind == k; });
    };
    if (has(Gap::Kind::kFileData)) r.findings.push_back("exec-file-not-fsynced");
    if (has(Gap::Kind::kDirEntries)) r.findings.push_back("exec-directory-not-fsynced");
    if (fsync_failed) r.findings.push_back("exec-data-lost-after-fsync-error");
  }
  r.seconds = Now() - t0;
  return r;
}

}  // namespace blackout::harness
