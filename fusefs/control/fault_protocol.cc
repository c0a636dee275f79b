#include "fusefs/control/fault_protocol.h"

#include <cctype>
#include <limits>

#include "fusefs/control/cli_checks.h"

namespace blackout::control {
namespace {

using nlohmann::json;

// An optional positive integer field; `out` untouched when absent.
bool PositiveField(const json& r, const char* name, const std::string& cmd,
                   std::optional<uint64_t>& out, std::string& error) {
  if (!r.contains(name)) return true;
  const json& v = r[name];
  if (!v.is_number_integer() || v.get<int64_t>() < 1) {
    error = cmd + ": \"" + name + "\" must be a positive integer, got " + v.dump();
    return false;
  }
  out = v.get<uint64_t>();
  return true;
}

bool OpAndPath(const json& r, const std::string& cmd, model::FaultOp& op, std::string& path,
               std::string& error) {
  if (!r.contains("op") || !r["op"].is_string()) {
    error = cmd + ": missing \"op\"; ops: " + std::string(model::FaultOpNames());
    return false;
  }
  auto parsed = model::ParseFaultOp(r["op"].get<std::string>());
  if (!parsed.ok()) {
    error = cmd + ": unknown op '" + r["op"].get<std::string>() +
            "'; ops: " + std::string(model::FaultOpNames());
    return false;
  }
  op = *parsed;
  if (r.contains("path")) {
    if (!r["path"].is_string()) {
      error = cmd + ": \"path\" must be a glob string such as \"*.log\"";
      return false;
    }
    path = r["path"].get<std::string>();
  }
  if (std::string why = model::GlobProblem(path); !why.empty()) {
    error = cmd + ": invalid path glob '" + path + "': " + why;
    return false;
  }
  return true;
}

json RuleJson(const model::FaultRule& r) {
  return json{{"op", std::string(model::Name(r.op))},
              {"path", r.path},
              {"errno", std::string(model::FaultErrnoName(r.err))},
              {"first", r.first},
              {"count", r.count},
              {"seen", r.seen},
              {"fired", r.fired}};
}

}  // namespace

bool IsFaultCommand(std::string_view cmd) {
  return cmd == "fail" || cmd == "crash-after" || cmd == "clear-faults" || cmd == "faults";
}

Result<model::FaultRule> ParseFailRequest(const json& r) {
  model::FaultRule rule;
  std::string error;
  if (!OpAndPath(r, "fail", rule.op, rule.path, error))
    return Result<model::FaultRule>::Error(error);
  if (r.contains("errno")) {
    const json& e = r["errno"];
    auto err = e.is_string() ? model::ParseFaultErrno(e.get<std::string>())
                             : model::Result<int>(model::Errno{EINVAL});
    if (!err.ok()) {
      return Result<model::FaultRule>::Error("fail: unknown errno " + e.dump() +
                                             "; errnos: " + std::string(model::FaultErrnoNames()));
    }
    rule.err = *err;
  }
  std::optional<uint64_t> nth, from, count;
  if (!PositiveField(r, "nth", "fail", nth, error) ||
      !PositiveField(r, "from", "fail", from, error) ||
      !PositiveField(r, "count", "fail", count, error)) {
    return Result<model::FaultRule>::Error(error);
  }
  if (nth && from) {
    return Result<model::FaultRule>::Error(
        "fail: give \"nth\" (that operation only) or \"from\" (that one and later), not both");
  }
  rule.first = nth ? *nth : from ? *from : 1;
  rule.count = count ? *count : nth ? 1 : 0;
  return rule;
}

Result<model::CrashTrigger> ParseCrashAfterRequest(const json& r) {
  model::CrashTrigger t;
  std::string error;
  if (!OpAndPath(r, "crash-after", t.op, t.path, error)) {
    return Result<model::CrashTrigger>::Error(error);
  }
  std::optional<uint64_t> nth;
  if (!PositiveField(r, "nth", "crash-after", nth, error)) {
    return Result<model::CrashTrigger>::Error(error);
  }
  t.nth = nth.value_or(1);
  if (r.contains("before")) {
    if (!r["before"].is_boolean()) {
      return Result<model::CrashTrigger>::Error("crash-after: \"before\" must be true or false");
    }
    t.before = r["before"].get<bool>();
  }
  if (r.contains("save")) {
    if (!r["save"].is_boolean()) {
      return Result<model::CrashTrigger>::Error("crash-after: \"save\" must be true or false");
    }
    t.save = r["save"].get<bool>();
  }
  if (r.contains("every")) {
    if (!r["every"].is_boolean()) {
      return Result<model::CrashTrigger>::Error("crash-after: \"every\" must be true or false");
    }
    t.every = r["every"].get<bool>();
    if (t.every && !t.save) {
      return Result<model::CrashTrigger>::Error(
          "crash-after: \"every\" needs \"save\": a trigger cuts the power once, it saves "
          "as often as asked");
    }
  }
  if (r.contains("stop")) {
    if (!r["stop"].is_boolean()) {
      return Result<model::CrashTrigger>::Error("crash-after: \"stop\" must be true or false");
    }
    t.stop = r["stop"].get<bool>();
    if (t.stop && t.save) {
      return Result<model::CrashTrigger>::Error(
          "crash-after: \"stop\" freezes the caller at a power cut; a saving trigger cuts "
          "nothing");
    }
  }
  return t;
}

json HandleFaultRequest(model::Filesystem& fs, const json& request) {
  const std::string cmd = request.value("cmd", std::string());
  if (cmd == "fail") {
    Result<model::FaultRule> rule = ParseFailRequest(request);
    if (!rule.ok()) return BadRequestReply(rule.error());
    if (!fs.AddFault(*rule).ok()) return ErrorReply("fail: the model refused the rule");
    return json{{"ok", true}, {"rules", fs.Faults().size()}};
  }
  if (cmd == "crash-after") {
    Result<model::CrashTrigger> t = ParseCrashAfterRequest(request);
    if (!t.ok()) return BadRequestReply(t.error());
    if (t->save) {
      // Beside the armed triggers: a recording run saves several points.
      model::Result<uint64_t> id = fs.AddCrashTrigger(*t);
      if (!id.ok()) return ErrorReply("crash-after: the model refused the trigger");
      return json{{"ok", true}, {"id", *id}};
    }
    if (!fs.SetCrashTrigger(*t).ok())
      return ErrorReply("crash-after: the model refused the trigger");
    return json{{"ok", true}};
  }
  if (cmd == "clear-faults") {
    fs.ClearFaults();
    return json{{"ok", true}};
  }
  json rules = json::array();
  for (const auto& r : fs.Faults()) rules.push_back(RuleJson(r));
  json triggers = json::array();
  for (const model::CrashTrigger& t : fs.ArmedTriggers()) {
    triggers.push_back(json{{"op", std::string(model::Name(t.op))},
                            {"path", t.path},
                            {"nth", t.nth},
                            {"before", t.before},
                            {"save", t.save},
                            {"every", t.every},
                            {"stop", t.stop},
                            {"seen", t.seen}});
  }
  // "trigger": the first armed one (null: none), as before several could be.
  json trigger = triggers.empty() ? json(nullptr) : triggers.front();
  return json{{"ok", true},
              {"rules", std::move(rules)},
              {"trigger", std::move(trigger)},
              {"triggers", std::move(triggers)},
              {"triggered_cuts", fs.TriggeredCuts()}};
}

void AddFaultOptions(CLI::App& ctl, FaultArgs& args) {
  ctl.add_option("--op", args.op,
                 "fail, crash-after: operation (" + std::string(model::FaultOpNames()) + ")");
  ctl.add_option("--path", args.path, "fail, crash-after: glob of paths (default *)");
  ctl.add_option("--errno", args.err,
                 "fail: error to answer (" + std::string(model::FaultErrnoNames()) + ")");
  ctl.add_option("--nth", args.nth, "fail, crash-after: the Nth matching operation")
      ->check(control::WholeNumber(1));
  ctl.add_option("--from", args.from, "fail: the Nth matching operation and later")
      ->check(control::WholeNumber(1));
  ctl.add_option("--count", args.count, "fail: how many matching operations fail")
      ->check(control::WholeNumber(1));
  ctl.add_flag("--before", args.before, "crash-after: cut before the operation");
  ctl.add_flag("--save", args.save,
               "crash-after: save the crash point there instead of cutting (fetch it with "
               "saved-points DIR)");
  ctl.add_flag("--every", args.every,
               "crash-after --save: save at the Nth matching operation and every one after it");
  ctl.add_flag("--stop", args.stop,
               "crash-after: freeze the calling program (SIGSTOP to its process group) at the "
               "cut, as the power going out would; end it yourself afterwards");
}

Result<json> FaultCtlRequest(const std::string& command, const FaultArgs& a) {
  json r{{"cmd", command}};
  if (command == "clear-faults" || command == "faults") {
    if (a.Given()) return Result<json>::Error(command + " takes no options");
    return r;
  }
  if (command != "fail" && command != "crash-after") {
    return Result<json>::Error(
        "--op, --path, --errno, --nth, --from, --count, --before, --save, --every and --stop "
        "apply to fail and crash-after only");
  }
  if (a.op.empty()) {
    return Result<json>::Error(command + " needs --op (" + std::string(model::FaultOpNames()) +
                               ")");
  }
  r["op"] = a.op;
  if (!a.path.empty()) r["path"] = a.path;
  if (a.nth) r["nth"] = a.nth;
  if (command == "fail") {
    if (a.before || a.save || a.every || a.stop)
      return Result<json>::Error("--before, --save, --every and --stop apply to crash-after only");
    if (!a.err.empty()) r["errno"] = a.err;
    if (a.from) r["from"] = a.from;
    if (a.count) r["count"] = a.count;
    Result<model::FaultRule> rule = ParseFailRequest(r);
    if (!rule.ok()) return Result<json>::Error(rule.error());
  } else {
    if (!a.err.empty() || a.from || a.count) {
      return Result<json>::Error("--errno, --from and --count apply to fail only");
    }
    r["before"] = a.before;
    if (a.save) r["save"] = true;
    if (a.every) r["every"] = true;
    if (a.stop) r["stop"] = true;
    Result<model::CrashTrigger> t = ParseCrashAfterRequest(r);
    if (!t.ok()) return Result<json>::Error(t.error());
  }
  return r;
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  auto bad = [&] {
    return Result<uint64_t>::Error("'" + std::string(text) +
                                   "' is not a size; give bytes, e.g. 1048576, 64K, 10M or 1G");
  };
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return bad();
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (value > std::numeric_limits<uint64_t>::max() / 10) return bad();
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        return bad();
    }
    ++i;
    if (i < text.size() && (text[i] == 'B' || text[i] == 'b')) ++i;
    if (i != text.size()) return bad();
  }
  if (value == 0 || value > (std::numeric_limits<uint64_t>::max() >> shift)) return bad();
  return value << shift;
}

json ErrorReply(const std::string& message) { return json{{"ok", false}, {"error", message}}; }

json BadRequestReply(const std::string& message) {
  json e = ErrorReply(message);
  e["usage"] = true;
  return e;
}

}  // namespace blackout::control
