#include "harness/exec_workload.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fusefs/control/client.h"
#include "harness/child_process.h"
#include "harness/diagnosis.h"
#include "harness/explore.h"
#include "harness/findings.h"
#include "harness/fs_control.h"
#include "harness/mounted_fs.h"
#include "harness/sync_guard.h"
#include "harness/temp_dir.h"
#include "harness/timeline.h"
#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

// How much of a command's stderr an error message quotes.
constexpr size_t kStderrTail = 400;

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

// Where a stage's command is written in the scenario, in its own spelling.
std::string StagePath(const ExecSpec& e, const std::string& stage) {
  return e.older_spelling ? "$.exec." + stage : "$." + stage + ".exec";
}

// The workload's run on a mount, up to the crash.
struct ExecRecording {
  std::unique_ptr<MountedFs> fs;
  std::vector<ExecAck> acks;
  bool triggered = false;  // the mount's crash trigger cut the power
  int exit_code = -1;
  // Set before the run: a saving twin of the crash trigger is armed too, so
  // that the crash point of the cut is there for a diagnosis.
  bool save_at_trigger = false;
};

// Mounts, sends the faults and the trigger, runs the workload and reads its
// acks. Returns a setup error, or "" with *rec filled.
std::string RecordExecWorkload(const Scenario& s, const RunOptions& o, ExecRecording* rec) {
  const ExecSpec& e = *s.exec;
  const std::string wpath = StagePath(e, "workload");
  std::vector<std::string> extra;
  if (s.capacity_bytes) extra = {"--capacity", std::to_string(s.capacity_bytes)};
  auto fs = MountedFs::Mount(o.blackout_bin, s.model, o.tmp_root, extra);
  if (!fs.ok()) return fs.error();
  rec->fs = std::move(*fs);
  const std::string mnt = rec->fs->mountpoint();
  const std::string ctl = control::DefaultSocketPath(mnt);
  FsControl& control = rec->fs->control();
  if (auto r0 = control.Sync(); !r0.ok()) return r0.error();
  for (const json& f : s.faults)
    if (auto rep = ControlCall(ctl, f); !rep.ok()) return "$.faults: " + rep.error();
  if (!s.crash_trigger.is_null()) {
    // A cutting trigger freezes the program at the cut ("stop"): it prints
    // no ack and writes nothing after the power went, however fast it runs.
    json trigger = s.crash_trigger;
    if (!trigger.value("save", false)) trigger["stop"] = true;
    if (auto rep = ControlCall(ctl, trigger); !rep.ok()) return "$.crash.at: " + rep.error();
  }
  if (!s.crash_trigger.is_null() && rec->save_at_trigger) {
    // Saves run before the cut at the same operation (fault_hooks.cc).
    json twin = s.crash_trigger;
    twin["save"] = true;
    if (auto rep = ControlCall(ctl, twin); !rep.ok()) return "$.crash.at: " + rep.error();
  }

  // The workload, reading its acks as they come; under the sync guard, so
  // that its sync(2)/syncfs(2) reach the mount (harness/sync_guard.h).
  const std::string wlog = rec->fs->dir() + "/workload.log";
  auto child = ChildProcess::Start(
      SyncGuardArgv(o.blackout_bin, mnt, ShellArgv(e, mnt, ctl, e.workload)), wlog);
  if (!child.ok()) return "cannot start " + wpath + ": " + child.error();
  child->CloseStdin();
  std::vector<std::string> junk;  // stdout lines that are not acks (shown on error)
  const double deadline = Now() + e.timeout_s;
  bool eof = false;
  auto trigger_fired = [&]() -> bool {
    if (s.crash_trigger.is_null()) return false;
    auto rep = ControlCall(ctl, {{"cmd", "faults"}});
    return rep.ok() && rep->value("triggered_cuts", 0) > 0;
  };
  auto take = [&](const std::string& line) {
    const std::string text = Trim(line);
    if (text.rfind("ack ", 0) == 0 && !Trim(text.substr(4)).empty()) {
      auto seq = control.Seq();
      rec->acks.push_back({Trim(text.substr(4)), seq.ok() ? *seq : 0});
    } else if (!text.empty() && junk.size() < 5) {
      junk.push_back(text);
    }
  };
  while (!eof) {
    if (Interrupted()) return "interrupted";
    if (Now() > deadline) {
      child->Kill();
      return wpath + " did not finish within " + std::to_string(static_cast<int>(e.timeout_s)) +
             " s (" + (e.older_spelling ? "$.exec" : "$.workload") + ".timeout_s); " +
             std::to_string(rec->acks.size()) + " acks so far; its stderr: " + Tail(wlog, kStderrTail);
    }
    auto line = child->ReadLine(0.05);
    // The trigger is looked at after every line too: a program that prints
    // without pause would otherwise run on past the cut unseen.
    if (line.ok()) take(*line);
    if (!line.ok() || !s.crash_trigger.is_null()) {
      if (!line.ok() && line.error().find("closed its output") != std::string::npos) eof = true;
      if (trigger_fired()) {
        // The mount cut the power and froze the program (its trigger's
        // "stop"): what its output holds was printed before the cut (under
        // load, a whole run of acks the last look had not read yet); take
        // it, then end the program.
        rec->triggered = true;
        for (auto more = child->ReadLine(0); more.ok(); more = child->ReadLine(0)) take(*more);
        child->Kill();
        break;
      }
    }
  }
  if (!rec->triggered) {
    auto code = child->Wait(std::max(1.0, deadline - Now()));
    if (!code.ok()) {
      child->Kill();
      return wpath + " closed its output but did not exit: " + code.error();
    }
    rec->exit_code = *code;
    rec->triggered = trigger_fired();
  }
  if (rec->exit_code == 126 || rec->exit_code == 127)
    return wpath + " could not run (exit " + std::to_string(rec->exit_code) +
           ": command not found or not executable): " + Tail(wlog, kStderrTail);
  if (rec->acks.empty()) {
    std::string seen = junk.empty() ? "nothing" : "'" + junk.front() + "'";
    return wpath + " printed no `ack ID` line (exit " + std::to_string(rec->exit_code) +
           ", stdout began with " + seen +
           "); it must print one per durable operation; its stderr: " + Tail(wlog, kStderrTail);
  }
  if (!s.crash_trigger.is_null() && !rec->triggered)
    return "$.crash.at.after: the crash trigger never fired (the workload exited " +
           std::to_string(rec->exit_code) + " before the matching operation" + kTriggerPaths + ")";
  return "";
}

