// Fidelity: the default profile, driven through its session exactly as `blackout engine`
// drives it (engines/driver/fidelity_test_support.h), makes the calls REF made
// (engine-traces/eventstore.trace), ack for ack. Also: the session's answers to bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engines/common/mem_env.h"
#include "engines/driver/fidelity_test_support.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {
namespace {

void CheckTrace(const std::string& name) {
  INFO("reproduce: ctest -R eventstore_fidelity_test --output-on-failure");
  CHECK(fidelity::MemEnvMismatch(name, /*star_sizes=*/true) == "");
}

}  // namespace

TEST_CASE("eventstore fidelity: default profile makes REF's calls, open/write/close per event") {
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
