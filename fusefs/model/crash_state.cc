// Crash-state generators (crash_model.md, "Generators"): which ordered
// subsets of the pending operations may have reached the disk, one state per
// stable id, and the trees they leave.
#include <linux/fs.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <set>
#include <unordered_set>

#include "fusefs/model/behaviour_model.h"
#include "fusefs/model/digest.h"
#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

namespace {

// The operations an ext4 journal commit carries, in order (see
// durability.cc): everything but new data.
bool InJournal(const PendingOp& op) { return !IsDataOp(op.kind) || op.kind == OpKind::kTruncate; }

// A kept truncate or rename-over that the model says carries the file's
// earlier data with it (data=ordered, auto_da_alloc; behaviour_model.h).
bool NeedsEarlierData(const ModelRules& rules, const PendingOp& op) {
  if (op.kind == OpKind::kTruncate) return rules.data_before_truncate;
  return op.kind == OpKind::kRename && op.replaced != 0 && !(op.flags & RENAME_EXCHANGE) &&
         rules.data_before_rename_over;
}

bool ParseU64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

constexpr uint64_t kSector = 512;
// Torn states per write: every sector boundary of short writes, an even
// spread of them for long ones.
constexpr uint64_t kMaxTornPerWrite = 32;

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void Bytes(const void* p, size_t n) {
    auto* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  }
  void U64(uint64_t v) { Bytes(&v, sizeof v); }
  void Str(std::string_view s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
};

}  // namespace

uint64_t HashTree(const Tree& tree) {
  Fnv f;
  std::unordered_set<Ino> seen{kRootIno};
  // Breadth-first in name order; a marker opens each directory.
  std::vector<Ino> order{kRootIno};
  for (size_t i = 0; i < order.size(); ++i) {
    const Node* d = tree.Find(order[i]);
    f.U64(0xD1D1D1D1);
    for (const auto& [name, child] : d->entries) {
      const Node* c = tree.Find(child);
      if (c == nullptr) continue;
      f.Str(name);
      f.U64(c->attr.mode);
      for (const auto& [k, v] : c->xattrs) {
        f.Str(k);
        f.Str(v);
      }
      if (c->IsDir()) {
        if (seen.insert(child).second) order.push_back(child);
        continue;
      }
      f.U64(c->attr.size);
      f.Str(c->target);
      for (const auto& [idx, page] : c->pages) {
        uint64_t off = idx * kPageSize;
        if (off >= c->attr.size) break;
        size_t len = std::min<uint64_t>(kPageSize, c->attr.size - off);
        f.U64(idx);
        f.U64(Digest(std::string_view(page->bytes, len)));
      }
    }
  }
  return f.h;
}

