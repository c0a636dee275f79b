// Sync events, behaviour models and crash states: how pending operations
// reach the durable view. The rules are those of crash_model.md; each rule
// below names its source.
#include <linux/fs.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <unordered_set>

#include "fusefs/model/behaviour_model.h"
#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

// ------------------------------------------------------------ applying ops

void Filesystem::Impl::ApplyPending(Seq s) {
  auto it = pending.find(s);
  if (it == pending.end()) return;
  const PendingOp& op = it->second;
  const ModelRules& rules = RulesOf(options.model);
  if (IsEntryOp(op.kind)) {
    // The link changes of one inode reach the disk in the order they were
    // made, whichever directory is synced: a rename made durable by an fsync
    // of its target directory carries the (earlier) creation of its source
    // with it, so a later fsync of the source directory cannot resurrect it.
    for (Ino child : {op.ino, op.replaced}) {
      if (child == 0) continue;
      auto bc = by_child.find(child);
      if (bc == by_child.end()) continue;
      std::vector<Seq> earlier;
      for (Seq e : bc->second) {
        if (e < s) earlier.push_back(e);
      }
      for (Seq e : earlier) ApplyPending(e);
    }
    // ext4 auto_da_alloc (Documentation/admin-guide/ext4.rst, "auto_da_alloc")
    // and btrfs's flush on rename-over: renaming a file over an existing one
    // forces the new file's data out first, so the replace-via-rename idiom
    // never leaves an empty file (behaviour_model.cc).
    if (rules.data_before_rename_over && op.kind == OpKind::kRename && op.replaced != 0 &&
        !(op.flags & RENAME_EXCHANGE)) {
      ApplyInodeOpsBefore(op.ino, s, /*data_only=*/true);
    }
  } else if (rules.data_before_truncate && op.kind == OpKind::kTruncate) {
    // data=ordered (ext4.rst, "data=ordered"): data is forced out before the
    // metadata that a commit makes durable, here the journaled new size.
    ApplyInodeOpsBefore(op.ino, s, /*data_only=*/true);
  }
  it = pending.find(s);
  if (it == pending.end()) return;
  const std::unordered_map<uint64_t, Seq>* last_whole_write = nullptr;
  if (!sync_whole_writes.empty()) {
    auto sw = sync_whole_writes.find(it->second.ino);
    if (sw != sync_whole_writes.end()) last_whole_write = &sw->second;
  }
  ApplyOp(dur, it->second, born, last_whole_write);
  ErasePending(it);
}

void Filesystem::Impl::ApplyInodeOpsBefore(Ino ino, Seq before, bool data_only) {
  auto bi = by_inode.find(ino);
  if (bi == by_inode.end()) return;
  std::vector<Seq> seqs = bi->second;
  for (Seq e : seqs) {
    if (e >= before) break;
    auto it = pending.find(e);
    if (it == pending.end()) continue;
    if (data_only && !IsDataOp(it->second.kind)) continue;
    ApplyPending(e);
  }
}

bool Filesystem::Impl::HasLive(std::vector<Seq>& seqs, bool size_changing_only) {
  std::erase_if(seqs, [&](Seq s) { return pending.count(s) == 0; });
  if (!size_changing_only) return !seqs.empty();
  for (Seq s : seqs) {
    const PendingOp& op = pending.at(s);
    if (op.kind == OpKind::kTruncate || op.kind == OpKind::kFallocate) return true;
    if (op.kind == OpKind::kWrite && (op.flags & 1)) return true;
  }
  return false;
}

// ------------------------------------------------------------ sync events

