#include "harness/explore.h"

#include <fnmatch.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness/child_process.h"
#include "harness/diagnosis.h"
#include "harness/engine_catalog.h"
#include "harness/findings.h"
#include "harness/in_memory_recovery.h"
#include "harness/recovery.h"
#include "harness/temp_dir.h"
#include "harness/timeline.h"
#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kStoreRel = "store";  // the engine's directory inside the mount
// States per generator and crash point; a reorder enumeration can be vast.
constexpr size_t kStateLimit = 5000;
// Explored states per scenario that get a timeline in report.html.
constexpr size_t kTimelines = 20;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

json UnsyncedJson(const model::Unsynced& u) {
  json files = json::array(), dirs = json::array();
  for (const auto& f : u.files)
    files.push_back({{"path", f.path}, {"pending_bytes", f.pending_bytes}, {"since", f.since}});
  for (const auto& d : u.dirs)
    dirs.push_back({{"path", d.path}, {"pending_entries", d.pending_entries}, {"since", d.since}});
  return {{"files", files}, {"dirs", dirs}};
}

// Finding names that only the diagnosis can tell apart (DESIGN.md: "a
// finding is named by its diagnosis"): the LSM flush whose new SSTable's
// directory entry was never made durable while the WAL truncation was.
void FindingsFromDiagnosis(const Scenario& s, const Diagnosis& d, std::vector<std::string>* out) {
  if (s.engine != "lsm" || !d.found) return;
  for (const auto& f : d.fixes)
    if (f.directory && f.after_what.find(".sst") != std::string::npos &&
        !std::count(out->begin(), out->end(), kLsmFlushMissingDirFsync))
      out->push_back(kLsmFlushMissingDirFsync);
}

// A crash point just before the engine's own fsync of a file (a trigger
// "before fsync *.wal") whose diagnosis is that very fsync: the engine was
// about to make it, so the sentence says where the gap really is.
void NoteTriggerSync(const Scenario& s, Diagnosis* d) {
  const json& t = s.crash_trigger;
  if (!d->found || !t.is_object() || !t.value("before", false)) return;
  const std::string op = t.value("op", "");
  if (op != "fsync" && op != "fdatasync") return;
  const std::string glob = t.value("path", "*");
  for (const SyncFix& f : d->fixes) {
    const std::string base = f.path.substr(f.path.rfind('/') + 1);
    if (f.directory || fnmatch(glob.c_str(), base.c_str(), 0) != 0) continue;
    d->text += "; the crash came just before the engine's own " + op + " of " + f.path +
               ": what it wrote there since its last sync is not atomic, and a crash in that "
               "window loses it";
    return;
  }
}

}  // namespace

json DescribeOps(const std::vector<uint64_t>& seqs, const std::map<uint64_t, json>& trace,
                 size_t limit) {
  json out = json::array();
  const size_t half = limit / 2;
  const bool cut = limit > 0 && seqs.size() > limit;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (cut && i == half) {
      out.push_back("... " + std::to_string(seqs.size() - 2 * half) + " more ...");
      i = seqs.size() - half - 1;
      continue;
    }
    const uint64_t s = seqs[i];
    auto it = trace.find(s);
    if (it == trace.end()) {
      out.push_back("#" + std::to_string(s));
      continue;
    }
    const json& e = it->second;
    // An op on a file no name reaches any more (unlinked, still open).
    const std::string path =
        !e.value("path", "").empty()
            ? e.value("path", "")
            : "(a deleted file, inode " + std::to_string(e.value("ino", uint64_t{0})) + ")";
    std::string what = "#" + std::to_string(s) + " " + e.value("op", "") + " " + path;
    if (e.value("op", "") == "write")
      what += " [" + std::to_string(e.value("offset", uint64_t{0})) + ", +" +
              std::to_string(e.value("length", uint64_t{0})) + ")";
    if (!e.value("detail", "").empty()) what += " -> " + e.value("detail", "");
    out.push_back(what);
  }
  return out;
}

