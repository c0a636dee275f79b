#include "harness/replay.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "fusefs/control/cli_checks.h"
#include "harness/child_process.h"
#include "harness/engine_catalog.h"
#include "harness/exec_workload.h"
#include "harness/explore.h"
#include "harness/minimize.h"
#include "harness/oracle.h"
#include "harness/temp_dir.h"

namespace blackout::harness {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<uint64_t> ParseSeqList(const std::string& list, bool* ok) {
  std::vector<uint64_t> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) {
      *ok = false;
      return {};
    }
    out.push_back(std::stoull(item));
  }
  return out;
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string Join(const json& lines, const std::string& indent) {
  std::string out;
  for (const auto& l : lines) out += indent + l.get<std::string>() + "\n";
  return out.empty() ? indent + "(none)\n" : out;
}

bool EmptyOrMissing(const std::string& dir, std::string* why) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (!fs::is_directory(dir, ec)) {
    *why = dir + " exists and is not a directory";
    return false;
  }
  if (!fs::is_empty(dir, ec)) {
    *why = dir + " is not empty; replay writes a crash state only into an empty or new directory";
    return false;
  }
  return true;
}

}  // namespace

std::optional<model::CrashStateInfo> DescribeCrashState(const model::Filesystem& fs,
                                                        const Scenario& s, const std::string& id,
                                                        uint64_t seed) {
  std::vector<std::string> gens = {"drop-all", "keep-all"};
  gens.insert(gens.end(), s.states.begin(), s.states.end());
  // random:N:SEED:I names its own generator and seed.
  if (id.rfind("random:", 0) == 0) {
    std::stringstream in(id.substr(7));
    std::string n, sd;
    std::getline(in, n, ':');
    std::getline(in, sd, ':');
    if (IsNumber(n) && IsNumber(sd)) {
      auto states = fs.CrashStates("random:" + n, std::stoull(sd), 100000);
      if (states.ok())
        for (auto& st : *states)
          if (st.id == id) return st;
    }
  }
  for (const auto& g : gens) {
    auto states = fs.CrashStates(g, seed, 100000);
    if (!states.ok()) continue;
    for (auto& st : *states)
      if (st.id == id) return st;
  }
  // Ids no generator of the scenario lists (a generator the scenario does
  // not ask for): described from the pending ops, if the model leaves such
  // a state at all.
  if (!fs.IsCrashState(id)) return std::nullopt;
  auto all = fs.CrashStates("keep-all", 0, 1);
  if (!all.ok() || all->empty()) return std::nullopt;
  const std::vector<uint64_t> pending = (*all)[0].kept;
  const std::set<uint64_t> pending_set(pending.begin(), pending.end());
  model::CrashStateInfo info;
  info.id = id;
  const size_t c1 = id.find(':');
  if (c1 == std::string::npos) return std::nullopt;
  const std::string kind = id.substr(0, c1), rest = id.substr(c1 + 1);
  if (kind == "prefix" && IsNumber(rest)) {
    const uint64_t upto = std::stoull(rest);
    // The generator names no other prefix: 0 keeps nothing, S keeps up to
    // the pending op S.
    if (upto != 0 && !pending_set.count(upto)) return std::nullopt;
    info.generator = "prefix";
    for (uint64_t q : pending) (q <= upto ? info.kept : info.dropped).push_back(q);
  } else if (kind == "reorder") {
    const size_t c2 = rest.find(':');
    if (c2 == std::string::npos || !IsNumber(rest.substr(0, c2))) return std::nullopt;
    bool ok = true;
    auto dropped = ParseSeqList(rest.substr(c2 + 1), &ok);
    if (!ok) return std::nullopt;
    for (uint64_t q : dropped)
      if (!pending_set.count(q)) return std::nullopt;
    const std::set<uint64_t> d(dropped.begin(), dropped.end());
    info.generator = "reorder:" + rest.substr(0, c2);
    for (uint64_t q : pending) (d.count(q) ? info.dropped : info.kept).push_back(q);
  } else if (kind == "torn") {
    const size_t c2 = rest.find(':');
    if (c2 == std::string::npos || !IsNumber(rest.substr(0, c2)) || !IsNumber(rest.substr(c2 + 1)))
      return std::nullopt;
    info.generator = "torn";
    info.torn = std::stoull(rest.substr(0, c2));
    info.torn_bytes = std::stoull(rest.substr(c2 + 1));
    if (!pending_set.count(info.torn)) return std::nullopt;
    for (uint64_t q : pending) (q <= info.torn ? info.kept : info.dropped).push_back(q);
  } else {
    return std::nullopt;
  }
  return info;
}

