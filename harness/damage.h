// The `damage` workload step: what a failing disk or a stray program does to
// one file of the store, applied through the mount and then fsynced, so that
// the damage is on "disk" like the engine's own durable data.
//
//   {"step":"damage","path":"wal.log","truncate":N}
//       N >= 0 cuts the file to N bytes; N < 0 cuts -N bytes off its end
//       (never below 0 bytes).
//   {"step":"damage","path":"wal.log","flip":{"offset":N,"bit":B}}
//       flips bit B (0 = least significant) of the byte at N; N < 0 counts
//       from the end (-1 is the last byte).
//   {"step":"damage","path":"events.ndjson","duplicate_line":N}
//       copies line N right after itself, as a bad copy or a program that
//       appends twice does; lines count from 1 and N < 0 counts from the end
//       (-1 is the last line). A line ends after its '\n'; a last line with
//       none is a line too, and its copy goes after a '\n' put between them,
//       so the file keeps its ending.
//
// `path` is relative to the store directory. Absolute paths, "..", and
// anything that resolves outside the store (a symlink) are refused: a
// scenario must never touch the harness's own files.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/expected.h"

namespace blackout::harness {

struct Damage {
  enum class Kind { kTruncate, kFlip, kDuplicateLine };
  Kind kind = Kind::kTruncate;
  std::string path;    // relative to the store
  int64_t amount = 0;  // kTruncate: N; kFlip: offset; kDuplicateLine: line N
  int bit = 0;         // kFlip
};

// The fields that name what a damage step does ("truncate", "flip",
// "duplicate_line"); a step has exactly one. scenarios/schema.json lists the
// same (harness/child_process_test.cc checks that they agree).
const std::vector<std::string>& DamageKinds();

// Validates a damage step object; appends "PATH: message" problems (PATH is
// `where` plus the field) and returns false on any.
bool ParseDamage(const nlohmann::json& step, const std::string& where, Damage* out,
                 std::vector<std::pair<std::string, std::string>>* problems);

// Applies `d` inside `store_dir` and fsyncs the file. Fails (with the path)
// when the file is missing, the offset or line lies outside it, or the path
// escapes.
[[nodiscard]] Status ApplyDamage(const std::string& store_dir, const Damage& d);

// "truncate wal.log by 3 bytes", for reports.
std::string DescribeDamage(const Damage& d);

}  // namespace blackout::harness
