#include "harness/scenario.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "engines/common/mem_env.h"
#include "engines/driver/driver.h"
#include "harness/engine_catalog.h"
#include "harness/findings.h"
#include "harness/invariants.h"
#include "harness/scenario_exec.h"

namespace blackout::harness {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kMaxRepeat = 100000;
// The whole workload after expansion is bounded too: a small file with many
// entries of `repeat: 100000` would otherwise expand into billions of
// requests (fuzz/corpus/scenario/repeat-expansion-bound.json replays that).
constexpr size_t kMaxWorkItems = 200000;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// "a string", "the number 3", ... for "expected X, got Y" messages.
std::string Describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "the boolean " + v.dump();
    case json::value_t::string:
      return "the string " + v.dump();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "the number " + v.dump();
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    default:
      return "a value of another kind";
  }
}

bool HasType(const json& v, FieldType t) {
  switch (t) {
    case FieldType::kString:
      return v.is_string();
    case FieldType::kInteger:
      return v.is_number_integer();
    case FieldType::kObject:
      return v.is_object();
    case FieldType::kArray:
      return v.is_array();
    case FieldType::kAny:
      return true;
  }
  return false;
}

// Collects problems for one file; every check goes on after a failure so the
// author sees all of them at once.
class Checker {
 public:
  Checker(std::string file, std::vector<Problem>* problems)
      : file_(std::move(file)), problems_(problems) {}
  void Fail(const std::string& path, const std::string& message) {
    problems_->push_back({file_, path, message});
    ++count_;
  }
  int count() const { return count_; }

  // Fails unless every key of `obj` is in `allowed`.
  void OnlyFields(const json& obj, const std::string& path,
                  const std::vector<std::string>& allowed) {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        Fail(path + "." + key, "unknown field '" + key + "'; expected one of: " + Join(allowed));
    }
  }
  // Returns the field if present and of type t; fails if required and absent
  // or present with the wrong type.
  const json* Field(const json& obj, const std::string& path, const std::string& key, FieldType t,
                    bool required) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) Fail(path, "missing required field '" + key + "' (" + FieldTypeName(t) + ")");
      return nullptr;
    }
    if (!HasType(*it, t)) {
      Fail(path + "." + key,
           std::string("expected ") + FieldTypeName(t) + ", got " + Describe(*it));
      return nullptr;
    }
    return &*it;
  }

 private:
  std::string file_;
  std::vector<Problem>* problems_;
  int count_ = 0;
};


const std::vector<std::string> kSupportedModels = {"posix-strict", "ext4-ordered", "ext4-writeback",
                                                   "btrfs", "xfs"};
const std::vector<std::string> kFutureModels = {};

// Generators of DESIGN.md "The filesystem model". Only the two the mount can
// produce today are runnable; the others are valid names reserved for the
// crash-state exploration work and rejected as not supported yet.
bool IsGeneratorName(const std::string& g) {
  static const std::regex re(
      R"(^(drop-all|keep-all|prefix|torn|reorder:[1-9][0-9]*|random:[1-9][0-9]*)$)");
  return std::regex_match(g, re);
}
// Every generator runs: drop-all and keep-all on the mount, the others by
// offline exploration (harness/explore.h).
bool IsSupportedGenerator(const std::string& g) { return IsGeneratorName(g); }

void CheckEngine(Checker& c, const json& doc, Scenario* s) {
  const json* engine = c.Field(doc, "$", "engine", FieldType::kObject, true);
  if (!engine) return;
  const int problems_before = c.count();
  c.OnlyFields(*engine, "$.engine", {"name", "config"});
  if (const json* name = c.Field(*engine, "$.engine", "name", FieldType::kString, true)) {
    s->engine = name->get<std::string>();
    if (!FindEngine(s->engine))
      c.Fail("$.engine.name",
             "unknown engine '" + s->engine + "'; expected one of: " + Join(EngineNames()));
  }
  if (const json* config = c.Field(*engine, "$.engine", "config", FieldType::kObject, false)) {
    s->config = *config;
    if (auto p = config->find("profile"); p != config->end()) {
      if (!p->is_string() || (*p != "default" && *p != "fixed"))
        c.Fail("$.engine.config.profile", "expected \"default\" or \"fixed\", got " + Describe(*p));
      else
        s->profile = p->get<std::string>();
    }
  }
  // The engine's own check of its config (keys, types, values), as it runs
  // when the engine starts: opened on an empty store in memory, nothing is
  // written anywhere.
  if (c.count() == problems_before && FindEngine(s->engine)) {
    engines::MemEnv env("/validate");
    auto session = engines::OpenEngineSession(s->engine, &env, "/validate/store", s->config);
    if (!session.ok()) c.Fail("$.engine.config", session.status().message());
  }
}

