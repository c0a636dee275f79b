// Typed access to request and config fields for the engine sessions, with
// errors that name the field, so every engine answers bad input the same way:
//   missing field 'key'           field 'key' must be a string, got number
// Header-only; any session may use it.
#ifndef BLACKOUT_ENGINES_DRIVER_REQUEST_H_
#define BLACKOUT_ENGINES_DRIVER_REQUEST_H_

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "engines/common/status.h"

namespace blackout::engines::request {

inline Status WrongType(const std::string& field, const char* want, const nlohmann::json& got) {
  return Status::InvalidArgument("field '" + field + "' must be " + want + ", got " +
                                 got.type_name());
}

// A required string field.
[[nodiscard]] inline Result<std::string> String(const nlohmann::json& obj,
                                                const std::string& field) {
  auto it = obj.find(field);
  if (it == obj.end()) return Status::InvalidArgument("missing field '" + field + "'");
  if (!it->is_string()) return WrongType(field, "a string", *it);
  return it->get<std::string>();
}

// An optional string field: `fallback` when absent.
[[nodiscard]] inline Result<std::string> StringOr(const nlohmann::json& obj,
                                                  const std::string& field,
                                                  const std::string& fallback) {
  if (!obj.contains(field)) return fallback;
  return String(obj, field);
}

// A required integer field (JSON number without fraction).
[[nodiscard]] inline Result<int64_t> Int(const nlohmann::json& obj, const std::string& field) {
  auto it = obj.find(field);
  if (it == obj.end()) return Status::InvalidArgument("missing field '" + field + "'");
  if (!it->is_number_integer()) return WrongType(field, "an integer", *it);
  return it->get<int64_t>();
}

[[nodiscard]] inline Result<int64_t> IntOr(const nlohmann::json& obj, const std::string& field,
                                           int64_t fallback) {
  if (!obj.contains(field)) return fallback;
  return Int(obj, field);
}

[[nodiscard]] inline Result<bool> BoolOr(const nlohmann::json& obj, const std::string& field,
                                         bool fallback) {
  auto it = obj.find(field);
  if (it == obj.end()) return fallback;
  if (!it->is_boolean()) return WrongType(field, "a boolean", *it);
  return it->get<bool>();
}

// The keys a scan request asks for: [start, end), "start" defaulting to ""
// and a missing or null "end" meaning no upper bound.
struct KeyRange {
  std::string start;
  std::optional<std::string> end;

  bool Contains(std::string_view key) const { return key >= start && (!end || key < *end); }
  std::optional<std::string_view> EndView() const {
    return end ? std::optional<std::string_view>(*end) : std::nullopt;
  }
};

[[nodiscard]] inline Result<KeyRange> ScanRange(const nlohmann::json& req) {
  KeyRange range;
  BLACKOUT_ASSIGN_OR_RETURN(range.start, StringOr(req, "start", ""));
  if (auto it = req.find("end"); it != req.end() && !it->is_null()) {
    BLACKOUT_ASSIGN_OR_RETURN(range.end, String(req, "end"));
  }
  return range;
}

// Config check: `config` must be an object whose keys are all in `allowed`.
[[nodiscard]] inline Status OnlyKeys(const nlohmann::json& config, const std::string& engine,
                                     std::initializer_list<const char*> allowed) {
  if (!config.is_object())
    return Status::InvalidArgument("config must be a JSON object, got " +
                                   std::string(config.type_name()));
  for (const auto& [key, value] : config.items()) {
    bool known = false;
    std::string list;
    for (const char* a : allowed) {
      known = known || key == a;
      list += list.empty() ? a : std::string(", ") + a;
    }
    if (!known)
      return Status::InvalidArgument("unknown config key '" + key + "' for engine " + engine +
                                     "; keys: " + list);
  }
  return Status::OK();
}

// "profile": "default" (REF, holes included) or "fixed"; true for fixed.
[[nodiscard]] inline Result<bool> FixedProfile(const nlohmann::json& config) {
  BLACKOUT_ASSIGN_OR_RETURN(std::string p, StringOr(config, "profile", "default"));
  if (p == "default") return false;
  if (p == "fixed") return true;
  return Status::InvalidArgument("config key 'profile' must be \"default\" or \"fixed\", got \"" +
                                 p + "\"");
}

// {"ok":false,"error":message} for a failed request.
inline nlohmann::json ErrorReply(const Status& s) {
  return {{"ok", false}, {"error", s.ToString()}};
}

inline nlohmann::json OkReply() { return {{"ok", true}}; }

// {"ok":true} when `s` is OK, else the error reply.
inline nlohmann::json StatusReply(const Status& s) { return s.ok() ? OkReply() : ErrorReply(s); }

// put, get and delete of a key-value store with Status Put(key, value),
// Result<std::optional<std::string>> Get(key) and Status Delete(key): the
// reply, or nullopt when `op` is none of the three.
template <typename Store>
std::optional<nlohmann::json> KeyValueOp(Store& store, const std::string& op,
                                         const nlohmann::json& req) {
  if (op != "put" && op != "get" && op != "delete") return std::nullopt;
  auto key = String(req, "key");
  if (!key.ok()) return ErrorReply(key.status());
  if (op == "delete") return StatusReply(store.Delete(*key));
  if (op == "put") {
    auto value = String(req, "value");
    if (!value.ok()) return ErrorReply(value.status());
    return StatusReply(store.Put(*key, *value));
  }
  auto value = store.Get(*key);
  if (!value.ok()) return ErrorReply(value.status());
  nlohmann::json reply = {{"ok", true}, {"found", value->has_value()}};
  if (value->has_value()) reply["value"] = **value;
  return reply;
}

// The unknown-op reply every session gives.
inline nlohmann::json UnknownOp(const std::string& op, const std::string& engine,
                                std::initializer_list<const char*> ops) {
  std::string list;
  for (const char* o : ops) list += list.empty() ? o : std::string(", ") + o;
  return {{"ok", false},
          {"error", "unknown op '" + op + "' for engine " + engine + "; ops: " + list}};
}

}  // namespace blackout::engines::request

#endif  // BLACKOUT_ENGINES_DRIVER_REQUEST_H_