// The refusal of a --state that the point's generators do not give: exit 2,
// with some of the ids they do.
int UnknownState(const ReplayArgs& a, const Scenario& s, const model::Filesystem& fs,
                 const std::string& point) {
  std::string ids;
  size_t shown = 0, total = 0;
  std::vector<std::string> gens = {"drop-all", "keep-all"};
  gens.insert(gens.end(), s.states.begin(), s.states.end());
  std::set<std::string> seen;
  for (const auto& g : gens) {
    auto states = fs.CrashStates(g, a.seed, 1000);
    if (!states.ok()) continue;
    for (const auto& st : *states) {
      if (!seen.insert(st.id).second) continue;
      ++total;
      if (shown++ < 12) ids += (ids.empty() ? "" : ", ") + st.id;
    }
  }
  std::fprintf(stderr,
               "blackout replay: --state: crash point %s of %s has no crash state '%s'; its "
               "generators give %zu, e.g. %s\n",
               point.c_str(), a.scenario.c_str(), a.state.c_str(), total, ids.c_str());
  return 2;
}

// The pending ops a state keeps, drops and tears, as replay prints them.
void PrintStateOps(const model::CrashStateInfo& info, const json& trace_reply) {
  std::map<uint64_t, json> trace;
  for (const auto& e : trace_reply.value("entries", json::array()))
    trace[e.value("seq", uint64_t{0})] = e;
  std::vector<uint64_t> kept = info.kept;
  if (info.torn) std::erase(kept, info.torn);
  std::printf("pending ops kept (%zu):\n%s", kept.size(),
              Join(DescribeOps(kept, trace), "  ").c_str());
  std::printf("pending ops dropped (%zu):\n%s", info.dropped.size(),
              Join(DescribeOps(info.dropped, trace), "  ").c_str());
  if (info.torn)
    std::printf("pending op torn: %s, first %llu bytes reached the disk\n",
                DescribeOps({info.torn}, trace)[0].get<std::string>().c_str(),
                static_cast<unsigned long long>(info.torn_bytes));
}

// replay of an exec scenario: its workload runs once on a mount, the crash
// point at its end is saved, and the state's files (what BLACKOUT_MNT holds
// after the crash) go to --to; with --recover the scenario's recover and
// check run there, as the exploration runs them.
// *materialized is set once the state's files are in --to.
int ReplayExec(const ReplayArgs& a, const Scenario& s, const RunOptions& o, const std::string& work,
               bool* materialized) {
  if (!a.point.empty() && a.point != "end") {
    std::fprintf(stderr,
                 "blackout replay: --point: %s is an exec scenario: its one crash point is "
                 "'end'\n",
                 a.scenario.c_str());
    return 2;
  }
  std::fprintf(stderr, "blackout replay: recording %s (its exec workload) once\n", s.name.c_str());
  ExecPoint p;
  if (std::string err = RecordExecPoint(s, o, work, &p); !err.empty()) {
    std::fprintf(stderr, "blackout replay: %s: %s\n", a.scenario.c_str(), err.c_str());
    return 2;  // the scenario's setup, as `blackout run` reports it
  }
  auto lp = LoadPoint(s, p.file);
  if (!lp.ok()) {
    std::fprintf(stderr, "blackout replay: %s\n", lp.error().c_str());
    return 1;
  }
  auto info = DescribeCrashState(*lp->fs, s, a.state, a.seed);
  if (!info) return UnknownState(a, s, *lp->fs, "end");
  const std::string dir = fs::absolute(a.to).lexically_normal().string();
  std::printf("crash point end (trace #%llu, %zu acknowledged IDs) of %s\n",
              static_cast<unsigned long long>(p.seq), p.acks.size(), s.name.c_str());
  std::printf("crash state %s (generator %s, model %s)\n", info->id.c_str(),
              info->generator.c_str(), s.model.c_str());
  PrintStateOps(*info, p.trace);
  if (auto r = lp->fs->MaterializeCrashState(info->id, dir); !r.ok()) {
    std::fprintf(stderr, "blackout replay: cannot materialize crash state %s into %s: %s\n",
                 info->id.c_str(), dir.c_str(), std::strerror(r.error()));
    return r.error() == EINVAL ? 2 : 1;
  }
  const ExecSpec& e = *s.exec;
  *materialized = true;
  std::printf("materialized into %s (the program's files, as BLACKOUT_MNT holds them)\n",
              dir.c_str());
  if (!a.recover) {
    // The scenario's commands run in its directory, BLACKOUT_MNT naming the files.
    std::printf("recover and check it by hand: cd %s && export BLACKOUT_MNT=%s; %s%s\n",
                fs::absolute(e.dir).lexically_normal().c_str(), dir.c_str(),
                e.recover.empty() ? "" : (e.recover + "; ").c_str(), e.check.c_str());
    return 0;
  }
  CrashStateResult r;
  if (std::string err = CheckExecStateIn(s, p, dir, &r); !err.empty()) {
    std::fprintf(stderr, "blackout replay: %s: %s\n", a.scenario.c_str(), err.c_str());
    return 2;
  }
  std::printf("%s and checked there (their stderr: %s.log)\n",
              e.recover.empty() ? "not recovered (no recover command)" : "recovered", dir.c_str());
  if (!r.recovered) std::printf("recovery failed: %s\n", r.recovery_error.c_str());
  std::printf("acknowledged IDs %d, lost %d\n", r.check.acked_writes, r.check.lost_writes);
  if (r.check.violations.empty())
    std::printf("no invariant violated (checked: %zu)\n", s.check.size());
  for (const auto& v : r.check.violations)
    std::printf("violation %s: %s\n", v.invariant.c_str(), v.message.c_str());
  return r.check.violations.empty() && r.recovered ? 0 : 1;
}

