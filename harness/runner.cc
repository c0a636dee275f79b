#include "harness/runner.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fusefs/control/client.h"
#include "harness/child_process.h"
#include "harness/damage.h"
#include "harness/engine_catalog.h"
#include "harness/exec_workload.h"
#include "harness/explore.h"
#include "harness/findings.h"
#include "harness/mounted_fs.h"
#include "harness/oracle.h"
#include "harness/recovery.h"
#include "harness/timeline.h"
#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

constexpr const char* kStore = "store";  // the engine's directory, inside the mount

// One engine driver process on the mount.
class EngineDriver {
 public:
  static Expected<EngineDriver> Start(const Scenario& s, const RunOptions& o,
                                      const std::string& store, const std::string& log) {
    auto child = ChildProcess::Start(
        {o.blackout_bin, "engine", s.engine, "--dir", store, "--config", s.config.dump()}, log);
    if (!child.ok()) return Error{"cannot start the engine driver: " + child.error()};
    return EngineDriver(std::move(*child), log, o.op_timeout_s);
  }

  // Sends a request; returns the reply object, which may say ok:false.
  // `cut`, when given, is asked every few milliseconds while the reply is
  // awaited: once it answers true (the mount cut the power under the call),
  // waiting stops with an error.
  Expected<json> Request(const json& request, const std::function<bool()>& cut = {}) {
    if (auto st = child_.WriteLine(request.dump()); !st.ok()) return Error{st.error() + Stderr()};
    Expected<std::string> line = Error{""};
    if (!cut) {
      line = child_.ReadLine(timeout_s_);
    } else {
      const double deadline = Now() + timeout_s_;
      while (true) {
        line = child_.ReadLine(0.005);
        if (line.ok()) break;
        if (cut()) return Error{"the power was cut during the call"};
        if (line.error().rfind("no reply within", 0) != 0) break;  // it exited
        if (Now() > deadline) {
          line = Error{"no reply within " + std::to_string(static_cast<int>(timeout_s_)) + " s"};
          break;
        }
      }
    }
    if (!line.ok()) return Error{"engine driver: " + line.error() + Stderr()};
    try {
      json reply = json::parse(*line);
      if (!reply.is_object() || !reply.contains("ok"))
        return Error{"engine driver answered without \"ok\": " + *line};
      return reply;
    } catch (const json::exception&) {
      return Error{"engine driver answered something that is not JSON: " + *line};
    }
  }

  // A clean close: the engine's own close, then the process exits.
  Status Close() {
    auto reply = Request({{"op", "close"}});
    if (!reply.ok()) return Error{reply.error()};
    if ((*reply)["ok"] != true) return Error{"close failed: " + reply->dump()};
    child_.CloseStdin();
    auto code = child_.Wait(timeout_s_);
    if (!code.ok()) return Error{"engine driver after close: " + code.error()};
    return Ok();
  }

  void Kill() { child_.Kill(); }

 private:
  EngineDriver(ChildProcess c, std::string log, double timeout)
      : child_(std::move(c)), log_(std::move(log)), timeout_s_(timeout) {}
  std::string Stderr() const {
    const std::string t = Tail(log_);
    return t.empty() ? "" : " (its stderr: " + t + ")";
  }
  ChildProcess child_;
  std::string log_;
  double timeout_s_;
};

// What one run recorded before its crash.
struct Recording {
  std::vector<Ack> acks;
  // Trace ranges of harness steps (a restart closes the engine, which may
  // fsync): (seq before, seq after, index of the last ack before the step).
  struct StepRange {
    uint64_t before, after;
    int item;
    int last_ack;
  };
  std::vector<StepRange> steps;
  std::vector<bool> item_synced;  // per executed workload entry
  json contract;
  // Workload crash steps (see CrashStepRecovery): the acks before
  // `segment_start` were judged at an earlier crash, whose recovered state
  // is `base`; `earlier` holds that crash's violations. `halted`: the store
  // did not recover at a crash step, so the run ended there.
  int segment_start = 0;
  std::optional<LogicalState> base;
  std::vector<Violation> earlier;
  int earlier_lost = 0;
  bool halted = false;
  std::string halt_error;
  // A crash trigger (crash.at.after) cut the power during the entry
  // `cut_item` (-1: between entries); the run stopped there.
  bool triggered = false;
  int cut_item = -1;
  // Set before the run: a saving twin of the cutting trigger is armed too,
  // so that the crash point of the cut is there for a diagnosis.
  bool save_at_trigger = false;
  // Ops of this segment that failed (expect_error) or were in flight at
  // the cut, with their reply if one came: they may or may not have taken
  // effect, so each crash is judged both ways (BothWays).
  std::vector<Ack> uncertain;
};

// One request to the mount's control socket; an error reply is an error.
Expected<json> MountCall(MountedFs& fs, const json& request) {
  return ControlCall(control::DefaultSocketPath(fs.mountpoint()), request);
}

// Whether the scenario's crash trigger has cut the power on `fs`.
bool TriggerFired(MountedFs& fs) {
  auto reply = MountCall(fs, {{"cmd", "faults"}});
  return reply.ok() && reply->value("triggered_cuts", 0) > 0;
}

// "after fsync *.log #3", as exec scenarios name their trigger's point; `nth`
// (when not 0) names the matching operation an `every` trigger saved at.
Error TriggerNeverFired() {
  return Error{std::string("$.crash.at.after: the crash trigger never fired (the workload ended "
                           "before the matching operation") +
               kTriggerPaths + ")"};
}