// Whether the trace shows an injected failure of an fsync.
bool FsyncFailed(const json& trace) {
  for (const auto& t : trace.value("entries", json::array()))
    if (t.value("detail", "").rfind("injected", 0) == 0 &&
        t.value("op", "").find("sync") != std::string::npos)
      return true;
  return false;
}

// Runs recover (optional) and check on the files under `mnt` after the
// crash; `guard` wraps a command for the mount (identity off the mount).
// Fills r->recovered, r->recovery_error and *found / *corrupt. Returns a
// setup error: a command that cannot run, or a check that hangs (the
// check is the author's instrument; a hang is no verdict on the program).
struct Checked {
  std::set<std::string> found;
  bool corrupt = false;
  std::string corrupt_why;
};
std::string RecoverAndCheck(
    const Scenario& s, const std::string& mnt, const std::string& ctl, const std::string& log,
    const std::function<std::vector<std::string>(const std::vector<std::string>&)>& guard,
    CrashStateResult* r, Checked* out) {
  const ExecSpec& e = *s.exec;
  const std::string limit =
      std::to_string(static_cast<int>(s.recovery_timeout_s)) + " s (crash.recovery_timeout_s)";
  r->recovered = true;
  if (!e.recover.empty()) {
    Finished rec = RunToEnd(guard(ShellArgv(e, mnt, ctl, e.recover)), log, s.recovery_timeout_s);
    if (!rec.started) return "cannot start " + StagePath(e, "recover") + ": " + rec.error;
    if (rec.exit_code == 126 || rec.exit_code == 127)
      return StagePath(e, "recover") + " could not run (exit " + std::to_string(rec.exit_code) +
             "): " + Tail(log, kStderrTail);
    if (rec.timed_out || rec.exit_code != 0) {
      r->recovered = false;
      r->recovery_error =
          rec.timed_out ? StagePath(e, "recover") + " did not finish within " + limit
                        : StagePath(e, "recover") + " exited " + std::to_string(rec.exit_code) +
                              (Tail(log, kStderrTail).empty() ? " (no output on stderr)"
                                                              : ": " + Tail(log, kStderrTail));
    }
  }
  if (!r->recovered) return "";
  const std::string cpath = StagePath(e, "check");
  Finished chk = RunToEnd(guard(ShellArgv(e, mnt, ctl, e.check)), log, s.recovery_timeout_s);
  if (!chk.started) return "cannot start " + cpath + ": " + chk.error;
  if (chk.timed_out)
    return cpath + " did not finish within " + limit + " and was killed: it must print the IDs " +
           "it finds and exit";
  if (chk.exit_code == 126 || chk.exit_code == 127)
    return cpath + " could not run (exit " + std::to_string(chk.exit_code) + "): " + Tail(log, kStderrTail);
  out->corrupt = chk.exit_code != 0;
  const std::string said = Tail(log, kStderrTail);
  out->corrupt_why = cpath + " exited " + std::to_string(chk.exit_code) +
                     (said.empty() ? " (no output on stderr)" : ": " + said);
  std::istringstream lines(chk.out);
  for (std::string l; std::getline(lines, l);)
    if (!Trim(l).empty()) out->found.insert(Trim(l));
  return "";
}