json ExplorationSummary(const std::string& recovery, size_t crash_points, size_t states,
                        size_t distinct_states, const ExplorationTimes& t) {
  return {{"recovery", recovery},
          {"crash_points", crash_points},
          {"states", states},
          {"distinct_states", distinct_states},
          {"record_s", t.recorded - t.started},
          {"generate_s", t.generated - t.recorded},
          {"check_s", t.checked - t.generated},
          {"diagnose_s", t.diagnosed - t.checked}};
}

json DescribeState(const model::CrashStateInfo& info, const std::map<uint64_t, json>& trace) {
  json ex = {{"id", info.id},
             {"generator", info.generator},
             {"kept", DescribeOps(info.kept, trace, kDescribedOps)},
             {"kept_ops", info.kept.size()},
             {"dropped", DescribeOps(info.dropped, trace, kDescribedOps)},
             {"dropped_ops", info.dropped.size()}};
  if (info.torn)
    ex["torn"] = DescribeOps({info.torn}, trace)[0].get<std::string>() + ", first " +
                 std::to_string(info.torn_bytes) + " bytes";
  return ex;
}

void SameTreeResult(const model::CrashStateInfo& info, const model::CrashStateInfo& first,
                    const std::map<uint64_t, json>& trace, CrashStateResult* r) {
  r->state = info.id;
  r->seconds = 0;
  r->exploration.erase("torn");
  r->exploration.update(DescribeState(info, trace));
  r->exploration["same_tree_as"] = first.id;
}

bool UsesExploration(const Scenario& s) {
  // A crash trigger's point is explored like one between entries: the
  // recording run arms it to save instead of cutting (RecordWorkload), so
  // "the power goes inside this call" gets every generator, not drop-all.
  if (s.crash_kind != CrashKind::kPower) return false;
  for (const auto& w : s.workload)
    if (w.kind == WorkItem::Kind::kCrash || w.kind == WorkItem::Kind::kDamage) return false;
  // On the mount a trigger can only cut to drop-all, so with one keep-all
  // is explored too.
  const bool trigger = !s.crash_trigger.is_null();
  for (const auto& g : s.states)
    if (g != "drop-all" && (g != "keep-all" || trigger)) return true;
  return s.model != "posix-strict" && s.model != "ext4-ordered";
}

void AddTimelines(std::vector<CrashStateResult>& results, const std::function<json(size_t)>& draw) {
  size_t drawn = 0;
  for (bool violating : {true, false}) {
    for (size_t i = 0; i < results.size() && drawn < kTimelines; ++i) {
      CrashStateResult& r = results[i];
      if (!r.timeline.is_null() || r.check.violations.empty() != !violating) continue;
      if (r.check.lost_writes == 0 && r.check.violations.empty()) continue;
      r.timeline = draw(i);
      ++drawn;
    }
  }
}

std::string ReplayCommand(const Scenario& s, const std::string& point, const std::string& id) {
  // A trigger's point has spaces, '*' and '#' ("before fsync *.wal #6").
  const bool plain =
      point.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_:-") == std::string::npos;
  // --recover: the line reproduces the verdict (exit 1, the violations),
  // not only the files; without --to, each run writes the state into a new
  // directory of its own, so the line can be run again as it is.
  return "blackout replay " + s.file + " --point " + (plain ? point : "'" + point + "'") +
         " --state " + id + " --recover";
}

Expected<LoadedPoint> LoadPoint(const Scenario& s, const std::string& file) {
  auto model = model::ParseBehaviourModel(s.model);
  if (!model.ok()) return Error{"unknown behaviour model '" + s.model + "'"};
  model::Options opt;
  opt.model = *model;
  opt.trace = false;
  LoadedPoint p;
  p.fs = std::make_unique<model::Filesystem>(opt);
  if (!p.fs->LoadCrashPoint(ReadFile(file)).ok())
    return Error{"cannot load the saved crash point " + file};
  return p;
}

