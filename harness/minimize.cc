#include "harness/minimize.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "fusefs/control/cli_checks.h"
#include "harness/child_process.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "harness/temp_dir.h"

namespace blackout::harness {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;


std::string AtName(const json& at) {
  if (at.is_object()) return at.dump();
  return at.is_string() ? at.get<std::string>() : "end";
}

// One run of a candidate: the set of violated invariants and the findings.
struct Outcome {
  bool valid = false;  // loaded and ran without a setup error
  std::set<std::string> violations;
  std::set<std::string> findings;
  std::vector<CrashStateResult> states;
};

}  // namespace

std::vector<json> ExpandWorkload(const json& workload) {
  std::vector<json> out;
  for (const auto& e : workload) {
    const int n = e.is_object() && e.contains("repeat") && e["repeat"].is_number_integer()
                      ? e["repeat"].get<int>()
                      : 1;
    json base = e;
    if (base.is_object()) base.erase("repeat");
    for (int i = 0; i < n; ++i) out.push_back(n > 1 || e.contains("repeat") ? SubstituteIndex(base, i) : base);
  }
  return out;
}

std::vector<int> DeltaDebug(int n, const std::vector<int>& pinned,
                            const std::function<bool(const std::vector<int>&)>& fails,
                            const std::function<bool()>& budget) {
  const std::set<int> pin(pinned.begin(), pinned.end());
  std::vector<int> cur(n);
  for (int i = 0; i < n; ++i) cur[i] = i;
  // Only unpinned elements are split into chunks.
  auto removable = [&] {
    std::vector<int> r;
    for (int x : cur)
      if (!pin.count(x)) r.push_back(x);
    return r;
  };
  size_t gran = 2;
  while (budget()) {
    const std::vector<int> rem = removable();
    if (rem.empty()) break;
    gran = std::min(gran, rem.size());
    const size_t chunk = (rem.size() + gran - 1) / gran;
    bool reduced = false;
    for (size_t start = 0; start < rem.size() && budget(); start += chunk) {
      const std::set<int> drop(rem.begin() + start, rem.begin() + std::min(rem.size(), start + chunk));
      std::vector<int> cand;
      for (int x : cur)
        if (!drop.count(x)) cand.push_back(x);
      if (fails(cand)) {
        cur = std::move(cand);
        gran = std::max<size_t>(gran - 1, 2);
        reduced = true;
        break;
      }
    }
    if (reduced) continue;
    if (gran >= rem.size()) break;  // every single element was tried
    gran = std::min(rem.size(), gran * 2);
  }
  return cur;
}

