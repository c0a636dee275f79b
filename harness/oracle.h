// The oracle: what the store must hold after a crash, built from the
// acknowledgements the run recorded, and the state the store actually
// recovered, read from `blackout engine --dump`.
//
// All three store kinds are compared as a map from a key to a value:
//   kv      key           -> value (a string)
//   log     seq (padded)  -> {"type","key","value"}   (the wal's replay records)
//   events  event_id      -> {"stream","type","data"}
// Each acknowledged write becomes a Unit: the atoms (key set to a value, or
// removed) it applied, in order. A wal append_batch or an event-store
// append_batch is one Unit of several atoms; a wal truncate removes atoms.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/engine_catalog.h"
#include "harness/expected.h"

namespace blackout::harness {

// One acknowledged workload op, as the run saw it.
struct Ack {
  int item = 0;       // index into the expanded workload
  int op_number = 0;  // 1-based among the ops
  std::string where;  // "$.workload[3] (i=2)"
  nlohmann::json request;
  nlohmann::json reply;
  uint64_t seq_before = 0;  // blackoutfs trace position when the op was sent
  uint64_t seq_after = 0;   // ... and right after its reply arrived
  // Everything the op wrote was made durable before the next op: it issued an
  // fsync/fsyncdir itself, or a harness `sync` step followed it.
  bool synced = false;
};

struct Atom {
  std::string key;
  std::optional<nlohmann::json> value;  // nullopt: the key is removed
};

struct Unit {
  int ack = 0;  // index into the acks
  std::vector<Atom> atoms;
  bool batch = false;  // all-or-nothing by the engine's API (append_batch)
};

using LogicalState = std::map<std::string, nlohmann::json>;

class Oracle {
 public:
  // Fails if a reply lacks what the engine protocol promises (a wal append
  // without "seq", ...).
  //
  // `base`, when given, is the state the store recovered at an earlier crash
  // of the same run (a workload `crash` step): it becomes unit 0, written by
  // a pseudo-ack "(the state recovered at the previous crash)" that is not
  // synced, and `acks` are the acknowledgements since that crash.
  static Expected<Oracle> Build(StoreKind kind, std::vector<Ack> acks,
                                const LogicalState* base = nullptr);

  StoreKind kind() const { return kind_; }
  const std::vector<Ack>& acks() const { return acks_; }
  const std::vector<Unit>& units() const { return units_; }
  // Number of leading units made durable by a sync event (the last synced
  // unit's index + 1); 0 if none.
  int synced_units() const;
  // One line naming a unit for messages: "put k1=v1 at $.workload[3]".
  std::string Describe(int unit) const;

  // The atoms of the units grouped by key, built once for the checks of
  // every crash state: keys() in the order of a LogicalState's keys, each
  // with its writes in unit order; a write is written_at(w) = (unit, atom
  // index in it), numbered across all keys, keys()[k] holding the writes
  // [first, first + count). place(u, i): unit u's i-th atom as (key index,
  // write number).
  struct KeyWrites {
    std::string key;
    size_t first = 0;
    size_t count = 0;
  };
  const std::vector<KeyWrites>& keys() const { return keys_; }
  std::pair<int, size_t> written_at(size_t w) const { return written_at_[w]; }
  // The value write `w` left (null: a removal), where the units hold it.
  const nlohmann::json* written_value(size_t w) const {
    const auto& v = units_[written_at_[w].first].atoms[written_at_[w].second].value;
    return v ? &*v : nullptr;
  }
  size_t write_count() const { return written_at_.size(); }
  std::pair<size_t, size_t> place(int unit, size_t atom) const { return places_[unit][atom]; }

 private:
  void IndexKeys();

  StoreKind kind_ = StoreKind::kKeyValue;
  std::vector<Ack> acks_;
  std::vector<Unit> units_;
  std::vector<KeyWrites> keys_;
  std::vector<std::pair<int, size_t>> written_at_;
  std::vector<std::vector<std::pair<size_t, size_t>>> places_;
};

// Reads a dump object into the same map form; fails on a dump that does not
// have the documented shape.
Expected<LogicalState> ObservedState(StoreKind kind, const nlohmann::json& dump);

// The map key of a wal record seq: zero-padded so that maps order by seq.
std::string SeqKey(uint64_t seq);

}  // namespace blackout::harness
