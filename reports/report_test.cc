#include "reports/report.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/holes.h"
#include "reports/html.h"

using namespace blackout::reports;
using nlohmann::json;

namespace {

json Sample() {
  return json::parse(R"({
    "schema_version": 1, "tool": "blackout", "seed": 7, "shard": "1/1", "duration_s": 1.5,
    "summary": {"scenarios": 2, "as_expected": 1, "unexpected": 1, "errors": 0, "lost_writes": 50},
    "scenarios": [
      {"name": "lsm-wal-missing-fsync-power", "file": "scenarios/seed/a.json", "description": "d1",
       "engine": "lsm", "config": {}, "profile": "default", "model": "posix-strict",
       "crash_kind": "power", "outcome": "as-expected", "error": "", "mismatch": "",
       "contract": {"process": "acked", "power": "acked"}, "violations": ["acked-durable"],
       "findings": ["lsm-wal-missing-fsync"], "acked_writes": 50, "lost_writes": 50,
       "crash_states": [], "seconds": 0.5, "reproduce": "blackout run scenarios/seed/a.json --seed 7"},
      {"name": "wal-batch<&>", "file": "b.json", "description": "d2", "engine": "wal",
       "config": {"sync_mode": "batch", "batch_sync_count": 10}, "profile": "default",
       "model": "ext4-ordered", "crash_kind": "process", "outcome": "unexpected", "error": "",
       "mismatch": "expected violations [], got [prefix]", "contract": {"process": "acked", "power": "synced-prefix"},
       "violations": ["prefix"], "findings": [], "acked_writes": 20, "lost_writes": 3,
       "crash_states": [{"point": "end", "state": "process",
                         "violations": [{"invariant": "prefix", "message": "a hole | here"}]}],
       "seconds": 0.25, "reproduce": "blackout run b.json --seed 7"}
    ]})");
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

}  // namespace

TEST_CASE("the Markdown report has one gap-table row per scenario with the lost-write count") {
  const std::string md = RenderMarkdown(Sample());
  CHECK(md.find("| lsm | default | power | posix-strict | as expected | 50 of 50 | acked | "
                "acked-durable | "
                "lsm-wal-missing-fsync | lsm-wal-missing-fsync-power |") != std::string::npos);
  CHECK(md.find("| wal | default batch_sync_count=10 sync_mode=batch | process | ext4-ordered | "
                "**UNEXPECTED** | "
                "3 of 20 | acked |") != std::string::npos);
  // The unexpected scenario is explained, with a command that reproduces it.
  CHECK(md.find("expected violations [], got [prefix]") != std::string::npos);
  CHECK(md.find("`prefix`: a hole | here") != std::string::npos);
  CHECK(md.find("reproduce: `blackout run b.json --seed 7`") != std::string::npos);
}

TEST_CASE(
    "JUnit XML has one escaped test case per scenario and a failure for an unexpected outcome") {
  const std::string xml = RenderJunit(Sample());
  CHECK(xml.find("tests=\"2\" failures=\"1\" errors=\"0\"") != std::string::npos);
  CHECK(xml.find("name=\"lsm-wal-missing-fsync-power\"") != std::string::npos);
  CHECK(xml.find("name=\"wal-batch&lt;&amp;&gt;\"") != std::string::npos);
  CHECK(xml.find("<failure message=\"expected violations [], got [prefix]\">") !=
        std::string::npos);
  size_t cases = 0;
  for (size_t p = xml.find("<testcase"); p != std::string::npos; p = xml.find("<testcase", p + 1))
    ++cases;
  CHECK(cases == 2);
}

