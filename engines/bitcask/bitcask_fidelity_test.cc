// Fidelity: the default profile, driven through its session as `blackout
// engine` drives it, makes the calls REF made (engine-traces/bitcask-*.trace),
// ack for ack.
#include <catch2/catch.hpp>

#include "engines/driver/fidelity_test_support.h"

namespace blackout::engines::fidelity {
namespace {

void CheckTrace(const std::string& name) {
  INFO("reproduce: ctest -R bitcask_fidelity_test --output-on-failure");
  CHECK(MemEnvMismatch(name, /*star_sizes=*/false) == "");
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
