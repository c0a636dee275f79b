#include "reports/html.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "reports/holes.h"
#include "reports/markup.h"

namespace blackout::reports {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* k) {
  if (!j.is_object()) return "";
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int Int(const json& j, const char* k) {
  if (!j.is_object()) return 0;
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<int>() : 0;
}

const json& Arr(const json& j, const char* k) {
  static const json empty = json::array();
  if (!j.is_object()) return empty;
  auto it = j.find(k);
  return it != j.end() && it->is_array() ? *it : empty;
}

std::string Text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string Configuration(const json& s) {
  std::string out = Str(s, "profile").empty() ? "default" : Str(s, "profile");
  if (auto c = s.find("config"); c != s.end() && c->is_object())
    for (const auto& [k, v] : c->items())
      if (k != "profile") out += " " + k + "=" + Text(v);
  return out;
}

// An id usable as an anchor: report.md links to report.html#s-NAME.
std::string Anchor(const std::string& name) {
  std::string out = "s-";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out;
}

// The colour class of a scenario: what a reader needs to act on first.
std::string Outcome(const json& s) {
  const std::string o = Str(s, "outcome");
  if (o == "unexpected") return "unexpected";
  if (o != "as-expected") return "error";
  if (!Arr(s, "violations").empty()) return "violation";
  if (Int(s, "lost_writes") > 0) return "weakness";
  return "clean";
}

const char* OutcomeWords(const std::string& o) {
  if (o == "clean") return "clean: nothing lost";
  if (o == "weakness") return "lost writes the contract allows";
  if (o == "violation") return "violation found, as expected";
  if (o == "unexpected") return "unexpected outcome";
  return "error";
}

std::string Join(const json& a) {
  std::string out;
  for (const auto& e : a) out += (out.empty() ? "" : ", ") + Text(e);
  return out;
}

std::string Fixed(double v, const char* fmt = "%.1f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

constexpr const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
main{padding:16px 24px;max-width:1400px}
h2{font-size:17px;margin:24px 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:24px}.card span{color:#5b6473;font-size:12px}
.card.bad b{color:#c0262d}
.filters{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;margin:16px 0;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
select{font:inherit;padding:2px 4px}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}
#matrix td{min-width:120px}
.chip{display:inline-block;margin:2px;padding:2px 6px;border-radius:4px;font-size:12px;text-decoration:none;color:#1d2330;border:1px solid transparent}
.chip.o-clean{background:#d6f0dc;border-color:#8fcf9e}.chip.o-weakness{background:#fff1c2;border-color:#e6c55a}
.chip.o-violation{background:#ffd9b8;border-color:#f0964a}.chip.o-unexpected{background:#f7b9bc;border-color:#c0262d;font-weight:600}
.chip.o-error{background:#d9dce1;border-color:#8a919c}
.legend .chip{cursor:default}
section.violation{background:#fff;border:1px solid #dde1e7;border-left:5px solid #f0964a;border-radius:6px;padding:10px 16px;margin:12px 0}
section.violation.o-unexpected{border-left-color:#c0262d}section.violation.o-error{border-left-color:#8a919c}
section.violation.o-weakness{border-left-color:#e6c55a}
section.violation h3{margin:0 0 4px;font-size:15px}
.meta{color:#5b6473;font-size:12px}
.state{border-top:1px dashed #dde1e7;margin-top:10px;padding-top:8px}
.inv{font-family:ui-monospace,Menlo,monospace;background:#fbe3e4;padding:0 4px;border-radius:3px}
pre,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre.repro{background:#1d2330;color:#e6e9ee;padding:8px 10px;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere}
.tl{overflow-x:auto;border:1px solid #eef0f3;border-radius:4px;background:#fcfcfd}
svg.timeline text{font:11px system-ui,sans-serif;fill:#1d2330}
.tlegend{font-size:12px;color:#5b6473;margin:4px 0}
.tlegend i{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px;vertical-align:-1px;border:1px solid #555}
details{margin:6px 0}summary{cursor:pointer;color:#2857a4}
.hidden{display:none!important}
)CSS";

// Filtering: hide matrix chips, rows and sections whose engine or outcome
// does not match; a row with no chip left disappears.
constexpr const char* kScript = R"JS(
function bkFilter(){
  var e=document.getElementById('f-engine').value,o=document.getElementById('f-outcome').value;
  function ok(el){return (e===''||el.dataset.engine===e)&&(o===''||el.dataset.outcome===o);}
  document.querySelectorAll('[data-outcome]').forEach(function(el){el.classList.toggle('hidden',!ok(el));});
  document.querySelectorAll('#matrix tbody tr').forEach(function(tr){
    var any=tr.querySelector('.chip:not(.hidden)');tr.classList.toggle('hidden',!any);});
  var shown=document.querySelectorAll('section.violation:not(.hidden)').length;
  document.getElementById('f-count').textContent=shown+' shown';
}
document.getElementById('f-engine').addEventListener('change',bkFilter);
document.getElementById('f-outcome').addEventListener('change',bkFilter);
bkFilter();
)JS";

struct Lane {
  const char* kind;
  const char* label;
  const char* colour;
};
constexpr Lane kLanes[] = {
    {"ack", "acknowledged", "#2e8b57"},           {"write", "write(2) / flush", "#3b6fd1"},
    {"dir-op", "directory op", "#7b4fc9"},        {"fsync", "fsync (file)", "#136f63"},
    {"dir-sync", "fsync (directory)", "#0b7a9a"}, {"sync", "sync (all)", "#555"},
};

int LaneOf(const std::string& kind) {
  if (kind == "other") return 1;
  for (int i = 0; i < 6; ++i)
    if (kind == kLanes[i].kind) return i;
  return 1;
}

std::string EntryTitle(const json& e) {
  std::string t = "#" + Str(e, "seq") + " " + Str(e, "op") + " " + Str(e, "path");
  if (Str(e, "op") == "write" || Str(e, "op") == "truncate")
    t += " [" + Str(e, "offset") + "+" + Str(e, "length") + "]";
  if (!Str(e, "detail").empty()) t += " (" + Str(e, "detail") + ")";
  if (!Str(e, "fate").empty()) t += ": " + Str(e, "fate") + " at the crash";
  return t;
}

// The timeline of one crash state as inline SVG: one lane per kind of
// operation, trace order left to right, the crash as a red line.
std::string TimelineSvg(const json& tl, const std::string& crash_kind) {
  const json& entries = Arr(tl, "entries");
  const json& acks = Arr(tl, "acks");
  std::vector<const json*> ops;
  int crash_index = -1;
  for (const auto& e : entries) {
    if (Str(e, "kind") == "crash") {
      crash_index = static_cast<int>(ops.size());
      continue;
    }
    ops.push_back(&e);
  }
  if (crash_index < 0) crash_index = static_cast<int>(ops.size());
  const int left = 140, step = 16, lane_h = 26, top = 22;
  const int n = static_cast<int>(ops.size());
  const int width = left + (n + 3) * step + 120;
  const int height = top + 6 * lane_h + 28;
  auto x_of = [&](int i) { return left + i * step + step / 2; };
  std::ostringstream o;
  o << "<div class=\"tl\"><svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\""
    << width << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
    << "\" role=\"img\" aria-label=\"timeline of the operations before the crash\">\n";
  for (int l = 0; l < 6; ++l) {
    const int y = top + l * lane_h;
    o << "<rect x=\"0\" y=\"" << y << "\" width=\"" << width << "\" height=\"" << lane_h
      << "\" fill=\"" << (l % 2 ? "#ffffff" : "#f3f5f8") << "\"/>";
    o << "<text x=\"6\" y=\"" << y + 17 << "\">" << kLanes[l].label << "</text>\n";
  }
  for (int i = 0; i < n; ++i) {
    const json& e = *ops[i];
    const int lane = LaneOf(Str(e, "kind"));
    const int x = x_of(i), y = top + lane * lane_h + 6;
    const std::string fate = Str(e, "fate");
    std::string fill = kLanes[lane].colour, extra;
    if (fate == "dropped") fill = "#d7263d";
    if (fate == "kept") fill = "#9aa3ae";
    if (fate == "torn") fill = "#b5179e";
    if (fate == "pending") {
      fill = "#f4a340";
      extra = " stroke-dasharray=\"2,2\"";
    }
    o << "<g class=\"op fate-" << EscapeMarkup(fate.empty() ? "sync" : fate) << "\"><title>"
      << EscapeMarkup(EntryTitle(e)) << "</title>";
    if (lane >= 3)  // syncs are circles: the points where data becomes durable
      o << "<circle cx=\"" << x << "\" cy=\"" << y + 7 << "\" r=\"6\" fill=\"" << fill
        << "\" stroke=\"#222\" stroke-width=\"0.6\"/>";
    else
      o << "<rect x=\"" << x - 5 << "\" y=\"" << y << "\" width=\"10\" height=\"14\" fill=\""
        << fill << "\" stroke=\"#222\" stroke-width=\"0.6\"" << extra << "/>";
    if (fate == "dropped")
      o << "<path d=\"M" << x - 5 << " " << y << "l10 14M" << x + 5 << " " << y
        << "l-10 14\" stroke=\"#fff\" stroke-width=\"1.6\"/>";
    o << "</g>";
  }
  // Acknowledgements sit between the trace entries they followed.
  for (const auto& a : acks) {
    const uint64_t seq = a.value("seq", uint64_t{0});
    int idx = n;
    for (int i = 0; i < n; ++i)
      if (ops[i]->value("seq", uint64_t{0}) > seq) {
        idx = i;
        break;
      }
    const int x = left + idx * step, y = top + 5;
    const bool synced = a.value("synced", false);
    o << "<g class=\"ack\"><title>"
      << EscapeMarkup("acknowledged op " + Str(a, "op") + ": " + Str(a, "label") + " (trace #" +
                      std::to_string(seq) + ")" + (synced ? ", synced" : ", not synced"))
      << "</title><path d=\"M" << x - 5 << " " << y << "h10l-5 13z\" fill=\""
      << (synced ? "#2e8b57" : "#e0a100") << "\" stroke=\"#222\" stroke-width=\"0.6\"/></g>";
  }
  const int cx = crash_index < n ? x_of(crash_index) - step / 2 : left + n * step + step / 2;
  const std::string state = Str(tl, "state");
  const std::string crash_label =
      crash_kind == "process" ? "process killed" : "power cut (" + state + ")";
  o << "<g class=\"crash\"><title>" << EscapeMarkup("crash point at trace #" + Str(tl, "crash_seq"))
    << "</title><line x1=\"" << cx << "\" y1=\"" << top - 6 << "\" x2=\"" << cx << "\" y2=\""
    << top + 6 * lane_h << "\" stroke=\"#d7263d\" stroke-width=\"2.5\" stroke-dasharray=\"6,3\"/>"
    << "<text x=\"" << cx + 4 << "\" y=\"" << top - 8
    << "\" style=\"fill:#d7263d;font-weight:600\">" << EscapeMarkup(crash_label) << "</text></g>\n";
  // Trace positions along the bottom, every 10th entry.
  for (int i = 0; i < n; i += 10)
    o << "<text x=\"" << x_of(i) - 4 << "\" y=\"" << top + 6 * lane_h + 16 << "\">#"
      << Str(*ops[i], "seq") << "</text>";
  o << "</svg></div>\n";
  o << "<div class=\"tlegend\">trace order left to right; hover a mark for its operation."
    << "<i style=\"background:#3b6fd1\"></i>durable before the crash"
    << "<i style=\"background:#d7263d\"></i>dropped by the crash"
    << "<i style=\"background:#9aa3ae\"></i>pending, kept"
    << "<i style=\"background:#f4a340\"></i>pending, the state decides"
    << "<i style=\"background:#b5179e\"></i>torn"
    << "<i style=\"background:#2e8b57\"></i>ack (synced)"
    << "<i style=\"background:#e0a100\"></i>ack (not synced)</div>\n";
  if (Int(tl, "omitted") > 0)
    o << "<div class=\"meta\">" << Int(tl, "omitted")
      << " earlier trace entries are not shown.</div>\n";
  // The same, as text: a reader can search it and copy paths.
  o << "<details><summary>trace entries (" << n
    << ")</summary><table><tr><th>#</th><th>op</th>"
       "<th>path</th><th>offset+length</th><th>detail</th><th>at the crash</th></tr>";
  for (const json* e : ops)
    o << "<tr><td>" << Str(*e, "seq") << "</td><td>" << EscapeMarkup(Str(*e, "op")) << "</td><td>"
      << EscapeMarkup(Str(*e, "path")) << "</td><td>"
      << (Str(*e, "kind") == "write" ? Str(*e, "offset") + "+" + Str(*e, "length") : "")
      << "</td><td>" << EscapeMarkup(Str(*e, "detail")) << "</td><td>"
      << EscapeMarkup(Str(*e, "fate")) << "</td></tr>";
  o << "</table></details>\n";
  return o.str();
}

// A value of a field this page does not know: a table for a list of
// objects (e.g. a hole table), text otherwise.
std::string Generic(const json& v) {
  if (v.is_string()) return EscapeMarkup(v.get<std::string>());
  if (v.is_array() && !v.empty() && v[0].is_object()) {
    std::vector<std::string> keys;
    for (const auto& row : v)
      if (row.is_object())
        for (const auto& [k, _] : row.items())
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    std::ostringstream o;
    o << "<table><tr>";
    for (const auto& k : keys) o << "<th>" << EscapeMarkup(k) << "</th>";
    o << "</tr>";
    for (const auto& row : v) {
      o << "<tr>";
      for (const auto& k : keys)
        o << "<td>" << (row.is_object() && row.contains(k) ? EscapeMarkup(Text(row[k])) : "")
          << "</td>";
      o << "</tr>";
    }
    o << "</table>";
    return o.str();
  }
  if (v.is_array()) {
    std::ostringstream o;
    o << "<ul>";
    for (const auto& e : v) o << "<li>" << EscapeMarkup(Text(e)) << "</li>";
    o << "</ul>";
    return o.str();
  }
  return "<code>" + EscapeMarkup(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</code>";
}

void Diagnosis(std::ostringstream& o, const json& d) {
  if (d.is_null()) return;
  o << "<div><b>diagnosis:</b> ";
  if (d.is_object()) {
    const std::string text = !Str(d, "text").empty() ? Str(d, "text") : Str(d, "summary");
    if (!text.empty()) o << EscapeMarkup(text);
    // "found" is what the text says; the re-check counts read as a sentence.
    // "fixes" is the sentence's content as data, for scripts.
    static const std::set<std::string> said = {"text",     "summary",        "found",
                                               "rechecks", "rechecks_known", "fixes"};
    for (const auto& [k, v] : d.items())
      if (!said.count(k))
        o << "<div class=\"meta\">" << EscapeMarkup(k) << ": " << Generic(v) << "</div>";
    if (d.contains("rechecks") && d["rechecks"].is_number_integer()) {
      const int64_t n = d["rechecks"].get<int64_t>();
      const int64_t known = d.value("rechecks_known", int64_t{0});
      o << "<div class=\"meta\">re-checked " << n << " candidate state" << (n == 1 ? "" : "s")
        << (known > 0 ? ", " + std::to_string(known) +
                            " of them with the outcome of a state "
                            "checked already"
                      : std::string())
        << "</div>";
    }
  } else {
    o << Generic(d);
  }
  o << "</div>";
}

void CrashState(std::ostringstream& o, const json& s, const json& st) {
  static const std::set<std::string> known = {
      "point",          "items_done",       "state",       "error",         "recovered",
      "recovery_error", "acked_writes",     "lost_writes", "promised_lost", "lost_examples",
      "violations",     "pending_at_crash", "findings",    "seconds",       "timeline",
      "diagnosis",      "reproduce",        "exploration"};
  o << "<div class=\"state\"><b>crash " << EscapeMarkup(Str(st, "point")) << " / state "
    << EscapeMarkup(Str(st, "state")) << "</b> <span class=\"meta\">lost " << Int(st, "lost_writes")
    << " of " << Int(st, "acked_writes") << " acknowledged writes";
  if (st.contains("promised_lost"))
    o << " (" << Int(st, "promised_lost") << " of them promised by the contract)";
  o << "; " << (st.value("recovered", true) ? "recovered" : "did not recover") << "</span>";
  if (!Str(st, "error").empty()) o << "<div>error: " << EscapeMarkup(Str(st, "error")) << "</div>";
  if (!Str(st, "recovery_error").empty())
    o << "<div>recovery: " << EscapeMarkup(Str(st, "recovery_error")) << "</div>";
  if (!Arr(st, "violations").empty()) {
    o << "<ul>";
    for (const auto& v : Arr(st, "violations"))
      o << "<li><span class=\"inv\">" << EscapeMarkup(Str(v, "invariant")) << "</span> "
        << EscapeMarkup(Str(v, "message")) << "</li>";
    o << "</ul>";
  }
  if (!Arr(st, "lost_examples").empty())
    o << "<div><b>lost:</b> " << EscapeMarkup(Join(Arr(st, "lost_examples"))) << "</div>";
  if (!Arr(st, "findings").empty())
    o << "<div><b>finding:</b> " << EscapeMarkup(Join(Arr(st, "findings"))) << "</div>";
  if (!Arr(st, "pending_at_crash").empty())
    o << "<div><b>pending at the crash (never synced):</b> "
      << EscapeMarkup(Join(Arr(st, "pending_at_crash"))) << "</div>";
  if (st.contains("diagnosis")) Diagnosis(o, st["diagnosis"]);
  // A state explored offline (harness/explore.h): which pending operations it
  // kept and dropped, and the diagnosis by re-checking with syncs added.
  const json ex = st.value("exploration", json());
  if (ex.is_object()) {
    o << "<div class=\"meta\">crash state <code>" << EscapeMarkup(Str(ex, "id"))
      << "</code> of generator " << EscapeMarkup(Str(ex, "generator"));
    if (!Str(ex, "same_tree_as").empty())
      o << ", same files as <code>" << EscapeMarkup(Str(ex, "same_tree_as")) << "</code>";
    o << "</div>";
    if (!Str(ex, "torn").empty())
      o << "<div><b>torn:</b> " << EscapeMarkup(Str(ex, "torn")) << "</div>";
    if (ex.contains("diagnosis")) Diagnosis(o, ex["diagnosis"]);
    for (const char* k : {"dropped", "kept"})
      if (!Arr(ex, k).empty())
        o << "<details><summary>" << k << " at the crash: "
          << (ex.contains(std::string(k) + "_ops") ? ex[std::string(k) + "_ops"].dump()
                                                   : std::to_string(Arr(ex, k).size()))
          << " pending operations</summary>" << Generic(Arr(ex, k)) << "</details>";
    const json timing = ex.value("timing", json());
    if (timing.is_object()) {
      // Where the state's time went, in milliseconds.
      std::ostringstream ms;
      for (const auto& [k, v] : timing.items()) {
        if (!v.is_number()) continue;
        std::string what = k.substr(0, k.rfind("_s"));
        ms << (ms.tellp() > 0 ? ", " : "") << what << " " << std::fixed << std::setprecision(2)
           << v.get<double>() * 1000 << " ms";
      }
      o << "<div class=\"meta\"><b>time:</b> " << EscapeMarkup(ms.str()) << "</div>";
    }
    for (const auto& [k, v] : ex.items())
      if (k != "id" && k != "generator" && k != "same_tree_as" && k != "torn" && k != "diagnosis" &&
          k != "dropped" && k != "kept" && k != "dropped_ops" && k != "kept_ops" &&
          k != "reproduce" && k != "timing" && !v.is_null())
        o << "<div class=\"meta\"><b>" << EscapeMarkup(k) << ":</b> " << Generic(v) << "</div>";
  }
  for (const auto& [k, v] : st.items())
    if (!known.count(k) && !v.is_null())
      o << "<div class=\"meta\"><b>" << EscapeMarkup(k) << ":</b> " << Generic(v) << "</div>";
  if (st.contains("timeline") && st["timeline"].is_object())
    o << TimelineSvg(st["timeline"], Str(s, "crash_kind"));
  else
    o << "<div class=\"meta\">no timeline recorded for this crash state (an explored scenario "
         "draws one for its first 20 states that lost writes, violating ones first; or "
         "report.json from an older run, or the trace could not be read)</div>";
  const std::string repro = !Str(st, "reproduce").empty()   ? Str(st, "reproduce")
                            : !Str(ex, "reproduce").empty() ? Str(ex, "reproduce")
                                                            : Str(s, "reproduce");
  if (!repro.empty()) o << "<pre class=\"repro\">$ " << EscapeMarkup(repro) << "</pre>";
  o << "</div>\n";
}

void ScenarioSection(std::ostringstream& o, const json& s) {
  const std::string outcome = Outcome(s);
  o << "<section class=\"violation o-" << outcome << "\" id=\"" << Anchor(Str(s, "name"))
    << "\" data-engine=\"" << EscapeMarkup(Str(s, "engine")) << "\" data-outcome=\"" << outcome
    << "\">";
  o << "<h3>" << EscapeMarkup(Str(s, "name")) << " <span class=\"chip o-" << outcome << "\">"
    << OutcomeWords(outcome) << "</span></h3>";
  o << "<div class=\"meta\">" << EscapeMarkup(Str(s, "engine")) << " &middot; "
    << EscapeMarkup(Configuration(s)) << " &middot; " << EscapeMarkup(Str(s, "model"))
    << " &middot; " << EscapeMarkup(Str(s, "crash_kind")) << " crash at "
    << EscapeMarkup(Str(s, "crash_at")) << " &middot; " << EscapeMarkup(Str(s, "file")) << "</div>";
  if (!Str(s, "description").empty()) o << "<p>" << EscapeMarkup(Str(s, "description")) << "</p>";
  const json contract = s.value("contract", json::object());
  if (contract.is_object() && !contract.empty())
    o << "<div><b>contract:</b> process crash: " << EscapeMarkup(Str(contract, "process"))
      << ", power loss: " << EscapeMarkup(Str(contract, "power")) << "</div>";
  if (!Str(s, "mismatch").empty())
    o << "<div><b>differs from expect:</b> " << EscapeMarkup(Str(s, "mismatch")) << "</div>";
  if (!Str(s, "error").empty())
    o << "<div><b>error:</b> " << EscapeMarkup(Str(s, "error")) << "</div>";
  if (!Str(s, "minimized").empty())
    o << "<div><b>minimized:</b> <code>" << EscapeMarkup(Str(s, "minimized"))
      << "</code> (the same violations with fewer operations)</div>";
  if (s.contains("diagnosis")) Diagnosis(o, s["diagnosis"]);
  int shown = 0;
  for (const auto& st : Arr(s, "crash_states"))
    if (!Arr(st, "violations").empty() || Int(st, "lost_writes") > 0 || !Str(st, "error").empty()) {
      CrashState(o, s, st);
      ++shown;
    }
  if (shown == 0 && !Str(s, "reproduce").empty())
    o << "<pre class=\"repro\">$ " << EscapeMarkup(Str(s, "reproduce")) << "</pre>";
  o << "</section>\n";
}

}  // namespace

std::string RenderHtml(const json& report) {
  const json& scenarios = Arr(report, "scenarios");
  const json sum = report.value("summary", json::object());
  int states = 0, violations = 0, lost = 0;
  std::set<std::string> engines;
  std::map<std::string, int> by_outcome;
  for (const auto& s : scenarios) {
    engines.insert(Str(s, "engine"));
    ++by_outcome[Outcome(s)];
    lost += Int(s, "lost_writes");
    for (const auto& st : Arr(s, "crash_states")) {
      ++states;
      violations += static_cast<int>(Arr(st, "violations").size());
    }
  }
  if (sum.is_object() && sum.contains("lost_writes")) lost = Int(sum, "lost_writes");

  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       // The page is self-contained on purpose; the policy makes sure of it.
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
       "<title>blackout durability-gap report</title><style>"
    << kStyle << "</style></head><body>\n";
  o << "<header><h1>blackout durability-gap report</h1><p>generated "
    << EscapeMarkup(Str(report, "generated_at")) << " &middot; seed "
    << EscapeMarkup(Str(report, "seed")) << " &middot; shard " << EscapeMarkup(Str(report, "shard"))
    << " &middot; " << Fixed(report.value("duration_s", 0.0)) << " s &middot; schema "
    << EscapeMarkup(Str(report, "schema_version")) << "</p></header><main>\n";

  o << "<div class=\"cards\" id=\"summary\">";
  auto card = [&](const std::string& v, const char* label, bool bad) {
    o << "<div class=\"card" << (bad ? " bad" : "") << "\"><b>" << v << "</b><span>" << label
      << "</span></div>";
  };
  card(std::to_string(scenarios.size()), "scenarios", false);
  card(std::to_string(states), "crash states", false);
  card(std::to_string(violations), "invariant violations", violations > 0);
  card(std::to_string(lost), "acknowledged writes lost", lost > 0);
  card(std::to_string(by_outcome["unexpected"]), "unexpected outcomes",
       by_outcome["unexpected"] > 0);
  card(std::to_string(by_outcome["error"]), "errors", by_outcome["error"] > 0);
  o << "</div>\n";

  o << "<div class=\"filters\"><label>engine <select id=\"f-engine\"><option value=\"\">all"
       "</option>";
  for (const auto& e : engines) o << "<option>" << EscapeMarkup(e) << "</option>";
  o << "</select></label><label>outcome <select id=\"f-outcome\"><option value=\"\">all</option>";
  for (const char* k : {"clean", "weakness", "violation", "unexpected", "error"})
    o << "<option value=\"" << k << "\">" << OutcomeWords(k) << " (" << by_outcome[k]
      << ")</option>";
  o << "</select></label><span class=\"meta\" id=\"f-count\"></span><span class=\"legend\">";
  for (const char* k : {"clean", "weakness", "violation", "unexpected", "error"})
    o << "<span class=\"chip o-" << k << "\">" << OutcomeWords(k) << "</span>";
  o << "</span></div>\n";

  o << HoleTableHtml(HoleTable(report));

  // The matrix: rows engine x configuration, columns model x crash kind.
  std::set<std::pair<std::string, std::string>> cols;
  std::map<std::pair<std::string, std::string>,
           std::map<std::pair<std::string, std::string>, std::vector<const json*>>>
      cells;
  for (const auto& s : scenarios) {
    const auto col = std::make_pair(Str(s, "model"), Str(s, "crash_kind"));
    cols.insert(col);
    cells[{Str(s, "engine"), Configuration(s)}][col].push_back(&s);
  }
  o << "<h2>Matrix: engine &times; configuration &times; model &times; crash kind</h2>\n";
  o << "<table id=\"matrix\"><thead><tr><th>engine</th><th>configuration</th>";
  for (const auto& c : cols)
    o << "<th>" << EscapeMarkup(c.first) << "<br><span class=\"meta\">" << EscapeMarkup(c.second)
      << " crash</span></th>";
  o << "</tr></thead><tbody>\n";
  for (const auto& [row, by_col] : cells) {
    o << "<tr data-engine-row=\"" << EscapeMarkup(row.first) << "\"><td><b>"
      << EscapeMarkup(row.first) << "</b></td><td>" << EscapeMarkup(row.second) << "</td>";
    for (const auto& c : cols) {
      o << "<td>";
      auto it = by_col.find(c);
      if (it != by_col.end())
        for (const json* s : it->second) {
          const std::string out = Outcome(*s);
          std::string label = Arr(*s, "violations").empty() ? "ok" : Join(Arr(*s, "violations"));
          if (out == "error") label = "error";
          if (Int(*s, "lost_writes") > 0)
            label += " · lost " + std::to_string(Int(*s, "lost_writes")) + "/" +
                     std::to_string(Int(*s, "acked_writes"));
          o << "<a class=\"chip o-" << out << "\" href=\"#" << Anchor(Str(*s, "name"))
            << "\" data-engine=\"" << EscapeMarkup(Str(*s, "engine")) << "\" data-outcome=\"" << out
            << "\" title=\"" << EscapeMarkup(Str(*s, "name") + ": " + OutcomeWords(out)) << "\">"
            << EscapeMarkup(label) << "</a>";
        }
      o << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</tbody></table>\n";

  o << "<h2>Violations, losses and errors</h2>\n";
  // What a reader must act on first: surprises, then setup errors, then the
  // gaps the suite expects, then losses the contracts allow.
  int sections = 0;
  for (const char* kind : {"unexpected", "error", "violation", "weakness"})
    for (const auto& s : scenarios) {
      if (Outcome(s) != kind) continue;
      ScenarioSection(o, s);
      ++sections;
    }
  if (sections == 0) o << "<p>Nothing was lost and no invariant was broken.</p>\n";
  o << "</main><script>" << kScript << "</script></body></html>\n";
  return o.str();
}

}  // namespace blackout::reports
