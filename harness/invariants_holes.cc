#include "harness/invariants_holes.h"

#include <algorithm>
#include <map>
#include <optional>

#include "harness/util.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Short(const json& v) {
  std::string t = v.dump();
  return Clip(t, 80);
}

// The index of `key` in oracle.keys(), or none when no op wrote it.
std::optional<size_t> KeyIndex(const Oracle& oracle, const std::string& key) {
  const auto& keys = oracle.keys();
  auto it =
      std::lower_bound(keys.begin(), keys.end(), key,
                       [](const Oracle::KeyWrites& k, const std::string& s) { return k.key < s; });
  if (it == keys.end() || it->key != key) return std::nullopt;
  return static_cast<size_t>(it - keys.begin());
}

// How a value read back differs from what was written to `key`: "" when it
// is one of them.
std::string Misread(const Oracle& oracle, const std::string& key, const json& value) {
  const auto& keys = oracle.keys();
  const std::optional<size_t> k = KeyIndex(oracle, key);
  // The first value written to key i (removals left out) for which
  // `pick` holds, or null.
  auto find_value = [&](size_t i, const auto& pick) -> const json* {
    for (size_t w = keys[i].first; w < keys[i].first + keys[i].count; ++w)
      if (const json* v = oracle.written_value(w); v && pick(*v)) return v;
    return nullptr;
  };
  auto equal = [&](const json& w) { return w == value; };
  if (k && find_value(*k, equal)) return "";
  if (k && value.is_string()) {
    const std::string& got = value.get_ref<const std::string&>();
    auto longer_copy = [&](const json& w) {
      return w.is_string() && w.get_ref<const std::string&>().size() > got.size() &&
             w.get_ref<const std::string&>().compare(0, got.size(), got) == 0;
    };
    if (const json* w = find_value(*k, longer_copy))
      return "a truncated copy of the acknowledged " + Short(*w);
  }
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i].key != key && find_value(i, equal))
      return "the value written to key " + json(keys[i].key).dump();
  return "a value never written";
}

// The store-kind view of a read reply, keyed like the oracle.
std::optional<LogicalState> ReadView(StoreKind kind, const std::string& op, const json& reply) {
  json dump = {{"ok", true}};
  if (kind == StoreKind::kLog && op == "replay") {
    dump["records"] = reply.value("records", json::array());
  } else if (kind == StoreKind::kEvents && op == "read") {
    dump["events"] = reply.value("events", json::array());
  } else if (kind == StoreKind::kKeyValue && op == "scan") {
    json data = json::object();
    for (const auto& kv : reply.value("items", json::array()))
      if (kv.is_array() && kv.size() == 2 && kv[0].is_string()) data[kv[0].get<std::string>()] = kv[1];
    dump["data"] = data;
  } else {
    return std::nullopt;
  }
  auto st = ObservedState(kind, dump);
  if (!st.ok()) return std::nullopt;
  return *st;
}

