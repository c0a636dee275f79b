#include "harness/in_memory_recovery.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "engines/common/mem_env.h"
#include "engines/common/utf8.h"
#include "engines/driver/driver.h"
#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

// Where the crash state lives inside the MemEnv; the engine sees ROOT/store.
const std::string kMemRoot = "/blackout-state";

// The driver prints replies with invalid UTF-8 replaced by U+FFFD
// (engines::ReplyText) and the harness parses that line: do the same to
// every string and key that needs it, and nothing to the rest.
json Replaced(const json& j) {
  return json::parse(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

void ReplaceInvalidUtf8(json& j) {
  if (j.is_string()) {
    if (!engines::IsValidUtf8(j.get_ref<const std::string&>())) j = Replaced(j);
  } else if (j.is_array()) {
    for (auto& e : j) ReplaceInvalidUtf8(e);
  } else if (j.is_object()) {
    bool bad_key = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      bad_key = bad_key || !engines::IsValidUtf8(it.key());
      ReplaceInvalidUtf8(it.value());
    }
    if (bad_key) j = Replaced(j);
  }
}

std::string Text(const std::string& s) {
  json j = s;
  ReplaceInvalidUtf8(j);
  return j.get<std::string>();
}

// One recovery, shared between the caller and the thread that runs it: the
// thread may outlive the caller when it never returns.
struct Work {
  std::string engine;
  json config;
  std::vector<model::StateFile> files;
  std::string store;
  bool verify = false;

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Recovery result;
  std::vector<std::string> problems;
};

void Run(Work& w) {
  Recovery r;
  std::vector<std::string> problems;
  try {
    engines::MemEnv env(kMemRoot);
    for (auto& f : w.files) {
      const std::string path = kMemRoot + "/" + f.path;
      if (f.type == model::StateFile::Type::kDir) {
        env.PutDir(path);
      } else {
        // A symlink or a special file keeps its name visible as an empty
        // file, as Materialize does where it cannot make the real thing.
        env.PutFile(path, f.type == model::StateFile::Type::kFile ? std::move(f.data) : "");
      }
    }
    w.files.clear();
    w.files.shrink_to_fit();
    auto session = engines::OpenEngineSession(w.engine, &env, kMemRoot + "/" + w.store, w.config);
    if (!session.ok()) {
      const int code = session.status().IsInvalidArgument() ? 2 : 1;
      r.error = "the store does not open after the crash (exit " + std::to_string(code) +
                "): " + Text(session.status().ToString());
    } else {
      r.dump = (*session)->Dump();
      ReplaceInvalidUtf8(r.dump);
      if (!r.dump.is_object() || r.dump.value("ok", false) != true) {
        r.error = "the store does not open after the crash (exit 1): " +
                  (r.dump.is_object() ? r.dump.value("error", r.dump.dump()) : r.dump.dump());
      } else {
        r.recovered = true;
      }
      if (r.recovered && w.verify) {
        bool close_requested = false;
        json reply = engines::HandleRequestLine(**session, R"({"op":"verify"})", &close_requested);
        ReplaceInvalidUtf8(reply);
        if (reply.value("ok", false) != true) {
          problems.push_back("verify failed: " + reply.value("error", reply.dump()));
        } else {
          for (const auto& p : reply.value("problems", json::array()))
            problems.push_back(p.is_string() ? p.get<std::string>() : p.dump());
        }
      }
    }
  } catch (const std::exception& e) {
    // The child would die of the uncaught exception with no answer.
    r = Recovery{};
    r.error = std::string("the store does not open after the crash: the recovery threw: ") +
              Text(e.what());
  }
  // Messages name the state's files relative to it (RelativeTo).
  r.error = RelativeTo(kMemRoot, r.error);
  for (std::string& p : problems) p = RelativeTo(kMemRoot, p);
  std::lock_guard lock(w.mu);
  w.result = std::move(r);
  w.problems = std::move(problems);
  w.done = true;
  w.cv.notify_all();
}

}  // namespace

Recovery RecoverInMemory(const Scenario& s, std::vector<model::StateFile> files,
                         const std::string& store, bool verify,
                         std::vector<std::string>* problems) {
  auto w = std::make_shared<Work>();
  w->engine = s.engine;
  w->config = s.config;
  w->files = std::move(files);
  w->store = store;
  w->verify = verify;
  std::thread([w] { Run(*w); }).detach();
  std::unique_lock lock(w->mu);
  const auto limit = std::chrono::duration<double>(s.recovery_timeout_s);
  if (!w->cv.wait_for(lock, limit, [&] { return w->done; })) {
    Recovery r;
    r.error = "recovery (in memory) did not finish within " +
              std::to_string(static_cast<int>(s.recovery_timeout_s)) +
              " s; its thread is left running (--recovery child can stop such an engine)";
    return r;
  }
  if (problems != nullptr) *problems = std::move(w->problems);
  return std::move(w->result);
}

}  // namespace blackout::harness
