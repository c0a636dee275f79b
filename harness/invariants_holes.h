// The invariants that the holes of the reference engines (ENGINES.md section
// 7) need beyond the seed's five. CheckInvariants (invariants.h) calls
// CheckHoleInvariants last, with the same input.
//
//   no-resurrection  a key whose removal the contract promised (a delete, a
//                    wal truncate) is not back after recovery with a value
//                    written before that removal
//   exact-values     every value read back is the acknowledged one, byte for
//                    byte: after recovery, one written to that key (a
//                    truncated or another key's value is named as such); in
//                    the workload, a get/scan/replay/read returns exactly the
//                    value the acknowledged writes left (reads see what the
//                    running engine acknowledged, so nothing may differ:
//                    a get that finds nothing for a key an ack of this run
//                    segment wrote, an event read that no ack wrote)
//   replay-complete  (wal) a workload `replay {after: S}` returns every
//                    record still in the log that was acknowledged after the
//                    op that handed out seq S (or, when no op did, every
//                    record with seq > S)
//   structure        the engine's own `verify` op, run on the recovered
//                    store, answered no problems
#pragma once

#include "harness/invariants.h"

namespace blackout::harness {

// Appends the violations of the invariants above that `in.check` lists.
void CheckHoleInvariants(const CheckInput& in, CheckOutcome* out);

}  // namespace blackout::harness
