#include "harness/scenario_exec.h"

#include <algorithm>
#include <filesystem>

#include "fusefs/control/fault_protocol.h"
#include "harness/scenario.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

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
        auto t = control::ParseCrashAfterRequest(request);
        if (!t.ok())
          fail("$.crash.at.after", t.error());
        else
          s->crash_trigger = request;
      }
      if (!doc.contains("exec"))
        fail("$.crash.at.after",
             "crash triggers apply to exec workloads; engine scenarios crash between ops "
             "(\"end\", \"every_sync\", \"every_op\", {\"after_op\": N})");
    }
  }

  const auto ex = doc.find("exec");
  if (ex == doc.end()) {
    // The engine runner does not send them yet; refused rather than ignored,
    // so that no scenario passes without the faults its author wrote.
    if (doc.contains("faults"))
      fail("$.faults",
           "faults apply to exec workloads only, for now; an engine scenario would "
           "stop at the first injected error");
    if (s->capacity_bytes)
      fail("$.fs.capacity", "capacity applies to exec workloads only, for now");
    return static_cast<int>(problems->size() - before);
  }
  if (!ex->is_object()) {
    fail("$.exec", "expected {\"workload\": CMD, \"check\": CMD, \"recover\": CMD}");
    return static_cast<int>(problems->size() - before);
  }
  if (doc.contains("engine"))
    fail("$.engine", "a scenario runs an engine or an exec workload, not both");
  if (doc.contains("workload"))
    fail("$.workload", "an exec scenario has no workload list: $.exec.workload is the program");
  ExecSpec spec;
  spec.dir = std::filesystem::absolute(file).parent_path().string();
  for (const auto& [key, value] : ex->items()) {
    const std::string path = "$.exec." + key;
    if (key == "workload" || key == "recover" || key == "check") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        fail(path, "expected a shell command (a non-empty string)");
        continue;
      }
      (key == "workload"  ? spec.workload
       : key == "recover" ? spec.recover
                          : spec.check) = value.get<std::string>();
    } else if (key == "contract") {
      if (value != "acked" && value != "none")
        fail(path, "expected \"acked\" (every acked ID survives) or \"none\", got " + value.dump());
      else
        spec.contract = value.get<std::string>();
    } else if (key == "timeout_s") {
      if (!value.is_number() || value.get<double>() <= 0 || value.get<double>() > 3600)
        fail(path, "expected a number of seconds in (0, 3600], got " + value.dump());
      else
        spec.timeout_s = value.get<double>();
    } else {
      fail(path, "unknown field; expected workload, recover, check, contract, timeout_s");
    }
  }
  if (spec.workload.empty() && !ex->contains("workload"))
    fail("$.exec.workload", "missing: the command that runs the program on $BLACKOUT_MNT");
  if (spec.check.empty() && !ex->contains("check"))
    fail("$.exec.check", "missing: the command that prints the IDs found after the crash");
  if (crash != doc.end() && crash->is_object()) {
    if (const auto at = crash->find("at");
        at != crash->end() && !(at->is_object() && at->contains("after")) && *at != "end")
      fail("$.crash.at", "an exec workload crashes at \"end\" or {\"after\": {...}}");
    if (const auto st = crash->find("states"); st != crash->end() && st->is_array())
      for (const auto& g : *st)
        if (g != "drop-all" && g != "keep-all")
          fail("$.crash.states",
               "an exec workload runs on the mount: drop-all or keep-all, got " + g.dump());
  }
  if (const auto check = doc.find("check"); check != doc.end() && check->is_array())
    for (size_t n = 0; n < check->size(); ++n)
      if ((*check)[n].is_string() &&
          !std::count(ExecInvariants().begin(), ExecInvariants().end(), (*check)[n]))
        fail("$.check[" + std::to_string(n) + "]",
             "an exec scenario checks " + Join(ExecInvariants()) + ", got " + (*check)[n].dump());
  s->engine = "exec";
  s->profile = "exec";
  s->exec = std::move(spec);
  return static_cast<int>(problems->size() - before);
}

}  // namespace blackout::harness