std::string TriggerPointName(const Scenario& s, uint64_t nth = 0) {
  const json& t = s.crash_trigger;
  return std::string(t.value("before", false) ? "before " : "after ") + t.value("op", "") + " " +
         t.value("path", "*") + " #" + std::to_string(nth ? nth : t.value("nth", uint64_t{1}));
}

Status MarkSyncedOps(FsControl& control, Recording* rec, const Scenario& s);

// The oracle for the latest crash: the state recovered at the previous crash
// step, if any, plus the acks since.
Expected<Oracle> SegmentOracle(const Scenario& s, const Recording& rec) {
  std::vector<Ack> acks(rec.acks.begin() + rec.segment_start, rec.acks.end());
  return Oracle::Build(FindEngine(s.engine)->kind, std::move(acks),
                       rec.base ? &*rec.base : nullptr);
}

// Checks `in` (its oracle built from the segment's acks), and again with the
// uncertain ops as if acknowledged, in workload order: a failed delete or a
// truncate cut short that went through anyway is no loss. The judgement with
// fewer violations stands. An op whose effect needs its reply (a wal seq, an
// event id) and got none cannot be judged as applied and is left out.
// The segment's oracle with the uncertain ops as if acknowledged, in
// workload order.
Expected<Oracle> AppliedOracle(const Scenario& s, const Recording& rec) {
  Recording applied = rec;
  for (const Ack& u : rec.uncertain) {
    auto at = std::find_if(applied.acks.begin() + applied.segment_start, applied.acks.end(),
                           [&](const Ack& a) { return a.item > u.item; });
    applied.acks.insert(at, u);
  }
  return SegmentOracle(s, applied);
}

CheckOutcome BothWays(const Scenario& s, const Recording& rec, const CheckInput& in) {
  CheckOutcome out = CheckInvariants(in);
  if (rec.uncertain.empty() || out.violations.empty()) return out;
  auto alt = AppliedOracle(s, rec);
  if (!alt.ok()) return out;
  CheckInput alt_in = in;
  alt_in.oracle = &*alt;
  CheckOutcome other = CheckInvariants(alt_in);
  return other.violations.size() < out.violations.size() ? other : out;
}

// A workload `crash` step after the driver was killed (and power cut):
// recover the store, judge it against the acks so far, and make what it
// recovered the base of the next judgement. A store that does not open ends
// the run (halted).
Status CrashStepRecovery(const Scenario& s, const RunOptions& o, MountedFs& fs, const WorkItem& w,
                         bool damaged, Recording* rec) {
  const std::string store = fs.mountpoint() + "/" + kStore;
  if (auto st = MarkSyncedOps(fs.control(), rec, s); !st.ok()) return st;
  Recovery rv = RecoverStore(o.blackout_bin, s, store, fs.dir() + "/recovery.log");
  if (rv.interrupted) return Error{"interrupted"};
  auto oracle = SegmentOracle(s, *rec);
  if (!oracle.ok()) return Error{oracle.error()};
  CheckInput in;
  in.oracle = &*oracle;
  in.contract = rec->contract[w.crash_kind == CrashKind::kPower ? "power" : "process"];
  in.recovered = rv.recovered;
  in.recovery_error = rv.error;
  in.check = s.check;
  if (damaged) {
    // The damage destroyed acknowledged data on purpose: this recovery is
    // judged on how the engine copes (opens, reads exact values, keeps
    // batches whole), and the next crash on what it does from there.
    std::erase(in.check, "acked-durable");
    std::erase(in.check, "prefix");
  }
  if (rv.recovered) {
    auto observed = ObservedState(FindEngine(s.engine)->kind, rv.dump);
    if (!observed.ok()) return Error{observed.error()};
    in.observed = std::move(*observed);
    if (std::count(s.check.begin(), s.check.end(), "structure")) {
      auto problems = VerifyStore(o.blackout_bin, s, store, fs.dir() + "/recovery.log");
      if (!problems.ok()) return Error{w.where + ": " + problems.error()};
      in.structure_checked = true;
      in.structure_problems = *problems;
    }
  }
  CheckOutcome out = BothWays(s, *rec, in);
  for (auto& v : out.violations)
    rec->earlier.push_back({v.invariant, "at the crash step " + w.where + ": " + v.message});
  rec->earlier_lost += out.lost_writes;
  if (!rv.recovered) {
    rec->halted = true;
    rec->halt_error = rv.error;
    return Ok();
  }
  rec->base = in.observed;
  rec->segment_start = static_cast<int>(rec->acks.size());
  rec->uncertain.clear();
  return Ok();
}

