// Fidelity: the default profile, driven through its session as `blackout
// engine` drives it, makes the calls REF made (engine-traces/lsm-*.trace),
// ack for ack.
#include <catch2/catch.hpp>

#include "engines/driver/fidelity_test_support.h"

namespace blackout::engines::fidelity {
namespace {

void CheckTrace(const std::string& name) {
  INFO("reproduce: ctest -R lsm_fidelity_test --output-on-failure");
  CHECK(MemEnvMismatch(name, /*star_sizes=*/false) == "");
}

TEST_CASE("lsm fidelity: unsynced WAL appends and the flush on close as REF (lsm-default)") {
  CheckTrace("lsm-default");
}
TEST_CASE(
    "lsm fidelity: flushes, WAL truncation and compaction without a manifest as REF "
    "(lsm-flush-compact)") {
  CheckTrace("lsm-flush-compact");
}

}  // namespace
}  // namespace blackout::engines::fidelity
