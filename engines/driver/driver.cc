#include "engines/driver/driver.h"

#include <exception>
#include <istream>
#include <ostream>

#include "engines/driver/request.h"

namespace blackout::engines {

namespace {

nlohmann::json Error(const std::string& message) { return {{"ok", false}, {"error", message}}; }

}  // namespace

Result<std::unique_ptr<EngineSession>> OpenEngineSession(const std::string& name, Env* env,
                                                         const std::string& dir,
                                                         const nlohmann::json& config) {
  std::string names;
  for (const auto& e : EngineRegistry()) {
    if (name == e.name) return e.open(env, dir, config);
    names += names.empty() ? e.name : std::string(", ") + e.name;
  }
  return Status::InvalidArgument("unknown engine '" + name + "'; engines: " + names);
}

std::string ReplyText(const nlohmann::json& reply) {
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json HandleRequestLine(EngineSession& session, const std::string& line,
                                 bool* close_requested) {
  *close_requested = false;
  nlohmann::json req;
  try {
    req = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    return Error(std::string("malformed JSON request: ") + e.what());
  }
  if (!req.is_object())
    return Error("request must be a JSON object, got " + std::string(req.type_name()));
  auto op_it = req.find("op");
  if (op_it == req.end()) return Error("missing field 'op'");
  if (!op_it->is_string())
    return Error("field 'op' must be a string, got " + std::string(op_it->type_name()));
  const std::string op = op_it->get<std::string>();
  try {
    if (op == "close") {
      *close_requested = true;
      Status s = session.Close();
      return s.ok() ? request::OkReply() : request::ErrorReply(s);
    }
    if (op == "contract") {
      nlohmann::json reply = session.Contract();
      reply["ok"] = true;
      return reply;
    }
    nlohmann::json reply = session.Handle(op, req);
    if (!reply.is_object() || !reply.contains("ok"))
      return Error("internal error: engine reply to '" + op + "' has no \"ok\"");
    return reply;
  } catch (const std::exception& e) {
    // Sessions answer with Status values; this only catches what slipped
    // through (e.g. a JSON type error), so the engine keeps serving.
    return Error("op '" + op + "' failed: " + e.what());
  }
}

int ServeEngine(EngineSession& session, std::istream& in, std::ostream& out,
                const std::function<void()>& after_reply) {
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    bool close_requested = false;
    const nlohmann::json reply = HandleRequestLine(session, line, &close_requested);
    out << ReplyText(reply) << '\n' << std::flush;
    if (after_reply) after_reply();
    if (close_requested) return reply.value("ok", false) ? 0 : 1;
  }
  return 0;
}

int RunEngineCommand(const EngineCommandOptions& options, Env* env, std::istream& in,
                     std::ostream& out) {
  auto fail = [&out](const std::string& message, int code) {
    out << ReplyText(Error(message)) << '\n' << std::flush;
    return code;
  };
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(options.config_json);
  } catch (const nlohmann::json::parse_error& e) {
    return fail(std::string("--config is not valid JSON: ") + e.what(), 2);
  }
  if (!config.is_object())
    return fail("--config must be a JSON object, got " + std::string(config.type_name()), 2);
  if (options.dir.empty()) return fail("--dir must not be empty", 2);
  Result<std::unique_ptr<EngineSession>> session =
      OpenEngineSession(options.engine, env, options.dir, config);
  if (!session.ok()) {
    // Unknown engine, config key or type: bad usage. Anything else is the
    // store failing to open (e.g. REF's uncaught exception during recovery).
    const int code = session.status().IsInvalidArgument() ? 2 : 1;
    return fail(session.status().ToString(), code);
  }
  if (options.dump) {
    nlohmann::json dump;
    try {
      dump = (*session)->Dump();
    } catch (const std::exception& e) {
      return fail(std::string("dump failed: ") + e.what(), 1);
    }
    out << ReplyText(dump) << '\n' << std::flush;
    return dump.value("ok", false) ? 0 : 1;
  }
  return ServeEngine(**session, in, out);
}

}  // namespace blackout::engines
