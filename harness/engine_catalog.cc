#include "harness/engine_catalog.h"

namespace blackout::harness {
namespace {

using F = FieldSpec;
constexpr FieldType S = FieldType::kString;
constexpr FieldType I = FieldType::kInteger;
constexpr FieldType O = FieldType::kObject;
constexpr FieldType A = FieldType::kArray;
constexpr FieldType Any = FieldType::kAny;

std::vector<OpSpec> KeyValueOps(bool with_compact) {
  std::vector<OpSpec> ops = {
      {"put", {F{"key", S, true}, F{"value", S, true}}, true},
      {"delete", {F{"key", S, true}}, true},
      {"get", {F{"key", S, true}}, false},
      {"scan", {F{"start", S, false}, F{"end", S, false}}, false},
  };
  // Compaction rewrites files but not the logical state; it is still a write
  // for the checker's purposes only in that it may lose data, which the
  // ordinary comparison catches, so it carries no logical effect.
  if (with_compact) ops.push_back({"compact", {}, false});
  return ops;
}

const std::vector<EngineSpec>& Catalog() {
  static const std::vector<EngineSpec> catalog = {
      {"bitcask", StoreKind::kKeyValue, KeyValueOps(true)},
      {"btree", StoreKind::kKeyValue, KeyValueOps(false)},
      {"lsm", StoreKind::kKeyValue, KeyValueOps(true)},
      {"wal",
       StoreKind::kLog,
       {
           {"append", {F{"type", S, false}, F{"key", S, true}, F{"value", S, false}}, true},
           {"append_batch", {F{"items", A, true}}, true},
           {"checkpoint", {}, true},
           {"truncate", {F{"up_to", I, true}}, true},
           {"replay", {F{"after", I, false}}, false},
       }},
      {"eventstore",
       StoreKind::kEvents,
       {
           {"append",
            {F{"stream", S, true}, F{"type", S, true}, F{"data", Any, true},
             F{"metadata", Any, false}, F{"expected_version", I, false}},
            true},
           {"append_batch",
            {F{"stream", S, true}, F{"events", A, true}, F{"expected_version", I, false}},
            true},
           {"read", {F{"stream", S, false}, F{"from", I, false}}, false},
       }},
  };
  return catalog;
}

}  // namespace

const OpSpec* EngineSpec::FindOp(const std::string& op) const {
  for (const auto& o : ops)
    if (o.name == op) return &o;
  return nullptr;
}

std::string EngineSpec::OpNames() const {
  std::string out;
  for (const auto& o : ops) out += (out.empty() ? "" : ", ") + o.name;
  return out;
}

const EngineSpec* FindEngine(const std::string& name) {
  for (const auto& e : Catalog())
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> EngineNames() {
  std::vector<std::string> names;
  for (const auto& e : Catalog()) names.push_back(e.name);
  return names;
}

const char* FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kString:
      return "a string";
    case FieldType::kInteger:
      return "an integer";
    case FieldType::kObject:
      return "an object";
    case FieldType::kArray:
      return "an array";
    case FieldType::kAny:
      return "any JSON value";
  }
  return "?";
}

}  // namespace blackout::harness
