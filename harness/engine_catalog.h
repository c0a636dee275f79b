// What the harness knows about the engines that `blackout engine` runs: their
// names, the ops a workload may send them (with field types, so that a
// scenario is rejected before anything is mounted), which ops write, and how
// a write changes the logical state the checker compares against the dump.
//
// The driver protocol and the dump formats are fixed in
// /work/prompts/engines-common.md ("blackout engine driver"); this table must
// follow them. The driver itself remains the authority at run time: an op it
// refuses is a scenario error.
#pragma once

#include <string>
#include <vector>

namespace blackout::harness {

enum class FieldType { kString, kInteger, kObject, kArray, kAny };

struct FieldSpec {
  std::string name;
  FieldType type;
  bool required;
};

struct OpSpec {
  std::string name;
  std::vector<FieldSpec> fields;
  bool writes;  // changes the store (its acknowledgement is a promise to check)
};

// How a dump is read back: "kv" ({"data":{k:v}}), "log" ({"records":[...]}),
// "events" ({"events":[...]}).
enum class StoreKind { kKeyValue, kLog, kEvents };

struct EngineSpec {
  std::string name;
  StoreKind kind;
  std::vector<OpSpec> ops;
  const OpSpec* FindOp(const std::string& op) const;
  std::string OpNames() const;  // "put, get, ..." for error messages
};

// nullptr when the engine is unknown.
const EngineSpec* FindEngine(const std::string& name);
std::vector<std::string> EngineNames();
const char* FieldTypeName(FieldType t);

}  // namespace blackout::harness
