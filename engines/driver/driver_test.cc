// `blackout engine` through the real binary: bad input gets one JSON error
// reply and the engine keeps serving (issue 13 item 8); --dump and exit codes.
#include "engines/driver/driver.h"

#include <stdlib.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engines/common/mem_env.h"

namespace blackout::engines {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/blackout-driver-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

struct Run {
  int exit_code = -1;
  std::vector<nlohmann::json> replies;
};

// Runs `blackout engine ARGS` with `input` on stdin; every stdout line must be JSON.
Run RunBinary(const TempDir& dir, const std::string& args, const std::string& input) {
  const char* bin = std::getenv("BLACKOUT_BIN");
  REQUIRE(bin != nullptr);
  const std::string in = dir.path + "/in", out = dir.path + "/out";
  std::ofstream(in) << input;
  const std::string cmd = std::string(bin) + " engine " + args + " < " + in + " > " + out;
  INFO("reproduce: " << cmd);
  const int rc = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(rc));
  Run r;
  r.exit_code = WEXITSTATUS(rc);
  std::ifstream f(out);
  for (std::string line; std::getline(f, line);) {
    INFO("stdout line: " << line);
    REQUIRE(nlohmann::json::accept(line));
    r.replies.push_back(nlohmann::json::parse(line));
  }
  return r;
}

std::string Err(const nlohmann::json& reply) { return reply.value("error", ""); }

TEST_CASE("blackout engine answers every bad request with one error and keeps serving",
          "[driver]") {
  TempDir dir;
  const std::string store = dir.path + "/store";
  const Run r = RunBinary(dir, "wal --dir " + store,
                          "{\"op\":\"append\",\"key\":\"a\",\"value\":\"1\"}\n"
                          "{not json\n"
                          "[1,2]\n"
                          "{\"key\":\"a\"}\n"
                          "{\"op\":7}\n"
                          "{\"op\":\"frobnicate\"}\n"
                          "{\"op\":\"append\",\"value\":\"x\"}\n"
                          "{\"op\":\"append\",\"key\":5}\n"
                          "{\"op\":\"append\",\"key\":\"a\",\"type\":\"MERGE\"}\n"
                          "{\"op\":\"append_batch\",\"items\":{}}\n"
                          "{\"op\":\"truncate\",\"up_to\":\"3\"}\n"
                          "{\"op\":\"append\",\"key\":\"b\",\"value\":\"2\"}\n"
                          "{\"op\":\"contract\"}\n"
                          "{\"op\":\"close\"}\n");
  CHECK(r.exit_code == 0);
  REQUIRE(r.replies.size() == 14);
  CHECK(r.replies[0] == nlohmann::json{{"ok", true}, {"seq", 1}});
  CHECK(Err(r.replies[1]).find("malformed JSON") != std::string::npos);
  CHECK(Err(r.replies[2]).find("must be a JSON object") != std::string::npos);
  CHECK(Err(r.replies[3]) == "missing field 'op'");
  CHECK(Err(r.replies[4]).find("field 'op' must be a string") != std::string::npos);
  CHECK(Err(r.replies[5]).find("unknown op 'frobnicate' for engine wal; ops:") !=
        std::string::npos);
  CHECK(Err(r.replies[6]).find("missing field 'key'") != std::string::npos);
  CHECK(Err(r.replies[7]).find("field 'key' must be a string, got number") != std::string::npos);
  CHECK(Err(r.replies[8]).find("field 'type'") != std::string::npos);
  CHECK(Err(r.replies[9]).find("field 'items' must be an array") != std::string::npos);
  CHECK(Err(r.replies[10]).find("field 'up_to' must be an integer") != std::string::npos);
  CHECK(r.replies[11] == nlohmann::json{{"ok", true}, {"seq", 2}});
  CHECK(r.replies[12] == nlohmann::json{{"ok", true}, {"process", "acked"}, {"power", "acked"}});
  CHECK(r.replies[13] == nlohmann::json{{"ok", true}});

  const Run dump = RunBinary(dir, "wal --dir " + store + " --dump", "");
  CHECK(dump.exit_code == 0);
  REQUIRE(dump.replies.size() == 1);
  CHECK(dump.replies[0]["kind"] == "log");
  CHECK(dump.replies[0]["current_seq"] == 2);
  CHECK(dump.replies[0]["records"].size() == 2);
}