void Filesystem::Impl::SyncInode(Ino ino, bool datasync) {
  const ModelRules& rules = RulesOf(options.model);
  bool dirty = false;
  if (rules.global_journal) {
    // ext4_sync_file commits the journal transaction that last changed the
    // inode (i_sync_tid, or i_datasync_tid for fdatasync); every pending op
    // sits in the one running transaction, so a changed inode commits it all
    // and a clean one commits nothing.
    auto& own = by_inode[ino];
    auto& named = by_child[ino];
    dirty = datasync ? (HasLive(own, true) || HasLive(named))
                     : (HasLive(own) || HasLive(named) || HasLive(by_dir[ino]));
  }
  // The inode's own operations, in order. fdatasync leaves attribute-only
  // changes (mode, owner, times, xattrs) pending: POSIX requires only what is
  // needed to read the data back.
  auto bi = by_inode.find(ino);
  if (bi != by_inode.end()) {
    std::vector<Seq> seqs = bi->second;
    std::vector<Seq> left;
    // Every pending data op of the inode is applied below: a spilled page
    // that a later write of them replaces need not be read back.
    NoteWholeWrites(ino, seqs);
    for (Seq s : seqs) {
      auto it = pending.find(s);
      if (it == pending.end()) continue;
      if (datasync && !IsDataOp(it->second.kind)) {
        left.push_back(s);
        continue;
      }
      ApplyPending(s);
    }
    bi = by_inode.find(ino);
    if (bi != by_inode.end()) bi->second = std::move(left);
    sync_whole_writes.clear();
  }
  if (rules.fsync_logs_names) {
    // btrfs logs the inode's names and, up the tree, the names of parent
    // directories that are new too (tree-log.c, log_new_dentries), so an
    // fsynced new file is found after a crash.
    Ino cur = ino;
    for (int depth = 0; cur != kRootIno && depth < 4096; ++depth) {
      auto bc = by_child.find(cur);
      if (bc != by_child.end()) {
        std::vector<Seq> seqs = std::move(bc->second);
        by_child.erase(cur);
        for (Seq s : seqs) ApplyPending(s);
      }
      auto up = links.find(cur);
      if (up == links.end() || up->second.empty()) break;
      cur = up->second.front().first;
    }
  }
  if (dirty) CommitJournal();
}

void Filesystem::Impl::SyncDir(Ino dir) {
  if (RulesOf(options.model).global_journal) {
    // A directory is an inode like any other to ext4_sync_file and
    // xfs_file_fsync: see SyncInode.
    SyncInode(dir, false);
    return;
  }
  // posix-strict and btrfs: fsync of a directory makes its entries durable
  // (the entry operations that name it as parent or rename target) and its
  // own attributes (btrfs: and its own names, see SyncInode).
  auto bd = by_dir.find(dir);
  if (bd != by_dir.end()) {
    std::vector<Seq> seqs = std::move(bd->second);
    by_dir.erase(dir);
    for (Seq s : seqs) ApplyPending(s);
  }
  SyncInode(dir, false);
}

void Filesystem::Impl::CommitJournal() {
  // The journal is one ordered stream: a commit carries every metadata
  // operation made so far, in order (ALICE Table 1: ext4-ordered keeps
  // directory operations in order; ext4.rst, "Journal (jbd2)").
  std::vector<Seq> seqs = std::move(meta);
  meta.clear();
  for (Seq s : seqs) ApplyPending(s);
  if (!RulesOf(options.model).commit_exposes_size) return;
  // data=writeback: the commit carries the sizes of appends whose data is
  // still in the page cache; the exposed bytes read as zeros here.
  for (const auto& [s, op] : pending) {
    if (op.kind != OpKind::kWrite || !(op.flags & 1)) continue;
    Node* n = dur.Ensure(op.ino, born);
    n->attr.size = std::max(n->attr.size, op.offset + op.data.size());
  }
}

void Filesystem::Impl::ApplyAll() {
  // Every pending op is applied: see SyncInode.
  for (const auto& [ino, seqs] : by_inode) NoteWholeWrites(ino, seqs);
  while (!pending.empty()) ApplyPending(pending.begin()->first);
  sync_whole_writes.clear();
  by_inode.clear();
  by_dir.clear();
  by_child.clear();
  meta.clear();
}

void Filesystem::Impl::JoinReaper() {
  if (reaper.joinable()) reaper.join();
}

// ------------------------------------------------------------ crash states