void CheckFs(Checker& c, const json& doc, Scenario* s) {
  const json* fsobj = c.Field(doc, "$", "fs", FieldType::kObject, false);
  if (!fsobj) return;
  c.OnlyFields(*fsobj, "$.fs", {"model", "capacity"});  // capacity: scenario_exec.cc
  if (const json* model = c.Field(*fsobj, "$.fs", "model", FieldType::kString, false)) {
    const std::string m = model->get<std::string>();
    if (std::count(kSupportedModels.begin(), kSupportedModels.end(), m)) {
      s->model = m;
    } else if (std::count(kFutureModels.begin(), kFutureModels.end(), m)) {
      c.Fail("$.fs.model",
             "model '" + m + "' is not supported yet; supported: " + Join(kSupportedModels));
    } else {
      c.Fail("$.fs.model", "unknown model '" + m + "'; expected one of: " + Join(kSupportedModels));
    }
  }
}

void CheckOp(Checker& c, const json& item, const std::string& path, const EngineSpec* engine) {
  const std::string op = item["op"].get<std::string>();
  if (!engine) return;  // the engine error is reported already
  if (op == "close") {
    c.Fail(
        path + ".op",
        "'close' is not a workload op; use {\"step\":\"restart\"} to close and reopen the engine");
    return;
  }
  const OpSpec* spec = engine->FindOp(op);
  if (!spec) {
    c.Fail(path + ".op",
           "engine " + engine->name + " has no op '" + op + "'; its ops: " + engine->OpNames());
    return;
  }
  std::vector<std::string> allowed = {"op", "repeat", "expect_error"};
  if (auto e = item.find("expect_error");
      e != item.end() && !e->is_boolean() && *e != "maybe")
    c.Fail(path + ".expect_error",
           "expected true (the op must fail), \"maybe\" (it may fail) or false, got " +
               Describe(*e));
  for (const auto& f : spec->fields) {
    allowed.push_back(f.name);
    (void)c.Field(item, path, f.name, f.type, f.required);
  }
  c.OnlyFields(item, path, allowed);
}

// {"step":"crash","kind":"power"|"process","states":[G]}: one generator per
// crash step, since the workload goes on from the one state it leaves.
void CheckCrashStep(Checker& c, const json& item, const std::string& path, WorkItem* w) {
  c.OnlyFields(item, path, {"step", "kind", "states", "repeat"});
  if (const json* kind = c.Field(item, path, "kind", FieldType::kString, true)) {
    if (*kind == "process")
      w->crash_kind = CrashKind::kProcess;
    else if (*kind == "power")
      w->crash_kind = CrashKind::kPower;
    else
      c.Fail(path + ".kind", "expected \"process\" or \"power\", got " + Describe(*kind));
  }
  const json* states = c.Field(item, path, "states", FieldType::kArray, false);
  if (!states) return;
  if (w->crash_kind == CrashKind::kProcess) {
    c.Fail(path + ".states",
           "states apply to power cuts only: a process crash keeps all the kernel's state");
    return;
  }
  if (states->size() != 1 || !(*states)[0].is_string()) {
    c.Fail(path + ".states",
           "expected one generator name, e.g. [\"drop-all\"]: the workload goes on from the "
           "one state a crash step leaves");
    return;
  }
  const std::string g = (*states)[0].get<std::string>();
  if (!IsGeneratorName(g))
    c.Fail(path + ".states[0]", "unknown generator '" + g +
                                    "'; expected drop-all, keep-all, prefix, torn, reorder:K or "
                                    "random:N");
  else if (!IsSupportedGenerator(g))
    c.Fail(path + ".states[0]",
           "generator '" + g + "' is not supported yet; supported: drop-all, keep-all");
  else
    w->crash_state = g;
}