int Minimize(const MinimizeArgs& a) {
  InstallInterruptHandler();
  auto orig = LoadScenarioForCommand(a.scenario, "minimize");
  if (!orig) return 2;
  if (orig->exec) {
    std::fprintf(stderr,
                 "blackout minimize: %s: an exec scenario has no workload entries to shrink\n",
                 a.scenario.c_str());
    return 2;
  }
  if (a.max_tries < 1 || a.jobs < 1) {
    std::fprintf(stderr, "blackout minimize: --max-tries and --jobs must be >= 1\n");
    return 2;
  }
  const fs::path in_path = fs::absolute(a.scenario).lexically_normal();
  std::string out = a.out;
  if (out.empty()) out = (in_path.parent_path() / (in_path.stem().string() + ".min.json")).string();
  std::error_code ec;
  if (fs::absolute(out).lexically_normal() == in_path ||
      (fs::exists(out, ec) && fs::equivalent(out, in_path, ec))) {
    std::fprintf(stderr, "blackout minimize: --out: %s is the input; minimize never overwrites it\n",
                 out.c_str());
    return 2;
  }
  {
    const fs::path parent = fs::absolute(out).parent_path();
    if (!fs::is_directory(parent, ec) || access(parent.c_str(), W_OK) != 0) {
      std::fprintf(stderr, "blackout minimize: --out: directory %s does not exist or is not writable\n",
                   parent.c_str());
      return 2;
    }
  }

  RunOptions o;
  o.blackout_bin = SelfExe();
  o.tmp_root = TempRoot();
  o.seed = a.seed;
  o.jobs = a.jobs;

  int tries = 0;
  auto run = [&](const json& doc) {
    Outcome r;
    std::vector<Problem> pr;
    auto s = ParseScenario(doc, out, &pr);
    if (!s) return r;
    ++tries;
    std::vector<Scenario> one;
    one.push_back(std::move(*s));
    auto res = RunScenarios(one, o, RunObserver{}, false);
    if (res.empty() || res[0].outcome == "error") return r;
    r.valid = true;
    r.violations.insert(res[0].violations.begin(), res[0].violations.end());
    r.findings.insert(res[0].findings.begin(), res[0].findings.end());
    r.states = std::move(res[0].states);
    return r;
  };

  json doc = orig->source;
  std::vector<json> entries = ExpandWorkload(doc["workload"]);
  auto build = [&](const std::vector<json>& e, const json& crash) {
    json d = doc;
    d["workload"] = e;
    d["crash"] = crash;
    return d;
  };
  std::fprintf(stderr, "minimize: %s: %zu workload entries, crash.at %s; running it once\n",
               orig->name.c_str(), entries.size(), CrashAtName(*orig).c_str());
  const Outcome base = run(build(entries, doc["crash"]));
  if (Interrupted()) return 2;
  if (!base.valid) {
    std::fprintf(stderr, "blackout minimize: %s: the scenario's run failed with a setup error\n",
                 a.scenario.c_str());
    return 1;
  }
  if (base.violations.empty()) {
    std::fprintf(stderr,
                 "blackout minimize: %s violates no invariant in any crash state: nothing to "
                 "minimize\n",
                 a.scenario.c_str());
    return 1;
  }
  const std::set<std::string> target = base.violations;
  const bool want_finding =
      orig->expect_finding && base.findings.count(*orig->expect_finding) > 0;
  std::string target_text;
  for (const auto& v : target) target_text += (target_text.empty() ? "" : ", ") + v;
  std::fprintf(stderr, "minimize: it violates %s%s\n", target_text.c_str(),
               want_finding ? (" (finding " + *orig->expect_finding + ")").c_str() : "");

  auto budget = [&] { return tries < a.max_tries && !Interrupted(); };
  auto same = [&](const json& d, const char* what) {
    const Outcome r = run(d);
    const bool ok = r.valid && r.violations == target &&
                    (!want_finding || r.findings.count(*orig->expect_finding));
    std::fprintf(stderr, "minimize: try %d/%d: %zu entries, crash.at %s (%s): %s\n", tries,
                 a.max_tries, d["workload"].size(), AtName(d["crash"].value("at", json("end"))).c_str(),
                 what, !r.valid ? "invalid or setup error" : ok ? "same failure, kept" : "differs");
    return ok;
  };
  auto op_index = [&](const std::vector<json>& e, int op_number) {
    int k = 0;
    for (size_t i = 0; i < e.size(); ++i)
      if (e[i].contains("op") && ++k == op_number) return static_cast<int>(i);
    return -1;
  };

  // Step 1: crash points.
  json crash = doc["crash"];
  const json at = crash.value("at", json("end"));
  std::vector<std::string> failing_points;
  for (const auto& st : base.states)
    if (!st.check.violations.empty() &&
        std::find(failing_points.begin(), failing_points.end(), st.point) == failing_points.end())
      failing_points.push_back(st.point);
  int pinned_op = 0;  // an after_op:N point that stays
  if (at.is_object() && at.contains("after_op")) {
    pinned_op = at["after_op"].get<int>();
    failing_points = {"after_op:" + std::to_string(pinned_op)};
  } else if (at == json("end")) {
    failing_points.clear();
  }
  for (const auto& p : failing_points) {
    if (!budget()) break;
    std::vector<json> e = entries;
    json c = crash;
    c["at"] = "end";
    if (p.rfind("after_op:", 0) == 0) {
      const int idx = op_index(entries, std::stoi(p.substr(9)));
      if (idx < 0) continue;
      e.resize(idx + 1);
    }
    if (same(build(e, c), ("crash point " + p + " only").c_str())) {
      entries = std::move(e);
      crash = c;
      pinned_op = 0;
      break;
    }
  }
  if (crash.contains("states") && crash["states"].size() > 1 && budget()) {
    std::set<std::string> used;
    for (const auto& st : base.states)
      if (!st.check.violations.empty())
        used.insert(st.exploration.is_object() ? st.exploration.value("generator", st.state)
                                               : st.state);
    json keep = json::array();
    for (const auto& g : crash["states"])
      if (used.count(g.get<std::string>())) keep.push_back(g);
    if (!keep.empty() && keep.size() < crash["states"].size()) {
      json c = crash;
      c["states"] = keep;
      if (same(build(entries, c), ("crash.states " + keep.dump()).c_str())) crash = c;
    }
  }

  // Step 2: workload entries.
  std::vector<int> pinned;
  if (pinned_op > 0) pinned.push_back(op_index(entries, pinned_op));
  auto subset_doc = [&](const std::vector<int>& idx) {
    std::vector<json> e;
    for (int i : idx) e.push_back(entries[i]);
    json c = crash;
    if (pinned_op > 0) {
      int n = 0;
      for (int i : idx) {
        n += entries[i].contains("op");
        if (i == pinned[0]) break;
      }
      c["at"] = {{"after_op", n}};
    }
    return build(e, c);
  };
  const std::vector<int> keep = DeltaDebug(
      static_cast<int>(entries.size()), pinned,
      [&](const std::vector<int>& idx) {
        json d = subset_doc(idx);
        std::vector<Problem> pr;
        if (!ParseScenario(d, out, &pr)) return false;  // e.g. no op left: no run
        return same(d, "fewer entries");
      },
      budget);
  if (Interrupted()) return 2;
  json result = subset_doc(keep);

  result["name"] = orig->name + "-min";
  result["description"] =
      "Minimized by blackout minimize from " + orig->name + " (" +
      std::to_string(ExpandWorkload(doc["workload"]).size()) + " -> " +
      std::to_string(keep.size()) +
      " workload entries, the same violations); the original: " + orig->description;
  // A relative $schema is relative to the input's directory: keep it
  // pointing at the same file from the output's.
  if (result.contains("$schema") && result["$schema"].is_string()) {
    const std::filesystem::path schema = result["$schema"].get<std::string>();
    if (schema.is_relative() && schema.string().find("://") == std::string::npos) {
      const std::filesystem::path from = std::filesystem::absolute(in_path).parent_path();
      const std::filesystem::path to = std::filesystem::absolute(out).parent_path();
      result["$schema"] = (from / schema).lexically_normal().lexically_relative(to).string();
    }
  }
  result["expect"]["violations"] = json(std::vector<std::string>(target.begin(), target.end()));
  if (!want_finding) result["expect"].erase("finding");
  std::vector<Problem> pr;
  if (!ParseScenario(result, out, &pr)) {
    for (const auto& p : pr) std::fprintf(stderr, "%s\n", p.ToString().c_str());
    std::fprintf(stderr, "blackout minimize: internal error: the minimized scenario does not load\n");
    return 1;
  }
  std::ofstream f(out);
  f << result.dump(2) << "\n";
  f.close();
  if (!f) {
    std::fprintf(stderr, "blackout minimize: cannot write %s\n", out.c_str());
    return 2;
  }
  std::fprintf(stderr,
               "minimize: wrote %s: %zu -> %zu workload entries, crash.at %s, %d tries%s\n",
               out.c_str(), ExpandWorkload(doc["workload"]).size(), keep.size(),
               AtName(result["crash"].value("at", json("end"))).c_str(), tries,
               tries >= a.max_tries ? " (the --max-tries bound stopped it; not 1-minimal)" : "");
  std::printf("%s\n", out.c_str());
  return 0;
}

void AddMinimizeCommand(CLI::App& app, int& exit_code) {
  auto m = std::make_shared<MinimizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "minimize", "Shrink a failing scenario to a smaller one that fails the same invariants");
  cmd->add_option("SCENARIO", m->scenario, "scenario file")->required();
  cmd->add_option("--out", m->out, "where to write it (default NAME.min.json beside the input)")
      ->check(control::NonEmptyPath());
  cmd->add_option("--max-tries", m->max_tries, "at most this many runs (default 200)")
      ->check(control::WholeNumber(1));
  cmd->add_option("--jobs", m->jobs, "crash states run in parallel in each run (default 1)")
      ->check(control::WholeNumber(1));
  cmd->add_option("--seed", m->seed, "seed for the generators (default 0)")
      ->check(control::WholeNumber(0));
  cmd->callback([m, &exit_code] { exit_code = Minimize(*m); });
}

}  // namespace blackout::harness
