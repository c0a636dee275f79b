#include "harness/scenario_exec.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "fusefs/control/fault_protocol.h"
#include "harness/explore.h"
#include "harness/scenario.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

using Fail = std::function<void(const std::string&, const std::string&)>;

// A command of an exec stage: a non-empty shell command.
void ExecCommand(const json& value, const std::string& path, std::string* out, const Fail& fail) {
  if (!value.is_string() || value.get<std::string>().empty())
    fail(path, "expected a shell command (a non-empty string), got " + value.dump());
  else
    *out = value.get<std::string>();
}

// "contract" and "timeout_s" of the object at `path` ($.exec or $.workload).
void ExecLimits(const json& obj, const std::string& path, ExecSpec* spec, const Fail& fail) {
  if (const auto c = obj.find("contract"); c != obj.end()) {
    if (*c != "acked" && *c != "none")
      fail(path + ".contract",
           "expected \"acked\" (every acked ID survives) or \"none\", got " + c->dump());
    else
      spec->contract = c->get<std::string>();
  }
  if (const auto t = obj.find("timeout_s"); t != obj.end()) {
    if (!t->is_number() || t->get<double>() <= 0 || t->get<double>() > 3600)
      fail(path + ".timeout_s", "expected a number of seconds in (0, 3600], got " + t->dump());
    else
      spec->timeout_s = t->get<double>();
  }
}

}  // namespace

bool IsExecScenario(const json& doc) {
  if (!doc.is_object()) return false;
  auto object = [&](const char* key) {
    const auto it = doc.find(key);
    return it != doc.end() && it->is_object();
  };
  return doc.contains("exec") || object("workload") || doc.contains("recover") || object("check");
}

const std::vector<std::string>& ExecInvariants() {
  static const std::vector<std::string> v = {"recovers", "acked-durable", "prefix",
                                             "no-corruption"};
  return v;
}

