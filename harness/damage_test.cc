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
  REQUIRE(ApplyDamage(t.dir, Parse({{"step", "damage"},
                                    {"path", "f"},
                                    {"flip", {{"offset", -1}, {"bit", 1}}}}))
              .ok());
  CHECK(t.Read("f") == "AAAC");
  REQUIRE(
      ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 0}}}}))
          .ok());
  CHECK(t.Read("f") == "@AAC");
}

TEST_CASE("damage refuses an offset outside the file and names the file") {
  TempStore t;
  t.Write("f", "AB");
  auto st = ApplyDamage(t.dir, Parse({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 5}}}}));
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

TEST_CASE("damage steps need exactly one of truncate or flip and a valid bit") {
  CHECK(Problems({{"step", "damage"}, {"path", "f"}}).size() == 1);
  CHECK(Problems({{"step", "damage"}, {"path", "f"}, {"truncate", 1}, {"flip", {{"offset", 0}}}})
            .size() == 1);
  auto bad = Problems({{"step", "damage"}, {"path", "f"}, {"flip", {{"offset", 0}, {"bit", 8}}}});
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].first == "$.workload[0].flip");
  CHECK(Problems({{"step", "damage"}, {"path", "f"}, {"truncate", 1}, {"size", 2}})[0].first ==
        "$.workload[0].size");
}
