// report.html: the durability-gap report as one self-contained page. It
// renders from the saved result object (report.json), like every format, and
// opens offline: styles, the filter script and every drawing are inline; it
// loads no font, script, style or image from anywhere.
//
// What it shows, top to bottom:
//   - a summary: scenarios, crash states, violations, acknowledged writes lost;
//   - the matrix (id "matrix"): one row per engine x configuration, one column
//     per filesystem model x crash kind, each cell the scenarios there,
//     coloured by outcome (clean, a loss the contract allows, a violation
//     that was expected, an unexpected outcome, an error);
//   - for every crash state that lost writes or broke an invariant (class
//     "violation"): the violations, the diagnosis (findings, what was pending
//     at the crash, and any diagnosis text the runner recorded), an inline SVG
//     timeline (class "timeline") of writes, directory operations, fsyncs,
//     directory syncs, acknowledgements and the crash point, with the
//     operations the crash dropped marked, and the command that reproduces it.
// Filtering by engine and by outcome is a few lines of inline script over
// data-engine / data-outcome attributes; without script every row shows.
//
// Fields the page does not know (added by a later schema) are shown as a
// small key/value list under the crash state; missing fields are skipped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace blackout::reports {

std::string RenderHtml(const nlohmann::json& report);

}  // namespace blackout::reports