void RepairTree(Tree& tree) {
  std::unordered_map<Ino, uint32_t> nlink;
  std::unordered_set<Ino> seen_dirs{kRootIno};
  std::vector<Ino> stack{kRootIno};
  nlink[kRootIno] = 2;
  while (!stack.empty()) {
    Ino d = stack.back();
    stack.pop_back();
    const Node* dn = tree.Find(d);
    std::vector<std::string> bad;
    for (const auto& [name, child] : dn->entries) {
      const Node* c = tree.Find(child);
      if (c == nullptr || (c->IsDir() && !seen_dirs.insert(child).second)) {
        bad.push_back(name);  // dangling, or a second parent of a directory
        continue;
      }
      if (c->IsDir()) {
        nlink[child] = 2;
        ++nlink[d];
        stack.push_back(child);
      } else {
        ++nlink[child];
      }
    }
    if (!bad.empty()) {
      Node* m = tree.Mutable(d);
      for (const auto& name : bad) m->entries.erase(name);
    }
  }
  for (auto it = tree.nodes.begin(); it != tree.nodes.end();) {
    auto n = nlink.find(it->first);
    if (n == nlink.end()) {
      tree.page_count -= it->second->pages.size();
      it = tree.nodes.erase(it);
      continue;
    }
    if (it->second->attr.nlink != n->second) {
      Node* m = tree.Mutable(it->first);
      m->attr.nlink = n->second;
    }
    ++it;
  }
}

Seq Filesystem::CurrentSeq() const {
  std::lock_guard lock(impl_->mu);
  return impl_->seq;
}

uint64_t Filesystem::Epoch() const {
  std::lock_guard lock(impl_->mu);
  return impl_->epoch;
}

void Filesystem::SyncAll() {
  std::lock_guard lock(impl_->mu);
  impl_->Record("sync", kRootIno, 0);
  impl_->ApplyAll();
}

PowerCutResult Filesystem::PowerCut(CrashStateKind state) {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  m.JoinReaper();
  PowerCutResult result;
  if (state == CrashStateKind::kKeepAll) {
    m.ApplyAll();
  } else {
    result.dropped_ops = m.pending.size();
  }
  return m.FinishCut(std::move(result),
                     state == CrashStateKind::kKeepAll ? "keep-all" : "drop-all");
}

void Filesystem::Impl::KernelCacheDiff(const Tree& old, const Tree& now,
                                       PowerCutResult& result) const {
  for (const auto& [ino, node] : old.nodes) {
    auto it = now.nodes.find(ino);
    if (it == now.nodes.end()) {
      result.forgotten.push_back(ino);
      continue;
    }
    if (it->second != node) result.changed.push_back(ino);
    if (!node->IsDir()) continue;
    const Node* after = it->second.get();
    for (const auto& [name, child] : node->entries) {
      auto e = after->entries.find(name);
      // Gone: the name and its inode both (an inode that lives on, under
      // another name, would still answer through the old dentry).
      if (e == after->entries.end() && now.nodes.count(child) == 0)
        result.gone_entries.emplace_back(ino, name);
      if (e == after->entries.end() || e->second != child)
        result.stale_entries.emplace_back(ino, name);
    }
  }
  // Names the cut brings back (an unlink or rename dropped): the kernel may
  // hold a negative entry for them.
  for (const auto& [ino, node] : now.nodes) {
    if (!node->IsDir()) continue;
    auto was = old.nodes.find(ino);
    const Node* before =
        was == old.nodes.end() || !was->second->IsDir() ? nullptr : was->second.get();
    for (const auto& [name, child] : node->entries)
      if (before == nullptr || before->entries.find(name) == before->entries.end() ||
          options.stale_all_entries)
        result.stale_entries.emplace_back(ino, name);
  }
  if (options.stale_all_entries)
    for (const auto& [ino, node] : old.nodes)
      for (const auto& [name, child] : node->entries) result.stale_entries.emplace_back(ino, name);
  std::sort(result.stale_entries.begin(), result.stale_entries.end());
  result.stale_entries.erase(std::unique(result.stale_entries.begin(), result.stale_entries.end()),
                             result.stale_entries.end());
  std::sort(result.gone_entries.begin(), result.gone_entries.end());
  std::sort(result.forgotten.begin(), result.forgotten.end());
  std::sort(result.changed.begin(), result.changed.end());
}

