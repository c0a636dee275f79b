#include "harness/invariants.h"

#include "harness/invariants_holes.h"

#include <algorithm>
#include <map>
#include <set>

namespace blackout::harness {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Per key: the history of atoms that touched it, as (unit, value) in order;
// a null value is a removal. The values point into the oracle's units (a
// check copies no value: explored states are checked by the thousand), and
// each is compared with the recovered value once.
struct KeyHistory {
  std::vector<std::pair<int, const json*>> writes;
  const json* recovered = nullptr;  // the recovered value; null: the key is absent
  std::vector<char> same;           // same[p]: writes[p] left the recovered value
  // Position (1-based in `writes`; 0 = before any write) of the latest write
  // whose value equals what was recovered; -1 if none matches.
  int survived_upto = -1;
  // For the prefix check: whether the key's value after the units applied so
  // far is the recovered one.
  bool prefix_matches = false;
};

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

  std::map<std::string, KeyHistory> keys;
  // atoms[u][i]: the history of unit u's i-th atom's key, and the atom's
  // place in it.
  std::vector<std::vector<std::pair<KeyHistory*, size_t>>> atoms(units.size());
  for (size_t u = 0; u < units.size(); ++u) {
    for (const auto& a : units[u].atoms) {
      KeyHistory& h = keys[a.key];
      atoms[u].push_back({&h, h.writes.size()});
      h.writes.push_back({static_cast<int>(u), a.value ? &*a.value : nullptr});
    }
  }
  for (auto& [key, h] : keys) {
    auto obs = in.observed.find(key);
    h.recovered = obs == in.observed.end() ? nullptr : &obs->second;
    h.same.reserve(h.writes.size());
    for (const auto& w : h.writes) h.same.push_back(Same(w.second, h.recovered));
  }

  // no-corruption: a recovered key or value that no op wrote.
  for (const auto& [key, value] : in.observed) {
    auto it = keys.find(key);
    if (it == keys.end()) {
      violate("no-corruption", "recovered key " + json(key).dump() + " = " + value.dump() +
                                   ", which no acknowledged op wrote");
      continue;
    }
    const std::vector<char>& same = it->second.same;
    if (std::find(same.begin(), same.end(), 1) == same.end())
      violate("no-corruption", "recovered key " + json(key).dump() + " = " + value.dump() +
                                   ", a value never written to it");
  }

  // Which writes survived, per key.
  std::set<int> lost_units;
  std::set<std::pair<int, const KeyHistory*>> lost_atoms;  // (unit, its key's history)
  for (auto& [key, h] : keys) {
    if (!h.recovered) h.survived_upto = 0;
    for (size_t p = 0; p < h.writes.size(); ++p)
      if (h.same[p]) h.survived_upto = static_cast<int>(p) + 1;
    for (size_t p = std::max(h.survived_upto, 0); p < h.writes.size(); ++p) {
      lost_units.insert(h.writes[p].first);
      lost_atoms.insert({h.writes[p].first, &h});
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
    int mismatched = 0;
    for (auto& [key, h] : keys) {
      h.prefix_matches = h.recovered == nullptr;  // before the first unit, no key has a value
      if (!h.prefix_matches) ++mismatched;
    }
    bool found = mismatched == 0;
    for (size_t u = 0; u < units.size() && !found; ++u) {
      // Atom by atom: a batch cut short is atomic-batches' business, not a hole.
      for (const auto& [h, p] : atoms[u]) {
        const bool after = h->same[p] != 0;
        mismatched += static_cast<int>(h->prefix_matches) - static_cast<int>(after);
        h->prefix_matches = after;
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
    size_t present = 0;
    for (const auto& [h, p] : atoms[u]) present += !lost_atoms.count({static_cast<int>(u), h});
    if (present != 0 && present != units[u].atoms.size())
      violate("atomic-batches", std::to_string(present) + " of the " +
                                    std::to_string(units[u].atoms.size()) + " records of " +
                                    oracle.Describe(static_cast<int>(u)) + " survived");
  }
  CheckHoleInvariants(in, &out);
  return out;
}

}  // namespace blackout::harness