// Runs workload entries [0, items) on `fs`, leaving the driver running in
// *driver for the caller to crash.
// `after_item(i + 1)`, when given, runs after entry i (the crash-state
// explorer saves crash points there, explore.h).
Status RunWorkload(const Scenario& s, const RunOptions& o, MountedFs& fs, int items,
                   std::optional<EngineDriver>* driver, Recording* rec,
                   const std::function<Status(int)>& after_item = {}) {
  const std::string store = fs.mountpoint() + "/" + kStore;
  const std::string log = fs.dir() + "/engine.log";
  auto start = [&]() -> Status {
    auto d = EngineDriver::Start(s, o, store, log);
    if (!d.ok()) return Error{d.error()};
    driver->emplace(std::move(*d));
    return Ok();
  };
  if (mkdir(store.c_str(), 0755) != 0)
    return Error{"cannot create " + store + ": " + std::strerror(errno)};
  if (auto r = fs.control().Sync(); !r.ok()) return Error{r.error()};
  // Faults and the crash trigger count the engine's operations from its
  // first open on.
  for (const json& f : s.faults)
    if (auto r = MountCall(fs, f); !r.ok()) return Error{"$.faults: " + r.error()};
  // A saving trigger (RecordWorkload) cuts nothing: the run goes on as if
  // none were armed, and its crash point is fetched after the entry.
  const bool armed = !s.crash_trigger.is_null() && !s.crash_trigger.value("save", false);
  if (!s.crash_trigger.is_null())
    if (auto r = MountCall(fs, s.crash_trigger); !r.ok()) return Error{"$.crash.at: " + r.error()};
  if (armed && rec->save_at_trigger) {
    // Saves run before the cut at the same operation (fault_hooks.cc).
    json twin = s.crash_trigger;
    twin["save"] = true;
    if (auto r = MountCall(fs, twin); !r.ok()) return Error{"$.crash.at: " + r.error()};
  }
  auto cut = [&] { return rec->triggered || (rec->triggered = TriggerFired(fs)); };
  // The power went out under entry i: stop the engine before it writes to
  // the world after the cut (its old file handles answer EIO, but a file it
  // opens anew would not), then cut again to drop what it wrote meanwhile.
  auto stop_at_cut = [&](int i) -> Status {
    rec->cut_item = i;
    if (*driver) (*driver)->Kill();
    driver->reset();
    if (auto r = fs.control().PowerCut("drop-all"); !r.ok()) return Error{r.error()};
    return Ok();
  };
  if (auto st = start(); !st.ok()) return st;
  auto contract = (*driver)->Request({{"op", "contract"}});
  if (!contract.ok()) return Error{"asking the engine's contract: " + contract.error()};
  if ((*contract)["ok"] != true)
    return Error{"the engine refused to start or to state its contract: " +
                 contract->value("error", contract->dump())};
  rec->contract = {{"process", contract->value("process", "")},
                   {"power", contract->value("power", "")}};
  for (const char* k : {"process", "power"})
    if (!IsContractName(rec->contract[k]))
      return Error{"the engine declared an unknown " + std::string(k) + " contract " +
                   rec->contract[k].dump() +
                   " (expected acked, synced-prefix, batch-atomic or none)"};
  // The scenario's promise, where given, is what the crashes are judged by
  // (and what the report shows as the contract).
  for (const auto& [k, v] : s.promise.items()) rec->contract[k] = v;

  auto seq = fs.control().Seq();
  if (!seq.ok()) return Error{seq.error()};
  uint64_t current = *seq;
  // after_item(0): what the engine's start did, before any entry.
  if (after_item)
    if (auto st = after_item(0); !st.ok()) return st;
  const WorkItem* crashed = nullptr;  // the crash step awaiting recovery
  bool damaged = false;               // ... and damage applied since
  for (int i = 0; i < items; ++i) {
    if (Interrupted()) return Error{"interrupted"};
    const WorkItem& w = s.workload[i];
    // Damage right after a crash lands before the recovery, as a disk that
    // fails with the power would.
    if (crashed && w.kind != WorkItem::Kind::kDamage) {
      if (auto st = CrashStepRecovery(s, o, fs, *crashed, damaged, rec); !st.ok())
        return Error{crashed->where + ": " + st.error()};
      if (armed && cut())
        return Error{crashed->where + ": the crash trigger fired during the recovery after this "
                                      "crash step (recoveries count toward its nth too)"};
      crashed = nullptr;
      damaged = false;
      if (rec->halted) return Ok();
      if (auto st = start(); !st.ok()) return Error{w.where + ": restart after the crash: " + st.error()};
    }
    rec->item_synced.push_back(false);
    switch (w.kind) {
      case WorkItem::Kind::kCrash: {
        (*driver)->Kill();
        driver->reset();
        if (w.crash_kind == CrashKind::kPower)
          if (auto cut = fs.control().PowerCut(w.crash_state); !cut.ok())
            return Error{w.where + ": power cut: " + cut.error()};
        crashed = &w;
        break;
      }
      case WorkItem::Kind::kDamage: {
        if (auto st = ApplyDamage(store, w.damage); !st.ok()) return Error{w.where + ": " + st.error()};
        damaged = crashed != nullptr;
        break;
      }
      case WorkItem::Kind::kSync: {
        if (auto r = fs.control().Sync(); !r.ok()) return Error{w.where + ": sync: " + r.error()};
        if (!rec->acks.empty()) rec->acks.back().synced = true;
        rec->item_synced.back() = true;
        break;
      }
      case WorkItem::Kind::kRestart: {
        if (auto st = (*driver)->Close(); !st.ok())
          return Error{w.where + ": restart: " + st.error()};
        driver->reset();
        if (auto st = start(); !st.ok()) return Error{w.where + ": restart: " + st.error()};
        break;
      }
      case WorkItem::Kind::kOp: {
        Ack a;
        a.item = i;
        a.op_number = w.op_number;
        a.where = w.where;
        a.request = w.request;
        a.seq_before = current;
        auto reply = (*driver)->Request(w.request, armed ? std::function<bool()>(cut) : nullptr);
        // An op in flight when the power went is not acknowledged, whatever
        // it answered.
        if (armed && cut()) {
          a.reply = reply.ok() && (*reply)["ok"] == true ? *reply : json{{"ok", true}};
          a.seq_after = a.seq_before;
          rec->uncertain.push_back(std::move(a));
          return stop_at_cut(i);
        }
        if (!reply.ok()) return Error{w.where + ": " + reply.error()};
        if ((*reply)["ok"] != true) {
          if (w.failure != WorkItem::Failure::kNever) {  // expected: no ack
            auto after = fs.control().Seq();
            if (!after.ok()) return Error{after.error()};
            current = *after;  // what it did is not the next op's
            a.reply = {{"ok", true}};
            a.seq_after = current;
            rec->uncertain.push_back(std::move(a));
            break;
          }
          return Error{w.where + ": the engine answered an error to " + w.request.dump() + ": " +
                       reply->value("error", reply->dump())};
        }
        if (w.failure == WorkItem::Failure::kExpected)
          return Error{w.where + ": expected to fail (expect_error), but the engine acknowledged " +
                       w.request.dump()};
        auto after = fs.control().Seq();
        if (!after.ok()) return Error{after.error()};
        current = *after;
        a.reply = std::move(*reply);
        a.seq_after = current;
        rec->acks.push_back(std::move(a));
        break;
      }
    }
    if (armed && w.kind == WorkItem::Kind::kRestart && cut()) return stop_at_cut(i);
    // A step moves the trace too; the next op's range starts after it.
    if (w.kind != WorkItem::Kind::kOp) {
      auto after = fs.control().Seq();
      if (!after.ok()) return Error{after.error()};
      rec->steps.push_back({current, *after, i, static_cast<int>(rec->acks.size()) - 1});
      current = *after;
    }
    if (after_item)
      if (auto st = after_item(i + 1); !st.ok()) return st;
  }
  // A workload that ends in a crash step is recovered and judged here; the
  // scenario's own crash then hits the restarted engine.
  if (crashed) {
    if (auto st = CrashStepRecovery(s, o, fs, *crashed, damaged, rec); !st.ok())
      return Error{crashed->where + ": " + st.error()};
    if (rec->halted) return Ok();
    if (armed && cut())
      return Error{crashed->where + ": the crash trigger fired during the recovery after this "
                                    "crash step (recoveries count toward its nth too)"};
    if (auto st = start(); !st.ok()) return Error{"restart after the crash: " + st.error()};
  }
  if (armed && items == static_cast<int>(s.workload.size())) {
    if (cut()) return stop_at_cut(-1);
    return TriggerNeverFired();
  }
  return Ok();
}