Result<Filesystem::Impl::StateSpec> Filesystem::Impl::ParseStateId(std::string_view id) const {
  StateSpec spec;
  auto parts = Split(id, ':');
  const std::string_view kind = parts[0];
  auto all = [&] {
    for (const auto& [s, op] : pending) spec.kept.push_back(s);
  };
  if (kind == "drop-all" && parts.size() == 1) return spec;
  if (kind == "keep-all" && parts.size() == 1) {
    all();
    return spec;
  }
  if (kind == "prefix" && parts.size() == 2) {
    uint64_t upto;
    // The generator's ids: prefix:0 keeps nothing, prefix:S keeps up to the
    // pending op S. Any other S names no state of these pending ops.
    if (!ParseU64(parts[1], upto) || (upto != 0 && pending.count(upto) == 0)) return Errno{EINVAL};
    for (const auto& [s, op] : pending) {
      if (s <= upto) spec.kept.push_back(s);
    }
    return spec;
  }
  if (kind == "reorder" && parts.size() == 3) {
    uint64_t k;
    if (!ParseU64(parts[1], k)) return Errno{EINVAL};
    // As the generator writes them: ascending, each once.
    std::set<Seq> dropped;
    for (auto t : Split(parts[2], ',')) {
      uint64_t s;
      if (!ParseU64(t, s) || pending.count(s) == 0) return Errno{EINVAL};
      if (!dropped.empty() && s <= *dropped.rbegin()) return Errno{EINVAL};
      dropped.insert(s);
    }
    if (!parts[2].empty() && parts[2].back() == ',') return Errno{EINVAL};
    if (dropped.empty() || dropped.size() > k) return Errno{EINVAL};
    for (const auto& [s, op] : pending) {
      if (dropped.count(s) == 0) spec.kept.push_back(s);
    }
    return spec;
  }
  if (kind == "torn" && parts.size() == 3) {
    uint64_t seq, bytes;
    if (!ParseU64(parts[1], seq) || !ParseU64(parts[2], bytes)) return Errno{EINVAL};
    auto it = pending.find(seq);
    // The generator's ids tear a write at a sector boundary inside it; a
    // disk does not keep part of a sector.
    if (it == pending.end() || it->second.kind != OpKind::kWrite || bytes == 0 ||
        bytes >= it->second.data.size() || (it->second.offset + bytes) % kSector != 0) {
      return Errno{EINVAL};
    }
    for (const auto& [s, op] : pending) {
      if (s <= seq) spec.kept.push_back(s);
    }
    spec.torn = seq;
    spec.torn_bytes = bytes;
    return spec;
  }
  if (kind == "random" && parts.size() == 4) {
    uint64_t n, seed, i;
    if (!ParseU64(parts[1], n) || !ParseU64(parts[2], seed) || !ParseU64(parts[3], i) || i >= n) {
      return Errno{EINVAL};
    }
    // Each state draws from its own stream, so state i does not depend on N.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + i + 1);
    std::vector<const PendingOp*> ops;
    size_t journal_ops = 0;
    for (const auto& [s, op] : pending) {
      ops.push_back(&op);
      if (InJournal(op)) ++journal_ops;
    }
    const ModelRules& rules = RulesOf(options.model);
    std::set<Seq> kept;
    if (rules.whole_prefix) {
      size_t keep = rng() % (ops.size() + 1);
      for (size_t k = 0; k < keep; ++k) kept.insert(ops[k]->seq);
    } else {
      // Journaled operations persist as a prefix; the rest independently.
      size_t journal_keep = rules.journal_prefix ? rng() % (journal_ops + 1) : 0;
      size_t journal_seen = 0;
      for (const PendingOp* op : ops) {
        bool keep;
        if (rules.journal_prefix && InJournal(*op)) {
          keep = journal_seen++ < journal_keep;
        } else {
          keep = rng() & 1;
        }
        if (keep) kept.insert(op->seq);
      }
    }
    // Close under "data before the metadata that needs it" (Allowed).
    for (const PendingOp* op : ops) {
      if (kept.count(op->seq) == 0 || !NeedsEarlierData(rules, *op)) continue;
      for (const PendingOp* d : ops) {
        if (d->seq >= op->seq) break;
        if (d->ino == op->ino && IsDataOp(d->kind)) kept.insert(d->seq);
      }
    }
    spec.kept.assign(kept.begin(), kept.end());
    return spec;
  }
  return Errno{EINVAL};
}

bool Filesystem::Impl::Allowed(const StateSpec& spec) const {
  const ModelRules& rules = RulesOf(options.model);
  std::set<Seq> kept(spec.kept.begin(), spec.kept.end());
  if (rules.whole_prefix) {
    // btrfs: transactions commit whole and in order; copy-on-write never
    // tears a block in place.
    if (spec.torn != 0) return false;
    bool gap = false;
    for (const auto& [s, op] : pending) {
      bool keep = kept.count(s) != 0;
      if (keep && gap) return false;
      if (!keep) gap = true;
    }
    return true;
  }
  bool journal_gap = false;
  for (const auto& [s, op] : pending) {
    bool keep = kept.count(s) != 0;
    if (rules.journal_prefix && InJournal(op)) {
      // The journal commits in order (ALICE Table 1: ext4 and xfs order
      // directory operations): no journaled op after a lost one.
      if (keep && journal_gap) return false;
      if (!keep) journal_gap = true;
    }
    if (!keep || !NeedsEarlierData(rules, op)) continue;
    for (const auto& [d, dop] : pending) {
      if (d >= s) break;
      if (dop.ino == op.ino && IsDataOp(dop.kind) && kept.count(d) == 0) return false;
    }
  }
  return true;
}

