// Fuzz target: the scenario loader (harness/scenario.h) fed arbitrary bytes
// as a scenario file. It must answer with a Scenario or with problems, never
// crash, hang or allocate without bound (e.g. through `repeat`).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The same parse LoadScenarioFile does after reading the file, without the
  // file: a syntax error is the loader's "not JSON" problem.
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  std::vector<blackout::harness::Problem> problems;
  std::optional<blackout::harness::Scenario> s =
      blackout::harness::ParseScenario(doc, "fuzz.json", &problems);
  // Either a scenario or at least one problem a person can read.
  if (!s.has_value() && problems.empty()) std::abort();
  for (const auto& p : problems) {
    if (p.ToString().empty()) std::abort();
  }
  return 0;
}
