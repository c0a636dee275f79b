#include "harness/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "harness/util.h"

namespace blackout::harness {
namespace {

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// "1:05", "12 s"
std::string Duration(double s) {
  const int t = static_cast<int>(s + 0.5);
  if (t < 60) return std::to_string(t) + " s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

// A bar is worth drawing only once the run has shown it is not instant.
constexpr double kBarAfterSeconds = 3;

}  // namespace

bool Progress::UseColour(bool no_color_flag) {
  const char* env = std::getenv("NO_COLOR");
  return !no_color_flag && !(env && *env) && isatty(2);
}

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
  std::string line = "[" + std::to_string(finished_) + "/" + std::to_string(scenarios_) + "] " +
                     s.name + "  crash " + point + " (" + state + ")  states " +
                     std::to_string(done) + "/" + std::to_string(total) + "  " + Fixed(Elapsed()) +
                     " s";
  // The share done: whole scenarios finished plus the started part of this
  // one. Scenarios differ in size, so the estimate is rough, and says so.
  scenario_share_ = total > 0 ? static_cast<double>(done) / total : 0;
  const double share =
      scenarios_ > 0 ? std::min(1.0, (finished_ + scenario_share_) / scenarios_) : 0;
  if (Elapsed() >= kBarAfterSeconds && share > 0) {
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(share * kWidth);
    const std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') +
                            "] " + std::to_string(static_cast<int>(share * 100)) + "%  ~" +
                            Duration(Elapsed() * (1 - share) / share) + " left  ";
    line = bar + line;
  }
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
  auto paint = [this](const char* code, const std::string& word) {
    return colour_ ? std::string("\033[") + code + "m" + word + "\033[0m" : word;
  };
  if (r.outcome == "as-expected") {
    if (level_ != Level::kQuiet)
      Line(paint("32", "ok   ") + " " + s.name + " (" + Fixed(r.seconds) + " s)");
  } else if (r.outcome == "unexpected") {
    // The first violating state's diagnosis, cut on the mount or explored,
    // also when it found no sync that saves the state (that is news too).
    std::string fix;
    for (const auto& st : r.states) {
      if (st.check.violations.empty()) continue;
      const nlohmann::json dg = st.diagnosis.is_object() ? st.diagnosis
                                : st.exploration.is_object()
                                    ? st.exploration.value("diagnosis", nlohmann::json())
                                    : nlohmann::json();
      if (!dg.is_object() || dg.value("text", "").empty()) continue;
      fix = std::string("\n      ") + (dg.value("found", false) ? "fix: " : "no fix: ") +
            dg.value("text", "") + " (" + st.point + ", " + st.state + ")";
      break;
    }
    Line(paint("1;31", "FAIL ") + " " + s.name + ": " + r.mismatch + fix +
         "\n      reproduce: blackout run " + s.file + " --seed " + std::to_string(seed_) +
         "\n      details: report.html in the --out directory, section " + s.name);
  } else {
    Line(paint("33", "ERROR") + " " + s.name + ": " + r.error);
  }
}

void Progress::Finish() {
  if (terminal_ && line_shown_) std::fputs("\r\033[K", stderr);
  line_shown_ = false;
}

}  // namespace blackout::harness