Tree Filesystem::Impl::BuildState(const StateSpec& spec) const {
  Tree t = dur;  // shared copy-on-write: the durable view is not touched
  for (Seq s : spec.kept) {
    const PendingOp& op = pending.at(s);
    if (s == spec.torn && !spec.pieces.empty()) {
      const std::string bytes = op.data.ToString();
      for (const auto& [at, len] : spec.pieces) {
        PendingOp part = op;
        part.offset = op.offset + at;
        part.length = len;
        part.data = WriteData(part.offset, std::string_view(bytes).substr(at, len));
        ApplyOp(t, part, born);
      }
    } else if (s == spec.torn) {
      PendingOp part = op;
      part.data = op.data.Prefix(spec.torn_bytes);
      part.length = spec.torn_bytes;
      ApplyOp(t, part, born);
    } else {
      ApplyOp(t, op, born);
    }
  }
  RepairTree(t);
  return t;
}

Result<std::vector<CrashStateInfo>> Filesystem::CrashStates(std::string_view generator,
                                                            uint64_t seed, size_t limit) const {
  std::lock_guard lock(impl_->mu);
  const Impl& m = *impl_;
  std::vector<Seq> all;
  all.reserve(m.pending.size());
  for (const auto& [s, op] : m.pending) all.push_back(s);

  // Candidate ids, in a deterministic order.
  std::vector<std::string> ids;
  auto parts = Split(generator, ':');
  const std::string_view kind = parts[0];
  // A reorder enumeration can be vast; look at a bounded number of candidates.
  const size_t budget = std::max<size_t>(limit * 8, 1000);
  if (generator == "drop-all" || generator == "keep-all") {
    ids.emplace_back(generator);
  } else if (generator == "prefix") {
    ids.push_back("prefix:0");
    for (Seq s : all) ids.push_back("prefix:" + std::to_string(s));
  } else if (kind == "reorder" && parts.size() == 2) {
    uint64_t k;
    if (!ParseU64(parts[1], k) || k == 0) return Errno{EINVAL};
    size_t n = all.size();
    // Drop sets of size 1..K whose largest member is not the last op, so
    // that a later operation is kept (otherwise it is a prefix state).
    std::vector<size_t> idx;
    for (size_t size = 1; size <= k && size < n && ids.size() < budget; ++size) {
      idx.resize(size);
      for (size_t i = 0; i < size; ++i) idx[i] = i;
      while (ids.size() < budget) {
        if (idx.back() < n - 1) {
          std::string id = "reorder:" + std::to_string(k) + ":";
          for (size_t i = 0; i < size; ++i) id += (i ? "," : "") + std::to_string(all[idx[i]]);
          ids.push_back(std::move(id));
        }
        // Next combination in lexicographic order.
        size_t i = size;
        while (i > 0 && idx[i - 1] == n - size + i - 1) --i;
        if (i == 0) break;
        ++idx[i - 1];
        for (size_t j = i; j < size; ++j) idx[j] = idx[j - 1] + 1;
      }
    }
  } else if (generator == "torn") {
    for (const auto& [s, op] : m.pending) {
      if (op.kind != OpKind::kWrite) continue;
      uint64_t begin = op.offset, end = op.offset + op.data.size();
      uint64_t first = (begin / kSector + 1) * kSector;  // first boundary inside
      if (first >= end) continue;
      uint64_t count = (end - 1 - first) / kSector + 1;
      uint64_t step = std::max<uint64_t>(1, (count + kMaxTornPerWrite - 1) / kMaxTornPerWrite);
      for (uint64_t b = 0; b < count; b += step) {
        ids.push_back("torn:" + std::to_string(s) + ":" +
                      std::to_string(first + b * kSector - begin));
      }
    }
  } else if (kind == "random" && parts.size() == 2) {
    uint64_t n;
    if (!ParseU64(parts[1], n)) return Errno{EINVAL};
    for (uint64_t i = 0; i < n; ++i) {
      ids.push_back("random:" + std::to_string(n) + ":" + std::to_string(seed) + ":" +
                    std::to_string(i));
    }
  } else {
    return Errno{EINVAL};
  }

  std::vector<CrashStateInfo> out;
  std::unordered_set<uint64_t> seen;
  for (const std::string& id : ids) {
    if (out.size() >= limit) break;
    auto spec = m.ParseStateId(id);
    if (!spec.ok() || !m.Allowed(*spec)) continue;
    Tree t = m.BuildState(*spec);
    uint64_t h = HashTree(t);
    if (!seen.insert(h).second) continue;
    CrashStateInfo info;
    info.id = id;
    info.generator = std::string(generator);
    info.kept = spec->kept;
    std::set<Seq> kept(spec->kept.begin(), spec->kept.end());
    for (Seq s : all) {
      if (kept.count(s) == 0) info.dropped.push_back(s);
    }
    info.torn = spec->torn;
    info.torn_bytes = spec->torn_bytes;
    info.tree_hash = h;
    out.push_back(std::move(info));
  }
  return out;
}