// The invariants of one crash state: the acks against what check found.
void JudgeExec(const Scenario& s, const std::vector<ExecAck>& acks, const Checked& c,
               CrashStateResult* r) {
  const ExecSpec& e = *s.exec;
  auto listed = [&](const char* inv) { return std::count(s.check.begin(), s.check.end(), inv); };
  CheckOutcome& out = r->check;
  out.acked_writes = static_cast<int>(acks.size());
  std::vector<std::string> missing;
  int first_missing = -1, last_found = -1;
  for (size_t i = 0; i < acks.size(); ++i) {
    if (c.found.count(acks[i].id)) {
      last_found = static_cast<int>(i);
    } else {
      missing.push_back(acks[i].id);
      if (first_missing < 0) first_missing = static_cast<int>(i);
    }
  }
  // A check that exits non-zero (corruption) still printed the IDs it could
  // read: acked-durable and prefix are judged from them all the same, so
  // a failing check cannot hide a loss where no-corruption is not listed.
  const bool judged = r->recovered;
  if (!r->recovered) {
    // Nothing was read back: every acknowledged write counts as lost, as
    // for an engine that does not recover (invariants.cc).
    out.lost_writes = out.acked_writes;
  } else {
    // A check that found corruption (exit != 0) still printed the IDs it
    // could read: the others are lost to the program too.
    out.lost_writes = static_cast<int>(missing.size());
    if (judged && e.contract == "acked") out.promised_lost = out.lost_writes;
    for (size_t i = 0; i < missing.size() && i < 5; ++i)
      out.lost_examples.push_back("ack " + missing[i]);
  }
  if (!r->recovered && listed("recovers"))
    out.violations.push_back({"recovers", r->recovery_error});
  if (r->recovered && c.corrupt && listed("no-corruption"))
    out.violations.push_back({"no-corruption", c.corrupt_why});
  if (judged && e.contract == "acked" && !missing.empty() && listed("acked-durable")) {
    std::string ids;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) ids += (i ? ", " : "") + missing[i];
    out.violations.push_back({"acked-durable", std::to_string(missing.size()) + " of " +
                                                   std::to_string(acks.size()) +
                                                   " acked IDs not found after the crash (" + ids +
                                                   (missing.size() > 5 ? ", ..." : "") + ")"});
  }
  if (judged && first_missing >= 0 && last_found > first_missing && listed("prefix"))
    out.violations.push_back({"prefix", "ack " + acks[first_missing].id +
                                            " is missing while the later ack " +
                                            acks[last_found].id + " survived"});
}

// Findings: what the program left undone, in the words of its trace.
void ExecFindings(const std::vector<Gap>& gaps, bool fsync_failed, CrashStateResult* r) {
  if (r->check.lost_writes <= 0) return;
  auto has = [&](Gap::Kind k) {
    return std::any_of(gaps.begin(), gaps.end(), [&](const Gap& g) { return g.kind == k; });
  };
  if (has(Gap::Kind::kFileData)) r->findings.push_back(kExecFileNotFsynced);
  if (has(Gap::Kind::kDirEntries)) r->findings.push_back(kExecDirectoryNotFsynced);
  if (fsync_failed) r->findings.push_back(kExecDataLostAfterFsyncError);
}

