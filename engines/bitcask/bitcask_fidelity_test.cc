// Fidelity: the default profile, driven through its session as `blackout
// engine` drives it, makes the calls REF made (engine-traces/bitcask-*.trace),
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
  INFO(want.status().ToString());
  REQUIRE(want.ok());
  auto got = RunOnMemEnv(*workload);
  INFO(got.status().ToString());
  REQUIRE(got.ok());
  const std::string diff = DiffTraces(*want, *got, /*star_sizes=*/false);
  INFO("reproduce: ctest -R bitcask_fidelity_test --output-on-failure\n" << diff);
  CHECK(diff.empty());
}

TEST_CASE("bitcask fidelity: put, delete and fsync per record as REF (bitcask-default)") {
  CheckTrace("bitcask-default");
}
TEST_CASE(
    "bitcask fidelity: rotation and delete-then-rename compaction as REF "
    "(bitcask-rotate-compact)") {
  CheckTrace("bitcask-rotate-compact");
}

}  // namespace
}  // namespace blackout::engines::fidelity