// Every scenario explored here runs a built-in engine (exec scenarios are
// explored by exec_workload.cc), so only the option decides.
bool RecoversInMemory(const RunOptions& o) { return o.recovery != RecoveryMode::kChild; }

StateCheck CheckState(const Scenario& s, const RunOptions& o, const model::Filesystem& fs,
                      const std::string& id, const Oracle& oracle, const std::string& contract,
                      const std::string& dir, const Oracle* in_flight_applied) {
  StateCheck c;
  const bool verify = std::count(s.check.begin(), s.check.end(), "structure") > 0;
  std::vector<std::string> problems;
  Recovery rv;
  double t = Now();
  if (RecoversInMemory(o)) {
    auto files = fs.CrashStateFiles(id);
    c.materialize_s = Now() - t;
    if (!files.ok()) {
      c.error = "cannot build crash state " + id + ": " + std::strerror(files.error());
      return c;
    }
    t = Now();
    rv = RecoverInMemory(s, std::move(*files), kStoreRel, verify, &problems);
    c.recover_s = Now() - t;
  } else {
    auto r = fs.MaterializeCrashState(id, dir);
    c.materialize_s = Now() - t;
    if (!r.ok()) {
      c.error = "cannot materialize crash state " + id + " into " + dir + ": " +
                std::strerror(r.error());
      return c;
    }
    const std::string store = dir + "/" + kStoreRel;
    t = Now();
    rv = RecoverStore(o.blackout_bin, s, store, dir + ".log");
    if (rv.recovered && verify) {
      auto answered = VerifyStore(o.blackout_bin, s, store, dir + ".log");
      if (!answered.ok()) {
        c.error = answered.error();
        return c;
      }
      problems = std::move(*answered);
    }
    c.recover_s = Now() - t;
    if (rv.interrupted) {
      c.error = "interrupted";
      return c;
    }
    if (rv.error.rfind("cannot start the recovery", 0) == 0) {
      c.error = rv.error;
      return c;
    }
  }
  t = Now();
  c.recovered = rv.recovered;
  c.recovery_error = rv.error;
  CheckInput in;
  in.oracle = &oracle;
  in.contract = contract;
  in.recovered = rv.recovered;
  in.recovery_error = rv.error;
  in.check = s.check;
  if (rv.recovered) {
    auto observed = ObservedState(FindEngine(s.engine)->kind, rv.dump);
    if (!observed.ok()) {
      c.error = observed.error();
      return c;
    }
    in.observed = std::move(*observed);
    in.structure_checked = verify;
    in.structure_problems = std::move(problems);
  }
  c.check = CheckInvariants(in);
  if (in_flight_applied != nullptr && !c.check.violations.empty()) {
    // The op in flight at a point inside its call may have taken effect (a
    // truncate that went through is no loss): the fewer violations stand,
    // as on the mount (runner.cc, BothWays), and with as many, the fewer
    // losses (a loss the call itself made is none).
    in.oracle = in_flight_applied;
    CheckOutcome applied = CheckInvariants(in);
    if (applied.violations.size() < c.check.violations.size() ||
        (applied.violations.size() == c.check.violations.size() &&
         applied.lost_writes < c.check.lost_writes))
      c.check = std::move(applied);
  }
  c.check_s = Now() - t;
  return c;
}

bool DiagnosedOnMount(const Scenario& s) {
  if (s.crash_kind != CrashKind::kPower || !s.faults.empty() || s.capacity_bytes) return false;
  for (const auto& w : s.workload)
    if (w.kind == WorkItem::Kind::kCrash || w.kind == WorkItem::Kind::kDamage) return false;
  return true;
}