bool Filesystem::IsCrashState(std::string_view id) const {
  std::lock_guard lock(impl_->mu);
  auto spec = impl_->ParseStateId(id);
  return spec.ok() && impl_->Allowed(*spec);
}

std::vector<std::string> Filesystem::SameGeneratorIds(std::string_view id, uint64_t seed,
                                                      size_t limit, std::string* generator,
                                                      size_t* total) const {
  std::vector<std::string> parts;
  for (size_t from = 0;;) {
    const size_t colon = id.find(':', from);
    parts.emplace_back(id.substr(from, colon == std::string_view::npos ? colon : colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  *generator = parts[0];
  *total = 0;
  // reorder:K:LIST and random:N:SEED:I name their generator's parameter.
  if ((parts[0] == "reorder" || parts[0] == "random") && parts.size() > 1)
    *generator += ":" + parts[1];
  if (parts[0] == "random" && parts.size() > 2 && !parts[2].empty() &&
      parts[2].find_first_not_of("0123456789") == std::string::npos)
    seed = std::strtoull(parts[2].c_str(), nullptr, 10);
  auto states = CrashStates(*generator, seed, 1000);
  if (!states.ok()) return {};
  *total = states->size();
  std::vector<std::string> ids;
  for (size_t i = 0; i < states->size() && i < limit; ++i) ids.push_back((*states)[i].id);
  return ids;
}

Result<PowerCutResult> Filesystem::PowerCutTo(std::string_view id) {
  // drop-all and keep-all have their own, quicker way (no state to build).
  if (id == "drop-all") return PowerCut(CrashStateKind::kDropAll);
  if (id == "keep-all") return PowerCut(CrashStateKind::kKeepAll);
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  auto spec = m.ParseStateId(id);
  if (!spec.ok()) return Errno{spec.error()};
  if (!m.Allowed(*spec)) return Errno{EINVAL};  // no generator of this model gives it
  m.JoinReaper();
  PowerCutResult result;
  result.dropped_ops = m.pending.size() - spec->kept.size();
  m.dur = m.BuildState(*spec);
  return m.FinishCut(std::move(result), std::string(id));
}

Result<void> Filesystem::MaterializeCrashState(std::string_view id, const std::string& dir) const {
  Tree state;
  {
    std::lock_guard lock(impl_->mu);
    auto spec = impl_->ParseStateId(id);
    if (!spec.ok()) return Errno{spec.error()};
    state = impl_->BuildState(*spec);
  }
  return MaterializeTree(state, dir);
}

Result<uint64_t> Filesystem::CrashStateHash(std::string_view id) const {
  std::lock_guard lock(impl_->mu);
  auto spec = impl_->ParseStateId(id);
  if (!spec.ok()) return Errno{spec.error()};
  return HashTree(impl_->BuildState(*spec));
}

}  // namespace blackout::model