TEST_CASE("reports are written whole, with no temporary file left, and re-read as the same JSON") {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("reports_test." + std::to_string(getpid()));
  std::string error;
  REQUIRE(WriteReports(dir + "/nested/out", Sample(), &error));
  CHECK(json::parse(Read(dir + "/nested/out/report.json")) == Sample());
  CHECK(Read(dir + "/nested/out/report.md") == RenderMarkdown(Sample()));
  CHECK(Read(dir + "/nested/out/junit.xml") == RenderJunit(Sample()));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/nested/out"))
    files += e.is_regular_file();
  CHECK(Read(dir + "/nested/out/report.html") == RenderHtml(Sample()));
  CHECK(files == 4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an output directory that cannot be created is one clear error naming it") {
  std::string error;
  CHECK_FALSE(CheckWritableDir("/dev/null/out", &error));
  CHECK(error.find("cannot create the output directory /dev/null/out") != std::string::npos);
}

TEST_CASE("report.html renders reports with missing and unknown fields, and explored states") {
  // An old or partial report: no summary, a scenario with almost nothing.
  json sparse = {{"schema_version", 1}, {"scenarios", {{{"name", "x"}, {"outcome", "error"}}}}};
  const std::string a = RenderHtml(sparse);
  CHECK(a.find("id=\"matrix\"") != std::string::npos);
  CHECK(a.find("id=\"s-x\"") != std::string::npos);
  // A state explored offline, with a field this renderer does not know.
  json r = Sample();
  r["scenarios"][1]["crash_states"][0]["exploration"] = {
      {"id", "reorder:3"},
      {"generator", "reorder:1"},
      {"dropped", {"#12 write /store/wal.log [0, +20)"}},
      {"diagnosis",
       {{"text", "fsync of store/ after the create of wal.log at trace #9"},
        {"found", true},
        {"rechecks", 5},
        {"rechecks_known", 3},
        {"fixes", {{{"sync", "fsync-dir"}, {"path", "/store"}}}}}},
      {"reproduce", "blackout replay b.json --point end --state reorder:3 --to DIR"}};
  r["scenarios"][1]["crash_states"][0]["hole_table"] = {{{"offset", 0}, {"length", 20}}};
  const std::string b = RenderHtml(r);
  CHECK(b.find("fsync of store/ after the create of wal.log at trace #9") != std::string::npos);
  // The diagnosis' counters read as a sentence, not as raw fields.
  CHECK(b.find("re-checked 5 candidate states, 3 of them with the outcome of a state checked "
               "already") != std::string::npos);
  CHECK(b.find("rechecks_known") == std::string::npos);
  CHECK(b.find("found: ") == std::string::npos);
  CHECK(b.find("$ blackout replay b.json --point end --state reorder:3 --to DIR") !=
        std::string::npos);
  CHECK(b.find("<th>offset</th>") != std::string::npos);  // the unknown hole table
  CHECK(b.find("dropped at the crash: 1 pending operations") != std::string::npos);
  // Text from the report is escaped: a name cannot inject markup.
  CHECK(b.find("wal-batch&lt;&amp;&gt;") != std::string::npos);
  CHECK(b.find("wal-batch<&>") == std::string::npos);
}

TEST_CASE("report.md fits a pull-request comment: a short what-changed table, under 64 KiB") {
  json r = Sample();
  json one = r["scenarios"][1];
  r["scenarios"] = json::array();
  for (int i = 0; i < 400; ++i) {
    one["name"] = "unexpected-" + std::to_string(i);
    one["description"] = std::string(200, 'd');
    r["scenarios"].push_back(one);
  }
  r["summary"]["scenarios"] = 400;
  r["summary"]["unexpected"] = 400;
  const std::string md = RenderMarkdown(r, "https://ci.example/run/1");
  CHECK(md.find("**400 of 400 scenarios differ from their `expect`.**") != std::string::npos);
  CHECK(md.find("[timeline](https://ci.example/run/1#s-unexpected-0)") != std::string::npos);
  CHECK(md.find("#s-unexpected-20)") == std::string::npos);
  CHECK(md.find("... and 380 more") != std::string::npos);
  CHECK(md.size() < 65536);
  CHECK(md.find("Cut to fit a pull-request comment") != std::string::npos);
  // The cut leaves no heading without its section.
  const size_t cut = md.find("\n*Cut to fit");
  const std::string before = md.substr(0, cut);
  const size_t last_line = before.find_last_not_of('\n');
  const std::string tail = before.substr(before.rfind('\n', last_line) + 1);
  CHECK(tail.rfind("#", 0) != 0);
}

TEST_CASE("report.md explains an unexpected scenario by its first violating states' diagnoses") {
  json r = Sample();
  json& s = r["scenarios"][1];
  s["crash_kind"] = "power";
  s["crash_states"] = json::array();
  for (int i = 0; i < 11; ++i)
    s["crash_states"].push_back(
        {{"point", "end"},
         {"state", "drop-all"},
         {"violations",
          {{{"invariant", "acked-durable"}, {"message", "lost " + std::to_string(i)}}}},
         {"diagnosis",
          {{"found", true},
           {"text", "fsync of file store/wal.log after trace #" + std::to_string(i) +
                        " would have prevented the loss"}}}});
  const std::string md = RenderMarkdown(r, "report.html");
  const size_t section = md.find("## Unexpected outcomes and errors");
  REQUIRE(section != std::string::npos);
  const std::string unexpected = md.substr(section, md.find("<details>", section) - section);
  CHECK(unexpected.find("- end / drop-all: `acked-durable`: lost 0\n"
                        "  - diagnosis: fsync of file store/wal.log after trace #0 would have "
                        "prevented the loss\n") != std::string::npos);
  CHECK(unexpected.find("lost 7\n") != std::string::npos);
  CHECK(unexpected.find("lost 8\n") == std::string::npos);  // eight shown
  CHECK(unexpected.find("- ... 3 more violating crash states in [report.html](report.html#") !=
        std::string::npos);
  CHECK(md.find("<details><summary>Diagnosed crash states: 11 (") != std::string::npos);
}

TEST_CASE("the hole table names each hole, what found it and whether the fixed profile closed it") {
  const json report = json::parse(R"({
    "schema_version": 1, "summary": {"scenarios": 4},
    "scenarios": [
      {"name": "H-T2-split", "hole": "H-T2", "engine": "btree", "profile": "default",
       "model": "posix-strict", "outcome": "as-expected", "violations": ["structure"],
       "description": "H-T2: the log replays half a split.",
       "crash_states": [{"point": "after fsync btree.wal #14", "state": "drop-all",
                         "violations": [{"invariant": "structure", "message": "m"}]}]},
      {"name": "fixed-H-T2-split", "hole": "H-T2", "engine": "btree", "profile": "fixed",
       "model": "posix-strict", "outcome": "as-expected", "violations": [], "crash_states": []},
      {"name": "H-M3", "hole": "H-M3", "engine": "lsm", "profile": "default",
       "model": "ext4-ordered", "outcome": "as-expected", "violations": ["recovers"],
       "description": "H-M3: a torn table is unopenable.",
       "crash_states": [{"point": "end", "state": "process",
                         "violations": [{"invariant": "recovers", "message": "m"}]}]},
      {"name": "fixed-H-M3", "hole": "H-M3", "engine": "lsm", "profile": "fixed",
       "model": "ext4-ordered", "outcome": "unexpected", "violations": ["acked-durable"],
       "mismatch": "expected violations [], got [acked-durable]", "crash_states": []},
      {"name": "plain", "engine": "wal", "profile": "default", "model": "posix-strict",
       "outcome": "as-expected", "violations": [], "crash_states": []}
    ]})");
  const json rows = HoleTable(report);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["hole"] == "H-T2");
  CHECK(rows[0]["lost"] == "the log replays half a split.");
  CHECK(rows[0]["found_by"] == json::array({"posix-strict: drop-all after fsync btree.wal #14"}));
  CHECK(rows[0]["fixed"] == "closed");
  CHECK(rows[1]["found_by"] == json::array({"ext4-ordered: process"}));
  CHECK(rows[1]["fixed"] == "NOT closed: acked-durable (ext4-ordered)");
  const std::string md = RenderMarkdown(report);
  CHECK(md.find("| H-T2 | btree | the log replays half a split. |") != std::string::npos);
  CHECK(RenderHtml(report).find("id=\"hole-table\"") != std::string::npos);
  CHECK(RenderMarkdown(Sample()).find("Holes of the reference engines") == std::string::npos);
}
