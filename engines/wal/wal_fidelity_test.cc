// Fidelity: the default profile, driven through its session as `blackout
// engine` drives it, makes the calls REF made (engine-traces/wal-*.trace),
// ack for ack.
#include <catch2/catch.hpp>

#include "engines/driver/fidelity_test_support.h"

namespace blackout::engines::fidelity {
namespace {

void CheckTrace(const std::string& name) {
  INFO("reproduce: ctest -R wal_fidelity_test --output-on-failure");
  CHECK(MemEnvMismatch(name, /*star_sizes=*/false) == "");
}

TEST_CASE("wal fidelity: sync mode makes REF's calls (wal-sync)") { CheckTrace("wal-sync"); }
TEST_CASE("wal fidelity: batch mode makes REF's calls (wal-batch)") { CheckTrace("wal-batch"); }
TEST_CASE("wal fidelity: rotation makes REF's calls (wal-rotate)") { CheckTrace("wal-rotate"); }
TEST_CASE("wal fidelity: checkpoint + full truncate makes REF's calls (wal-full-truncate)") {
  CheckTrace("wal-full-truncate");
}

}  // namespace
}  // namespace blackout::engines::fidelity