void CheckWorkload(Checker& c, const json& doc, Scenario* s) {
  const json* wl = c.Field(doc, "$", "workload", FieldType::kArray, true);
  if (!wl) return;
  if (wl->empty()) c.Fail("$.workload", "expected at least one entry");
  const EngineSpec* engine = FindEngine(s->engine);
  for (size_t n = 0; n < wl->size(); ++n) {
    const json& item = (*wl)[n];
    const std::string path = "$.workload[" + std::to_string(n) + "]";
    if (!item.is_object()) {
      c.Fail(path, "expected an object with \"op\" or \"step\", got " + Describe(item));
      continue;
    }
    int repeat = 1;
    if (auto r = item.find("repeat"); r != item.end()) {
      if (!r->is_number_integer() || r->get<long long>() < 1 || r->get<long long>() > kMaxRepeat) {
        c.Fail(path + ".repeat", "expected an integer from 1 to " + std::to_string(kMaxRepeat) +
                                     ", got " + Describe(*r));
      } else {
        repeat = r->get<int>();
      }
    }
    const bool has_op = item.contains("op"), has_step = item.contains("step");
    if (has_op == has_step) {
      c.Fail(path, "expected exactly one of \"op\" (an engine op) or \"step\" (sync, restart, "
                   "crash, damage)");
      continue;
    }
    WorkItem w;
    if (has_step) {
      const json* step = c.Field(item, path, "step", FieldType::kString, true);
      if (!step) continue;
      const std::string name = step->get<std::string>();
      if (name == "sync") {
        w.kind = WorkItem::Kind::kSync;
      } else if (name == "restart") {
        w.kind = WorkItem::Kind::kRestart;
      } else if (name == "crash") {
        w.kind = WorkItem::Kind::kCrash;
        CheckCrashStep(c, item, path, &w);
      } else if (name == "damage") {
        w.kind = WorkItem::Kind::kDamage;
        std::vector<std::pair<std::string, std::string>> bad;
        json fields = item;
        fields.erase("repeat");
        if (!ParseDamage(fields, path, &w.damage, &bad))
          for (const auto& [where, msg] : bad) c.Fail(where, msg);
      } else {
        c.Fail(path + ".step",
               "unknown step '" + name + "'; expected one of: sync, restart, crash, damage");
        continue;
      }
      if (w.kind == WorkItem::Kind::kSync || w.kind == WorkItem::Kind::kRestart)
        c.OnlyFields(item, path, {"step", "repeat"});
    } else {
      if (!c.Field(item, path, "op", FieldType::kString, true)) continue;
      CheckOp(c, item, path, engine);
      w.kind = WorkItem::Kind::kOp;
      if (auto e = item.find("expect_error"); e != item.end())
        w.failure = *e == true      ? WorkItem::Failure::kExpected
                    : *e == "maybe" ? WorkItem::Failure::kAllowed
                                    : WorkItem::Failure::kNever;
    }
    if (s->workload.size() + repeat > kMaxWorkItems) {
      c.Fail(path, "the workload expands to more than " + std::to_string(kMaxWorkItems) +
                       " entries after repeat; split the scenario");
      return;
    }
    for (int i = 0; i < repeat; ++i) {
      WorkItem e = w;
      e.where = repeat > 1 ? path + " (i=" + std::to_string(i) + ")" : path;
      if (w.kind == WorkItem::Kind::kOp) {
        json req = SubstituteIndex(item, i);
        req.erase("repeat");
        req.erase("expect_error");  // the harness's, not the engine's
        e.request = std::move(req);
        e.op_number = ++s->op_count;
      }
      s->workload.push_back(std::move(e));
    }
  }
}

