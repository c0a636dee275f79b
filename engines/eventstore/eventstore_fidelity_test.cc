// Fidelity: the default profile, driven through its session exactly as `blackout engine`
// drives it, makes the calls REF made (engine-traces/eventstore.trace), ack for ack.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engines/common/mem_env.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {
namespace {

// Replays engine-traces/NAME.jsonl: one session per phase on one MemEnv, an ack after each
// reply (close: Close, then the reply), and returns the calls in the .trace format.
std::vector<std::string> ReplayWorkload(const std::string& name, std::vector<std::string>* want) {
  const char* shared = std::getenv("BLACKOUT_SHARED_DIR");
  REQUIRE(shared != nullptr);
  const std::string base = std::string(shared) + "/engine-traces/" + name;
  std::ifstream jsonl(base + ".jsonl");
  std::ifstream trace(base + ".trace");
  REQUIRE(jsonl.good());
  REQUIRE(trace.good());
  for (std::string line; std::getline(trace, line);) want->push_back(line);

  MemEnv mem("/mem/store");
  std::vector<std::string> got;
  std::string line;
  std::getline(jsonl, line);
  const nlohmann::json config = nlohmann::json::parse(line)["config"];
  std::vector<std::vector<nlohmann::json>> phases;
  while (std::getline(jsonl, line)) {
    const auto req = nlohmann::json::parse(line);
    if (req.contains("phase")) {
      phases.emplace_back();
    } else {
      phases.back().push_back(req);
    }
  }
  for (size_t p = 0; p < phases.size(); ++p) {
    got.push_back("-- phase " + std::to_string(p) + " (exit 0)");
    mem.ClearCalls();
    auto session = OpenEventstoreSession(&mem, "/mem/store", config);
    INFO(session.status().ToString());
    REQUIRE(session.ok());
    for (const auto& req : phases[p]) {
      const std::string op = req["op"];
      if (op == "close") {
        REQUIRE((*session)->Close().ok());
      } else {
        const auto reply = (*session)->Handle(op, req);
        INFO(reply.dump());
        REQUIRE(reply["ok"] == true);
      }
      mem.MarkAck();
    }
    for (std::string call : mem.Calls()) {
      // Each line holds a timestamp, so the trace gives write sizes as '*'.
      if (call.rfind("write ", 0) == 0) call = call.substr(0, call.rfind(' ')) + " *";
      got.push_back(call);
    }
  }
  return got;
}

void CheckTrace(const std::string& name) {
  std::vector<std::string> want;
  const auto got = ReplayWorkload(name, &want);
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    INFO(name << ".trace line " << i + 1);
    REQUIRE((i < got.size() ? got[i] : "<end>") == (i < want.size() ? want[i] : "<end>"));
  }
}

}  // namespace

TEST_CASE("eventstore fidelity: default profile makes REF's calls (open/write/close per event)") {
  CheckTrace("eventstore");
}

}  // namespace blackout::engines

namespace blackout::engines {

TEST_CASE("eventstore session: bad requests get one error reply naming the field") {
  MemEnv mem("/mem/store");
  REQUIRE(OpenEventstoreSession(&mem, "/mem/store", {{"persist", true}})
              .status()
              .message()
              .find("persist") != std::string::npos);
  auto session = OpenEventstoreSession(&mem, "/mem/store", nlohmann::json::object());
  REQUIRE(session.ok());
  auto& s = **session;
  auto reply = s.Handle("append", {{"op", "append"}, {"stream", "s"}, {"data", 1}});
  REQUIRE(reply["error"].get<std::string>().find("'type'") != std::string::npos);
  reply = s.Handle("append_batch", {{"op", "append_batch"}, {"stream", "s"}, {"events", {1}}});
  REQUIRE(reply["error"].get<std::string>().find("events[0]") != std::string::npos);
  reply = s.Handle("append", {{"op", "append"},
                              {"stream", "s"},
                              {"type", "T"},
                              {"data", {1, 2}},
                              {"expected_version", 3}});
  REQUIRE(reply["error"].get<std::string>().find("ConcurrencyConflict") != std::string::npos);
  reply = s.Handle("append", {{"op", "append"}, {"stream", "s"}, {"type", "T"}, {"data", "x"}});
  REQUIRE(reply == nlohmann::json{{"ok", true}, {"event_id", 1}});
  reply = s.Handle("read", {{"op", "read"}, {"stream", "s"}});
  REQUIRE(reply["events"][0] ==
          nlohmann::json{{"event_id", 1}, {"stream", "s"}, {"type", "T"}, {"data", "x"}});
  REQUIRE(s.Contract()["power"] == "none");
  REQUIRE(s.Dump()["events"].size() == 1);
}

}  // namespace blackout::engines
