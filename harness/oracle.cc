#include "harness/oracle.h"

#include <cstdio>

#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

std::string Str(const json& obj, const char* field, const char* fallback = "") {
  auto it = obj.find(field);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

json LogRecord(const json& item) {
  return json{
      {"type", Str(item, "type", "PUT")}, {"key", Str(item, "key")}, {"value", Str(item, "value")}};
}

json Event(const std::string& stream, const json& e) {
  return json{{"stream", stream}, {"type", Str(e, "type")}, {"data", e.value("data", json())}};
}

// Turns one acknowledged write into its atoms. `state` is the oracle's state
// before the op (a wal truncate needs to know which records exist).
Expected<std::vector<Atom>> AtomsOf(StoreKind kind, const Ack& a, const LogicalState& state,
                                    bool* batch) {
  const std::string op = a.request.value("op", "");
  const json& r = a.reply;
  std::vector<Atom> atoms;
  *batch = false;
  auto need_int = [&](const char* field) -> Expected<uint64_t> {
    auto it = r.find(field);
    if (it == r.end() || !it->is_number_integer())
      return Error{"the engine's reply to '" + op + "' at " + a.where + " has no integer \"" +
                   field + "\": " + r.dump()};
    return it->get<uint64_t>();
  };
  switch (kind) {
    case StoreKind::kKeyValue:
      if (op == "put") atoms.push_back({Str(a.request, "key"), json(Str(a.request, "value"))});
      if (op == "delete") atoms.push_back({Str(a.request, "key"), std::nullopt});
      break;
    case StoreKind::kLog:
      if (op == "append") {
        auto seq = need_int("seq");
        if (!seq.ok()) return Error{seq.error()};
        atoms.push_back({SeqKey(*seq), LogRecord(a.request)});
      } else if (op == "append_batch") {
        // The reply names the COMMIT record; the items precede it, one seq each.
        auto seq = need_int("seq");
        if (!seq.ok()) return Error{seq.error()};
        const json& items = a.request["items"];
        if (*seq < items.size() + 1)
          return Error{"the engine's reply to append_batch at " + a.where + " has seq " +
                       std::to_string(*seq) + ", below the number of records in the batch"};
        uint64_t s = *seq - items.size();
        for (const auto& item : items) atoms.push_back({SeqKey(s++), LogRecord(item)});
        *batch = true;
      } else if (op == "truncate") {
        const uint64_t up_to = a.request["up_to"].get<uint64_t>();
        for (const auto& [key, value] : state)
          if (key <= SeqKey(up_to)) atoms.push_back({key, std::nullopt});
      }
      break;
    case StoreKind::kEvents:
      if (op == "append") {
        auto id = need_int("event_id");
        if (!id.ok()) return Error{id.error()};
        atoms.push_back({std::to_string(*id), Event(Str(a.request, "stream"), a.request)});
      } else if (op == "append_batch") {
        auto ids = r.find("event_ids");
        const json& events = a.request["events"];
        if (ids == r.end() || !ids->is_array() || ids->size() != events.size())
          return Error{"the engine's reply to append_batch at " + a.where +
                       " has no \"event_ids\" list with one id per event: " + r.dump()};
        for (size_t i = 0; i < events.size(); ++i)
          atoms.push_back({(*ids)[i].dump(), Event(Str(a.request, "stream"), events[i])});
        *batch = true;
      }
      break;
  }
  return atoms;
}

}  // namespace

std::string SeqKey(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
  return buf;
}

