// The invariant checkers: given the oracle (acknowledged writes up to the
// crash point), the engine's contract for the crash kind, and the state the
// store recovered, say which invariants hold.
//
//   recovers        the store opened (`--dump` answered ok within its time limit)
//   acked-durable   every write the contract promised survived. Contracts:
//                     acked          every acknowledged write
//                     synced-prefix  every write acknowledged up to the last
//                                    sync event (an fsync the engine issued
//                                    during an op, or a harness sync step)
//                     batch-atomic   judged like synced-prefix here; whole
//                                    batches are the atomic-batches invariant
//                     none           nothing (losses are counted, not violations)
//   prefix          what survived equals the state after some prefix of the
//                   acknowledged writes (no holes). The harness crashes only
//                   between ops, so no write is in flight.
//   atomic-batches  each append_batch survived entirely or not at all
//   no-corruption   every value read back is one that was written to that key
//   no-resurrection, exact-values, replay-complete, structure: see
//                   invariants_holes.h
//
// Lost writes are counted whatever the contract says: a loss the contract
// allows is a documented weakness, shown in reports as such.
#pragma once

#include <string>
#include <vector>

#include "harness/oracle.h"

namespace blackout::harness {

struct Violation {
  std::string invariant;
  std::string message;
};

struct CheckInput {
  const Oracle* oracle = nullptr;
  std::string contract = "acked";  // for this crash kind
  bool recovered = false;
  std::string recovery_error;  // when !recovered
  LogicalState observed;       // when recovered
  std::vector<std::string> check;
  // `structure`: whether the engine's own `verify` ran on the recovered
  // store, and the problems it answered.
  bool structure_checked = false;
  std::vector<std::string> structure_problems;
};

struct CheckOutcome {
  std::vector<Violation> violations;       // only invariants listed in `check`
  int acked_writes = 0;                    // acknowledged writes up to the crash
  int lost_writes = 0;                     // of which lost (whatever the contract)
  int promised_lost = 0;                   // of which the contract promised
  std::vector<std::string> lost_examples;  // up to 5 descriptions
  // The names of the violated invariants, in order.
  std::vector<std::string> Violated() const;
};

CheckOutcome CheckInvariants(const CheckInput& in);

// Contract names an engine may declare.
bool IsContractName(const std::string& c);

}  // namespace blackout::harness
