// Progress of `blackout run` on stderr. On a terminal: one progress line,
// rewritten in place (scenario, crash point, states done/total, elapsed),
// plus a line per finished scenario. Not on a terminal (CI logs): plain
// lines only, one per finished scenario. --quiet keeps only unexpected
// outcomes and errors; --verbose adds a line per crash state.
#pragma once

#include <mutex>
#include <string>

#include "harness/runner.h"

namespace blackout::harness {

class Progress {
 public:
  enum class Level { kQuiet, kNormal, kVerbose };
  Progress(Level level, bool terminal, int scenarios, uint64_t seed);
  RunObserver Observer();
  // Clears the progress line (before the summary is printed).
  void Finish();

 private:
  void StateStart(const Scenario& s, const std::string& point, const std::string& state, int done,
                  int total);
  void StateDone(const Scenario& s, const CrashStateResult& r);
  void ScenarioDone(const ScenarioResult& r);
  void Line(const std::string& text);  // a permanent line
  double Elapsed() const;

  Level level_;
  bool terminal_;
  int scenarios_;
  int finished_ = 0;
  uint64_t seed_;
  double start_;
  bool line_shown_ = false;
};

}  // namespace blackout::harness
