// The hole table: for each durability hole of a reference engine that the
// run's scenarios name (their "hole" field, ENGINES.md section 7), what is
// lost, which model and crash state found it on the default profile, and
// what the fixed profile's twins showed. Built from the saved result object
// alone, like every other format.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace blackout::reports {

// One row per hole, in the order the holes first appear in the suite:
//   {"hole", "engine", "lost",            // from the default scenario's description
//    "found_by": ["posix-strict: process", "ext4-ordered: drop-all after fsync btree.wal #14"],
//    "default_violations": {"posix-strict": [...], ...},
//    "fixed": "closed" | "closed by refusing to open (recovers)" | "NOT closed: ..." | "not run",
//    "scenarios": [names]}
// Empty when no scenario names a hole.
nlohmann::json HoleTable(const nlohmann::json& report);

// The table as a Markdown section ("## Holes ...") and as an HTML section;
// both empty for an empty table.
std::string HoleTableMarkdown(const nlohmann::json& rows);
std::string HoleTableHtml(const nlohmann::json& rows);

}  // namespace blackout::reports
