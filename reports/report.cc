#include "reports/report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "reports/holes.h"
#include "reports/html.h"
#include "reports/markup.h"

namespace blackout::reports {
namespace {

using nlohmann::json;

std::string MdCell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string Str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string List(const json& j) {
  if (!j.is_array() || j.empty()) return "none";
  std::string out;
  for (const auto& e : j)
    out += (out.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
  return out;
}

// "default", "fixed", "default sync_mode=batch batch_sync_count=10"
std::string Configuration(const json& s) {
  std::string out = Str(s, "profile").empty() ? "default" : Str(s, "profile");
  if (auto c = s.find("config"); c != s.end() && c->is_object())
    for (const auto& [k, v] : c->items())
      if (k != "profile") out += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

std::string Seconds(const json& j, const char* k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", j.value(k, 0.0));
  return buf;
}

bool Fail(std::string* error, const std::string& what) {
  *error = what + ": " + std::strerror(errno);
  return false;
}

// The anchor report.html gives a scenario's section (reports/html.cc).
std::string HtmlAnchor(const std::string& name) {
  std::string out = "s-";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out;
}

// An explored crash state that violates something, in Markdown list items
// (the same facts report.html shows): its id and generator, the diagnosis
// sentence, the pending ops it dropped, tore and kept (a few of each), and
// the command that rebuilds it.
void ExploredStateMarkdown(std::ostringstream& md, const json& st, const std::string& indent) {
  const json ex = st.value("exploration", json());
  if (!ex.is_object()) return;
  md << indent << "- crash state `" << Str(ex, "id") << "` (generator " << Str(ex, "generator");
  if (!Str(ex, "same_tree_as").empty()) md << ", same files as `" << Str(ex, "same_tree_as") << "`";
  md << ")\n";
  const json dg = ex.value("diagnosis", json());
  if (dg.is_object() && !Str(dg, "text").empty())
    md << indent << "  - diagnosis: " << Str(dg, "text") << "\n";
  constexpr size_t kOps = 6;  // a PR comment shows a few; report.html has them all
  auto ops = [&](const char* what, const json& list) {
    if (!list.is_array() || list.empty()) return;
    // The list may itself be cut (explore.h, DescribeOps); the count is whole.
    const size_t count = ex.value(std::string(what) + "_ops", list.size());
    md << indent << "  - " << what << " (" << count << "): ";
    for (size_t i = 0; i < list.size() && i < kOps; ++i)
      md << (i ? ", " : "") << "`" << list[i].get<std::string>() << "`";
    if (count > kOps) md << ", ... " << count - kOps << " more";
    md << "\n";
  };
  ops("dropped", ex.value("dropped", json::array()));
  if (!Str(ex, "torn").empty()) md << indent << "  - torn: `" << Str(ex, "torn") << "`\n";
  ops("kept", ex.value("kept", json::array()));
  if (!Str(ex, "reproduce").empty())
    md << indent << "  - reproduce: `" << Str(ex, "reproduce") << "`\n";
}

// The diagnosis sentence of a crash state, cut on the mount or explored.
std::string DiagnosisText(const json& st) {
  json dg = st.value("diagnosis", json());
  const json ex = st.value("exploration", json());
  if (!dg.is_object() && ex.is_object()) dg = ex.value("diagnosis", json());
  return dg.is_object() ? Str(dg, "text") : "";
}

}  // namespace

std::string RenderMarkdown(const json& report) { return RenderMarkdown(report, "report.html"); }

std::string RenderMarkdown(const json& report, const std::string& details_url) {
  std::ostringstream md;
  const json& sum = report.value("summary", json::object());
  const json& scenarios = report.value("scenarios", json::array());
  const int differ = sum.value("unexpected", 0) + sum.value("errors", 0);
  md << "# blackout durability-gap report\n\n";
  md << (differ == 0
             ? "**All " + std::to_string(sum.value("scenarios", 0)) + " scenarios as expected.**"
             : "**" + std::to_string(differ) + " of " + std::to_string(sum.value("scenarios", 0)) +
                   " scenarios differ from their `expect`.**")
     << " ";
  md << sum.value("scenarios", 0) << " scenarios: " << sum.value("as_expected", 0)
     << " as expected, " << sum.value("unexpected", 0) << " unexpected, " << sum.value("errors", 0)
     << " errors; " << sum.value("lost_writes", 0) << " acknowledged writes lost in total. Seed "
     << report.value("seed", 0) << ", shard " << Str(report, "shard") << ", "
     << Seconds(report, "duration_s") << " s. Timelines and diagnoses: [" << details_url << "]("
     << details_url << ").\n\n";
  // What changed: the few rows a reviewer must read; everything else folds.
  if (differ > 0) {
    md << "## What changed\n\n| scenario | engine | model, crash | what differs | details |\n"
          "|---|---|---|---|---|\n";
    constexpr int kMaxRows = 20;  // a reviewer reads twenty rows, not two hundred
    int rows = 0;
    for (const auto& s : scenarios) {
      if (Str(s, "outcome") == "as-expected") continue;
      if (++rows > kMaxRows) continue;
      const std::string what =
          Str(s, "outcome") == "unexpected" ? Str(s, "mismatch") : "error: " + Str(s, "error");
      md << "| " << MdCell(Str(s, "name")) << " | " << MdCell(Str(s, "engine")) << " | "
         << MdCell(Str(s, "model") + ", " + Str(s, "crash_kind")) << " | " << MdCell(what) << " | ["
         << (Str(s, "outcome") == "unexpected" ? "timeline" : "details") << "](" << details_url
         << "#" << HtmlAnchor(Str(s, "name")) << ") |\n";
    }
    if (rows > kMaxRows)
      md << "\n... and " << rows - kMaxRows << " more in [" << details_url << "](" << details_url
         << ").\n";
    md << "\n";
  }
  md << HoleTableMarkdown(HoleTable(report));
  md << "<details><summary>Durability gaps: all " << scenarios.size() << " scenarios</summary>\n\n";
  md << "## Durability gaps\n\n";
  md << "Lost: acknowledged writes missing after recovery in the worst crash state (contract: what "
        "the "
        "engine promises for that crash kind; a loss it allows is a documented weakness, not a "
        "violation).\n\n";
  md << "| engine | configuration | crash | model | outcome | lost | contract | violations | "
        "findings | scenario |\n";
  md << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : report.value("scenarios", json::array())) {
    const std::string outcome = Str(s, "outcome");
    const std::string shown = outcome == "as-expected"  ? "as expected"
                              : outcome == "unexpected" ? "**UNEXPECTED**"
                                                        : "**ERROR**";
    const json contract = s.value("contract", json::object());
    const std::string kind = Str(s, "crash_kind");
    md << "| " << MdCell(Str(s, "engine")) << " | " << MdCell(Configuration(s)) << " | "
       << MdCell(kind) << " | " << MdCell(Str(s, "model")) << " | " << shown << " | "
       << s.value("lost_writes", 0) << " of " << s.value("acked_writes", 0) << " | "
       << MdCell(contract.is_object() ? Str(contract, kind.c_str()) : "") << " | "
       << MdCell(List(s.value("violations", json::array()))) << " | "
       << MdCell(List(s.value("findings", json::array()))) << " | " << MdCell(Str(s, "name"))
       << " |\n";
  }
  md << "\n</details>\n";
  bool header = false;
  for (const auto& s : report.value("scenarios", json::array())) {
    if (Str(s, "outcome") == "as-expected") continue;
    if (!header) md << "\n## Unexpected outcomes and errors\n\n";
    header = true;
    md << "### " << Str(s, "name") << "\n\n" << Str(s, "description") << "\n\n";
    if (!Str(s, "mismatch").empty()) md << "- " << Str(s, "mismatch") << "\n";
    if (!Str(s, "error").empty()) md << "- error: " << Str(s, "error") << "\n";
    // The first violating states, each with its diagnosis; an explored
    // scenario may have thousands (report.html has them all).
    constexpr int kStatesShown = 8;
    int violating = 0;
    for (const auto& st : s.value("crash_states", json::array())) {
      if (st.value("violations", json::array()).empty()) continue;
      if (++violating > kStatesShown) continue;
      for (const auto& v : st.value("violations", json::array()))
        md << "- " << Str(st, "point") << " / " << Str(st, "state") << ": `" << Str(v, "invariant")
           << "`: " << Str(v, "message") << "\n";
      if (st.value("exploration", json()).is_object()) {
        ExploredStateMarkdown(md, st, "  ");
      } else if (const std::string dg = DiagnosisText(st); !dg.empty()) {
        md << "  - diagnosis: " << dg << "\n";
      }
    }
    if (violating > kStatesShown)
      md << "- ... " << violating - kStatesShown << " more violating crash states in ["
         << details_url << "](" << details_url << "#" << HtmlAnchor(Str(s, "name")) << ")\n";
    md << "- reproduce: `" << Str(s, "reproduce") << "`\n";
    if (!Str(s, "minimized").empty())
      md << "- minimized: `" << Str(s, "minimized") << "` (`blackout run` it to see the same "
         << "violations with fewer operations)\n";
    if (!Str(s, "minimized_note").empty())
      md << "- not minimized: " << Str(s, "minimized_note") << "\n";
    md << "\n";
  }
  // Every state that violates something and has a diagnosis (explored, or
  // cut on the mount), with it, also for scenarios whose violations are
  // expected (a finding is named by its diagnosis). Folded; a few states per
  // scenario.
  std::ostringstream explored;
  int explored_states = 0;  // violating states with a diagnosis
  for (const auto& s : report.value("scenarios", json::array())) {
    constexpr int kPerScenario = 4;
    int shown = 0, violating = 0;
    std::ostringstream one;
    for (const auto& st : s.value("crash_states", json::array())) {
      const bool explored = st.value("exploration", json()).is_object();
      const json dg = st.value("diagnosis", json());
      if (st.value("violations", json::array()).empty() || (!explored && !dg.is_object())) continue;
      ++violating;
      // A state with the same files as one shown adds nothing but its id.
      if ((explored && !Str(st["exploration"], "same_tree_as").empty()) || shown++ >= kPerScenario)
        continue;
      std::string inv;
      for (const auto& v : st.value("violations", json::array()))
        inv += (inv.empty() ? "" : ", ") + Str(v, "invariant");
      one << "- " << Str(st, "point") << ": " << inv << "\n";
      if (explored) {
        ExploredStateMarkdown(one, st, "  ");
      } else {
        one << "  - crash state `" << Str(st, "state") << "`, cut on the mount\n";
        if (!Str(dg, "text").empty()) one << "  - diagnosis: " << Str(dg, "text") << "\n";
      }
    }
    if (violating == 0) continue;
    explored_states += violating;
    explored << "### " << Str(s, "name") << "\n\n" << one.str();
    if (violating > shown)
      explored << "- ... " << violating - shown
               << " more violating states (or the same files under another id) in report.html\n";
    explored << "\n";
  }
  if (explored_states > 0)
    md << "\n<details><summary>Diagnosed crash states: " << explored_states
       << " (each violates an invariant; which sync would have saved it)</summary>\n\n"
          "## Diagnoses of crash states\n\n"
       << explored.str() << "</details>\n";
  // GitHub refuses comments over 65536 characters.
  std::string out = md.str();
  constexpr size_t kCommentLimit = 60000;
  if (out.size() > kCommentLimit) {
    out.resize(out.rfind('\n', kCommentLimit) + 1);
    // No heading left without its section.
    for (size_t last; (last = out.rfind('\n', out.size() - 2)) != std::string::npos;) {
      const std::string line = out.substr(last + 1);
      if (line != "\n" && line.rfind("#", 0) != 0) break;
      out.resize(last + 1);
    }
    size_t open = 0, close = 0;
    for (size_t p = out.find("<details>"); p != std::string::npos; p = out.find("<details>", p + 1))
      ++open;
    for (size_t p = out.find("</details>"); p != std::string::npos;
         p = out.find("</details>", p + 1))
      ++close;
    if (open > close) out += "\n</details>\n";
    out += "\n*Cut to fit a pull-request comment; everything is in [" + details_url + "](" +
           details_url + ").*\n";
  }
  return out;
}

std::string RenderJunit(const json& report) {
  const json& sum = report.value("summary", json::object());
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x << "<testsuites name=\"blackout\" tests=\"" << sum.value("scenarios", 0) << "\" failures=\""
    << sum.value("unexpected", 0) << "\" errors=\"" << sum.value("errors", 0) << "\" time=\""
    << Seconds(report, "duration_s") << "\">\n";
  x << "  <testsuite name=\"blackout.scenarios\" tests=\"" << sum.value("scenarios", 0)
    << "\" failures=\"" << sum.value("unexpected", 0) << "\" errors=\"" << sum.value("errors", 0)
    << "\" time=\"" << Seconds(report, "duration_s") << "\">\n";
  for (const auto& s : report.value("scenarios", json::array())) {
    x << "    <testcase classname=\"blackout." << EscapeMarkup(Str(s, "engine")) << "\" name=\""
      << EscapeMarkup(Str(s, "name")) << "\" file=\"" << EscapeMarkup(Str(s, "file"))
      << "\" time=\"" << Seconds(s, "seconds") << "\">\n";
    const std::string outcome = Str(s, "outcome");
    std::string details =
        Str(s, "description") + "\nviolations: " + List(s.value("violations", json::array())) +
        "\nfindings: " + List(s.value("findings", json::array())) +
        "\nlost acknowledged writes: " + std::to_string(s.value("lost_writes", 0)) +
        "\nreproduce: " + Str(s, "reproduce") + "\n" +
        (Str(s, "minimized").empty() ? "" : "minimized: " + Str(s, "minimized") + "\n");
    for (const auto& st : s.value("crash_states", json::array())) {
      const std::string where = Str(st, "point") + " / " + Str(st, "state") + ": ";
      for (const auto& v : st.value("violations", json::array()))
        details += where + Str(v, "invariant") + ": " + Str(v, "message") + "\n";
      if (const std::string dg = DiagnosisText(st); !dg.empty()) details += where + dg + "\n";
    }
    if (outcome == "unexpected")
      x << "      <failure message=\"" << EscapeMarkup(Str(s, "mismatch")) << "\">"
        << EscapeMarkup(details) << "</failure>\n";
    else if (outcome != "as-expected")
      x << "      <error message=\"" << EscapeMarkup(Str(s, "error")) << "\">"
        << EscapeMarkup(details) << "</error>\n";
    x << "      <system-out>" << EscapeMarkup(details) << "</system-out>\n";
    x << "    </testcase>\n";
  }
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

bool WriteFileAtomically(const std::string& path, const std::string& content, std::string* error) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(error, "cannot create " + tmp);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Fail(error, "cannot write " + tmp);
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    done += n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    Fail(error, "cannot write " + tmp);
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Fail(error, "cannot rename " + tmp + " to " + path);
    unlink(tmp.c_str());
    return false;
  }
  // The rename is durable only once the directory is; we practise what we test.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return true;
}

bool CheckWritableDir(const std::string& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = "cannot create the output directory " + dir + ": " + ec.message();
    return false;
  }
  const std::string probe = dir + "/.blackout-write-test." + std::to_string(getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(error, "the output directory " + dir + " is not writable");
  close(fd);
  unlink(probe.c_str());
  return true;
}

bool WriteReports(const std::string& dir, const json& report, std::string* error) {
  if (!CheckWritableDir(dir, error)) return false;
  // report.json carries the hole table too, for tools that read it alone.
  json saved = report;
  if (json holes = HoleTable(report); !holes.empty()) saved["holes"] = std::move(holes);
  return WriteFileAtomically(dir + "/report.json", saved.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", error) &&
         WriteFileAtomically(dir + "/report.md", RenderMarkdown(report), error) &&
         WriteFileAtomically(dir + "/junit.xml", RenderJunit(report), error) &&
         WriteFileAtomically(dir + "/report.html", RenderHtml(report), error);
}

}  // namespace blackout::reports