// Crash state `id` of a loaded exec point checked off the mount: its files
// written into `dir`, which stands for the mount (BLACKOUT_MNT; no control
// socket), recovered and judged into *r, then `dir` and its log removed.
// Returns a setup error.
std::string CheckStateOffMount(const Scenario& s, const model::Filesystem& mfs,
                               const std::vector<ExecAck>& acks, const std::string& id,
                               const std::string& dir, CrashStateResult* r) {
  struct Remove {
    std::string dir;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      std::filesystem::remove(dir + ".log", ec);
    }
  } remove{dir};
  if (auto m = mfs.MaterializeCrashState(id, dir); !m.ok())
    return "cannot materialize crash state " + id + " into " + dir + ": " +
           std::strerror(m.error());
  Checked c;
  auto plain = [](const std::vector<std::string>& argv) { return argv; };
  if (std::string err = RecoverAndCheck(s, dir, "", dir + ".log", plain, r, &c); !err.empty())
    return err;
  JudgeExec(s, acks, c, r);
  return "";
}

// Crash state `id` of an exec point checked: recovered and judged into *r;
// returns a setup error.
using ExecStateCheck = std::function<std::string(const std::string& id, CrashStateResult* r)>;

// Which sync would have saved exec crash state `info` (diagnosis.h), each
// candidate state re-checked by `check_state`; returns Diagnosis::ToJson().
// The state's findings are named by it (DESIGN.md), else by what was pending
// at the cut.
json DiagnoseExecState(const Scenario& s, const json& trace, const model::CrashStateInfo& info,
                       bool fsync_failed, const std::vector<Gap>& gaps, RecheckMemo& memo,
                       const ExecStateCheck& check_state, CrashStateResult* r) {
  DiagnosisInput di = DiagnosisFor(&trace, s.model, info);
  di.violated = r->check.Violated();
  di.lost_writes = r->check.lost_writes;
  int known = 0;
  di.recheck = memo.Wrap(
      [&](const std::string& id) -> std::optional<std::vector<std::string>> {
        CrashStateResult again;
        if (!check_state(id, &again).empty()) return std::nullopt;
        return again.check.Violated();
      },
      &known);
  Diagnosis dg = Diagnose(di);
  dg.rechecks_known = known;
  if (dg.found) {
    for (const auto& f : dg.fixes) {
      const char* name = f.directory ? kExecDirectoryNotFsynced : kExecFileNotFsynced;
      if (r->check.lost_writes > 0 && !std::count(r->findings.begin(), r->findings.end(), name))
        r->findings.push_back(name);
    }
    if (fsync_failed && r->check.lost_writes > 0)
      r->findings.push_back(kExecDataLostAfterFsyncError);
  } else {
    ExecFindings(gaps, fsync_failed, r);
  }
  return dg.ToJson();
}

std::string PointName(const Scenario& s) {
  return s.crash_trigger.is_null()
             ? "end"
             : std::string(s.crash_trigger.value("before", false) ? "before " : "after ") +
                   s.crash_trigger.value("op", "") + " " + s.crash_trigger.value("path", "*") +
                   " #" + std::to_string(s.crash_trigger.value("nth", uint64_t{1}));
}

// States per generator; a reorder enumeration can be vast.
constexpr size_t kStateLimit = 5000;

// The program's `ack ID` lines as the timeline draws acknowledgements
// ("ack ID" at the trace position where the line was read).
std::vector<Ack> TimelineAcks(const std::vector<ExecAck>& acks) {
  std::vector<Ack> out;
  for (size_t i = 0; i < acks.size(); ++i) {
    Ack a;
    a.op_number = static_cast<int>(i) + 1;
    a.request = {{"op", "ack"}, {"key", acks[i].id}};
    a.seq_before = a.seq_after = acks[i].seq;
    out.push_back(std::move(a));
  }
  return out;
}

