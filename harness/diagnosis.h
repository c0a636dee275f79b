// Diagnosis of a violating crash state: which missing sync would have saved
// it (DESIGN.md, "The harness"; issue 6 item 5).
//
// A candidate fix is a set of syncs, each an fsync of a file or of a
// directory right after a trace position S. Applied to the crash state it
// makes durable what that sync would have made durable under posix-strict
// (crash_model.md, "Sync events"): for a file, its data and attribute ops up
// to S; for a directory, its entry ops up to S plus the earlier entry ops of
// the same inodes ("an inode's link changes persist in their order"). The
// state with those ops kept as well is rebuilt by the model from the same
// crash point (a crash-state id naming the ops still dropped) and re-checked:
// a fix counts only if the re-checked state violates no invariant at all (a
// store that no longer opens has no lost writes to count, and is no fix).
//
// What a sync makes durable follows the scenario's behaviour model
// (DiagnosisInput::model; crash_model.md, "Behaviour models"): posix-strict
// as above; ext4-ordered, ext4-writeback and xfs: any fsync of a changed
// inode also commits the one journal, i.e. every entry, attribute, xattr and
// truncate op up to S (so an fsync of a file brings the directory entries
// along, and a missing directory fsync may be named as a file fsync);
// btrfs: a file's fsync also makes durable the entry ops naming the file and
// the mkdirs of its parent directories (the log tree).
//
// Search order, smallest first: every single sync (for each object with a
// dropped op, the earliest S that works: tried after its last op, then
// before each of its ops that throws something away, a truncate, unlink or
// rename, since a sync after such an op makes the loss durable); then all
// of them together, which decides: if that does not save the state, it is
// reported as a loss no set of syncs removes (the volatile view itself
// fails, e.g. a torn record recovery does not cut off); if it does, pairs
// of objects are tried for a smaller answer, else all of them is the
// answer. The singles and pairs are bounded (kMaxRechecks in diagnosis.cc);
// the check of all of them is always made.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fusefs/model/filesystem.h"

namespace blackout::harness {

struct SyncFix {
  bool directory = false;
  std::string path;  // relative to the mount root: "store/000002.sst", "store"
  uint64_t after_seq = 0;
  std::string after_what;  // "create store/000002.sst"
};

struct DiagnosisInput {
  const nlohmann::json* trace = nullptr;  // {"entries":[...]} of the recording run
  std::string model = "posix-strict";     // the scenario's behaviour model
  std::vector<uint64_t> kept, dropped;    // the state's pending ops
  uint64_t torn = 0;                      // the torn write, or 0
  std::vector<std::string> violated;      // invariants the state violates
  int lost_writes = 0;
  // Re-checks the state with these ops kept too (given as the crash-state
  // id to build); returns the invariants it violates, or nullopt when it
  // could not be checked.
  using Recheck = std::function<std::optional<std::vector<std::string>>(const std::string& id)>;
  Recheck recheck;
};

struct Diagnosis {
  bool found = false;
  std::vector<SyncFix> fixes;  // one set (the first smallest found)
  int rechecks = 0;
  int rechecks_known = 0;  // of them, answered by a RecheckMemo without a check
  std::string text;  // the sentence for reports
  nlohmann::json ToJson() const;
};

Diagnosis Diagnose(const DiagnosisInput& in);

// The input for crash state `info` of a point traced in `trace` (its kept,
// dropped and torn ops) under behaviour model `model`; the caller adds what
// the state violates and how to re-check.
DiagnosisInput DiagnosisFor(const nlohmann::json* trace, const std::string& model,
                            const model::CrashStateInfo& info);

// The outcomes of the crash states of one crash point checked so far, by
// tree (model::Filesystem::CrashStateHash). The diagnoses of different states
// re-check the same candidate states over and over (the state with every
// directory entry kept, the halves of a bisection), often states the explorer
// itself checked, and identical trees have the same outcome: a look-up here
// is one state built in memory and hashed, where a check may be a process
// start. Thread-safe.
class RecheckMemo {
 public:
  using Recheck = DiagnosisInput::Recheck;
  explicit RecheckMemo(const model::Filesystem& fs) : fs_(fs) {}
  // The invariants a checked state with this tree violates (none: {}).
  void Put(uint64_t tree_hash, std::vector<std::string> violated);
  // `recheck` behind a look-up of the state's tree; what it checks goes in
  // too. Counts the states it answered without `recheck` in *known.
  Recheck Wrap(Recheck recheck, int* known);

 private:
  const model::Filesystem& fs_;
  std::mutex mu_;
  std::map<uint64_t, std::vector<std::string>> outcomes_;
};

// The crash-state id that keeps `kept` and drops the rest of `pending`
// ("keep-all" when nothing is dropped).
std::string SubsetStateId(const std::vector<uint64_t>& pending, const std::vector<uint64_t>& kept);

}  // namespace blackout::harness