int ParseExecAndFaults(const json& doc, const std::string& file, Scenario* s,
                       std::vector<Problem>* problems) {
  const size_t before = problems->size();
  auto fail = [&](const std::string& path, const std::string& message) {
    problems->push_back({file, path, message});
  };

  if (const auto f = doc.find("faults"); f != doc.end()) {
    if (!f->is_array()) {
      fail("$.faults", "expected an array of {\"op\",\"path\",\"errno\",...} objects");
    } else {
      for (size_t n = 0; n < f->size(); ++n) {
        const std::string path = "$.faults[" + std::to_string(n) + "]";
        const json& item = (*f)[n];
        if (!item.is_object()) {
          fail(path,
               "expected an object such as {\"op\":\"fsync\",\"path\":\"*.log\","
               "\"errno\":\"EIO\",\"nth\":1}");
          continue;
        }
        bool fields_ok = true;
        for (const auto& [key, value] : item.items()) {
          static const std::vector<std::string> allowed = {"op",  "path", "errno",
                                                           "nth", "from", "count"};
          if (!std::count(allowed.begin(), allowed.end(), key)) {
            fail(path + "." + key, "unknown field; expected " + Join(allowed));
            fields_ok = false;
          }
        }
        json request = item;
        request["cmd"] = "fail";
        auto rule = control::ParseFailRequest(request);
        if (!rule.ok()) {
          fail(path, rule.error());
        } else if (fields_ok) {
          s->faults.push_back(std::move(request));
        }
      }
    }
  }

  if (const auto fsobj = doc.find("fs"); fsobj != doc.end() && fsobj->is_object()) {
    if (const auto cap = fsobj->find("capacity"); cap != fsobj->end()) {
      std::string text = cap->is_number_integer() && cap->get<int64_t>() > 0
                             ? std::to_string(cap->get<int64_t>())
                         : cap->is_string() ? cap->get<std::string>()
                                            : "";
      auto bytes = control::ParseByteSize(text);
      if (!bytes.ok())
        fail("$.fs.capacity",
             "expected bytes (a positive integer) or a string such as \"10M\": " + bytes.error());
      else
        s->capacity_bytes = *bytes;
    }
  }

  const auto crash = doc.find("crash");
  if (crash != doc.end() && crash->is_object()) {
    const auto at = crash->find("at");
    if (at != crash->end() && at->is_object() && at->contains("after")) {
      json request = (*at)["after"];
      if (!request.is_object()) {
        fail("$.crash.at.after", "expected {\"op\":OP,\"path\":GLOB,\"nth\":N}");
      } else {
        request["cmd"] = "crash-after";
        // `every` saves at each matching operation, so only a saving
        // trigger has it; exploration arms it to save (explore.h).
        json checked = request;
        if (request.value("every", false) == true) checked["save"] = true;
        auto t = control::ParseCrashAfterRequest(checked);
        if (!t.ok())
          fail("$.crash.at.after", t.error());
        else
          s->crash_trigger = request;
      }
    }
  }

  const bool every = s->crash_trigger.is_object() && s->crash_trigger.value("every", false) == true;
  if (!IsExecScenario(doc)) {
    // Engine scenarios run faults and capacity on the mount (harness/
    // runner.cc), where a crash trigger is the power cut: drop-all. A
    // trigger alone is a crash point inside a call that exploration saves
    // (explore.h, UsesExploration): every generator applies.
    const bool faulty = doc.contains("faults") || s->capacity_bytes;
    if (!s->crash_trigger.is_null() && crash->value("kind", "") != "power")
      fail("$.crash.kind", "a crash trigger cuts the power: expected \"power\"");
    if (faulty && crash != doc.end() && crash->is_object())
      if (const auto st = crash->find("states"); st != crash->end() && st->is_array())
        for (const auto& g : *st)
          if (g != "drop-all" && (g != "keep-all" || !s->crash_trigger.is_null()))
            fail("$.crash.states",
                 std::string("faults and capacity run on the mount: ") +
                     (s->crash_trigger.is_null() ? "drop-all or keep-all"
                                                 : "a trigger leaves drop-all") +
                     ", got " + g.dump());
    if (every && !UsesExploration(*s))
      fail("$.crash.at.after.every",
           "a trigger at every matching operation saves crash points to explore: give "
           "crash.states beyond drop-all, and no faults, capacity or workload crash or damage "
           "steps");
    return static_cast<int>(problems->size() - before);
  }
  if (every) fail("$.crash.at.after.every", "applies to engine scenarios only");
  if (doc.contains("engine"))
    fail("$.engine", "a scenario runs an engine or an exec workload, not both");
  ExecSpec spec;
  spec.dir = std::filesystem::absolute(file).parent_path().string();
  const auto ex = doc.find("exec");
  const auto wl = doc.find("workload");
  const auto rec = doc.find("recover");
  const auto chk = doc.find("check");
  const bool split_wl = wl != doc.end() && wl->is_object();
  const bool split_chk = chk != doc.end() && chk->is_object();
  const bool split = split_wl || rec != doc.end() || split_chk;
  if (ex != doc.end() && split) {
    // Both spellings at once: which command wins would be a guess.
    std::string also;
    if (split_wl) also += " $.workload.exec";
    if (rec != doc.end()) also += std::string(also.empty() ? "" : ",") + " $.recover";
    if (split_chk) also += std::string(also.empty() ? "" : ",") + " $.check.exec";
    fail("$.exec", "the program is given twice, in $.exec and in" + also +
                       "; keep one spelling: {\"workload\": {\"exec\": CMD}, \"recover\": "
                       "{\"exec\": CMD}, \"check\": {\"exec\": CMD}} (or the older $.exec object)");
  } else if (ex != doc.end()) {
    // The older spelling: one "exec" object holding the three commands.
    spec.older_spelling = true;
    if (!ex->is_object()) {
      fail("$.exec", "expected {\"workload\": CMD, \"check\": CMD, \"recover\": CMD}");
      return static_cast<int>(problems->size() - before);
    }
    if (wl != doc.end())
      fail("$.workload", "an exec scenario has no workload list: $.exec.workload is the program");
    for (const auto& [key, value] : ex->items()) {
      if (key == "workload" || key == "recover" || key == "check")
        ExecCommand(value, "$.exec." + key,
                    key == "workload"  ? &spec.workload
                    : key == "recover" ? &spec.recover
                                       : &spec.check,
                    fail);
      else if (key != "contract" && key != "timeout_s")
        fail("$.exec." + key, "unknown field; expected workload, recover, check, contract, timeout_s");
    }
    ExecLimits(*ex, "$.exec", &spec, fail);
    if (!ex->contains("workload"))
      fail("$.exec.workload", "missing: the command that runs the program on $BLACKOUT_MNT");
    if (!ex->contains("check"))
      fail("$.exec.check", "missing: the command that prints the IDs found after the crash");
  } else {
    // The spelling: each stage names its command with "exec".
    if (!split_wl) {
      fail("$.workload", std::string("expected {\"exec\": CMD} (the program to run on "
                                     "$BLACKOUT_MNT) beside $.") +
                             (split_chk ? "check.exec" : "recover") + ", got " +
                             (wl == doc.end() ? "nothing" : wl->is_array() ? "a list" : wl->dump()));
    } else {
      for (const auto& [key, value] : wl->items())
        if (key == "exec")
          ExecCommand(value, "$.workload.exec", &spec.workload, fail);
        else if (key != "contract" && key != "timeout_s")
          fail("$.workload." + key, "unknown field; expected exec, contract, timeout_s");
      ExecLimits(*wl, "$.workload", &spec, fail);
      if (!wl->contains("exec"))
        fail("$.workload.exec", "missing: the command that runs the program on $BLACKOUT_MNT");
    }
    if (rec != doc.end()) {
      if (!rec->is_object()) {
        fail("$.recover", "expected {\"exec\": CMD}, got " + rec->dump());
      } else {
        for (const auto& [key, value] : rec->items())
          if (key == "exec")
            ExecCommand(value, "$.recover.exec", &spec.recover, fail);
          else
            fail("$.recover." + key, "unknown field; expected exec");
        if (!rec->contains("exec"))
          fail("$.recover.exec", "missing: the command that recovers the program's files");
      }
    }
    if (!split_chk) {
      fail("$.check", "expected {\"exec\": CMD, \"invariants\": [...]}: an exec workload needs "
                      "the command that prints the IDs found after the crash");
    } else {
      for (const auto& [key, value] : chk->items())
        if (key == "exec")
          ExecCommand(value, "$.check.exec", &spec.check, fail);
        else if (key != "invariants")  // scenario.cc checks the list
          fail("$.check." + key, "unknown field; expected exec, invariants");
      if (!chk->contains("exec"))
        fail("$.check.exec", "missing: the command that prints the IDs found after the crash");
    }
  }
  if (crash != doc.end() && crash->is_object()) {
    const auto at = crash->find("at");
    const bool triggered = at != crash->end() && at->is_object() && at->contains("after");
    if (at != crash->end() && !triggered && *at != "end")
      fail("$.crash.at", "an exec workload crashes at \"end\" or {\"after\": {...}}");
    // A trigger cuts the power inside the mount, which leaves drop-all; the
    // other generators explore the crash point saved at the end.
    if (const auto st = crash->find("states"); triggered && st != crash->end() && st->is_array())
      for (const auto& g : *st)
        if (g != "drop-all")
          fail("$.crash.states", "a crash trigger cuts the power on the mount, which leaves "
                                 "drop-all; got " + g.dump());
  }
  const json* list = nullptr;
  std::string list_path = "$.check";
  if (split_chk && chk->contains("invariants")) {
    list = &(*chk)["invariants"];
    list_path = "$.check.invariants";
  } else if (chk != doc.end() && chk->is_array()) {
    list = &*chk;
  }
  if (list && list->is_array())
    for (size_t n = 0; n < list->size(); ++n)
      if ((*list)[n].is_string() &&
          !std::count(ExecInvariants().begin(), ExecInvariants().end(), (*list)[n]))
        fail(list_path + "[" + std::to_string(n) + "]",
             "an exec scenario checks " + Join(ExecInvariants()) + ", got " + (*list)[n].dump());
  s->engine = "exec";
  s->profile = "exec";
  s->exec = std::move(spec);
  return static_cast<int>(problems->size() - before);
}

}  // namespace blackout::harness