void CheckCrash(Checker& c, const json& doc, Scenario* s) {
  const json* crash = c.Field(doc, "$", "crash", FieldType::kObject, true);
  if (!crash) return;
  c.OnlyFields(*crash, "$.crash", {"kind", "at", "states", "recovery_timeout_s"});
  if (const json* kind = c.Field(*crash, "$.crash", "kind", FieldType::kString, true)) {
    if (*kind == "process") {
      s->crash_kind = CrashKind::kProcess;
    } else if (*kind == "power") {
      s->crash_kind = CrashKind::kPower;
    } else {
      c.Fail("$.crash.kind", "expected \"process\" or \"power\", got " + Describe(*kind));
    }
  }
  if (auto at = crash->find("at"); at != crash->end()) {
    if (*at == "end") {
      s->crash_at = CrashAt::kEnd;
    } else if (*at == "every_sync") {
      s->crash_at = CrashAt::kEverySync;
    } else if (*at == "every_op") {
      s->crash_at = CrashAt::kEveryOp;
    } else if (at->is_object() && at->size() == 1 && at->contains("after_op")) {
      const json& n = (*at)["after_op"];
      if (!n.is_number_integer() || n.get<long long>() < 1) {
        c.Fail("$.crash.at.after_op", "expected an integer >= 1, got " + Describe(n));
      } else if (n.get<long long>() > s->op_count) {
        c.Fail("$.crash.at.after_op", "the workload has only " + std::to_string(s->op_count) +
                                          " ops after repeat expansion, got " + n.dump());
      } else {
        s->crash_at = CrashAt::kAfterOp;
        s->after_op = n.get<int>();
      }
    } else if (at->is_object() && at->size() == 1 && at->contains("after")) {
      // A crash trigger of the mount (scenario_exec.cc).
    } else {
      c.Fail("$.crash.at",
             "expected \"end\", \"every_sync\", \"every_op\", {\"after_op\": N} or "
             "{\"after\": {\"op\", \"path\", \"nth\"}}, got " +
                 Describe(*at));
    }
  }
  if (const json* states = c.Field(*crash, "$.crash", "states", FieldType::kArray, false)) {
    if (s->crash_kind == CrashKind::kProcess) {
      c.Fail("$.crash.states",
             "states apply to power cuts only: a process crash keeps all the kernel's state");
    }
    if (states->empty())
      c.Fail("$.crash.states", "expected at least one generator, e.g. \"drop-all\"");
    std::set<std::string> seen;
    for (size_t n = 0; n < states->size(); ++n) {
      const std::string path = "$.crash.states[" + std::to_string(n) + "]";
      const json& g = (*states)[n];
      if (!g.is_string()) {
        c.Fail(path, "expected a generator name (a string), got " + Describe(g));
        continue;
      }
      const std::string name = g.get<std::string>();
      if (!IsGeneratorName(name)) {
        c.Fail(path, "unknown generator '" + name +
                         "'; expected drop-all, keep-all, prefix, torn, reorder:K or random:N");
      } else if (!IsSupportedGenerator(name)) {
        c.Fail(path,
               "generator '" + name + "' is not supported yet; supported: drop-all, keep-all");
      } else if (!seen.insert(name).second) {
        c.Fail(path, "generator '" + name + "' is listed twice");
      } else {
        s->states.push_back(name);
      }
    }
  }
  if (s->states.empty() && s->crash_kind == CrashKind::kPower) s->states = {"drop-all"};
  if (const json* t = c.Field(*crash, "$.crash", "recovery_timeout_s", FieldType::kAny, false)) {
    if (!t->is_number() || t->get<double>() <= 0 || t->get<double>() > 600)
      c.Fail("$.crash.recovery_timeout_s",
             "expected a number of seconds in (0, 600], got " + Describe(*t));
    else
      s->recovery_timeout_s = t->get<double>();
  }
}

void CheckInvariantName(Checker& c, const std::string& path, const json& v,
                        std::vector<std::string>* out) {
  if (!v.is_string()) {
    c.Fail(path, "expected an invariant name (a string), got " + Describe(v));
    return;
  }
  const std::string name = v.get<std::string>();
  const auto& ok = SupportedInvariants();
  const auto& later = ReservedInvariants();
  if (std::count(later.begin(), later.end(), name)) {
    c.Fail(path, "invariant '" + name + "' is not supported yet; supported: " + Join(ok));
  } else if (!std::count(ok.begin(), ok.end(), name)) {
    c.Fail(path, "unknown invariant '" + name + "'; expected one of: " + Join(ok));
  } else if (std::count(out->begin(), out->end(), name)) {
    c.Fail(path, "invariant '" + name + "' is listed twice");
  } else {
    out->push_back(name);
  }
}