// Which sync would have saved exec crash state `state`, cut on the mount
// (runner.cc does the same for an engine): each candidate state is built
// from the crash point saved just before the cut and checked as an explored
// state is, in a directory of its own under `work`. Sets r->diagnosis (a
// reason in place of one that cannot be made) and r->findings.
void DiagnoseExecCut(const Scenario& s, const RunOptions& o, const std::string& point_file,
                     const std::string& state, const json& trace, const std::vector<ExecAck>& acks,
                     bool fsync_failed, const std::vector<Gap>& gaps, const std::string& work,
                     CrashStateResult* r) {
  auto not_diagnosed = [&](const std::string& why) {
    ExecFindings(gaps, fsync_failed, r);
    r->diagnosis = {{"found", false}, {"text", "not diagnosed: " + why}};
  };
  auto point = LoadPoint(s, point_file);
  if (!point.ok()) return not_diagnosed(point.error());
  const model::Filesystem& mfs = *point->fs;
  auto listed = mfs.CrashStates(state, o.seed, 1);
  if (!listed.ok() || listed->size() != 1)
    return not_diagnosed("cannot list crash state " + state + " of the saved crash point");
  std::atomic<int> counter{0};
  const ExecStateCheck check_state = [&](const std::string& id, CrashStateResult* again) {
    return CheckStateOffMount(s, mfs, acks, id, work + "/diagnose-" + std::to_string(counter++),
                              again);
  };
  // The cut state itself, off the mount, must break the same invariants: a
  // program whose recovery needs the mount cannot be diagnosed this way.
  CrashStateResult offline;
  if (std::string err = check_state(state, &offline); !err.empty()) return not_diagnosed(err);
  if (offline.check.Violated() != r->check.Violated())
    return not_diagnosed(
        "the state checked off the mount (in a directory, no control socket) does not break the "
        "same invariants");
  RecheckMemo memo(mfs);
  memo.Put((*listed)[0].tree_hash, r->check.Violated());
  r->diagnosis =
      DiagnoseExecState(s, trace, (*listed)[0], fsync_failed, gaps, memo, check_state, r);
}

}  // namespace

bool UsesExecExploration(const Scenario& s) {
  // A crash trigger cuts the power inside the mount (drop-all): nothing is
  // left to explore.
  return s.exec && s.crash_trigger.is_null() && UsesExploration(s);
}

CrashStateResult RunExecCrashState(const Scenario& s, const RunOptions& o, const std::string& state,
                                   json* contract) {
  const ExecSpec& e = *s.exec;
  CrashStateResult r;
  r.point = PointName(s);
  r.state = s.crash_kind == CrashKind::kPower ? state : "process";
  *contract = {{"process", e.contract}, {"power", e.contract}};
  const double t0 = Now();
  // Setup errors name the scenario file: they are problems of its input.
  auto finish = [&](std::string error) {
    r.error = s.file + ": " + error;
    r.seconds = Now() - t0;
    return r;
  };

  ExecRecording rec;
  rec.save_at_trigger = DiagnosedOnMount(s);
  if (std::string err = RecordExecWorkload(s, o, &rec); !err.empty()) return finish(err);
  const std::string mnt = rec.fs->mountpoint();
  const std::string ctl = control::DefaultSocketPath(mnt);
  FsControl& control = rec.fs->control();

  // The crash.
  std::vector<Gap> gaps;
  std::string point_file;  // the crash point just before the cut
  const std::vector<Ack> acks = TimelineAcks(rec.acks);
  if (s.crash_kind == CrashKind::kPower && !rec.triggered) {
    auto unsynced = control.Unsynced();
    if (!unsynced.ok()) return finish(unsynced.error());
    gaps = GapsInStore(*unsynced, "");
    for (const auto& g : gaps) r.gaps.push_back(DescribeGap(g));
    if (DiagnosedOnMount(s)) {
      // For a diagnosis, should the state break an invariant.
      point_file = rec.fs->dir() + "/crash-point.bin";
      if (auto saved = control.SaveCrashPoint(point_file); !saved.ok())
        return finish(saved.error());
    }
    auto cut = control.PowerCut(state);
    if (!cut.ok()) return finish(cut.error());
    r.timeline = CrashTimeline(control, &*unsynced, acks, state);
  } else {
    json unsynced;  // at the cut, from the point the saving twin took just before it
    if (rec.triggered && rec.save_at_trigger) {
      auto saved = ControlCall(ctl, {{"cmd", "saved-points"}, {"dir", rec.fs->dir()}});
      if (saved.ok() && !saved->value("points", json::array()).empty())
        point_file = (*saved)["points"][0].value("file", "");
      if (!point_file.empty()) unsynced = UnsyncedAtPoint(s, point_file);
    }
    r.timeline = CrashTimeline(control, unsynced.is_null() ? nullptr : &unsynced, acks,
                               rec.triggered ? "drop-all" : "process");
  }
  bool fsync_failed = false;
  auto trace = control.Trace();
  if (trace.ok()) fsync_failed = FsyncFailed(*trace);

  // Recovery and check, each within the recovery time limit.
  Checked c;
  auto guard = [&](const std::vector<std::string>& argv) {
    return SyncGuardArgv(o.blackout_bin, mnt, argv);
  };
  if (std::string err =
          RecoverAndCheck(s, mnt, ctl, rec.fs->dir() + "/recovery.log", guard, &r, &c);
      !err.empty())
    return finish(err);
  JudgeExec(s, rec.acks, c, &r);
  if (point_file.empty() || r.check.violations.empty() || !trace.ok()) {
    ExecFindings(gaps, fsync_failed, &r);
  } else {
    DiagnoseExecCut(s, o, point_file, r.state, *trace, rec.acks, fsync_failed, gaps, rec.fs->dir(),
                    &r);
  }
  r.seconds = Now() - t0;
  return r;
}

