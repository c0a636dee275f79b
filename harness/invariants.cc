#include "harness/invariants.h"

#include <algorithm>
#include <set>

#include "harness/invariants_holes.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Whether two values, each null for "absent", are the same.
bool Same(const json* a, const json* b) { return a == b || (a && b && *a == *b); }

}  // namespace

std::vector<std::string> CheckOutcome::Violated() const {
  std::vector<std::string> names;
  for (const Violation& v : violations) names.push_back(v.invariant);
  return names;
}

bool IsContractName(const std::string& c) {
  return c == "acked" || c == "synced-prefix" || c == "batch-atomic" || c == "none";
}

CheckOutcome CheckInvariants(const CheckInput& in) {
  CheckOutcome out;
  const Oracle& oracle = *in.oracle;
  const auto& units = oracle.units();
  out.acked_writes = static_cast<int>(units.size());
  auto violate = [&](const std::string& inv, const std::string& msg) {
    if (Has(in.check, inv)) out.violations.push_back({inv, msg});
  };
  if (!in.recovered) {
    violate("recovers", in.recovery_error);
    // Nothing was read back: every acknowledged write counts as lost.
    out.lost_writes = out.acked_writes;
    return out;
  }

  // The oracle groups the writes by key (the same for every state); per
  // state, each write's value is compared with the recovered one once. The
  // values point into the oracle (a check copies no value: explored states
  // are checked by the thousand).
  const auto& keys = oracle.keys();
  std::vector<const json*> recovered(keys.size(), nullptr);  // null: the key is absent
  std::vector<char> same(oracle.write_count());              // the write left the recovered value
  auto any_same = [&](size_t k) {
    const auto begin = same.begin() + static_cast<std::ptrdiff_t>(keys[k].first);
    return std::find(begin, begin + static_cast<std::ptrdiff_t>(keys[k].count), 1) !=
           begin + static_cast<std::ptrdiff_t>(keys[k].count);
  };

  // Both lists are in key order: one walk pairs them, and no-corruption
  // (a recovered key or value that no op wrote) names them in that order.
  auto obs = in.observed.begin();
  auto unknown_key = [&](const std::string& key, const json& value) {
    violate("no-corruption", "recovered key " + json(key).dump() + " = " + value.dump() +
                                 ", which no acknowledged op wrote");
  };
  for (size_t k = 0; k < keys.size(); ++k) {
    for (; obs != in.observed.end() && obs->first < keys[k].key; ++obs)
      unknown_key(obs->first, obs->second);
    const bool found = obs != in.observed.end() && obs->first == keys[k].key;
    if (found) recovered[k] = &obs->second;
    for (size_t w = keys[k].first; w < keys[k].first + keys[k].count; ++w)
      same[w] = Same(oracle.written_value(w), recovered[k]);
    if (found) {
      if (!any_same(k))
        violate("no-corruption", "recovered key " + json(obs->first).dump() + " = " +
                                     obs->second.dump() + ", a value never written to it");
      ++obs;
    }
  }
  for (; obs != in.observed.end(); ++obs) unknown_key(obs->first, obs->second);

  // Which writes survived, per key: those up to the latest whose value was
  // recovered (none, when the key is absent and no removal matches).
  std::vector<char> write_lost(oracle.write_count());
  std::set<int> lost_units;
  for (size_t k = 0; k < keys.size(); ++k) {
    int survived_upto = recovered[k] ? -1 : 0;  // 1-based; 0: before any write
    for (size_t p = 0; p < keys[k].count; ++p)
      if (same[keys[k].first + p]) survived_upto = static_cast<int>(p) + 1;
    for (size_t p = std::max(survived_upto, 0); p < keys[k].count; ++p) {
      write_lost[keys[k].first + p] = 1;
      lost_units.insert(oracle.written_at(keys[k].first + p).first);
    }
  }
  out.lost_writes = static_cast<int>(lost_units.size());
  for (int u : lost_units) {
    if (out.lost_examples.size() >= 5) break;
    out.lost_examples.push_back(oracle.Describe(u));
  }

  // acked-durable, judged by the contract.
  int must_survive = 0;
  if (in.contract == "acked") must_survive = static_cast<int>(units.size());
  if (in.contract == "synced-prefix" || in.contract == "batch-atomic")
    must_survive = oracle.synced_units();
  std::vector<int> broken;
  for (int u : lost_units)
    if (u < must_survive) broken.push_back(u);
  out.promised_lost = static_cast<int>(broken.size());
  if (!broken.empty()) {
    violate("acked-durable", std::to_string(broken.size()) + " of " + std::to_string(must_survive) +
                                 " acknowledged writes the contract '" + in.contract +
                                 "' promises were lost, first: " + oracle.Describe(broken.front()));
  }

  // prefix: is the recovered state the state after some prefix of the units?
  // Count keys whose recovered value differs from the oracle, applying one
  // unit at a time; a prefix matches when the count reaches zero.
  {
    // Per key: whether its value after the units applied so far (none
    // before the first) is the recovered one.
    std::vector<char> matches(keys.size());
    int mismatched = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      matches[k] = recovered[k] == nullptr;
      if (!matches[k]) ++mismatched;
    }
    bool found = mismatched == 0;
    for (size_t u = 0; u < units.size() && !found; ++u) {
      // Atom by atom: a batch cut short is atomic-batches' business, not a hole.
      for (size_t i = 0; i < units[u].atoms.size(); ++i) {
        const auto [k, w] = oracle.place(static_cast<int>(u), i);
        mismatched += static_cast<int>(matches[k]) - static_cast<int>(same[w]);
        matches[k] = same[w];
        found = found || mismatched == 0;
      }
    }
    if (!found) {
      // Name a hole: a lost write followed by a surviving later one.
      std::string detail;
      if (!lost_units.empty()) {
        const int first_lost = *lost_units.begin();
        for (int u = static_cast<int>(units.size()) - 1; u > first_lost && detail.empty(); --u)
          if (!lost_units.count(u) && !units[u].atoms.empty())
            detail = ": " + oracle.Describe(first_lost) + " was lost, but the later " +
                     oracle.Describe(u) + " survived";
      }
      violate(
          "prefix",
          "the recovered state is not the state after any prefix of the acknowledged writes" +
              (detail.empty() ? std::string(" (some recovered values match no prefix)") : detail));
    }
  }

  // atomic-batches.
  for (size_t u = 0; u < units.size(); ++u) {
    if (!units[u].batch || units[u].atoms.size() < 2) continue;
    // An atom survived if its write or a later write to its key did (a wal
    // truncate may have removed the batch's records since, legitimately).
    // An atom is present when no write of the unit to its key was lost.
    auto unit_lost_key = [&](size_t k) {
      for (size_t w = keys[k].first; w < keys[k].first + keys[k].count; ++w)
        if (write_lost[w] && oracle.written_at(w).first == static_cast<int>(u)) return true;
      return false;
    };
    size_t present = 0;
    for (size_t i = 0; i < units[u].atoms.size(); ++i) {
      present += !unit_lost_key(oracle.place(static_cast<int>(u), i).first);
    }
    if (present != 0 && present != units[u].atoms.size())
      violate("atomic-batches", std::to_string(present) + " of the " +
                                    std::to_string(units[u].atoms.size()) + " records of " +
                                    oracle.Describe(static_cast<int>(u)) + " survived");
  }
  CheckHoleInvariants(in, &out);
  return out;
}

}  // namespace blackout::harness