void CheckChecksAndExpect(Checker& c, const json& doc, Scenario* s) {
  // An exec scenario's check may be {"exec": CMD, "invariants": [...]}
  // (scenario_exec.h); without "invariants" it checks ExecInvariants().
  std::string list_path = "$.check";
  const json exec_defaults = ExecInvariants();
  const json* check = nullptr;
  if (auto it = doc.find("check"); it != doc.end() && it->is_object()) {
    list_path = "$.check.invariants";
    check = it->contains("invariants")
                ? c.Field(*it, "$.check", "invariants", FieldType::kArray, false)
                : &exec_defaults;
  } else {
    check = c.Field(doc, "$", "check", FieldType::kArray, true);
  }
  if (check) {
    if (check->empty())
      c.Fail(list_path, "expected at least one invariant, e.g. \"acked-durable\"");
    for (size_t n = 0; n < check->size(); ++n)
      CheckInvariantName(c, list_path + "[" + std::to_string(n) + "]", (*check)[n], &s->check);
  }
  const json* expect = c.Field(doc, "$", "expect", FieldType::kObject, true);
  if (!expect) return;
  c.OnlyFields(*expect, "$.expect", {"violations", "finding"});
  if (const json* v = c.Field(*expect, "$.expect", "violations", FieldType::kArray, true)) {
    for (size_t n = 0; n < v->size(); ++n) {
      const std::string path = "$.expect.violations[" + std::to_string(n) + "]";
      const size_t before = s->expect_violations.size();
      CheckInvariantName(c, path, (*v)[n], &s->expect_violations);
      if (s->expect_violations.size() > before &&
          !std::count(s->check.begin(), s->check.end(), s->expect_violations.back()))
        c.Fail(path, "'" + s->expect_violations.back() +
                         "' can never be reported: $.check does not list it");
    }
    std::sort(s->expect_violations.begin(), s->expect_violations.end());
  }
  if (const json* f = c.Field(*expect, "$.expect", "finding", FieldType::kString, false)) {
    const std::string name = f->get<std::string>();
    const std::vector<std::string>& known = KnownFindings();
    if (name.empty())
      c.Fail("$.expect.finding", "expected a finding name, got an empty string");
    else if (!std::count(known.begin(), known.end(), name))
      c.Fail("$.expect.finding", "unknown finding '" + name + "'; findings: " + Join(known));
    else
      s->expect_finding = name;
  }
}

}  // namespace

std::optional<Scenario> LoadScenarioForCommand(const std::string& file,
                                               const std::string& command) {
  std::vector<Problem> problems;
  std::optional<Scenario> s = LoadScenarioFile(file, &problems);
  if (!s) {
    for (const Problem& p : problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
    std::fprintf(stderr, "blackout %s: %s is not a valid scenario\n", command.c_str(),
                 file.c_str());
  }
  return s;
}

json SubstituteIndex(const json& v, int i) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    const std::string needle = "{i}";
    const std::string repl = std::to_string(i);
    for (size_t pos = s.find(needle); pos != std::string::npos;
         pos = s.find(needle, pos + repl.size()))
      s.replace(pos, needle.size(), repl);
    return s;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(SubstituteIndex(e, i));
    return out;
  }
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, e] : v.items()) out[k] = SubstituteIndex(e, i);
    return out;
  }
  return v;
}

std::string Problem::ToString() const { return file + ": " + path + ": " + message; }

const std::vector<std::string>& SupportedInvariants() {
  static const std::vector<std::string> v = {
      "recovers",        "acked-durable", "prefix",          "atomic-batches",
      "no-corruption",   "no-resurrection", "exact-values", "replay-complete",
      "structure"};
  return v;
}
const std::vector<std::string>& ReservedInvariants() {
  static const std::vector<std::string> v = {};
  return v;
}

std::string_view Name(CrashKind k) { return k == CrashKind::kProcess ? "process" : "power"; }

std::string CrashAtName(const Scenario& s) {
  switch (s.crash_at) {
    case CrashAt::kEnd:
      return "end";
    case CrashAt::kEverySync:
      return "every_sync";
    case CrashAt::kEveryOp:
      return "every_op";
    case CrashAt::kAfterOp:
      return "after_op:" + std::to_string(s.after_op);
  }
  return "?";
}