// Marks the acks during which the engine issued an fsync (of a file or a
// directory), from the blackoutfs trace.
Status MarkSyncedOps(FsControl& control, Recording* rec, const Scenario& s) {
  auto trace = control.Trace();
  if (!trace.ok()) return Error{trace.error()};
  std::vector<uint64_t> syncs;
  for (const auto& e : trace->value("entries", json::array()))
    if (e.value("op", "").find("sync") != std::string::npos)
      syncs.push_back(e.value("seq", uint64_t{0}));
  auto any_sync = [&](uint64_t before, uint64_t after) {
    for (uint64_t q : syncs)
      if (q > before && q <= after) return true;
    return false;
  };
  for (auto& a : rec->acks) {
    if (any_sync(a.seq_before, a.seq_after)) a.synced = true;
    if (a.synced) rec->item_synced[a.item] = true;
  }
  // A restart's close may fsync: what was acknowledged before it is durable
  // by the engine's own doing (a harness sync step is marked already).
  for (const auto& st : rec->steps) {
    if (st.last_ack < 0 || !any_sync(st.before, st.after)) continue;
    rec->acks[st.last_ack].synced = true;
    rec->item_synced[st.item] = true;
  }
  (void)s;
  return Ok();
}

std::string PointName(const Scenario& s, int items_done) {
  if (items_done == static_cast<int>(s.workload.size())) return "end";
  // The last op executed names the point.
  for (int i = items_done - 1; i >= 0; --i)
    if (s.workload[i].kind == WorkItem::Kind::kOp)
      return "after_op:" + std::to_string(s.workload[i].op_number);
  return "start";
}