static int ReplayInto(const ReplayArgs& a, const Scenario& s, bool* materialized);

int Replay(const ReplayArgs& a) {
  InstallInterruptHandler();
  auto s = LoadScenarioForCommand(a.scenario, "replay");
  if (!s) return 2;
  std::string why;
  if (s->crash_kind != CrashKind::kPower)
    why = "replay needs a scenario with crash.kind power";
  else if (s->exec && !s->crash_trigger.is_null())
    why =
        "replay of an exec scenario needs its crash at the end (a crash trigger cuts the power "
        "on the mount: its state is drop-all, as `blackout run` shows it)";
  for (const auto& w : s->workload)
    if (w.kind == WorkItem::Kind::kCrash || w.kind == WorkItem::Kind::kDamage)
      why = "replay cannot rebuild a state after a crash or damage step in the workload (" +
            w.where + ")";
  if (!why.empty()) {
    std::fprintf(stderr, "blackout replay: %s: %s\n", a.scenario.c_str(), why.c_str());
    return 2;
  }
  ReplayArgs args = a;
  std::error_code ec;
  bool created = false;
  if (args.to.empty()) {
    // No --to: a new directory of its own, so that the same command (a
    // report's reproduce line) can run again and again.
    std::string pattern = TempRoot() + "/blackout-replay-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::fprintf(stderr,
                   "blackout replay: cannot create a directory for the state under %s: %s\n",
                   TempRoot().c_str(), std::strerror(errno));
      return 1;
    }
    args.to = pattern;
    created = true;
  } else {
    if (!EmptyOrMissing(args.to, &why)) {
      std::fprintf(stderr, "blackout replay: --to: %s\n", why.c_str());
      return 2;
    }
    // --to is made first, so that a path where no directory can be made is
    // bad usage, named, before the workload runs; and removed again if the
    // replay ends before it wrote anything there.
    created = !fs::exists(args.to, ec);
    if (created && !fs::create_directories(args.to, ec)) {
      std::fprintf(stderr, "blackout replay: --to: cannot create %s: %s\n", args.to.c_str(),
                   ec.message().c_str());
      return 2;
    }
  }
  bool materialized = false;
  const int rc = ReplayInto(args, *s, &materialized);
  // A state with no files is still the state: its directory stays.
  if (!materialized && created && fs::is_empty(args.to, ec)) fs::remove(args.to, ec);
  return rc;
}

