// Fidelity: the default profile, driven through its session as `blackout
// engine` drives it, makes the calls REF made (engine-traces/wal-*.trace),
// ack for ack.
#include <catch2/catch.hpp>

#include "engines/driver/fidelity_test_support.h"

namespace blackout::engines::fidelity {
namespace {

void CheckTrace(const std::string& name) {
  auto workload = LoadWorkload(name);
  INFO(workload.status().ToString());
  REQUIRE(workload.ok());
  auto want = LoadExpectedTrace(name);
  REQUIRE(want.ok());
  auto got = RunOnMemEnv(*workload);
  INFO(got.status().ToString());
  REQUIRE(got.ok());
  const std::string diff = DiffTraces(*want, *got, /*star_sizes=*/false);
  INFO("reproduce: ctest -R wal_fidelity_test --output-on-failure\n" << diff);
  CHECK(diff.empty());
}

TEST_CASE("wal fidelity: sync mode makes REF's calls (wal-sync)") { CheckTrace("wal-sync"); }
TEST_CASE("wal fidelity: batch mode makes REF's calls (wal-batch)") { CheckTrace("wal-batch"); }
TEST_CASE("wal fidelity: rotation makes REF's calls (wal-rotate)") { CheckTrace("wal-rotate"); }
TEST_CASE("wal fidelity: checkpoint + full truncate makes REF's calls (wal-full-truncate)") {
  CheckTrace("wal-full-truncate");
}

}  // namespace
}  // namespace blackout::engines::fidelity
