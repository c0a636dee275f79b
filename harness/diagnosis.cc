#include "harness/diagnosis.h"

#include <algorithm>
#include <map>
#include <set>

namespace blackout::harness {
namespace {

using nlohmann::json;

// Each re-check recovers a store in a child process (tens of ms); a bound
// keeps one pathological state from dominating a suite.
constexpr int kMaxRechecks = 48;
constexpr size_t kMaxPairObjects = 8;
// Positions tried for one sync of one object (tries_of in Diagnose).
constexpr size_t kMaxTriesPerObject = 4;

bool IsEntryOp(const std::string& op) {
  return op == "create" || op == "mkdir" || op == "symlink" || op == "link" || op == "unlink" ||
         op == "rmdir" || op == "rename";
}

// Operations an ext4 or xfs journal commit carries (crash_model.md,
// "ext4-ordered": entry operations, attributes, xattrs and truncates).
bool IsJournaled(const std::string& op) {
  return IsEntryOp(op) || op == "truncate" || op == "setattr" || op == "setxattr" ||
         op == "removexattr" || op == "fallocate";
}

// Operations that throw data or names away: a sync after one makes the
// loss durable.
bool TakesAway(const std::string& op) {
  return op == "truncate" || op == "setattr" || op == "fallocate" || op == "unlink" ||
         op == "rmdir" || op == "rename";
}

std::string DirName(const std::string& p) {
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return p.substr(0, slash);
}

std::string Rel(const std::string& p) { return p == "/" ? "." : p.substr(p[0] == '/' ? 1 : 0); }

struct Op {
  uint64_t seq = 0;
  std::string op, path, detail;
  uint64_t ino = 0, offset = 0, length = 0;
  bool entry = false;
  std::vector<std::string> dirs;  // entry ops: the directories they belong to
};

// An object a sync can make durable: a file (by inode) or a directory (by path).
struct Object {
  bool directory = false;
  uint64_t ino = 0;
  std::string path;
  bool operator<(const Object& o) const {
    return std::tie(directory, ino, path) < std::tie(o.directory, o.ino, o.path);
  }
};

std::string Describe(const Op& o) {
  if (o.op == "write")
    return "write of " + std::to_string(o.length) + " bytes at " + std::to_string(o.offset) +
           " to " + Rel(o.path);
  if (o.op == "rename") return "rename " + Rel(o.path) + " -> " + Rel(o.detail);
  return o.op + " " + Rel(o.path);
}

}  // namespace

std::string SubsetStateId(const std::vector<uint64_t>& pending, const std::vector<uint64_t>& kept) {
  std::set<uint64_t> k(kept.begin(), kept.end());
  std::string list;
  size_t n = 0;
  for (uint64_t s : pending) {
    if (k.count(s)) continue;
    list += (n++ ? "," : "") + std::to_string(s);
  }
  if (n == 0) return "keep-all";
  return "reorder:" + std::to_string(n) + ":" + list;
}

json Diagnosis::ToJson() const {
  json f = json::array();
  for (const auto& x : fixes)
    f.push_back({{"sync", x.directory ? "fsync-dir" : "fsync"},
                 {"path", x.path},
                 {"after_seq", x.after_seq},
                 {"after", x.after_what}});
  return {{"found", found},
          {"fixes", f},
          {"rechecks", rechecks},
          {"rechecks_known", rechecks_known},
          {"text", text}};
}

void RecheckMemo::Put(uint64_t tree_hash, std::vector<std::string> violated) {
  std::lock_guard lock(mu_);
  outcomes_.emplace(tree_hash, std::move(violated));
}

RecheckMemo::Recheck RecheckMemo::Wrap(Recheck recheck, int* known) {
  return [this, recheck = std::move(recheck),
          known](const std::string& id) -> std::optional<std::vector<std::string>> {
    auto hash = fs_.CrashStateHash(id);
    if (hash.ok()) {
      std::lock_guard lock(mu_);
      if (auto it = outcomes_.find(*hash); it != outcomes_.end()) {
        ++*known;
        return it->second;
      }
    }
    std::optional<std::vector<std::string>> violated = recheck(id);
    // Not kept: a state that could not be checked (an interruption, a
    // setup error) is not known.
    if (violated && hash.ok()) Put(*hash, *violated);
    return violated;
  };
}

DiagnosisInput DiagnosisFor(const json* trace, const std::string& model,
                            const model::CrashStateInfo& info) {
  DiagnosisInput in;
  in.trace = trace;
  in.model = model;
  in.kept = info.kept;
  in.dropped = info.dropped;
  in.torn = info.torn;
  return in;
}

Diagnosis Diagnose(const DiagnosisInput& in) {
  Diagnosis d;
  std::map<uint64_t, Op> ops;
  std::vector<uint64_t> pending(in.kept.begin(), in.kept.end());
  pending.insert(pending.end(), in.dropped.begin(), in.dropped.end());
  std::sort(pending.begin(), pending.end());
  const std::set<uint64_t> pending_set(pending.begin(), pending.end());
  for (const auto& e : in.trace->value("entries", json::array())) {
    const uint64_t seq = e.value("seq", uint64_t{0});
    if (!pending_set.count(seq)) continue;
    Op o;
    o.seq = seq;
    o.op = e.value("op", "");
    o.path = e.value("path", "");
    o.detail = e.value("detail", "");
    o.ino = e.value("ino", uint64_t{0});
    o.offset = e.value("offset", uint64_t{0});
    o.length = e.value("length", uint64_t{0});
    o.entry = IsEntryOp(o.op);
    if (o.entry) {
      o.dirs.push_back(DirName(o.path));
      if (o.op == "rename" && DirName(o.detail) != o.dirs[0]) o.dirs.push_back(DirName(o.detail));
    }
    ops[seq] = std::move(o);
  }
  auto objects_of = [&](const Op& o) {
    std::vector<Object> out;
    if (o.entry) {
      for (const auto& dir : o.dirs) out.push_back({true, 0, dir});
    } else {
      out.push_back({false, o.ino, o.path});
    }
    return out;
  };
  const bool journal = in.model == "ext4-ordered" || in.model == "ext4-writeback" ||
                       in.model == "xfs";
  const bool btrfs = in.model == "btrfs";
  // What a sync of `x` right after `upto` makes durable, under the model
  // (crash_model.md, "Behaviour models").
  auto synced_by = [&](const Object& x, uint64_t upto) {
    std::set<uint64_t> out;
    std::string file_path;  // btrfs: the fsynced file's path, for its new parents
    for (const auto& [seq, o] : ops) {
      if (seq > upto) break;
      if (x.directory ? (o.entry && std::count(o.dirs.begin(), o.dirs.end(), x.path))
                      : (!o.entry && o.ino == x.ino)) {
        out.insert(seq);
        if (!x.directory) file_path = o.path;
      }
      // ext4/xfs: the fsync of a changed inode commits the one journal, with
      // every metadata op made so far (entries, attributes, truncates).
      if (journal && IsJournaled(o.op)) out.insert(seq);
      // btrfs: a file's fsync logs the entry ops that name it (tree-log.c).
      if (btrfs && !x.directory && o.entry && o.ino == x.ino) out.insert(seq);
    }
    if (btrfs && !x.directory && !file_path.empty())
      for (const auto& [seq, o] : ops)  // ... and the names of its new parent directories
        if (seq <= upto && o.op == "mkdir" && file_path.rfind(o.path + "/", 0) == 0)
          out.insert(seq);
    if (x.directory) {
      // Earlier link changes of the same inodes come along.
      std::set<uint64_t> inodes;
      for (uint64_t s : out) inodes.insert(ops[s].ino);
      for (const auto& [seq, o] : ops)
        if (o.entry && seq < upto && inodes.count(o.ino)) out.insert(seq);
    }
    return out;
  };

  // Candidate objects and the trace positions worth syncing after: those of
  // their dropped (or torn) ops, earliest first.
  std::map<Object, std::vector<uint64_t>> candidates;
  std::vector<uint64_t> lost = in.dropped;
  if (in.torn) lost.push_back(in.torn);
  std::sort(lost.begin(), lost.end());
  for (uint64_t s : lost) {
    auto it = ops.find(s);
    if (it == ops.end()) continue;
    for (const Object& x : objects_of(it->second)) candidates[x].push_back(s);
  }
  std::vector<Object> order;
  for (const auto& [x, seqs] : candidates) order.push_back(x);
  std::sort(order.begin(), order.end(), [&](const Object& a, const Object& b) {
    return candidates[a].front() < candidates[b].front();
  });

  using Choice = std::vector<std::pair<Object, uint64_t>>;
  auto fixes = [&](const Choice& choice, bool budgeted = true) -> bool {
    if (budgeted && d.rechecks >= kMaxRechecks) return false;
    std::set<uint64_t> kept(in.kept.begin(), in.kept.end());
    std::set<uint64_t> added;
    for (const auto& [x, upto] : choice)
      for (uint64_t s : synced_by(x, upto)) added.insert(s);
    // A torn write the fix does not make whole stays torn, and a crash-state
    // id cannot name a torn write beside an arbitrary subset: not checkable.
    if (in.torn && !added.count(in.torn)) return false;
    kept.insert(added.begin(), added.end());
    ++d.rechecks;
    auto v = in.recheck(SubsetStateId(pending, {kept.begin(), kept.end()}));
    // Removing one violation by causing another (a store that no longer
    // opens has no lost writes to count) is no fix: the re-check must pass.
    return v && v->empty();
  };
  auto max_of = [&](const Object& x) { return candidates[x].back(); };
  // Moves each sync of a working choice to the earliest position that still
  // works, by bisection over the object's candidate positions: a sync later
  // in the trace makes a superset durable, so "works" holds from some
  // position on, and a few re-checks find it among hundreds of positions
  // (each re-check is a recovery, for a program a run of its check command).
  auto earliest = [&](Choice choice) {
    for (auto& [x, upto] : choice) {
      const std::vector<uint64_t>& at = candidates[x];
      size_t lo = 0, hi = std::lower_bound(at.begin(), at.end(), upto) - at.begin();
      const uint64_t works = upto;  // known to work; at[hi] == upto when listed
      while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        upto = at[mid];
        if (fixes(choice)) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      upto = hi < at.size() ? at[hi] : works;
    }
    return choice;
  };

  // Where one sync of `x` is worth trying: after its last op, and after the
  // op before each of its ops that throws something away (a truncate, an
  // unlink, a rename): a sync there keeps what that op then took, where a
  // sync after it would make the loss durable (a WAL truncated after a
  // flush whose SSTable did not survive).
  auto tries_of = [&](const Object& x) {
    const std::vector<uint64_t>& at = candidates[x];
    std::vector<uint64_t> out = {at.back()};
    for (size_t i = at.size() - 1; i > 0 && out.size() < kMaxTriesPerObject; --i)
      if (TakesAway(ops[at[i]].op) && at[i - 1] != out.back()) out.push_back(at[i - 1]);
    return out;
  };

  Choice found;
  for (const Object& x : order) {
    for (uint64_t upto : tries_of(x)) {
      if (fixes({{x, upto}})) {
        found = earliest({{x, upto}});
        break;
      }
    }
    if (!found.empty()) break;
  }
  // Then every object synced at once, whatever the budget left: if that
  // does not save the state, no smaller set of those syncs will, and if it
  // does, it is the answer unless a pair also does.
  if (found.empty() && order.size() > 1) {
    Choice all;
    for (const Object& x : order) all.push_back({x, max_of(x)});
    if (fixes(all, /*budgeted=*/false)) {
      const size_t n = order.size() > 2 ? std::min(order.size(), kMaxPairObjects) : 0;
      for (size_t i = 0; i < n && found.empty(); ++i)
        for (size_t j = i + 1; j < n && found.empty(); ++j) {
          Choice c = {{order[i], max_of(order[i])}, {order[j], max_of(order[j])}};
          if (fixes(c)) found = earliest(c);
        }
      if (found.empty()) {
        // Then all of them less what is not needed, one object at a time,
        // directories first (under a journal a file's fsync brings the
        // entries along): a set no object of which can be left out.
        found = all;
        std::stable_partition(found.begin(), found.end(),
                              [](const auto& sync) { return sync.first.directory; });
        for (size_t i = 0; i < found.size() && found.size() > 1;) {
          Choice without = found;
          without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
          if (fixes(without)) {
            found = std::move(without);
          } else {
            ++i;
          }
        }
      }
    }
  }

  std::string harm;
  if (in.lost_writes > 0 &&
      std::count(in.violated.begin(), in.violated.end(), std::string("acked-durable"))) {
    harm = "the loss of " + std::to_string(in.lost_writes) + " acknowledged write" +
           (in.lost_writes == 1 ? "" : "s");
  } else {
    for (const auto& v : in.violated) harm += (harm.empty() ? "the violation of " : ", ") + v;
  }
  if (found.empty()) {
    d.text = "no set of file or directory fsyncs removes " + harm +
             ": the loss is not (only) a missing sync";
    return d;
  }
  d.found = true;
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  for (const auto& [x, upto] : found) {
    SyncFix f;
    f.directory = x.directory;
    f.path = Rel(x.directory ? x.path : ops[upto].path);
    f.after_seq = upto;
    f.after_what = Describe(ops[upto]);
    d.fixes.push_back(f);
    d.text += (d.text.empty() ? "" : " and ") + std::string("fsync of ") +
              (x.directory ? (f.path == "." ? std::string("the root directory")
                                            : "directory " + f.path + "/")
                           : "file " + f.path) +
              " after trace #" + std::to_string(upto) + " (" + f.after_what + ")";
  }
  d.text += " would have prevented " + harm;
  return d;
}

}  // namespace blackout::harness