static int ReplayInto(const ReplayArgs& a, const Scenario& scenario, bool* materialized) {
  const Scenario* s = &scenario;
  RunOptions o;
  o.blackout_bin = SelfExe();
  // The state goes to --to and the recovery runs there, its log beside it,
  // for the user to look at afterwards.
  o.recovery = RecoveryMode::kChild;
  o.tmp_root = TempRoot();
  o.seed = a.seed;
  auto temp = TempDir::Make(o.tmp_root, "blackout-replay");
  if (!temp.ok()) {
    std::fprintf(stderr, "blackout replay: %s\n", temp.error().c_str());
    return 1;
  }
  const std::string work = temp->path();
  if (s->exec) return ReplayExec(a, *s, o, work, materialized);

  std::fprintf(stderr, "blackout replay: recording %s (%zu workload entries) once\n",
               s->name.c_str(), s->workload.size());
  auto run = RecordWorkload(*s, o, work);
  if (!run.ok()) {
    std::fprintf(stderr, "blackout replay: recording the workload failed: %s\n",
                 run.error().c_str());
    return Interrupted() ? 2 : 1;
  }
  if (run->points.empty()) {
    std::fprintf(stderr, "blackout replay: the recording saved no crash point\n");
    return 1;
  }
  const SavedPoint* sp = &run->points.back();
  if (!a.point.empty()) {
    sp = nullptr;
    std::string names;
    for (const auto& p : run->points) {
      if (p.name == a.point) sp = &p;
      names += (names.empty() ? "" : ", ") + p.name;
    }
    if (!sp) {
      std::fprintf(stderr, "blackout replay: --point: %s has no crash point '%s'; it has: %s\n",
                   a.scenario.c_str(), a.point.c_str(), names.c_str());
      return 2;
    }
  }
  auto lp = LoadPoint(*s, sp->file);
  if (!lp.ok()) {
    std::fprintf(stderr, "blackout replay: %s\n", lp.error().c_str());
    return 1;
  }
  auto info = DescribeCrashState(*lp->fs, *s, a.state, a.seed);
  if (!info) return UnknownState(a, *s, *lp->fs, sp->name);

  const std::string dir = fs::absolute(a.to).lexically_normal().string();
  const std::string store = dir + "/store";
  std::printf("crash point %s (trace #%llu, %zu acknowledged ops) of %s\n", sp->name.c_str(),
              static_cast<unsigned long long>(sp->seq), sp->acks.size(), s->name.c_str());
  std::printf("crash state %s (generator %s, model %s)\n", info->id.c_str(),
              info->generator.c_str(), s->model.c_str());
  PrintStateOps(*info, run->trace);

  const std::string recover_cmd = "blackout engine " + s->engine + " --dump --dir " + store +
                                  " --config '" + s->config.dump() + "'";
  if (!a.recover) {
    if (auto r = lp->fs->MaterializeCrashState(info->id, dir); !r.ok()) {
      std::fprintf(stderr, "blackout replay: cannot materialize crash state %s into %s: %s\n",
                   info->id.c_str(), dir.c_str(), std::strerror(r.error()));
      return r.error() == EINVAL ? 2 : 1;
    }
    *materialized = true;
    std::printf("materialized into %s (the engine's store is %s)\n", dir.c_str(), store.c_str());
    std::printf("recover it by hand: %s\n", recover_cmd.c_str());
    return 0;
  }
  auto oracle = Oracle::Build(FindEngine(s->engine)->kind, sp->acks);
  if (!oracle.ok()) {
    std::fprintf(stderr, "blackout replay: %s\n", oracle.error().c_str());
    return 1;
  }
  std::optional<Oracle> applied;  // a point inside a call: judged both ways
  if (sp->in_flight) {
    std::vector<Ack> with = sp->acks;
    with.push_back(*sp->in_flight);
    auto alt = Oracle::Build(FindEngine(s->engine)->kind, std::move(with));
    if (alt.ok()) applied = std::move(*alt);
  }
  StateCheck c =
      CheckState(*s, o, *lp->fs, info->id, *oracle, run->contract.value("power", "acked"), dir,
                 applied ? &*applied : nullptr);
  if (!c.error.empty()) {
    std::fprintf(stderr, "blackout replay: %s\n", c.error.c_str());
    return 1;
  }
  *materialized = true;
  std::printf("materialized into %s (the engine's store is %s)\n", dir.c_str(), store.c_str());
  std::printf("recovered with: %s (its log: %s.log)\n", recover_cmd.c_str(), dir.c_str());
  if (!c.recovered) std::printf("recovery failed: %s\n", c.recovery_error.c_str());
  std::printf("acknowledged writes %d, lost %d\n", c.check.acked_writes, c.check.lost_writes);
  if (c.check.violations.empty()) std::printf("no invariant violated (checked: %zu)\n", s->check.size());
  for (const auto& v : c.check.violations)
    std::printf("violation %s: %s\n", v.invariant.c_str(), v.message.c_str());
  return c.check.violations.empty() && c.recovered ? 0 : 1;
}

void AddExploreCommands(CLI::App& app, int& exit_code) {
  auto r = std::make_shared<ReplayArgs>();
  CLI::App* replay = app.add_subcommand(
      "replay", "Write one crash state of a scenario into a directory, for debugging by hand");
  replay->add_option("SCENARIO", r->scenario, "scenario file")->required();
  replay->add_option("--state", r->state, "crash-state id, as the report names it")->required();
  replay
      ->add_option("--to", r->to,
                   "directory to write it into (new or empty; default: a new one under $TMPDIR "
                   "or /tmp, named in the output)")
      ->check(control::NonEmptyPath());
  replay->add_option("--point", r->point,
                     "crash point, e.g. end or after_op:3 (default: the scenario's last)");
  replay->add_option("--seed", r->seed, "the run's seed (default 0)")
      ->check(control::WholeNumber(0));
  replay->add_flag("--recover", r->recover,
                   "also recover the store and check the invariants, printing the violations "
                   "(then exit 1 when there are any)");
  replay->callback([r, &exit_code] { exit_code = Replay(*r); });
  AddMinimizeCommand(app, exit_code);
}

}  // namespace blackout::harness