std::vector<CrashStateResult> ExploreExecScenario(const Scenario& s, const RunOptions& o,
                                                  json* contract, json* summary) {
  const ExecSpec& e = *s.exec;
  const double t0 = Now();
  *contract = {{"process", e.contract}, {"power", e.contract}};
  auto failed = [&](const std::string& error) {
    CrashStateResult r;
    r.point = "record";
    r.state = "explore";
    r.error = s.file + ": " + error;
    r.seconds = Now() - t0;
    return std::vector<CrashStateResult>{r};
  };
  auto temp = TempDir::Make(o.tmp_root, "blackout-explore");
  if (!temp.ok()) return failed(temp.error());
  const std::string work = temp->path();

  // Record once on the mount and save the crash point at the end; the
  // rest is offline.
  ExecPoint rec;
  if (std::string err = RecordExecPoint(s, o, work, &rec); !err.empty()) return failed(err);
  const json* trace = &rec.trace;
  const double recorded = Now();
  const bool fsync_failed = FsyncFailed(*trace);
  const std::vector<Gap> gaps = GapsInStore(rec.unsynced, "");
  std::map<uint64_t, json> by_seq;
  for (const auto& t : trace->value("entries", json::array()))
    by_seq[t.value("seq", uint64_t{0})] = t;

  auto point = LoadPoint(s, rec.file);
  if (!point.ok()) return failed(point.error());
  const model::Filesystem& mfs = *point->fs;
  struct Job {
    model::CrashStateInfo info;
    int same_as = -1;  // an earlier job with the same tree
  };
  std::vector<Job> jobs;
  std::map<uint64_t, int> by_hash;
  for (const auto& g : s.states) {
    auto states = mfs.CrashStates(g, o.seed, kStateLimit);
    if (!states.ok())
      return failed("generator '" + g + "' failed: " + std::strerror(states.error()));
    for (auto& info : *states) {
      Job j{std::move(info), -1};
      auto [it, fresh] = by_hash.emplace(j.info.tree_hash, static_cast<int>(jobs.size()));
      if (!fresh) j.same_as = it->second;
      jobs.push_back(std::move(j));
    }
  }

  const double generated = Now();
  // One state: materialized into its own directory, which stands for the
  // mount (BLACKOUT_MNT; BLACKOUT_CTL is empty: no mount, no control socket).
  std::atomic<int> counter{0};
  auto check_state = [&](const std::string& id, CrashStateResult* r) -> std::string {
    return CheckStateOffMount(s, mfs, rec.acks, id, work + "/state-" + std::to_string(counter++),
                              r);
  };

  RecheckMemo memo(mfs);

  // Every distinct state checked first, then the violating ones diagnosed:
  // by then the memo knows every listed state, so a diagnosis re-runs the
  // check only for a candidate state no one has checked.
  std::vector<int> firsts;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (jobs[i].same_as < 0) firsts.push_back(static_cast<int>(i));
  const int total = static_cast<int>(firsts.size());
  std::vector<CrashStateResult> results(jobs.size());
  std::atomic<int> done{0};
  // A state is done once checked and, if it violates, diagnosed; its
  // seconds are those of its own check and diagnosis.
  auto finish = [&](int i) {
    if (o.explore_progress) o.explore_progress("end", jobs[i].info.id, ++done, total);
  };
  auto violates = [&](int i) {
    return results[i].error.empty() && !results[i].check.violations.empty();
  };
  const int threads = std::max(1, o.jobs);
  ParallelFor(total, threads, [&](int k) {
    const int i = firsts[k];
    if (Interrupted()) return;
    const Job& j = jobs[i];
    CrashStateResult& r = results[i];
    const double t = Now();
    r.point = "end";
    r.state = j.info.id;
    for (const auto& g : gaps) r.gaps.push_back(DescribeGap(g));
    r.error = check_state(j.info.id, &r);
    if (r.error.empty()) memo.Put(j.info.tree_hash, r.check.Violated());
    r.exploration = DescribeState(j.info, by_seq);
    r.exploration["reproduce"] = ReplayCommand(s, "end", j.info.id);
    r.seconds = Now() - t;
    if (!violates(i)) finish(i);
  });
  const double checked = Now();
  std::vector<int> diagnosed;
  for (int i : firsts)
    if (violates(i)) diagnosed.push_back(i);
  ParallelFor(static_cast<int>(diagnosed.size()), threads, [&](int k) {
    const int i = diagnosed[k];
    if (Interrupted()) return;
    const Job& j = jobs[i];
    CrashStateResult& r = results[i];
    const double t = Now();
    r.exploration["diagnosis"] =
        DiagnoseExecState(s, *trace, j.info, fsync_failed, gaps, memo, check_state, &r);
    r.seconds += Now() - t;
    finish(i);
  });
  if (Interrupted()) return failed("interrupted");
  if (summary != nullptr)
    *summary = ExplorationSummary("exec", 1, jobs.size(), firsts.size(),
                                  {t0, recorded, generated, checked, Now()});
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].same_as < 0) continue;
    // Same tree as an earlier state: same outcome.
    CrashStateResult r = results[jobs[i].same_as];
    SameTreeResult(jobs[i].info, jobs[jobs[i].same_as].info, by_seq, &r);
    r.exploration["reproduce"] = ReplayCommand(s, "end", jobs[i].info.id);
    results[i] = std::move(r);
  }
  const std::vector<Ack> acks = TimelineAcks(rec.acks);
  AddTimelines(results, [&](size_t i) {
    const Job& j = jobs[i];
    return ExploredTimeline(*trace, mfs.CurrentSeq(), acks, j.info.id, j.info.kept, j.info.dropped,
                            j.info.torn);
  });
  // A setup error of one state (a check that hangs, a command that cannot
  // run) is the scenario's: report it once, as the mount path does.
  for (const auto& r : results)
    if (!r.error.empty()) return failed(r.error + " (crash state " + r.state + ")");
  return results;
}