PowerCutResult Filesystem::Impl::FinishCut(PowerCutResult result, const std::string& label,
                                           bool record) {
  auto garbage = std::make_unique<Garbage>();
  garbage->pending = std::move(pending);
  pending.clear();
  pending_memory = 0;
  by_inode.clear();
  by_dir.clear();
  by_child.clear();
  meta.clear();
  writeback_failed.clear();

  RepairTree(dur);
  Tree old = std::move(vol);
  vol = dur;  // one pointer per inode; nodes are shared copy-on-write

  KernelCacheDiff(old, vol, result);

  links.clear();
  ++links_gen;
  links[kRootIno] = {};
  for (const auto& [ino, node] : vol.nodes) {
    for (const auto& [name, child] : node->entries) links[child].emplace_back(ino, name);
  }
  std::erase_if(lookups, [&](const auto& kv) { return vol.nodes.count(kv.first) == 0; });
  std::erase_if(born, [&](const auto& kv) { return vol.nodes.count(kv.first) == 0; });
  open_count.clear();
  ++epoch;
  result.epoch = epoch;
  if (record) Record("power-cut", kRootIno, 0, 0, 0, 0, 0, label);

  // Freeing a gigabyte of pages takes longer than the cut may; let another
  // thread drop the last references.
  garbage->vol = std::move(old);
  reaper = std::thread([g = std::move(garbage)]() mutable { g.reset(); });
  return result;
}

Unsynced Filesystem::ListUnsynced() const {
  std::lock_guard lock(impl_->mu);
  const Impl& m = *impl_;
  std::map<Ino, UnsyncedFile> files;
  std::map<Ino, UnsyncedDir> dirs;
  auto dir_op = [&](Ino d, Seq s) {
    auto [it, fresh] = dirs.try_emplace(d);
    if (fresh) {
      it->second.ino = d;
      it->second.since = s;
    }
    ++it->second.pending_entries;
  };
  for (const auto& [s, op] : m.pending) {
    if (IsEntryOp(op.kind)) {
      dir_op(op.parent, s);
      if (op.kind == OpKind::kRename && op.new_parent != op.parent) dir_op(op.new_parent, s);
      continue;
    }
    const Node* n = m.vol.Find(op.ino);
    if (n != nullptr && n->IsDir()) continue;  // a directory's own attributes
    auto [it, fresh] = files.try_emplace(op.ino);
    if (fresh) {
      it->second.ino = op.ino;
      it->second.since = s;
    }
    it->second.pending_bytes += op.DataBytes();
  }
  Unsynced out;
  for (auto& [ino, f] : files) {
    f.path = m.Path(ino);
    if (f.path.empty()) f.path = "(deleted)";
    out.files.push_back(std::move(f));
  }
  for (auto& [ino, d] : dirs) {
    d.path = m.Path(ino);
    if (d.path.empty()) d.path = "(deleted)";
    out.dirs.push_back(std::move(d));
  }
  for (const auto& [ino, s] : m.writeback_failed) {
    if (m.vol.Find(ino) == nullptr) continue;  // deleted since: nothing to lose there
    UnsyncedFile f;
    f.ino = ino;
    f.since = s;
    f.path = m.Path(ino);
    if (f.path.empty()) f.path = "(deleted)";
    out.failed_writeback.push_back(std::move(f));
  }
  auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
  std::sort(out.failed_writeback.begin(), out.failed_writeback.end(), by_path);
  std::sort(out.files.begin(), out.files.end(), by_path);
  std::sort(out.dirs.begin(), out.dirs.end(), by_path);
  return out;
}

std::vector<TraceEntry> Filesystem::Trace() const {
  std::lock_guard lock(impl_->mu);
  const Impl& m = *impl_;
  std::vector<TraceEntry> out;
  out.reserve(m.trace.size());
  for (const Impl::TraceRecord& r : m.trace) {
    TraceEntry& e = out.emplace_back();
    e.seq = r.seq;
    e.pid = r.pid;
    e.op = m.trace_strings[r.op];
    e.ino = r.ino;
    e.path = m.trace_strings[r.path];
    e.offset = r.offset;
    e.length = r.length;
    e.digest = r.digest;
    e.flags = r.flags;
    e.detail = m.trace_strings[r.detail];
  }
  return out;
}

void Filesystem::SetTracing(bool on) {
  std::lock_guard lock(impl_->mu);
  impl_->tracing.store(on, std::memory_order_relaxed);
}

bool Filesystem::Tracing() const { return impl_->tracing.load(std::memory_order_relaxed); }

uint64_t Filesystem::TraceDropped() const {
  std::lock_guard lock(impl_->mu);
  return impl_->trace_dropped;
}

size_t Filesystem::TraceStrings() const {
  std::lock_guard lock(impl_->mu);
  return impl_->trace_strings.size();
}

}  // namespace blackout::model