void CheckReads(const CheckInput& in, CheckOutcome* out) {
  const Oracle& oracle = *in.oracle;
  const auto& units = oracle.units();
  const bool exact = Has(in.check, "exact-values");
  const bool replay = Has(in.check, "replay-complete") && oracle.kind() == StoreKind::kLog;
  if (!exact && !replay) return;
  // The oracle's state after the acks so far (pointers into its units).
  std::map<std::string, const json*> state;
  std::map<std::string, int> written_by;  // key -> index of the ack that wrote it
  size_t next_unit = 0;
  for (size_t i = 0; i < oracle.acks().size(); ++i) {
    while (next_unit < units.size() && units[next_unit].ack <= static_cast<int>(i)) {
      for (const auto& a : units[next_unit].atoms) {
        if (a.value) {
          state[a.key] = &*a.value;
          written_by[a.key] = units[next_unit].ack;
        } else {
          state.erase(a.key);
        }
      }
      ++next_unit;
    }
    const Ack& ack = oracle.acks()[i];
    const std::string op = ack.request.value("op", "");
    const std::string at = " (" + op + " at " + ack.where + ")";
    if (exact && oracle.kind() == StoreKind::kKeyValue && op == "get" &&
        !ack.reply.value("found", false)) {
      // The running engine acknowledged a value it no longer finds (H-M1:
      // a failed flush dropped the memtable).
      const std::string key = ack.request.value("key", "");
      if (auto want = state.find(key); want != state.end())
        out->violations.push_back({"exact-values", "get " + json(key).dump() +
                                                       " found nothing, not the acknowledged " +
                                                       Short(*want->second) + at});
      continue;
    }
    if (exact && oracle.kind() == StoreKind::kKeyValue && op == "get" &&
        ack.reply.value("found", false)) {
      const std::string key = ack.request.value("key", "");
      const json got = ack.reply.value("value", json());
      auto want = state.find(key);
      if (want == state.end())
        out->violations.push_back({"exact-values", "get " + json(key).dump() + " returned " +
                                                       Short(got) + ", but the key was deleted" + at});
      else if (*want->second != got)
        out->violations.push_back({"exact-values", "get " + json(key).dump() + " returned " +
                                                       Short(got) + ", not the acknowledged " +
                                                       Short(*want->second) + ": " +
                                                       Misread(oracle, key, got) + at});
      continue;
    }
    auto view = ReadView(oracle.kind(), op, ack.reply);
    if (!view) continue;
    if (exact) {
      for (const auto& [key, got] : *view) {
        auto want = state.find(key);
        if (want != state.end() && *want->second != got)
          out->violations.push_back({"exact-values", op + " returned " + json(key).dump() + " = " +
                                                         Short(got) + ", not the acknowledged " +
                                                         Short(*want->second) + at});
        else if (want == state.end() && oracle.kind() == StoreKind::kKeyValue)
          out->violations.push_back({"exact-values", op + " returned " + json(key).dump() + " = " +
                                                         Short(got) + ", a key that is deleted" + at});
        else if (want == state.end() && oracle.kind() == StoreKind::kEvents)
          // H-E3: an append that failed left its event in memory.
          out->violations.push_back({"exact-values", op + " returned event " + key + " = " +
                                                         Short(got) +
                                                         ", which no acknowledged append wrote" + at});
      }
    }
    if (replay && op == "replay") {
      const int64_t after = ack.request.value("after", int64_t{0});
      // The op that handed out seq `after`, latest first.
      int anchor = -1;
      for (int j = static_cast<int>(i) - 1; j >= 0 && anchor < 0; --j) {
        const Ack& a = oracle.acks()[j];
        const std::string o = a.request.value("op", "");
        if ((o == "append" || o == "append_batch" || o == "checkpoint") &&
            a.reply.value("seq", int64_t{-1}) == after)
          anchor = j;
      }
      std::vector<json> returned;
      for (const auto& [k, v] : *view) returned.push_back(v);
      int missing = 0;
      std::string first;
      for (const auto& [key, record] : state) {
        const bool expected = anchor >= 0 ? written_by[key] > anchor : key > SeqKey(after);
        if (!expected) continue;
        auto hit = std::find(returned.begin(), returned.end(), *record);
        if (hit != returned.end()) {
          returned.erase(hit);
          continue;
        }
        if (missing++ == 0) first = Short(*record);
      }
      if (missing > 0)
        out->violations.push_back(
            {"replay-complete", "replay after " + std::to_string(after) + " left out " +
                                    std::to_string(missing) +
                                    " acknowledged record(s) written after seq " +
                                    std::to_string(after) + " was handed out, first " + first + at});
    }
  }
}

}  // namespace

void CheckHoleInvariants(const CheckInput& in, CheckOutcome* out) {
  const Oracle& oracle = *in.oracle;
  const auto& units = oracle.units();
  CheckReads(in, out);
  if (!in.recovered) return;

  if (Has(in.check, "structure") && in.structure_checked && !in.structure_problems.empty()) {
    std::string text;
    for (const auto& p : in.structure_problems) text += (text.empty() ? "" : "; ") + p;
    out->violations.push_back(
        {"structure", "the engine's verify found " + std::to_string(in.structure_problems.size()) +
                          " problem(s) in the recovered store: " + text});
  }

  if (Has(in.check, "exact-values"))
    for (const auto& [key, value] : in.observed) {
      std::string how = Misread(oracle, key, value);
      if (!how.empty() && KeyIndex(oracle, key))
        out->violations.push_back({"exact-values", "recovered " + json(key).dump() + " = " +
                                                       Short(value) + ": " + how});
    }

  if (Has(in.check, "no-resurrection")) {
    int promised = 0;
    if (in.contract == "acked") promised = static_cast<int>(units.size());
    if (in.contract == "synced-prefix" || in.contract == "batch-atomic")
      promised = oracle.synced_units();
    const auto& keys = oracle.keys();
    for (size_t k = 0; k < keys.size(); ++k) {
      auto obs = in.observed.find(keys[k].key);
      if (obs == in.observed.end()) continue;
      // The key's writes in order: (unit, value; null: a removal).
      std::vector<std::pair<int, const json*>> h;
      for (size_t w = keys[k].first; w < keys[k].first + keys[k].count; ++w)
        h.push_back({oracle.written_at(w).first, oracle.written_value(w)});
      int removal = -1;  // position in h of the last promised removal
      for (size_t p = 0; p < h.size(); ++p)
        if (!h[p].second && h[p].first < promised) removal = static_cast<int>(p);
      if (removal < 0) continue;
      bool rewritten = false;
      for (size_t p = removal + 1; p < h.size(); ++p)
        rewritten |= h[p].second && *h[p].second == obs->second;
      bool older = false;
      for (int p = 0; p < removal; ++p) older |= h[p].second && *h[p].second == obs->second;
      if (!rewritten && older)
        out->violations.push_back(
            {"no-resurrection", "key " + json(keys[k].key).dump() + " came back as " +
                                    Short(obs->second) + " after " +
                                    oracle.Describe(h[removal].first) + " removed it"});
    }
  }
}

}  // namespace blackout::harness
