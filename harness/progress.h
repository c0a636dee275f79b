// Progress of `blackout run` on stderr. On a terminal: one progress line,
// rewritten in place (scenario, crash point, states done/total, elapsed),
// plus a line per finished scenario. Not on a terminal (CI logs): plain
// lines only, one per finished scenario. --quiet keeps only unexpected
// outcomes and errors; --verbose adds a line per crash state.
// Once a run has taken a few seconds, the terminal line becomes a bar with an
// estimate of the time left (from the share of crash states done so far).
// Colour (green ok, red FAIL, yellow ERROR) only when SetColour(true): the
// caller decides from isatty, --no-color and NO_COLOR (UseColour below).
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
  void SetColour(bool on) { colour_ = on; }

  // Colour on stderr: a terminal, no --no-color, and NO_COLOR unset or empty
  // (https://no-color.org).
  static bool UseColour(bool no_color_flag);

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
  bool colour_ = false;
  // For the estimate: the share of the current scenario's states started.
  double scenario_share_ = 0;
};

}  // namespace blackout::harness
