// A crash scenario: the JSON file format (scenarios/schema.json is its JSON
// Schema, for editors) and the loader that validates it.
//
// The loader reports EVERY problem it finds, each with the file, a JSON path
// ("$.workload[3].key") and what was expected, so an author can fix a file in
// one pass. A scenario that loads is fully checked against the engine catalog
// (engine_catalog.h): a run never starts on a workload the engine cannot serve.
//
// `repeat: N` on a workload entry expands it N times, substituting `{i}`
// (0 .. N-1) in every string of the entry, nested ones included.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/damage.h"

namespace blackout::harness {

enum class CrashKind { kProcess, kPower };
enum class CrashAt { kEnd, kAfterOp, kEverySync, kEveryOp };

struct WorkItem {
  // kCrash: crash in the middle of the workload, recover, check the
  // invariants, restart the engine and go on (see runner.h). kDamage: damage
  // one file of the store (damage.h); right after a crash it lands before
  // the recovery.
  enum class Kind { kOp, kSync, kRestart, kCrash, kDamage };
  Kind kind = Kind::kOp;
  CrashKind crash_kind = CrashKind::kPower;  // kCrash
  std::string crash_state = "drop-all";      // kCrash, power: the generator
  Damage damage;                             // kDamage
  nlohmann::json request;  // kOp: the driver request, {i} already substituted
  std::string where;       // where it came from: "$.workload[2]" or "$.workload[2] (i=7)"
  int op_number = 0;       // kOp: 1-based position among the expanded ops
  // kOp, `"expect_error": true` / `"maybe"`: the op must / may fail (an
  // injected fault, a refused input). A failed op is no acknowledgement and
  // no run error; an op expected to fail that succeeds is a run error.
  enum class Failure { kNever, kExpected, kAllowed };
  Failure failure = Failure::kNever;
};

// An exec workload: any program instead of an engine (scenario_exec.h).
struct ExecSpec {
  std::string workload, recover, check;  // shell commands; recover may be empty
  std::string contract = "acked";        // what every ack promises after the crash
  double timeout_s = 60;                 // the workload's time limit
  std::string dir;                       // where the commands run: the scenario's directory
  bool older_spelling = false;           // given as "exec": {...} (errors name $.exec.*)
};

struct Scenario {
  std::string file;  // as given on the command line
  std::string name;
  std::string description;
  // `"hole": "H-W2"`: the durability hole of a reference engine this
  // scenario finds or, on a fixed profile, shows closed (ENGINES.md section
  // 7; reports build their hole table from it). Empty: none.
  std::string hole;
  // `"promise": {"process": C, "power": C}`: what the application needs from
  // the engine after each kind of crash (C: acked, synced-prefix,
  // batch-atomic, none), judged instead of the contract the engine declares
  // for its configuration, e.g. a batch-mode WAL whose caller needs every
  // acknowledged record to survive a process crash. A kind left out keeps
  // the declared contract. Empty object: none given. Engine scenarios only.
  nlohmann::json promise = nlohmann::json::object();
  std::string engine;
  nlohmann::json config = nlohmann::json::object();
  std::string profile = "default";  // config.profile, for reports
  std::string model = "posix-strict";
  std::vector<WorkItem> workload;  // expanded
  int op_count = 0;
  CrashKind crash_kind = CrashKind::kPower;
  CrashAt crash_at = CrashAt::kEnd;
  int after_op = 0;                 // for kAfterOp
  std::vector<std::string> states;  // crash-state generators; power cuts only
  double recovery_timeout_s = 20;
  std::vector<std::string> check;
  std::vector<std::string> expect_violations;  // sorted, unique
  std::optional<std::string> expect_finding;
  nlohmann::json source;  // the document as written (reproducers quote it)
  // Faults beyond power loss (scenario_exec.h): "fail" requests sent before
  // the workload, the disk's capacity (0: unlimited), a "crash-after"
  // request (null: none) and an exec workload instead of an engine.
  std::vector<nlohmann::json> faults;
  uint64_t capacity_bytes = 0;
  nlohmann::json crash_trigger;
  std::optional<ExecSpec> exec;
};

// One validation problem. ToString(): "FILE: PATH: MESSAGE".
struct Problem {
  std::string file;
  std::string path;
  std::string message;
  std::string ToString() const;
};

// Validates `doc` and returns the scenario, or nullopt after appending every
// problem found to *problems.
std::optional<Scenario> ParseScenario(const nlohmann::json& doc, const std::string& file,
                                      std::vector<Problem>* problems);

// Reads and parses a file (a JSON syntax error is reported with line and
// column), then ParseScenario.
std::optional<Scenario> LoadScenarioFile(const std::string& file, std::vector<Problem>* problems);

// LoadScenarioFile for a command that takes one scenario: on failure prints
// every problem, then "blackout COMMAND: FILE is not a valid scenario", to
// stderr.
std::optional<Scenario> LoadScenarioForCommand(const std::string& file,
                                               const std::string& command);

// Expands command-line PATHs into scenario files: a file is taken as given; a
// directory is searched recursively for *.json, skipping files named
// schema.json (the suite keeps its schema beside the scenarios). Sorted, so a
// suite always runs, shards and reports in the same order. A missing path is
// a problem.
std::vector<std::string> FindScenarioFiles(const std::vector<std::string>& paths,
                                           std::vector<Problem>* problems);

// `v` with "{i}" replaced by `i` in every string, nested ones included: what
// `repeat` does to each copy of an entry.
nlohmann::json SubstituteIndex(const nlohmann::json& v, int i);

// Invariants the checker implements now, and those the format reserves for
// later work (rejected with "not supported yet").
const std::vector<std::string>& SupportedInvariants();
const std::vector<std::string>& ReservedInvariants();

std::string_view Name(CrashKind k);
// "end", "every_sync", "every_op" or "after_op:N".
std::string CrashAtName(const Scenario& s);

}  // namespace blackout::harness
