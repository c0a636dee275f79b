// Faults in the running filesystem: the control calls of filesystem.h
// ("Faults beyond power loss"), the hooks the operations of filesystem.cc
// call, and what a failed fsync does to un-synced data under each behaviour
// model. crash_model.md, "Faults", is the one description of the rules.
#include <algorithm>
#include <cerrno>
#include <utility>

#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

// ---------------------------------------------------------------- control

Result<void> Filesystem::AddFault(FaultRule rule) {
  if (!GlobProblem(rule.path).empty() || rule.first == 0) return Errno{EINVAL};
  if (FaultErrnoName(rule.err) == "?") return Errno{EINVAL};
  rule.seen = 0;
  rule.fired = 0;
  std::lock_guard lock(impl_->mu);
  impl_->faults.Add(std::move(rule));
  return Ok();
}

Result<void> Filesystem::SetCrashTrigger(CrashTrigger trigger) {
  if ((!trigger.regex && !GlobProblem(trigger.path).empty()) || trigger.nth == 0) {
    return Errno{EINVAL};
  }
  DisarmTriggers();
  return AddCrashTrigger(std::move(trigger)).ok() ? Result<void>(Ok()) : Errno{EINVAL};
}

Result<uint64_t> Filesystem::AddCrashTrigger(CrashTrigger trigger) {
  if ((!trigger.regex && !GlobProblem(trigger.path).empty()) || trigger.nth == 0 ||
      (trigger.every && !trigger.save)) {
    return Errno{EINVAL};
  }
  trigger.seen = 0;
  std::lock_guard lock(impl_->mu);
  trigger.id = impl_->next_trigger_id++;
  const uint64_t id = trigger.id;
  impl_->faults.AddTrigger(std::move(trigger));
  return id;
}

Result<uint64_t> Filesystem::AddTornWrite(TornWrite torn) {
  if (!TornWriteProblem(torn).empty()) return Errno{EINVAL};
  torn.writes = 0;
  torn.groups = 0;
  torn.run.clear();
  std::lock_guard lock(impl_->mu);
  torn.id = impl_->next_trigger_id++;
  const uint64_t id = torn.id;
  impl_->torn_writes.push_back(std::move(torn));
  return id;
}

void Filesystem::DisarmTriggers() {
  std::lock_guard lock(impl_->mu);
  impl_->faults.ClearTriggers();
  impl_->torn_writes.clear();
}

void Filesystem::SetStopListener(StopListener listener) {
  std::lock_guard lock(impl_->mu);
  impl_->stop_listener = std::move(listener);
}

void Filesystem::SetFireListener(FireListener listener) {
  std::lock_guard lock(impl_->mu);
  impl_->fire_listener = std::move(listener);
}

std::vector<uint64_t> Filesystem::TakeFiredTriggers() {
  std::lock_guard lock(impl_->mu);
  return std::exchange(impl_->fired_triggers, {});
}

void Filesystem::ClearFaults() {
  std::lock_guard lock(impl_->mu);
  impl_->faults.Clear();
  impl_->torn_writes.clear();
}

std::vector<FaultRule> Filesystem::Faults() const {
  std::lock_guard lock(impl_->mu);
  return impl_->faults.rules();
}

std::vector<CrashTrigger> Filesystem::ArmedTriggers() const {
  std::lock_guard lock(impl_->mu);
  return impl_->faults.triggers();
}

std::vector<SavedCrashPoint> Filesystem::TakeSavedCrashPoints() {
  std::lock_guard lock(impl_->mu);
  return std::exchange(impl_->saved_points, {});
}

uint64_t Filesystem::TriggeredCuts() const {
  std::lock_guard lock(impl_->mu);
  return impl_->triggered_cuts;
}

void Filesystem::SetCacheDropListener(CacheDropListener listener) {
  std::lock_guard lock(impl_->mu);
  impl_->drop_listener = std::move(listener);
}

// ---------------------------------------------------------------- hooks

std::vector<std::string> Filesystem::Impl::PathsOf(Ino ino) const { return {Path(ino)}; }

