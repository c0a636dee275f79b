#include "harness/progress.h"

#include <chrono>
#include <cstdio>

namespace blackout::harness {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

Progress::Progress(Level level, bool terminal, int scenarios, uint64_t seed)
    : level_(level), terminal_(terminal), scenarios_(scenarios), seed_(seed), start_(Now()) {}

double Progress::Elapsed() const { return Now() - start_; }

RunObserver Progress::Observer() {
  RunObserver o;
  o.on_state_start = [this](const Scenario& s, const std::string& p, const std::string& st, int d,
                            int t) { StateStart(s, p, st, d, t); };
  o.on_state_done = [this](const Scenario& s, const CrashStateResult& r) { StateDone(s, r); };
  o.on_scenario_done = [this](const ScenarioResult& r) { ScenarioDone(r); };
  return o;
}

void Progress::Line(const std::string& text) {
  if (terminal_ && line_shown_) std::fputs("\r\033[K", stderr);
  line_shown_ = false;
  std::fputs((text + "\n").c_str(), stderr);
  std::fflush(stderr);
}

void Progress::StateStart(const Scenario& s, const std::string& point, const std::string& state,
                          int done, int total) {
  if (!terminal_ || level_ == Level::kQuiet) return;
  const std::string line = "[" + std::to_string(finished_) + "/" + std::to_string(scenarios_) +
                           "] " + s.name + "  crash " + point + " (" + state + ")  states " +
                           std::to_string(done) + "/" + std::to_string(total) + "  " +
                           Fixed(Elapsed()) + " s";
  std::fputs(("\r\033[K" + line.substr(0, 200)).c_str(), stderr);
  std::fflush(stderr);
  line_shown_ = true;
}

void Progress::StateDone(const Scenario& s, const CrashStateResult& r) {
  if (level_ != Level::kVerbose) return;
  std::string text = "  " + s.name + " " + r.point + "/" + r.state + ": ";
  if (!r.error.empty()) {
    text += "error: " + r.error;
  } else {
    text += "lost " + std::to_string(r.check.lost_writes) + " of " +
            std::to_string(r.check.acked_writes) + " acknowledged writes";
    for (const auto& v : r.check.violations) text += "; " + v.invariant + ": " + v.message;
    for (const auto& f : r.findings) text += "; finding " + f;
  }
  Line(text + " (" + Fixed(r.seconds) + " s)");
}

void Progress::ScenarioDone(const ScenarioResult& r) {
  ++finished_;
  const Scenario& s = *r.scenario;
  if (r.outcome == "as-expected") {
    if (level_ != Level::kQuiet) Line("ok    " + s.name + " (" + Fixed(r.seconds) + " s)");
  } else if (r.outcome == "unexpected") {
    Line("FAIL  " + s.name + ": " + r.mismatch + "\n      reproduce: blackout run " + s.file +
         " --seed " + std::to_string(seed_));
  } else {
    Line("ERROR " + s.name + ": " + r.error);
  }
}

void Progress::Finish() {
  if (terminal_ && line_shown_) std::fputs("\r\033[K", stderr);
  line_shown_ = false;
}

}  // namespace blackout::harness
