#include "reports/holes.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "reports/markup.h"

namespace blackout::reports {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::vector<std::string> Strings(const json& a) {
  std::vector<std::string> out;
  if (a.is_array())
    for (const auto& x : a)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

// "H-W2: after a full truncate ..." -> "after a full truncate ...".
std::string WhatIsLost(const std::string& description, const std::string& hole) {
  const std::string prefix = hole + ": ";
  if (description.rfind(prefix, 0) == 0) return description.substr(prefix.size());
  if (auto p = description.find("): "); p != std::string::npos && p < 40)
    return description.substr(p + 3);  // "lsm-wal-no-crc (section 7.1): ..."
  return description;
}

// The crash states of one scenario that broke an invariant, in words:
// "posix-strict: process", "ext4-ordered: drop-all after fsync btree.wal #14".
std::vector<std::string> FoundBy(const json& s) {
  std::set<std::string> out;
  for (const auto& st : s.value("crash_states", json::array())) {
    if (st.value("violations", json::array()).empty()) continue;
    std::string where = Str(s, "model") + ": " + Str(st, "state");
    const std::string point = Str(st, "point");
    if (!point.empty() && point != "end") where += " " + point;
    out.insert(where);
  }
  return {out.begin(), out.end()};
}

}  // namespace

json HoleTable(const json& report) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const json*>> by_hole;
  // by_hole points into the report: iterate the report's own array, not a
  // copy that value() would return.
  static const json kNone = json::array();
  const auto it = report.find("scenarios");
  const json& scenarios = it != report.end() && it->is_array() ? *it : kNone;
  for (const auto& s : scenarios) {
    const std::string hole = Str(s, "hole");
    if (hole.empty()) continue;
    if (!by_hole.count(hole)) order.push_back(hole);
    by_hole[hole].push_back(&s);
  }
  json rows = json::array();
  for (const auto& hole : order) {
    json row = {{"hole", hole}, {"engine", ""}, {"lost", ""}};
    std::vector<std::string> found, names, fixed_bad, refusals;
    json def_violations = json::object();
    int fixed_run = 0, fixed_errors = 0;
    for (const json* s : by_hole[hole]) {
      names.push_back(Str(*s, "name"));
      row["engine"] = Str(*s, "engine");
      const std::string outcome = Str(*s, "outcome");
      if (Str(*s, "profile") == "fixed") {
        ++fixed_run;
        if (outcome == "error") {
          ++fixed_errors;
        } else if (outcome != "as-expected" || !s->value("violations", json::array()).empty()) {
          // An expected violation on the fixed profile is a refusal (the
          // twin's description says so); anything unexpected is not closed.
          for (const auto& v : Strings(s->value("violations", json::array())))
            (outcome == "as-expected" ? refusals : fixed_bad)
                .push_back(v + " (" + Str(*s, "model") + ")");
          if (outcome != "as-expected" && s->value("violations", json::array()).empty())
            fixed_bad.push_back(Str(*s, "mismatch"));
        }
        continue;
      }
      if (row["lost"] == "") row["lost"] = WhatIsLost(Str(*s, "description"), hole);
      def_violations[Str(*s, "model")] = s->value("violations", json::array());
      for (auto& f : FoundBy(*s)) found.push_back(std::move(f));
    }
    std::string fixed;
    if (fixed_run == 0)
      fixed = "not run";
    else if (!fixed_bad.empty())
      fixed = "NOT closed: " + Join(fixed_bad);
    else if (fixed_errors > 0)
      fixed = "error in " + std::to_string(fixed_errors) + " of " + std::to_string(fixed_run) +
              " twins";
    else if (!refusals.empty())
      fixed = "closed by refusing: " + Join(refusals);
    else
      fixed = "closed";
    row["found_by"] = found;
    row["default_violations"] = def_violations;
    row["fixed"] = fixed;
    row["scenarios"] = names;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string HoleTableMarkdown(const json& rows) {
  if (!rows.is_array() || rows.empty()) return "";
  auto cell = [](std::string s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += "\\|";
      else if (c == '\n') out += ' ';
      else out += c;
    }
    return out;
  };
  std::ostringstream md;
  md << "## Holes of the reference engines\n\n"
        "Found on the default profile by the model and crash state shown; the fixed profile's "
        "twins show it closed.\n\n"
        "| hole | engine | what is lost | found by (default profile) | fixed profile |\n"
        "|---|---|---|---|---|\n";
  for (const auto& r : rows)
    md << "| " << cell(Str(r, "hole")) << " | " << cell(Str(r, "engine")) << " | "
       << cell(Str(r, "lost")) << " | "
       << cell(r.value("found_by", json::array()).empty()
                   ? "not found"
                   : Join(Strings(r.value("found_by", json::array())), "; "))
       << " | " << cell(Str(r, "fixed")) << " |\n";
  md << "\n";
  return md.str();
}

std::string HoleTableHtml(const json& rows) {
  if (!rows.is_array() || rows.empty()) return "";
  std::ostringstream o;
  o << "<h2 id=\"holes\">Holes of the reference engines</h2>\n<table id=\"hole-table\"><thead><tr>"
       "<th>hole</th><th>engine</th><th>what is lost</th><th>found by (default profile)</th>"
       "<th>fixed profile</th></tr></thead><tbody>\n";
  for (const auto& r : rows) {
    const std::string fixed = Str(r, "fixed");
    const bool bad = fixed.rfind("closed", 0) != 0;
    const auto found = Strings(r.value("found_by", json::array()));
    o << "<tr><td><b>" << EscapeMarkup(Str(r, "hole")) << "</b></td><td>"
      << EscapeMarkup(Str(r, "engine")) << "</td><td>" << EscapeMarkup(Str(r, "lost"))
      << "</td><td>" << EscapeMarkup(found.empty() ? "not found" : Join(found, "; "))
      << "</td><td><span class=\"chip o-" << (bad ? "violation" : "clean") << "\">"
      << EscapeMarkup(fixed) << "</span></td></tr>\n";
  }
  o << "</tbody></table>\n";
  return o.str();
}

}  // namespace blackout::reports