CrashStateResult RunCrashState(const Scenario& s, const RunOptions& o, int items_done,
                               const std::string& state, json* contract) {
  if (s.exec) return RunExecCrashState(s, o, state, contract);
  CrashStateResult r;
  r.point = PointName(s, items_done);
  r.items_done = items_done;
  r.state = state;
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
  std::optional<EngineDriver> driver;
  Recording rec;
  rec.save_at_trigger = DiagnosedOnMount(s);
  if (auto st = RunWorkload(s, o, **fs, items_done, &driver, &rec); !st.ok())
    return finish(st.error());
  if (!s.crash_trigger.is_null()) r.point = TriggerPointName(s);
  *contract = rec.contract;
  if (rec.halted) {
    // A crash step left a store that does not open: that is the result.
    r.recovery_error = rec.halt_error;
    r.check.violations = rec.earlier;
    r.check.lost_writes = rec.earlier_lost;
    r.seconds = Now() - t0;
    return r;
  }

  // The crash.
  if (driver) driver->Kill();
  driver.reset();
  FsControl& control = (*fs)->control();
  if (auto st = MarkSyncedOps(control, &rec, s); !st.ok()) return finish(st.error());
  std::vector<Gap> gaps;
  std::string point_file;  // the crash point just before the cut, for a diagnosis
  if (rec.triggered) {
    // The mount cut the power itself (drop-all) inside an engine call.
    r.state = "drop-all";
    r.gaps.push_back(rec.cut_item < 0
                         ? "the crash trigger cut the power after the last entry of the workload"
                         : "the crash trigger cut the power during " +
                               s.workload[rec.cut_item].where +
                               (s.workload[rec.cut_item].kind == WorkItem::Kind::kOp
                                    ? " (" + s.workload[rec.cut_item].request.dump() +
                                          "), which is not acknowledged"
                                    : ""));
    json unsynced;  // at the cut, from the point the saving twin took just before it
    if (rec.save_at_trigger) {
      auto saved = MountCall(**fs, {{"cmd", "saved-points"}, {"dir", (*fs)->dir()}});
      if (!saved.ok()) return finish(saved.error());
      const json points = saved->value("points", json::array());
      if (!points.empty()) point_file = points[0].value("file", "");
      if (!point_file.empty()) unsynced = UnsyncedAtPoint(s, point_file);
    }
    r.timeline =
        CrashTimeline(control, unsynced.is_null() ? nullptr : &unsynced, rec.acks, "drop-all");
  } else if (s.crash_kind == CrashKind::kPower) {
    auto unsynced = control.Unsynced();
    if (!unsynced.ok()) return finish(unsynced.error());
    gaps = GapsInStore(*unsynced, std::string("/") + kStore);
    for (const auto& g : gaps) r.gaps.push_back(DescribeGap(g, kStore));
    if (DiagnosedOnMount(s)) {
      point_file = (*fs)->dir() + "/crash-point.bin";
      if (auto saved = control.SaveCrashPoint(point_file); !saved.ok())
        return finish(saved.error());
    }
    auto cut = control.PowerCut(state);
    if (!cut.ok()) return finish(cut.error());
    r.timeline = CrashTimeline(control, &*unsynced, rec.acks, state);
  } else {
    r.timeline = CrashTimeline(control, nullptr, rec.acks, "process");
  }

  // The disk is healthy again for the recovery: a scenario's faults judge
  // what the workload did with them, the recovery judges what is on disk.
  if (!s.faults.empty())
    if (auto rep = MountCall(**fs, {{"cmd", "clear-faults"}}); !rep.ok())
      return finish(rep.error());
  // Recovery, with a time limit: a hang is a failed `recovers`.
  const std::string store = (*fs)->mountpoint() + "/" + kStore;
  const std::string log = (*fs)->dir() + "/recovery.log";
  Recovery rv = RecoverStore(o.blackout_bin, s, store, log);
  if (rv.interrupted) return finish("interrupted");
  if (rv.error.rfind("cannot start the recovery", 0) == 0) return finish(rv.error);
  r.recovered = rv.recovered;
  r.recovery_error = rv.error;
  const json& dumped = rv.dump;

  // Judge.
  const EngineSpec* spec = FindEngine(s.engine);
  auto oracle = SegmentOracle(s, rec);
  if (!oracle.ok()) return finish(oracle.error());
  CheckInput in;
  in.oracle = &*oracle;
  in.contract = (*contract)[s.crash_kind == CrashKind::kPower ? "power" : "process"];
  in.recovered = r.recovered;
  in.recovery_error = r.recovery_error;
  in.check = s.check;
  if (r.recovered) {
    auto observed = ObservedState(spec->kind, dumped);
    if (!observed.ok()) return finish(observed.error());
    in.observed = std::move(*observed);
    if (std::count(s.check.begin(), s.check.end(), "structure")) {
      auto problems = VerifyStore(o.blackout_bin, s, store, log);
      if (!problems.ok()) return finish(problems.error());
      in.structure_checked = true;
      in.structure_problems = *problems;
    }
  }
  r.check = BothWays(s, rec, in);
  // Crash steps' violations come first, in workload order.
  r.check.violations.insert(r.check.violations.begin(), rec.earlier.begin(), rec.earlier.end());
  r.check.lost_writes += rec.earlier_lost;
  FindingContext fc;
  fc.scenario = &s;
  fc.kind = s.crash_kind;
  fc.lost_writes = r.check.lost_writes;
  fc.gaps = gaps;
  r.findings = DiagnoseFindings(fc);
  if (!point_file.empty() && !r.check.violations.empty()) {
    // Which sync would have saved it, as an explored state says.
    CutState cut;
    cut.point_file = point_file;
    cut.state = r.state;
    std::optional<Oracle> applied;  // BothWays' other judgement
    if (!rec.uncertain.empty())
      if (auto alt = AppliedOracle(s, rec); alt.ok()) applied = std::move(*alt);
    cut.oracle = &*oracle;
    cut.applied = applied ? &*applied : nullptr;
    cut.contract = in.contract;
    cut.violated = r.check.Violated();
    cut.lost_writes = r.check.lost_writes;
    cut.work_dir = (*fs)->dir();
    auto trace = control.Trace();
    if (trace.ok()) cut.trace = std::move(*trace);
    Expected<json> dg = trace.ok() ? DiagnoseCutState(s, o, cut, &r.findings)
                                   : Expected<json>(Error{trace.error()});
    // Without a diagnosis the state's verdict stands, with the reason.
    r.diagnosis =
        dg.ok() ? std::move(*dg) : json{{"found", false}, {"text", "not diagnosed: " + dg.error()}};
  }
  r.seconds = Now() - t0;
  return r;
}