TEST_CASE("scan means the same in every key-value engine: [start, end), a null end unbounded",
          "[driver]") {
  for (const std::string engine : {"bitcask", "lsm", "btree"}) {
    INFO("engine " << engine);
    TempDir dir;
    const Run r = RunBinary(dir, engine + " --dir " + dir.path + "/store",
                            "{\"op\":\"put\",\"key\":\"a\",\"value\":\"1\"}\n"
                            "{\"op\":\"put\",\"key\":\"b\",\"value\":\"2\"}\n"
                            "{\"op\":\"put\",\"key\":\"c\",\"value\":\"3\"}\n"
                            "{\"op\":\"scan\",\"start\":\"b\"}\n"
                            "{\"op\":\"scan\",\"start\":\"a\",\"end\":\"c\"}\n"
                            "{\"op\":\"scan\",\"end\":null}\n"
                            "{\"op\":\"scan\",\"end\":5}\n"
                            "{\"op\":\"scan\",\"start\":[]}\n"
                            "{\"op\":\"close\"}\n");
    CHECK(r.exit_code == 0);
    REQUIRE(r.replies.size() == 9);
    using nlohmann::json;
    CHECK(r.replies[3]["items"] == json::parse(R"([["b","2"],["c","3"]])"));
    CHECK(r.replies[4]["items"] == json::parse(R"([["a","1"],["b","2"]])"));
    CHECK(r.replies[5]["items"] == json::parse(R"([["a","1"],["b","2"],["c","3"]])"));
    CHECK(Err(r.replies[6]).find("field 'end' must be a string, got number") != std::string::npos);
    CHECK(Err(r.replies[7]).find("field 'start' must be a string, got array") != std::string::npos);
  }
}

TEST_CASE("blackout engine rejects an unknown engine, bad --config or config key with exit 2",
          "[driver]") {
  TempDir dir;
  const std::string store = dir.path + "/store";
  Run r = RunBinary(dir, "nosuch --dir " + store, "");
  CHECK(r.exit_code == 2);
  REQUIRE(r.replies.size() == 1);
  CHECK(Err(r.replies[0]).find("unknown engine 'nosuch'; engines:") != std::string::npos);
  r = RunBinary(dir, "wal --dir " + store + " --config '{\"sync_mod\":\"sync\"}'", "");
  CHECK(r.exit_code == 2);
  CHECK(Err(r.replies.at(0)).find("unknown config key 'sync_mod'") != std::string::npos);
  r = RunBinary(dir, "wal --dir " + store + " --config '{\"max_file_size\":\"big\"}'", "");
  CHECK(r.exit_code == 2);
  CHECK(Err(r.replies.at(0)).find("'max_file_size' must be an integer") != std::string::npos);
  r = RunBinary(dir, "wal --dir " + store + " --config '[1]'", "");
  CHECK(r.exit_code == 2);
  CHECK(Err(r.replies.at(0)).find("--config must be a JSON object") != std::string::npos);
  r = RunBinary(dir, "wal --dir " + store + " --config '{\"profile\":\"best\"}'", "");
  CHECK(r.exit_code == 2);
  CHECK(Err(r.replies.at(0)).find("'profile'") != std::string::npos);
}

TEST_CASE("blackout engine --dump of a store that cannot recover exits 1 with the error",
          "[driver]") {
  TempDir dir;
  const std::string store = dir.path + "/store";
  std::filesystem::create_directories(store);
  // A record length of 10 with 10 bytes behind it: REF's uncaught struct.error.
  std::ofstream(store + "/000001.wal", std::ios::binary)
      << std::string("\x0a\0\0\0", 4) << std::string(10, 'z');
  const Run r = RunBinary(dir, "wal --dir " + store + " --dump", "");
  CHECK(r.exit_code == 1);
  REQUIRE(r.replies.size() == 1);
  CHECK(r.replies[0]["ok"] == false);
  CHECK(Err(r.replies[0]).find("struct.error") != std::string::npos);
}

TEST_CASE("driver replies stay one valid JSON line even for invalid UTF-8 values", "[driver]") {
  CHECK(ReplyText({{"ok", true}, {"value", std::string("\xff\xfe", 2)}}).find('\n') ==
        std::string::npos);
  CHECK(nlohmann::json::accept(ReplyText({{"ok", true}, {"value", std::string("\xff", 1)}})));
}

TEST_CASE("every registered engine opens with an empty config and answers contract", "[driver]") {
  for (const auto& e : EngineRegistry()) {
    INFO("engine " << e.name);
    MemEnv env("/mem/store");
    auto session = OpenEngineSession(e.name, &env, "/mem/store", nlohmann::json::object());
    INFO(session.status().ToString());
    REQUIRE(session.ok());
    bool closed = false;
    const auto reply = HandleRequestLine(**session, "{\"op\":\"contract\"}", &closed);
    CHECK(reply["ok"] == true);
    CHECK(reply.contains("process"));
    CHECK(reply.contains("power"));
  }
}

}  // namespace
}  // namespace blackout::engines