std::optional<Scenario> ParseScenario(const json& doc, const std::string& file,
                                      std::vector<Problem>* problems) {
  Checker c(file, problems);
  if (!doc.is_object()) {
    c.Fail("$", "expected a scenario object, got " + Describe(doc));
    return std::nullopt;
  }
  Scenario s;
  s.file = file;
  s.source = doc;
  c.OnlyFields(doc, "$",
               {"$schema", "name", "description", "engine", "fs", "workload", "crash", "check",
                "expect", "faults", "exec", "hole", "recover", "promise"});
  if (const json* name = c.Field(doc, "$", "name", FieldType::kString, true)) {
    static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._-]*$");
    s.name = name->get<std::string>();
    if (!std::regex_match(s.name, re))
      c.Fail("$.name",
             "expected letters, digits, '.', '_' or '-' (starting with a letter or digit), got " +
                 name->dump());
  }
  if (const json* d = c.Field(doc, "$", "description", FieldType::kString, true)) {
    s.description = d->get<std::string>();
    if (s.description.empty())
      c.Fail("$.description", "expected one sentence saying what is tested, got an empty string");
  }
  if (const json* h = c.Field(doc, "$", "hole", FieldType::kString, false)) {
    static const std::regex re("^[A-Za-z0-9][A-Za-z0-9-]*$");
    s.hole = h->get<std::string>();
    if (!std::regex_match(s.hole, re))
      c.Fail("$.hole", "expected a hole id such as \"H-W2\" (letters, digits, '-'), got " +
                           h->dump());
  }
  // An exec scenario names a program instead of an engine and its workload.
  const bool exec = IsExecScenario(doc);
  if (exec && doc.contains("engine") && doc.contains("recover")) {
    json without = doc;
    without.erase("recover");
    if (!IsExecScenario(without)) {
      // An engine scenario with a recover block: say that, not that the
      // engine's workload and check are not an exec workload's.
      c.Fail("$.recover",
             "applies to exec scenarios (the command that recovers a program's files); an "
             "engine scenario recovers by opening its engine on the crash state: remove it");
      return std::nullopt;
    }
  }
  if (const json* p = c.Field(doc, "$", "promise", FieldType::kObject, false)) {
    c.OnlyFields(*p, "$.promise", {"process", "power"});
    if (exec)
      c.Fail("$.promise",
             "applies to engine scenarios; an exec scenario states its promise in "
             "workload.exec's \"contract\"");
    for (const char* kind : {"process", "power"}) {
      const json* v = c.Field(*p, "$.promise", kind, FieldType::kString, false);
      if (v == nullptr) continue;
      if (!IsContractName(v->get<std::string>()))
        c.Fail(std::string("$.promise.") + kind,
               "expected acked, synced-prefix, batch-atomic or none, got " + v->dump());
      else
        s.promise[kind] = *v;
    }
  }
  if (!exec) CheckEngine(c, doc, &s);
  CheckFs(c, doc, &s);
  if (!exec) CheckWorkload(c, doc, &s);
  CheckCrash(c, doc, &s);
  CheckChecksAndExpect(c, doc, &s);
  const int extra = ParseExecAndFaults(doc, file, &s, problems);
  if (c.count() + extra > 0) return std::nullopt;
  return s;
}

std::optional<Scenario> LoadScenarioFile(const std::string& file, std::vector<Problem>* problems) {
  // A directory opens as a stream that reads nothing (an empty document).
  if (std::error_code ec; std::filesystem::is_directory(file, ec)) {
    problems->push_back({file, "$", "is a directory; give one scenario file"});
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    problems->push_back({file, "$", "cannot read the file: " + std::string(strerror(errno))});
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // Point at line:column, which editors understand, rather than a byte.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    problems->push_back({file, "$",
                         "invalid JSON at line " + std::to_string(line) + ", column " +
                             std::to_string(col) + ": " + what});
    return std::nullopt;
  }
  return ParseScenario(doc, file, problems);
}

std::vector<std::string> FindScenarioFiles(const std::vector<std::string>& paths,
                                           std::vector<Problem>* problems) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file() && it->path().extension() == ".json" &&
            it->path().filename() != "schema.json")
          found.push_back(it->path().string());
      }
      if (ec) problems->push_back({p, "$", "cannot list the directory: " + ec.message()});
      std::sort(found.begin(), found.end());
      if (found.empty())
        problems->push_back({p, "$", "no scenario files (*.json) in this directory"});
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      problems->push_back({p, "$", "no such file or directory"});
    }
  }
  return files;
}

}  // namespace blackout::harness
