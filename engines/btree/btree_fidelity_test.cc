// Fidelity: the default profile, driven through its session exactly as `blackout engine`
// drives it (engines/driver/fidelity_test_support.h), makes the calls REF made
// (engine-traces/btree-*.trace), ack for ack. Also: the session's answers to bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engines/common/mem_env.h"
#include "engines/driver/fidelity_test_support.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {
namespace {

void CheckTrace(const std::string& name) {
  INFO("reproduce: ctest -R btree_fidelity_test --output-on-failure");
  CHECK(fidelity::MemEnvMismatch(name, /*star_sizes=*/false) == "");
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
