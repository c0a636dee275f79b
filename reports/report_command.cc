#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "reports/commands.h"
#include "reports/html.h"
#include "reports/report.h"

namespace blackout::reports {
namespace {

using nlohmann::json;

struct ReportArgs {
  std::string input;
  std::string format = "html";
  std::string out;
  std::string details_url = "report.html";
  bool quiet = false;
};

int Render(const ReportArgs& a) {
  std::ifstream in(a.input);
  if (!in) {
    std::fprintf(stderr,
                 "blackout report: cannot read %s; give the report.json that `blackout run "
                 "--out DIR` wrote (DIR/report.json)\n",
                 a.input.c_str());
    return 2;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  json report;
  try {
    report = json::parse(buf.str());
  } catch (const json::parse_error& e) {
    std::fprintf(stderr, "blackout report: %s is not JSON (%s); is it a report.json?\n",
                 a.input.c_str(), e.what());
    return 2;
  }
  if (!report.is_object() || !report.contains("scenarios")) {
    std::fprintf(stderr,
                 "blackout report: %s: $.scenarios is missing; this is not a blackout "
                 "report.json\n",
                 a.input.c_str());
    return 2;
  }
  const auto version = report.find("schema_version");
  if (version == report.end() || !version->is_number_integer()) {
    std::fprintf(stderr, "blackout report: %s: $.schema_version is missing or not an integer\n",
                 a.input.c_str());
    return 2;
  }
  if (version->get<int>() > kSchemaVersion || version->get<int>() < 1) {
    std::fprintf(stderr,
                 "blackout report: %s: $.schema_version is %d; this blackout reads versions 1 to "
                 "%d. Use the blackout that wrote it, or run the scenarios again\n",
                 a.input.c_str(), version->get<int>(), kSchemaVersion);
    return 2;
  }
  if (!a.out.empty() && a.out != "-") {
    const std::filesystem::path out = std::filesystem::absolute(a.out);
    std::error_code ec;
    if (std::filesystem::is_directory(out, ec)) {
      std::fprintf(stderr, "blackout report: --out %s is a directory; give a file name\n",
                   a.out.c_str());
      return 2;
    }
    if (!std::filesystem::is_directory(out.parent_path(), ec)) {
      std::fprintf(stderr, "blackout report: --out %s: directory %s does not exist\n",
                   a.out.c_str(), out.parent_path().c_str());
      return 2;
    }
  }
  std::string content;
  if (a.format == "html")
    content = RenderHtml(report);
  else if (a.format == "md")
    content = RenderMarkdown(report, a.details_url);
  else if (a.format == "junit")
    content = RenderJunit(report);
  else
    content = report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (a.out.empty() || a.out == "-") {
    std::fwrite(content.data(), 1, content.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  std::string error;
  if (!WriteFileAtomically(a.out, content, &error)) {
    std::fprintf(stderr, "blackout report: --out: %s\n", error.c_str());
    return 1;
  }
  if (!a.quiet) std::fprintf(stderr, "blackout report: wrote %s\n", a.out.c_str());
  return 0;
}

}  // namespace

void AddReportCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Render a saved report.json again as HTML, Markdown, JUnit XML or JSON");
  cmd->add_option("REPORT", args->input, "a report.json written by `blackout run`")->required();
  cmd->add_option("--format,-f", args->format, "output format: html (default), md, junit, json")
      ->check(CLI::IsMember({"html", "md", "junit", "json"}));
  cmd->add_option("--out,-o", args->out, "file to write (atomically); default: standard output")
      ->check([](const std::string& path) {
        return path.empty() ? std::string("the path is empty") : std::string();
      });
  cmd->add_option("--details-url", args->details_url,
                  "md: where report.html will be, for the links (default report.html; in CI, "
                  "the artifact's URL)");
  cmd->add_flag("--quiet,-q", args->quiet, "print nothing but errors");
  cmd->footer(
      "Examples:\n"
      "  blackout report out/report.json --format html --out out/report.html\n"
      "  blackout report out/report.json --format md > comment.md\n"
      "  blackout report out/report.json -f md --details-url \"$ARTIFACT_URL\" -o pr.md\n"
      "  blackout report old/report.json -f junit -o junit.xml");
  cmd->callback([args, &exit_code] { exit_code = Render(*args); });
}

}  // namespace blackout::reports
