// `blackout report REPORT.json --format html|md|junit|json [--out FILE]`:
// renders a saved report again, from any earlier run (the formats render from
// report.json alone; reports/report-schema.md describes it).
//
// Exit codes: 0 written; 2 bad usage (a file that cannot be read, is not
// JSON, or has a schema_version this build does not know; an unknown
// format); 1 the output cannot be written.
#pragma once

#include <CLI/CLI.hpp>

namespace blackout::reports {

void AddReportCommand(CLI::App& app, int& exit_code);

}  // namespace blackout::reports
