// Fidelity: the default profile, driven through its session exactly as `blackout engine`
// drives it, makes the calls REF made (engine-traces/btree-*.trace), ack for ack.
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
    auto session = OpenBtreeSession(&mem, "/mem/store", config);
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
    const auto calls = mem.Calls();
    got.insert(got.end(), calls.begin(), calls.end());
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

TEST_CASE("btree fidelity: default profile makes REF's calls for btree-default") {
  CheckTrace("btree-default");
}

TEST_CASE("btree fidelity: default profile makes REF's calls for btree-small-pages") {
  CheckTrace("btree-small-pages");
}

}  // namespace blackout::engines

namespace blackout::engines {

TEST_CASE(
    "btree session: bad requests get one error reply naming the problem, and it keeps serving") {
  MemEnv mem("/mem/store");
  auto bad_config = OpenBtreeSession(&mem, "/mem/store", {{"page_sise", 128}});
  REQUIRE(bad_config.status().IsInvalidArgument());
  REQUIRE(bad_config.status().message().find("page_sise") != std::string::npos);
  REQUIRE(OpenBtreeSession(&mem, "/mem/store", {{"page_size", "big"}})
              .status()
              .message()
              .find("page_size") != std::string::npos);
  auto session = OpenBtreeSession(&mem, "/mem/store", {{"page_size", 128}});
  REQUIRE(session.ok());
  auto& s = **session;
  auto reply = s.Handle("frobnicate", {{"op", "frobnicate"}});
  REQUIRE(reply["ok"] == false);
  REQUIRE(reply["error"].get<std::string>().find("unknown op 'frobnicate'") == 0);
  REQUIRE(s.Handle("put", {{"op", "put"}, {"value", "v"}})["error"].get<std::string>().find(
              "'key'") != std::string::npos);
  REQUIRE(s.Handle("put", {{"op", "put"}, {"key", 1}, {"value", "v"}})["ok"] == false);
  reply = s.Handle("put", {{"op", "put"}, {"key", "k"}, {"value", std::string(200, 'x')}});
  REQUIRE(reply["ok"] == false);
  REQUIRE(reply["error"].get<std::string>().find("too large") != std::string::npos);
  REQUIRE(s.Handle("put", {{"op", "put"}, {"key", "k"}, {"value", "v"}})["ok"] == true);
  reply = s.Handle("get", {{"op", "get"}, {"key", "k"}});
  REQUIRE(reply == nlohmann::json{{"ok", true}, {"found", true}, {"value", "v"}});
  REQUIRE(s.Handle("verify", {{"op", "verify"}})["problems"].empty());
  REQUIRE(s.Dump()["data"] == nlohmann::json{{"k", "v"}});
  REQUIRE(s.Contract() == nlohmann::json{{"process", "acked"}, {"power", "acked"}});
}

}  // namespace blackout::engines