// Finds the crash points (numbers of workload entries executed) of a scenario.
Expected<std::vector<int>> CrashPoints(const Scenario& s, const RunOptions& o) {
  const int n = static_cast<int>(s.workload.size());
  std::vector<int> points;
  switch (s.crash_at) {
    case CrashAt::kEnd:
      points.push_back(n);
      break;
    case CrashAt::kAfterOp:
      for (int i = 0; i < n; ++i)
        if (s.workload[i].op_number == s.after_op) points.push_back(i + 1);
      break;
    case CrashAt::kEveryOp:
      for (int i = 0; i < n; ++i)
        if (s.workload[i].kind == WorkItem::Kind::kOp) points.push_back(i + 1);
      break;
    case CrashAt::kEverySync: {
      // A recording run tells which ops issued an fsync.
      auto fs = MountedFs::Mount(o.blackout_bin, s.model, o.tmp_root);
      if (!fs.ok()) return Error{fs.error()};
      std::optional<EngineDriver> driver;
      Recording rec;
      if (auto st = RunWorkload(s, o, **fs, n, &driver, &rec); !st.ok()) return Error{st.error()};
      driver->Kill();
      if (auto st = MarkSyncedOps((*fs)->control(), &rec, s); !st.ok()) return Error{st.error()};
      for (int i = 0; i < n; ++i)
        if (rec.item_synced[i]) points.push_back(i + 1);
      if (points.empty())
        return Error{
            "crash.at is every_sync, but the workload never syncs (no fsync, no sync step)"};
      break;
    }
  }
  return points;
}

// The task that stands for a whole explored scenario (explore.h).
constexpr int kExploreTask = -1;

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return "[" + out + "]";
}

void Judge(ScenarioResult* r) {
  const Scenario& s = *r->scenario;
  std::vector<std::string> v, f;
  for (const auto& st : r->states) {
    if (!st.error.empty()) {
      r->outcome = "error";
      r->error = st.point + " / " + st.state + ": " + st.error;
      return;
    }
    for (const std::string& name : st.check.Violated()) v.push_back(name);
    f.insert(f.end(), st.findings.begin(), st.findings.end());
  }
  r->violations = SortedUnique(v);
  r->findings = SortedUnique(f);
  std::string mismatch;
  if (r->violations != s.expect_violations)
    mismatch = "expected violations " + Join(s.expect_violations) + ", got " + Join(r->violations);
  if (s.expect_finding && !std::count(r->findings.begin(), r->findings.end(), *s.expect_finding))
    mismatch += std::string(mismatch.empty() ? "" : "; ") + "expected finding '" +
                *s.expect_finding + "', diagnosed " + Join(r->findings);
  r->outcome = mismatch.empty() ? "as-expected" : "unexpected";
  r->mismatch = mismatch;
}

}  // namespace