json UnsyncedAtPoint(const Scenario& s, const std::string& file) {
  auto lp = LoadPoint(s, file);
  if (!lp.ok()) return json();
  // The point's paths are the loaded view's: as `ctl unsynced` gives them.
  json u = UnsyncedJson(lp->fs->ListUnsynced());
  for (const char* list : {"files", "dirs"})
    for (auto& e : u[list]) {
      const std::string p = e.value("path", "");
      if (!p.empty() && p[0] != '/' && p[0] != '(') e["path"] = "/" + p;
    }
  return u;
}

Expected<json> DiagnoseCutState(const Scenario& s, const RunOptions& o, const CutState& cut,
                                std::vector<std::string>* findings) {
  auto lp = LoadPoint(s, cut.point_file);
  if (!lp.ok()) return Error{lp.error()};
  const model::Filesystem& fs = *lp->fs;
  // The mount cuts to a generator's one state (drop-all, keep-all).
  auto states = fs.CrashStates(cut.state, o.seed, 1);
  if (!states.ok() || states->size() != 1)
    return Error{"cannot list crash state " + cut.state + " of the saved crash point " +
                 cut.point_file};
  const model::CrashStateInfo& info = (*states)[0];
  RecheckMemo memo(fs);
  std::atomic<int> dirs{0};
  DiagnosisInput di = DiagnosisFor(&cut.trace, s.model, info);
  di.violated = cut.violated;
  di.lost_writes = cut.lost_writes;
  int known = 0;
  di.recheck = memo.Wrap(
      [&](const std::string& id) -> std::optional<std::vector<std::string>> {
        if (Interrupted()) return std::nullopt;
        const std::string dir = cut.work_dir + "/diagnose-" + std::to_string(dirs++);
        StateCheck c = CheckState(s, o, fs, id, *cut.oracle, cut.contract, dir, cut.applied);
        std::error_code ec;
        fs::remove_all(dir, ec);
        if (!c.error.empty()) return std::nullopt;
        return c.check.Violated();
      },
      &known);
  // The cut state itself, rebuilt from the point, must break the same
  // invariants, or the re-checks would answer another question.
  const auto offline = di.recheck(info.id);
  if (!offline) return Error{"the state could not be checked off the mount"};
  if (*offline != cut.violated)
    return Error{"the state checked off the mount does not break the same invariants"};
  Diagnosis dg = Diagnose(di);
  dg.rechecks_known = known;
  FindingsFromDiagnosis(s, dg, findings);
  return dg.ToJson();
}

