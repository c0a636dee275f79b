// Report writers. Every format renders from the saved result object (the
// content of report.json), never from the harness's in-memory state, so that
// `blackout report out/report.json --format ...` can re-render any old run.
//
// The result object (schema_version 1):
//   {"schema_version":1, "tool":"blackout", "generated_at":ISO-8601, "seed":S,
//    "shard":"I/N", "jobs":N, "duration_s":X,
//    "summary":{"scenarios","as_expected","unexpected","errors","lost_writes"},
//    "scenarios":[{"name","file","description","engine","config","profile","model",
//                  "crash_kind","crash_at","states_requested","check","expect",
//                  "outcome": "as-expected"|"unexpected"|"error", "error","mismatch",
//                  "contract","violations","findings","acked_writes","lost_writes",
//                  "crash_states":[{"point","state","recovered","lost_writes",
//                                   "violations":[{"invariant","message"}],
//                                   "pending_at_crash","findings",...}],
//                  "seconds","reproduce"}]}
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace blackout::reports {

inline constexpr int kSchemaVersion = 1;

// report.md: the durability-gap table (engine x configuration x crash kind x
// model -> outcome, with counts of acknowledged writes lost), then every
// unexpected outcome and error with the command that reproduces it.
// It is written to fit a pull-request comment: first a status line and a
// short "What changed" table (only the scenarios whose outcome differs from
// their expect, each linking to its timeline at details_url#s-NAME), then the
// full table folded in <details>.
std::string RenderMarkdown(const nlohmann::json& report);
std::string RenderMarkdown(const nlohmann::json& report, const std::string& details_url);

// junit.xml: one test case per scenario; an unexpected outcome is a
// <failure>, a setup error an <error>.
std::string RenderJunit(const nlohmann::json& report);

// Writes `content` to `path` atomically: a temporary file beside it, fsync,
// rename over `path`, fsync of the directory. A run killed half-way leaves
// the old file or the new one, never a truncated one.
// Durability: the file survives power loss once this returns true.
[[nodiscard]] bool WriteFileAtomically(const std::string& path, const std::string& content,
                                       std::string* error);

// Creates `dir` if needed and checks that a file can be written there;
// called before a run so that a bad --out fails in a second, not after it.
[[nodiscard]] bool CheckWritableDir(const std::string& dir, std::string* error);

// report.json, report.md, junit.xml and report.html (reports/html.h) into
// `dir`, each atomically.
[[nodiscard]] bool WriteReports(const std::string& dir, const nlohmann::json& report,
                                std::string* error);

}  // namespace blackout::reports