Expected<RecordedRun> RecordWorkload(const Scenario& s, const RunOptions& o,
                                     const std::string& save_dir) {
  const int n = static_cast<int>(s.workload.size());
  auto fs = MountedFs::Mount(o.blackout_bin, s.model, o.tmp_root);
  if (!fs.ok()) return Error{fs.error()};
  std::optional<EngineDriver> driver;
  Recording rec;
  RecordedRun run;
  // A crash trigger (crash.at.after) names a point inside an engine call:
  // armed to save instead of cutting, it captures that point (the mount's
  // `saved-points`), the workload goes on, and no point between entries is
  // saved. The acks of the point are those of the entries finished before
  // the one in flight; that one is `in_flight` (it may or may not have
  // taken effect, so explore judges the point both ways).
  const bool trigger = !s.crash_trigger.is_null();
  Scenario saving;
  if (trigger) {
    saving = s;
    saving.crash_trigger["save"] = true;
  }
  std::vector<Ack> acks_before;  // the acks when the entry in flight began
  // The points saved during entry done-1 (done 0: during the engine's start).
  auto fetch = [&](int done) -> Status {
    auto r = MountCall(**fs, {{"cmd", "saved-points"}, {"dir", save_dir}});
    if (!r.ok()) return Error{r.error()};
    for (const json& sp : r->value("points", json::array())) {
      SavedPoint p;
      p.items_done = std::max(done - 1, 0);
      p.name = TriggerPointName(s, sp.value("nth", uint64_t{0}));
      p.file = sp.value("file", "");
      p.seq = sp.value("seq", uint64_t{0});
      p.acks = acks_before;
      for (const auto* list : {&rec.acks, &rec.uncertain})
        for (const Ack& a : *list)
          if (a.item == done - 1) p.in_flight = a;
      run.points.push_back(std::move(p));
    }
    acks_before = rec.acks;
    return Ok();
  };
  // Which entries end at a crash point; every_sync saves after every entry
  // and keeps the synced ones once the trace is known.
  auto wanted = [&](int done) {
    if (trigger) return false;
    const WorkItem& w = s.workload[done - 1];
    switch (s.crash_at) {
      case CrashAt::kEnd:
        return done == n;
      case CrashAt::kAfterOp:
        return w.kind == WorkItem::Kind::kOp && w.op_number == s.after_op;
      case CrashAt::kEveryOp:
        return w.kind == WorkItem::Kind::kOp;
      case CrashAt::kEverySync:
        return true;
    }
    return false;
  };
  auto save = [&](int done) -> Status {
    if (trigger) return fetch(done);
    if (done == 0 || !wanted(done)) return Ok();
    SavedPoint p;
    p.items_done = done;
    p.name = PointName(s, done);
    p.file = save_dir + "/point-" + std::to_string(done) + ".bin";
    auto r = (*fs)->control().SaveCrashPoint(p.file);
    if (!r.ok()) return Error{r.error()};
    p.seq = r->value("seq", uint64_t{0});
    p.acks = rec.acks;
    run.points.push_back(std::move(p));
    return Ok();
  };
  if (auto st = RunWorkload(trigger ? saving : s, o, **fs, n, &driver, &rec, save); !st.ok())
    return Error{st.error()};
  if (trigger && run.points.empty()) return TriggerNeverFired();
  run.contract = rec.contract;
  if (driver) driver->Kill();
  driver.reset();
  auto trace = (*fs)->control().Trace();
  if (!trace.ok()) return Error{trace.error()};
  run.trace = std::move(*trace);
  if (auto st = MarkSyncedOps((*fs)->control(), &rec, s); !st.ok()) return Error{st.error()};
  // An ack's own fsyncs count at every point; a restart's close counts only
  // at the points after it (a sync step was marked when it ran).
  for (SavedPoint& p : run.points) {
    for (size_t k = 0; k < p.acks.size(); ++k)
      if (rec.acks[k].synced && !p.acks[k].synced) {
        bool by_later_step = false;
        for (const auto& st : rec.steps)
          if (st.last_ack == static_cast<int>(k) && st.item >= p.items_done) by_later_step = true;
        p.acks[k].synced = !by_later_step;
      }
  }
  if (s.crash_at == CrashAt::kEverySync) {
    std::erase_if(run.points, [&](const SavedPoint& p) { return !rec.item_synced[p.items_done - 1]; });
    if (run.points.empty())
      return Error{"crash.at is every_sync, but the workload never syncs (no fsync, no sync step)"};
  }
  return run;
}

std::vector<ScenarioResult> RunScenarios(const std::vector<Scenario>& scenarios,
                                         const RunOptions& options, const RunObserver& observer,
                                         bool keep_going) {
  std::vector<ScenarioResult> results(scenarios.size());
  std::mutex mu;  // guards results' bookkeeping and the observer
  std::atomic<bool> stop{false};
  const double t0 = Now();

  // Plan: crash points per scenario (every_sync needs a recording run).
  struct Task {
    int scenario;
    int items_done;
    std::string state;
  };
  std::vector<std::vector<int>> points(scenarios.size());
  ParallelFor(static_cast<int>(scenarios.size()), options.jobs, [&](int i) {
    results[i].scenario = &scenarios[i];
    if (stop || Interrupted()) return;
    // Explored scenarios find their crash points in their one recording run.
    // (A crash trigger alone is explored when UsesExploration says so.)
    const bool on_mount = !scenarios[i].faults.empty() || scenarios[i].capacity_bytes;
    if (scenarios[i].exec ? UsesExecExploration(scenarios[i])
                          : !on_mount && UsesExploration(scenarios[i])) {
      points[i] = {kExploreTask};
      return;
    }
    auto p = CrashPoints(scenarios[i], options);
    if (!p.ok()) {
      std::lock_guard<std::mutex> l(mu);
      results[i].outcome = "error";
      results[i].error = p.error();
      if (!keep_going) stop = true;
      return;
    }
    points[i] = *p;
  });
  std::vector<Task> tasks;
  std::vector<int> remaining(scenarios.size(), 0), total(scenarios.size(), 0);
  for (size_t i = 0; i < scenarios.size(); ++i) {
    const auto& s = scenarios[i];
    std::vector<std::string> states =
        s.crash_kind == CrashKind::kPower ? s.states : std::vector<std::string>{"process"};
    if (points[i] == std::vector<int>{kExploreTask}) states = {"explore"};
    for (int p : points[i])
      for (const auto& st : states) tasks.push_back({static_cast<int>(i), p, st});
    total[i] = remaining[i] = static_cast<int>(points[i].size() * states.size());
    results[i].states.resize(total[i]);
  }
  std::vector<int> slot(tasks.size());
  {
    std::vector<int> used(scenarios.size(), 0);
    for (size_t t = 0; t < tasks.size(); ++t) slot[t] = used[tasks[t].scenario]++;
  }
  std::vector<double> started(scenarios.size(), 0);
  std::vector<bool> judged(scenarios.size(), false);
  ParallelFor(static_cast<int>(tasks.size()), options.jobs, [&](int t) {
    const Task& task = tasks[t];
    const Scenario& s = scenarios[task.scenario];
    ScenarioResult& r = results[task.scenario];
    {
      std::lock_guard<std::mutex> l(mu);
      if (stop || Interrupted() || !r.error.empty()) return;
      if (started[task.scenario] == 0) started[task.scenario] = Now();
      if (observer.on_state_start)
        observer.on_state_start(s, PointName(s, task.items_done), task.state,
                                total[task.scenario] - remaining[task.scenario],
                                total[task.scenario]);
    }
    json contract;
    if (task.items_done == kExploreTask) {
      // One task explores every crash state of every crash point.
      json summary;
      RunOptions explore_options = options;
      if (observer.on_state_start)
        explore_options.explore_progress = [&](const std::string& point, const std::string& state,
                                               int done, int total) {
          std::lock_guard<std::mutex> l(mu);
          observer.on_state_start(s, point, state, done, total);
        };
      std::vector<CrashStateResult> explored =
          s.exec ? ExploreExecScenario(s, explore_options, &contract, &summary)
                 : ExploreScenario(s, explore_options, &contract, &summary);
      std::lock_guard<std::mutex> l(mu);
      r.states = std::move(explored);
      r.exploration = std::move(summary);
      if (!contract.is_null()) r.contract = contract;
      for (const auto& st : r.states) {
        if (observer.on_state_done) observer.on_state_done(s, st);
        if (!st.error.empty() && !keep_going) stop = true;
      }
      r.seconds = Now() - started[task.scenario];
      Judge(&r);
      judged[task.scenario] = true;
      if (observer.on_scenario_done) observer.on_scenario_done(r);
      return;
    }
    CrashStateResult st = RunCrashState(s, options, task.items_done, task.state, &contract);
    std::lock_guard<std::mutex> l(mu);
    r.states[slot[t]] = std::move(st);
    if (!contract.is_null()) r.contract = contract;
    if (observer.on_state_done) observer.on_state_done(s, r.states[slot[t]]);
    if (!r.states[slot[t]].error.empty() && !keep_going) stop = true;
    if (--remaining[task.scenario] == 0) {
      r.seconds = Now() - started[task.scenario];
      Judge(&r);
      judged[task.scenario] = true;
      if (observer.on_scenario_done) observer.on_scenario_done(r);
    }
  });
  // Scenarios that did not run to the end (a plan error, a stop, Ctrl-C).
  for (size_t i = 0; i < results.size(); ++i) {
    ScenarioResult& r = results[i];
    if (judged[i]) continue;
    r.outcome = "error";
    if (r.error.empty())
      r.error =
          Interrupted() ? "not run: interrupted" : "not run: the run stopped after a setup error";
    r.states.erase(std::remove_if(r.states.begin(), r.states.end(),
                                  [](const CrashStateResult& c) { return c.point.empty(); }),
                   r.states.end());
    if (observer.on_scenario_done) observer.on_scenario_done(r);
  }
  (void)t0;
  return results;
}

