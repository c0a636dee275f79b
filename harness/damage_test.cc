#include "harness/damage.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace blackout::harness;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempStore {
  TempStore() {
    char tmpl[] = "/tmp/blackout-damage-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempStore() { fs::remove_all(dir); }
  void Write(const std::string& name, const std::string& data) const {
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::stringstream b;
    b << in.rdbuf();
    return b.str();
  }
  std::string dir;
};

Damage Parse(const json& step) {
  Damage d;
  std::vector<std::pair<std::string, std::string>> problems;
  REQUIRE(ParseDamage(step, "$.workload[0]", &d, &problems));
  return d;
}

std::vector<std::pair<std::string, std::string>> Problems(const json& step) {
  Damage d;
  std::vector<std::pair<std::string, std::string>> problems;
  CHECK_FALSE(ParseDamage(step, "$.workload[0]", &d, &problems));
  return problems;
}

}  // namespace

TEST_CASE("damage truncate with a negative count cuts bytes off the end of the file") {
  TempStore t;
  t.Write("wal.log", "0123456789");
  auto st = ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "wal.log"}, {"truncate", -3}}));
  REQUIRE(st.ok());
  CHECK(t.Read("wal.log") == "0123456");
}

TEST_CASE("damage truncate with a positive count cuts the file to that size") {
  TempStore t;
  t.Write("a.sst", "0123456789");
  REQUIRE(ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "a.sst"}, {"truncate", 4}})).ok());
  CHECK(t.Read("a.sst") == "0123");
}

TEST_CASE("damage flip changes exactly one bit, a negative offset counting from the end") {
  TempStore t;
  t.Write("f", "AAAA");
  REQUIRE(
      ApplyDamage(
          t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", -1}, {"bit", 1}}}}))
          .ok());
  CHECK(t.Read("f") == "AAAC");
  REQUIRE(ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 0}}}}))
              .ok());
  CHECK(t.Read("f") == "@AAC");
}

TEST_CASE("damage refuses an offset outside the file and names the file") {
  TempStore t;
  t.Write("f", "AB");
  auto st =
      ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 5}}}}));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("outside f") != std::string::npos);
}

TEST_CASE("damage refuses paths that leave the store, by spelling or by symlink") {
  for (const char* p : {"../x", "/etc/passwd", "a/../../x", "."}) {
    auto problems = Problems({{"step", "damage"}, {"path", p}, {"truncate", 0}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].first == "$.workload[0].path");
  }
  TempStore t, outside;
  outside.Write("victim", "keep me");
  fs::create_symlink(outside.dir + "/victim", t.dir + "/link");
  auto st = ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "link"}, {"truncate", 0}}));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("outside the store") != std::string::npos);
  CHECK(outside.Read("victim") == "keep me");
}

TEST_CASE("damage duplicate_line copies a line right after itself, counting from 1 or the end") {
  TempStore t;
  t.Write("events.ndjson", "one\ntwo\nthree\n");
  auto dup = [&](int n) {
    return ApplyDamage(
        t.dir, Parse({{"step", "damage"}, {"path", "events.ndjson"}, {"duplicate_line", n}}));
  };
  REQUIRE(dup(-1).ok());
  CHECK(t.Read("events.ndjson") == "one\ntwo\nthree\nthree\n");
  REQUIRE(dup(1).ok());
  CHECK(t.Read("events.ndjson") == "one\none\ntwo\nthree\nthree\n");
  REQUIRE(dup(-3).ok());
  CHECK(t.Read("events.ndjson") == "one\none\ntwo\ntwo\nthree\nthree\n");
}

TEST_CASE("damage duplicate_line of an unterminated last line keeps the file's ending") {
  TempStore t;
  t.Write("f", "a\ntorn");
  REQUIRE(
      ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"duplicate_line", -1}})).ok());
  CHECK(t.Read("f") == "a\ntorn\ntorn");
  REQUIRE(
      ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"duplicate_line", 2}})).ok());
  CHECK(t.Read("f") == "a\ntorn\ntorn\ntorn");
}

TEST_CASE("damage duplicate_line refuses a line the file does not have and names the file") {
  TempStore t;
  t.Write("f", "a\nb\n");
  t.Write("empty", "");
  for (int n : {3, -3}) {
    auto st = ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"duplicate_line", n}}));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error() == "damage: line " + std::to_string(n) + " lies outside f (2 lines)");
  }
  auto st =
      ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "empty"}, {"duplicate_line", 1}}));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("outside empty (0 lines)") != std::string::npos);
  CHECK(t.Read("f") == "a\nb\n");
}

TEST_CASE("damage duplicate_line must be a non-zero integer, reported at its JSON path") {
  for (const json& bad : {json(0), json(1.5), json("1"), json(nullptr)}) {
    auto problems = Problems({{"step", "damage"}, {"path", "f"}, {"duplicate_line", bad}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].first == "$.workload[0].duplicate_line");
    CHECK(problems[0].second.find("1 is the first line, -1 the last") != std::string::npos);
  }
  CHECK(DescribeDamage(Parse({{"step", "damage"}, {"path", "f"}, {"duplicate_line", -1}})) ==
        "duplicate the last line of f");
  CHECK(DescribeDamage(Parse({{"step", "damage"}, {"path", "f"}, {"duplicate_line", 2}})) ==
        "duplicate line 2 of f");
}

TEST_CASE("damage steps need exactly one of truncate, flip or duplicate_line and a valid bit") {
  CHECK(Problems({{"step", "damage"}, {"path", "f"}}).size() == 1);
  CHECK(Problems({{"step", "damage"}, {"path", "f"}, {"truncate", 1}, {"duplicate_line", 1}})
            .size() == 1);
  CHECK(Problems({{"step", "damage"}, {"path", "f"}, {"truncate", 1}, {"flip", {{"offset", 0}}}})
            .size() == 1);
  auto bad = Problems({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 0}, {"bit", 8}}}});
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].first == "$.workload[0].flip");
  CHECK(Problems({{"step", "damage"}, {"path", "f"}, {"truncate", 1}, {"size", 2}})[0].first ==
        "$.workload[0].size");
}