std::string RecordExecPoint(const Scenario& s, const RunOptions& o, const std::string& work,
                            ExecPoint* out) {
  ExecRecording rec;
  if (std::string err = RecordExecWorkload(s, o, &rec); !err.empty()) return err;
  FsControl& control = rec.fs->control();
  auto trace = control.Trace();
  if (!trace.ok()) return trace.error();
  auto unsynced = control.Unsynced();
  if (!unsynced.ok()) return unsynced.error();
  out->unsynced = std::move(*unsynced);
  out->file = work + "/end.point";
  auto saved = control.SaveCrashPoint(out->file);
  if (!saved.ok()) return saved.error();
  out->seq = saved->value("seq", uint64_t{0});
  out->trace = std::move(*trace);
  out->acks = std::move(rec.acks);
  return "";  // ~MountedFs unmounts
}

std::string CheckExecStateIn(const Scenario& s, const ExecPoint& point, const std::string& dir,
                             CrashStateResult* r) {
  Checked c;
  auto plain = [](const std::vector<std::string>& argv) { return argv; };
  if (std::string err = RecoverAndCheck(s, dir, "", dir + ".log", plain, r, &c); !err.empty())
    return err;
  JudgeExec(s, point.acks, c, r);
  return "";
}

}  // namespace blackout::harness
