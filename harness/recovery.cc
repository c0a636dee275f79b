#include "harness/recovery.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/child_process.h"
#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

}  // namespace

bool ParseRecoveryMode(const std::string& text, RecoveryMode* mode) {
  if (text == "auto") *mode = RecoveryMode::kAuto;
  else if (text == "in-memory") *mode = RecoveryMode::kInMemory;
  else if (text == "child") *mode = RecoveryMode::kChild;
  else return false;
  return true;
}

Recovery RecoverStore(const std::string& blackout_bin, const Scenario& s, const std::string& store,
                      const std::string& log) {
  Recovery r;
  auto dump = ChildProcess::Start(
      {blackout_bin, "engine", s.engine, "--dir", store, "--config", s.config.dump(), "--dump"},
      log);
  if (!dump.ok()) {
    r.error = "cannot start the recovery: " + dump.error();
    return r;
  }
  dump->CloseStdin();
  auto out = dump->ReadAll(s.recovery_timeout_s);
  if (!out.ok()) {
    dump->Kill();
    r.interrupted = Interrupted();
    r.error = "recovery (blackout engine --dump) did not finish within " +
              std::to_string(static_cast<int>(s.recovery_timeout_s)) + " s";
    return r;
  }
  auto code = dump->Wait(s.recovery_timeout_s);
  if (!code.ok()) {
    dump->Kill();
    r.error = "recovery did not exit: " + code.error();
    return r;
  }
  try {
    r.dump = json::parse(*out);
  } catch (const json::exception&) {
    r.dump = json();
  }
  if (*code != 0 || !r.dump.is_object() || r.dump.value("ok", false) != true) {
    // Messages name the state's files relative to it (RelativeTo).
    r.error =
        "the store does not open after the crash (exit " + std::to_string(*code) + "): " +
        RelativeTo(std::filesystem::path(store).parent_path().string(),
                   r.dump.is_object() ? r.dump.value("error", r.dump.dump()) : *out + Tail(log));
    return r;
  }
  r.recovered = true;
  return r;
}

Expected<std::vector<std::string>> VerifyStore(const std::string& blackout_bin, const Scenario& s,
                                               const std::string& store, const std::string& log) {
  auto child = ChildProcess::Start(
      {blackout_bin, "engine", s.engine, "--dir", store, "--config", s.config.dump()}, log);
  if (!child.ok()) return Error{"cannot start the engine for verify: " + child.error()};
  if (auto st = child->WriteLine(R"({"op":"verify"})"); !st.ok())
    return Error{"verify: " + st.error() + " " + Tail(log)};
  auto line = child->ReadLine(s.recovery_timeout_s);
  child->Kill();
  if (!line.ok()) return Error{"verify: " + line.error() + " " + Tail(log)};
  json reply;
  try {
    reply = json::parse(*line);
  } catch (const json::exception&) {
    return Error{"verify answered something that is not JSON: " + *line};
  }
  const std::string root = std::filesystem::path(store).parent_path().string();
  std::vector<std::string> problems;
  if (reply.value("ok", false) != true) {
    // An engine that opened for --dump but cannot verify has a problem too.
    problems.push_back(RelativeTo(root, "verify failed: " + reply.value("error", reply.dump())));
    return problems;
  }
  for (const auto& p : reply.value("problems", json::array()))
    problems.push_back(RelativeTo(root, p.is_string() ? p.get<std::string>() : p.dump()));
  return problems;
}

}  // namespace blackout::harness