std::vector<CrashStateResult> ExploreScenario(const Scenario& s, const RunOptions& o,
                                              json* contract, json* summary) {
  const double t0 = Now();
  auto failed = [&](const std::string& error) {
    CrashStateResult r;
    r.point = "record";
    r.state = "explore";
    r.error = error;
    r.seconds = Now() - t0;
    return std::vector<CrashStateResult>{r};
  };
  auto temp = TempDir::Make(o.tmp_root, "blackout-explore");
  if (!temp.ok()) return failed(temp.error());
  const std::string work = temp->path();

  auto run = RecordWorkload(s, o, work);
  if (!run.ok()) return failed(run.error());
  const double recorded = Now();
  *contract = run->contract;
  const std::string kind = (*contract)["power"];
  std::map<uint64_t, json> trace;
  for (const auto& e : run->trace.value("entries", json::array()))
    trace[e.value("seq", uint64_t{0})] = e;

  // Every state of every point, evaluated in parallel; identical trees of
  // one point are recovered once.
  struct Job {
    size_t point;
    model::CrashStateInfo info;
    int same_as = -1;  // index of the job with the same tree
  };
  // Each point loaded, its oracles built and its states listed on its own
  // (in parallel: a workload with a crash point after every op has
  // thousands), then the jobs gathered in point order.
  struct Point {
    LoadedPoint loaded;
    std::unique_ptr<Oracle> oracle;
    std::unique_ptr<Oracle> applied;  // with the op in flight (SavedPoint::in_flight)
    std::vector<Gap> gaps;            // the point's unsynced entries in the store
    std::vector<model::CrashStateInfo> states;
    std::string error;
  };
  std::vector<Point> points(run->points.size());
  ParallelFor(static_cast<int>(points.size()), std::max(1, o.jobs), [&](int p) {
    const SavedPoint& sp = run->points[p];
    Point& pt = points[p];
    auto lp = LoadPoint(s, sp.file);
    if (!lp.ok()) {
      pt.error = lp.error();
      return;
    }
    auto oracle = Oracle::Build(FindEngine(s.engine)->kind, sp.acks);
    if (!oracle.ok()) {
      pt.error = oracle.error();
      return;
    }
    pt.oracle = std::make_unique<Oracle>(std::move(*oracle));
    if (sp.in_flight) {
      std::vector<Ack> with = sp.acks;
      with.push_back(*sp.in_flight);
      // An op whose effect needs a reply it did not get (a failed append has
      // no seq) cannot be judged as applied: judged one way only.
      auto alt = Oracle::Build(FindEngine(s.engine)->kind, std::move(with));
      if (alt.ok()) pt.applied = std::make_unique<Oracle>(std::move(*alt));
    }
    pt.gaps = GapsInStore(UnsyncedJson(lp->fs->ListUnsynced()), std::string("/") + kStoreRel);
    for (const auto& g : s.states) {
      auto states = lp->fs->CrashStates(g, o.seed, kStateLimit);
      if (!states.ok()) {
        pt.error = "generator '" + g + "' failed: " + std::strerror(states.error());
        return;
      }
      for (auto& info : *states) pt.states.push_back(std::move(info));
    }
    pt.loaded = std::move(*lp);
  });
  std::vector<Job> jobs;
  for (size_t p = 0; p < points.size(); ++p) {
    Point& pt = points[p];
    if (!pt.error.empty()) return failed(pt.error);
    std::map<uint64_t, int> by_hash;
    for (auto& info : pt.states) {
      Job j{p, std::move(info), -1};
      auto [it, fresh] = by_hash.emplace(j.info.tree_hash, static_cast<int>(jobs.size()));
      if (!fresh) j.same_as = it->second;
      jobs.push_back(std::move(j));
    }
    pt.states.clear();
  }

  std::vector<std::unique_ptr<RecheckMemo>> memos;  // one a point
  for (const Point& pt : points) memos.push_back(std::make_unique<RecheckMemo>(*pt.loaded.fs));

  const double generated = Now();
  std::vector<CrashStateResult> results(jobs.size());
  std::atomic<int> dir_counter{0};
  // Crash state `id` of point `p` checked in a directory of its own, removed after.
  auto check_at = [&](size_t p, const std::string& id) {
    const std::string dir = work + "/state-" + std::to_string(dir_counter++);
    const Point& pt = points[p];
    StateCheck c = CheckState(s, o, *pt.loaded.fs, id, *pt.oracle, kind, dir, pt.applied.get());
    std::error_code ec;
    fs::remove_all(dir, ec);
    return c;
  };
  // Every distinct state checked first, then the violating ones diagnosed:
  // by then each point's memo knows every listed state, so a diagnosis
  // re-checks only candidate states no one has checked (the difference is
  // large where a check is a process, --recovery child).
  std::vector<int> firsts;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (jobs[i].same_as < 0) firsts.push_back(static_cast<int>(i));
  std::atomic<int> done{0};
  // A state is done once checked and, if it violates, diagnosed; its
  // seconds are those of its own check and diagnosis.
  auto finish = [&](int i) {
    if (o.explore_progress)
      o.explore_progress(results[i].point, jobs[i].info.id, ++done,
                         static_cast<int>(firsts.size()));
  };
  auto violates = [&](int i) {
    return results[i].error.empty() && !results[i].check.violations.empty();
  };
  auto evaluate = [&](int i) {
    const Job& j = jobs[i];
    const SavedPoint& sp = run->points[j.point];
    CrashStateResult& r = results[i];
    const double t = Now();
    r.point = sp.name;
    r.items_done = sp.items_done;
    r.state = j.info.id;
    const StateCheck c = check_at(j.point, j.info.id);
    if (c.error.empty()) memos[j.point]->Put(j.info.tree_hash, c.check.Violated());
    r.error = c.error;
    r.recovered = c.recovered;
    r.recovery_error = c.recovery_error;
    r.check = c.check;
    const json timing = {{"materialize_s", c.materialize_s},
                         {"recover_s", c.recover_s},
                         {"check_s", c.check_s}};
    for (const auto& g : points[j.point].gaps) r.gaps.push_back(DescribeGap(g, kStoreRel));
    r.exploration = DescribeState(j.info, trace);
    r.exploration["timing"] = timing;
    r.seconds = Now() - t;
  };
  auto diagnose = [&](int i) {
    const Job& j = jobs[i];
    const SavedPoint& sp = run->points[j.point];
    CrashStateResult& r = results[i];
    const double t = Now();
    FindingContext fc;
    fc.scenario = &s;
    fc.kind = s.crash_kind;
    fc.lost_writes = r.check.lost_writes;
    fc.gaps = points[j.point].gaps;
    r.findings = DiagnoseFindings(fc);
    DiagnosisInput di = DiagnosisFor(&run->trace, s.model, j.info);
    di.violated = r.check.Violated();
    di.lost_writes = r.check.lost_writes;
    int known = 0;
    di.recheck = memos[j.point]->Wrap(
        [&](const std::string& id) -> std::optional<std::vector<std::string>> {
          const StateCheck rc = check_at(j.point, id);
          if (!rc.error.empty()) return std::nullopt;
          return rc.check.Violated();
        },
        &known);
    Diagnosis dg = Diagnose(di);
    dg.rechecks_known = known;
    NoteTriggerSync(s, &dg);
    FindingsFromDiagnosis(s, dg, &r.findings);
    r.exploration["diagnosis"] = dg.ToJson();
    r.exploration["reproduce"] = ReplayCommand(s, sp.name, j.info.id);
    r.seconds += Now() - t;
  };
  const int threads = std::max(1, o.jobs);
  ParallelFor(static_cast<int>(firsts.size()), threads, [&](int k) {
    if (Interrupted()) return;
    evaluate(firsts[k]);
    if (!violates(firsts[k])) finish(firsts[k]);
  });
  const double checked = Now();
  std::vector<int> violating;
  for (int i : firsts)
    if (violates(i)) violating.push_back(i);
  ParallelFor(static_cast<int>(violating.size()), threads, [&](int k) {
    if (Interrupted()) return;
    diagnose(violating[k]);
    finish(violating[k]);
  });
  if (summary != nullptr)
    *summary =
        ExplorationSummary(RecoversInMemory(o) ? "in-memory" : "child", run->points.size(),
                           jobs.size(), firsts.size(), {t0, recorded, generated, checked, Now()});
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].same_as < 0) continue;
    // Same tree as an earlier state of this point: same outcome.
    CrashStateResult r = results[jobs[i].same_as];
    const Job& j = jobs[i];
    SameTreeResult(j.info, jobs[j.same_as].info, trace, &r);
    r.exploration.erase("timing");  // recovered once, timed once
    if (r.exploration.contains("reproduce"))
      r.exploration["reproduce"] = ReplayCommand(s, r.point, j.info.id);
    results[i] = std::move(r);
  }
  AddTimelines(results, [&](size_t i) {
    const Job& j = jobs[i];
    const SavedPoint& sp = run->points[j.point];
    return ExploredTimeline(run->trace, sp.seq, sp.acks, j.info.id, j.info.kept, j.info.dropped,
                            j.info.torn);
  });
  if (Interrupted()) return failed("interrupted");
  return results;
}

}  // namespace blackout::harness