json ToJson(const ScenarioResult& r, const RunOptions& options) {
  const Scenario& s = *r.scenario;
  json states = json::array();
  int max_lost = 0, acked = 0;
  for (const auto& st : r.states) {
    json v = json::array();
    for (const auto& x : st.check.violations)
      v.push_back({{"invariant", x.invariant}, {"message", x.message}});
    states.push_back({{"point", st.point},
                      {"items_done", st.items_done},
                      {"state", st.state},
                      {"error", st.error},
                      {"recovered", st.recovered},
                      {"recovery_error", st.recovery_error},
                      {"acked_writes", st.check.acked_writes},
                      {"lost_writes", st.check.lost_writes},
                      {"promised_lost", st.check.promised_lost},
                      {"lost_examples", st.check.lost_examples},
                      {"violations", v},
                      {"pending_at_crash", st.gaps},
                      {"findings", st.findings},
                      {"seconds", st.seconds}});
    if (!st.exploration.is_null()) states.back()["exploration"] = st.exploration;
    if (!st.diagnosis.is_null()) states.back()["diagnosis"] = st.diagnosis;
    // Bounded report.json: a timeline only where there is something to explain.
    if (!st.timeline.is_null() && (st.check.lost_writes > 0 || !st.check.violations.empty()))
      states.back()["timeline"] = st.timeline;
    max_lost = std::max(max_lost, st.check.lost_writes);
    acked = std::max(acked, st.check.acked_writes);
  }
  json expect = {{"violations", s.expect_violations}};
  if (s.expect_finding) expect["finding"] = *s.expect_finding;
  json out = {{"name", s.name},
          {"file", s.file},
          {"description", s.description},
          {"hole", s.hole},
          {"engine", s.engine},
          {"config", s.config},
          {"profile", s.profile},
          {"model", s.model},
          {"crash_kind", std::string(Name(s.crash_kind))},
          {"crash_at", CrashAtName(s)},
          {"states_requested", s.crash_kind == CrashKind::kPower ? json(s.states) : json::array()},
          {"check", s.check},
          {"expect", expect},
          {"outcome", r.outcome},
          {"error", r.error},
          {"mismatch", r.mismatch},
          {"contract", r.contract.is_null() ? json::object() : r.contract},
          {"violations", r.violations},
          {"findings", r.findings},
          {"acked_writes", acked},
          {"lost_writes", max_lost},
          {"crash_states", states},
          {"seconds", r.seconds},
          {"reproduce", "blackout run " + s.file + " --seed " + std::to_string(options.seed)}};
  if (!r.exploration.is_null()) out["exploration"] = r.exploration;
  if (!s.promise.empty()) out["promise"] = s.promise;
  return out;
}

}  // namespace blackout::harness