std::string Filesystem::Impl::EntryPath(Ino parent, std::string_view name) const {
  std::string dir = Path(parent);
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

int Filesystem::Impl::BeforeOp(FaultOp op, const std::function<std::vector<std::string>()>& paths) {
  if (faults.empty()) return 0;
  std::vector<std::string> p = paths();
  std::vector<std::pair<uint64_t, uint64_t>> saves;
  const uint64_t id = faults.Fires(op, p, /*before=*/true, &saves);
  SavePoints(saves, op, /*before=*/true, p);
  if (id != 0) {
    // The power went out before the operation reached the disk: it never
    // happens, and the caller's handle belongs to a world that is gone.
    TriggeredCut(id, op, p.empty() ? std::string() : p.front());
    return EIO;
  }
  return faults.Error(op, p);
}

void Filesystem::Impl::AfterOp(FaultOp op, const std::function<std::vector<std::string>()>& paths) {
  if (!faults.has_after_trigger()) return;
  std::vector<std::string> p = paths();
  std::vector<std::pair<uint64_t, uint64_t>> saves;
  const uint64_t id = faults.Fires(op, p, /*before=*/false, &saves);
  SavePoints(saves, op, /*before=*/false, p);
  if (id != 0) TriggeredCut(id, op, p.empty() ? std::string() : p.front());
}

void Filesystem::Impl::SavePoints(const std::vector<std::pair<uint64_t, uint64_t>>& fired,
                                  FaultOp op, bool before, const std::vector<std::string>& paths) {
  if (fired.empty()) return;
  // Captured here, under the lock and at this trace position, rather than
  // by a control request afterwards: by then the program's call has gone
  // on and what was pending at the operation is no longer what is pending.
  const std::string bytes = SaveLocked();
  for (const auto& [id, nth] : fired) {
    SavedCrashPoint sp;
    sp.trigger = id;
    sp.nth = nth;
    sp.op = op;
    sp.before = before;
    sp.path = paths.empty() ? std::string() : paths.front();
    sp.seq = seq;
    sp.bytes = bytes;
    saved_points.push_back(std::move(sp));
  }
}

void Filesystem::Impl::AfterWrite(Ino ino, Seq seq) {
  if (torn_writes.empty()) return;
  const std::vector<std::string> paths = PathsOf(ino);
  auto pending_op = pending.find(seq);
  for (auto t = torn_writes.begin(); t != torn_writes.end(); ++t) {
    if (std::none_of(paths.begin(), paths.end(),
                     [&](const std::string& p) { return GlobMatches(t->path, p); })) {
      continue;
    }
    StateSpec spec;
    if (t->kind == TornWrite::Kind::kOp) {
      if (++t->writes != t->occurrence) continue;
      if (pending_op != pending.end()) {
        // LazyFS gives the remainder of equal parts to the last persisted
        // part; here the last part of the write takes it, whichever persists.
        const uint64_t size = pending_op->second.data.size();
        std::vector<uint64_t> sizes = t->parts_bytes;
        if (sizes.empty()) {
          sizes.assign(t->parts, size / t->parts);
          sizes.back() += size % t->parts;
        }
        uint64_t total = 0;
        for (uint64_t b : sizes) total += b;
        if (total != size) continue;  // as LazyFS: no fault when the parts do not fit the write
        std::vector<uint64_t> starts;
        for (uint64_t b = 0, i = 0; i < sizes.size(); b += sizes[i], ++i) starts.push_back(b);
        std::vector<uint64_t> persist = t->persist;
        std::sort(persist.begin(), persist.end());
        persist.erase(std::unique(persist.begin(), persist.end()), persist.end());
        for (uint64_t p : persist) {
          if (sizes[p - 1] != 0) spec.pieces.emplace_back(starts[p - 1], sizes[p - 1]);
        }
        spec.kept.push_back(seq);
        spec.torn = seq;
      }
    } else {
      t->run.push_back(seq);
      if (++t->writes == 2) ++t->groups;
      if (t->groups != t->occurrence || t->writes < 2) continue;
      const uint64_t last =
          std::max<uint64_t>(2, *std::max_element(t->persist.begin(), t->persist.end()));
      if (t->writes != last) continue;
      for (uint64_t p : t->persist) {
        const Seq s = t->run[p - 1];
        if (pending.count(s) != 0) spec.kept.push_back(s);
      }
      std::sort(spec.kept.begin(), spec.kept.end());
      spec.kept.erase(std::unique(spec.kept.begin(), spec.kept.end()), spec.kept.end());
    }
    const uint64_t id = t->id;
    torn_writes.erase(t);
    TriggeredCut(id, FaultOp::kWrite, paths.empty() ? std::string() : paths.front(), &spec);
    return;
  }
}

void Filesystem::Impl::AfterFsync(Ino ino) {
  if (torn_writes.empty()) return;
  const std::vector<std::string> paths = PathsOf(ino);
  for (TornWrite& t : torn_writes) {
    if (t.kind == TornWrite::Kind::kSeq &&
        std::any_of(paths.begin(), paths.end(),
                    [&](const std::string& p) { return GlobMatches(t.path, p); })) {
      t.writes = 0;
      t.run.clear();
    }
  }
}

void Filesystem::Impl::TriggeredCut(uint64_t id, FaultOp op, const std::string& path,
                                    const StateSpec* spec) {
  fired_triggers.push_back(id);
  // As the control socket's power-cut does (control/server.cc): the entries
  // the kernel may hold wrong are the cut's stale entries.
  std::vector<std::pair<Ino, std::string>> entries;
  JoinReaper();
  PowerCutResult result;
  result.dropped_ops = pending.size() - (spec != nullptr ? spec->kept.size() : 0);
  if (spec != nullptr) dur = BuildState(*spec);
  unreported_wb_err.clear();
  result = FinishCut(std::move(result), "crash trigger: " + std::string(Name(op)) + " " + path);
  ++triggered_cuts;
  entries.insert(entries.end(), result.stale_entries.begin(), result.stale_entries.end());
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  std::vector<Ino> inodes = result.changed;
  inodes.insert(inodes.end(), result.forgotten.begin(), result.forgotten.end());
  if (drop_listener) drop_listener(std::move(entries), std::move(inodes));
  if (fire_listener) fire_listener(id);
  if (stop_listener && faults.fired_stop()) stop_listener();
}

// ---------------------------------------------------------------- failed fsync

void Filesystem::Impl::FailFsync(Fh fh, Ino ino) {
  // Every other file description open on the inode learns of the error at
  // its next fsync, once; descriptions opened later never do (errseq_t:
  // lib/errseq.c; Documentation/filesystems/vfs.rst, "fsync").
  for (const auto& [other, h] : handles) {
    if (other != fh && h.ino == ino && h.epoch == epoch) unreported_wb_err[ino].insert(other);
  }
  auto bi = by_inode.find(ino);
  if (bi == by_inode.end()) return;
  if (options.model == BehaviourModel::kBtrfs) {
    // btrfs: the file reverts to its last durable state, in memory too:
    // its un-synced operations are gone and reads show the durable bytes
    // (Rebello et al., "Can Applications Recover from fsync Failures?",
    // USENIX ATC 2020, section 4: btrfs reverts the in-memory file state).
    for (Seq s : bi->second) {
      auto it = pending.find(s);
      if (it != pending.end() && IsDataOp(it->second.kind)) ErasePending(it);
    }
    Node* v = vol.Mutable(ino);
    const Node* d = dur.Find(ino);
    if (v != nullptr) {
      vol.page_count -= v->pages.size();
      v->pages = d != nullptr ? d->pages : PageMap{};
      v->attr.size = d != nullptr ? d->attr.size : 0;
      vol.page_count += v->pages.size();
    }
    if (drop_listener) drop_listener({}, {ino});
    return;
  }
  // ext4 (both modes), xfs and posix-strict: writeback failed, the pages
  // are marked clean and their data will never be written; the page cache
  // keeps showing it until the power goes (Rebello et al. 2020, section 4;
  // LWN 752063, "PostgreSQL's fsync() surprise"). A retried fsync finds
  // nothing to write and succeeds. POSIX leaves the state unspecified;
  // posix-strict takes the same, pessimistic, reading.
  bool dropped = false;
  for (Seq s : bi->second) {
    auto it = pending.find(s);
    if (it != pending.end() && it->second.kind == OpKind::kWrite) {
      ErasePending(it);
      dropped = true;
    }
  }
  if (dropped) writeback_failed.try_emplace(ino, seq);
}

}  // namespace blackout::model