Expected<Oracle> Oracle::Build(StoreKind kind, std::vector<Ack> acks, const LogicalState* base) {
  Oracle o;
  o.kind_ = kind;
  o.acks_ = std::move(acks);
  LogicalState state;
  if (base) {
    // The pseudo-op is no catalog op, so the loop below skips its ack.
    Ack pseudo;
    pseudo.where = "the previous crash step";
    pseudo.request = {{"op", "(the state recovered at the previous crash)"}};
    o.acks_.insert(o.acks_.begin(), std::move(pseudo));
    Unit u;
    for (const auto& [key, value] : *base) u.atoms.push_back({key, value});
    o.units_.push_back(std::move(u));
    state = *base;
  }
  for (size_t i = 0; i < o.acks_.size(); ++i) {
    const Ack& a = o.acks_[i];
    const EngineSpec* spec = nullptr;
    for (const auto& name : EngineNames())
      if (FindEngine(name)->kind == kind) spec = FindEngine(name);
    const OpSpec* op = spec ? spec->FindOp(a.request.value("op", "")) : nullptr;
    if (!op || !op->writes) continue;
    Unit u;
    u.ack = static_cast<int>(i);
    auto atoms = AtomsOf(kind, a, state, &u.batch);
    if (!atoms.ok()) return Error{atoms.error()};
    u.atoms = std::move(*atoms);
    for (const auto& at : u.atoms) {
      if (at.value)
        state[at.key] = *at.value;
      else
        state.erase(at.key);
    }
    o.units_.push_back(std::move(u));
  }
  o.IndexKeys();
  return o;
}

void Oracle::IndexKeys() {
  std::map<std::string, std::vector<std::pair<int, size_t>>> by_key;
  places_.resize(units_.size());
  for (size_t u = 0; u < units_.size(); ++u) {
    places_[u].resize(units_[u].atoms.size());
    for (size_t i = 0; i < units_[u].atoms.size(); ++i)
      by_key[units_[u].atoms[i].key].push_back({static_cast<int>(u), i});
  }
  for (auto& [key, writes] : by_key) {
    keys_.push_back({key, written_at_.size(), writes.size()});
    for (const auto& [u, i] : writes) {
      places_[u][i] = {keys_.size() - 1, written_at_.size()};
      written_at_.push_back({u, i});
    }
  }
}

int Oracle::synced_units() const {
  int n = 0;
  for (size_t u = 0; u < units_.size(); ++u)
    if (acks_[units_[u].ack].synced) n = static_cast<int>(u) + 1;
  // A sync step after a read still covers every earlier write.
  for (size_t i = 0; i < acks_.size(); ++i) {
    if (!acks_[i].synced) continue;
    for (size_t u = 0; u < units_.size(); ++u)
      if (units_[u].ack <= static_cast<int>(i)) n = std::max(n, static_cast<int>(u) + 1);
  }
  return n;
}

std::string Oracle::Describe(int unit) const {
  const Ack& a = acks_[units_[unit].ack];
  json req = a.request;
  std::string text = req.dump();
  text = Clip(text, 120);
  return text + " at " + a.where;
}

Expected<LogicalState> ObservedState(StoreKind kind, const json& dump) {
  LogicalState state;
  auto bad = [&](const std::string& what) {
    std::string text = dump.dump();
    text = Clip(text, 200);
    return Error{"the recovered dump " + what + ": " + text};
  };
  if (!dump.is_object() || dump.value("ok", false) != true) return bad("is not {\"ok\":true,...}");
  switch (kind) {
    case StoreKind::kKeyValue: {
      auto data = dump.find("data");
      if (data == dump.end() || !data->is_object()) return bad("has no \"data\" object");
      for (const auto& [k, v] : data->items()) state[k] = v;
      break;
    }
    case StoreKind::kLog: {
      auto records = dump.find("records");
      if (records == dump.end() || !records->is_array()) return bad("has no \"records\" list");
      for (const auto& r : *records) {
        if (!r.is_object() || !r.contains("seq") || !r["seq"].is_number_integer())
          return bad("has a record without an integer \"seq\"");
        state[SeqKey(r["seq"].get<uint64_t>())] = LogRecord(r);
      }
      break;
    }
    case StoreKind::kEvents: {
      auto events = dump.find("events");
      if (events == dump.end() || !events->is_array()) return bad("has no \"events\" list");
      for (const auto& e : *events) {
        if (!e.is_object() || !e.contains("event_id") || !e["event_id"].is_number_integer())
          return bad("has an event without an integer \"event_id\"");
        state[e["event_id"].dump()] = Event(Str(e, "stream"), e);
      }
      break;
    }
  }
  return state;
}

}  // namespace blackout::harness
