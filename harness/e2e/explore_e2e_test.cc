// End-to-end tests of `blackout replay` and `blackout minimize` through the real
// binary: real mounts, real engine drivers, real crashes. Each test runs with
// TMPDIR set to a private directory and checks that no mount is left behind.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "harness/e2e/work_dir.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using namespace blackout::e2e;

std::string Seed(const std::string& rel) { return Source() + "/scenarios/" + rel; }

}  // namespace

TEST_CASE("replay writes the reported crash state, and with --recover shows its lost puts") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  const std::string scenario = Seed("explore/lsm-flush-missing-dir-fsync-reorder.json");
  REQUIRE(w.Run("run " + scenario + " --quiet --out " + w.path + "/out").code == 0);
  // The state the report says loses all 8 puts (the WAL truncation reached
  // the disk, the SSTable's directory entry did not), and its reproduce line.
  const json report = Read(w.path + "/out/report.json");
  std::string id;
  for (const auto& st : report["scenarios"][0]["crash_states"])
    if (st.value("lost_writes", 0) == 8 && st.contains("exploration") &&
        st["violations"].dump().find("acked-durable") != std::string::npos) {
      id = st["exploration"]["id"];
      CHECK(st["exploration"]["reproduce"].get<std::string>().find(" --state " + id + " ") !=
            std::string::npos);
      break;
    }
  REQUIRE_FALSE(id.empty());

  const std::string dir = w.path + "/state";
  Output r = w.Run("replay " + scenario + " --point end --state " + id + " --to " + dir);
  REQUIRE(r.code == 0);
  CHECK(r.text.find("crash state " + id) != std::string::npos);
  CHECK(r.text.find("pending ops dropped (1):") != std::string::npos);
  CHECK(r.text.find("create /store/sst_") != std::string::npos);
  CHECK(r.text.find("blackout engine lsm --dump --dir " + dir + "/store") != std::string::npos);
  CHECK(fs::exists(dir + "/store/wal.log"));

  // A non-empty directory and an unknown state are refused, named.
  r = w.Run("replay " + scenario + " --state " + id + " --to " + dir);
  CHECK(r.code == 2);
  CHECK(r.text.find(dir + " is not empty") != std::string::npos);
  r = w.Run("replay " + scenario + " --state reorder:1:99999 --to " + w.path + "/other");
  CHECK(r.code == 2);
  CHECK(r.text.find("no crash state 'reorder:1:99999'") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/other"));

  r = w.Run("replay " + scenario + " --state " + id + " --to " + w.path + "/checked --recover");
  REQUIRE(r.code == 0);
  CHECK(r.text.find("acknowledged writes 8, lost 8") != std::string::npos);
  CHECK(r.text.find("violation acked-durable") != std::string::npos);
  fs::remove(w.path + "/checked.log");
  fs::remove_all(w.path + "/out");
  CHECK(w.Clean());
}

TEST_CASE("minimize shrinks a failing seed scenario to fewer ops with the same violation") {
  SkipWithoutFuse();
  WorkDir w("explore_e2e_test");
  json doc = Read(Seed("seed/no-directory-fsync-anywhere-wal-power.json"));
  doc.erase("$schema");
  const std::string in = w.Write("in/dirsync.json", doc);
  Output r = w.Run("minimize " + in + " --max-tries 40");
  REQUIRE(r.code == 0);
  const std::string out = w.path + "/in/dirsync.min.json";
  REQUIRE(fs::exists(out));
  CHECK(r.text.find("minimize: try ") != std::string::npos);  // progress on stderr
  const json min = Read(out);
  CHECK(min["name"] == doc["name"].get<std::string>() + "-min");
  CHECK(min["workload"].size() < 25);  // 1 sync step + 24 appends before
  CHECK(min["expect"]["violations"] == json::array({"acked-durable"}));
  CHECK(w.Run("validate " + out).code == 0);
  r = w.Run("run " + out + " --quiet --out " + w.path + "/out");
  CHECK(r.code == 0);  // as expected: the same violation
  CHECK(Read(w.path + "/out/report.json")["scenarios"][0]["violations"] ==
        json::array({"acked-durable"}));

  // Never the input; a passing scenario has nothing to minimize.
  CHECK(w.Run("minimize " + in + " --out " + in).code == 2);
  json fixed = Read(Seed("fixed/fixed-no-directory-fsync-anywhere-wal-power.json"));
  fixed.erase("$schema");
  r = w.Run("minimize " + w.Write("in/fixed.json", fixed) + " --max-tries 5");
  CHECK(r.code == 1);
  CHECK(r.text.find("nothing to minimize") != std::string::npos);
  CHECK_FALSE(fs::exists(w.path + "/in/fixed.min.json"));
  fs::remove_all(w.path + "/out");
  CHECK(w.Clean());
}
