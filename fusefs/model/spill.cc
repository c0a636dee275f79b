// Moving superseded versions of pending pages to the spill file
// (crash_model.md, "Memory: the spill file"; spill_file.h).
//
// A version is superseded when the write that made it is still pending but
// no view shows it any more: a later write replaced the page in the volatile
// view, and the durable view never had it. Only a crash state (or a sync that
// applies that write) can need it again, so it may wait on a disk. Which
// versions those are is read off the reference counts: a page that a
// pending write alone holds (use_count 1 under the lock) is one of them.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>

#include "fusefs/model/filesystem_impl.h"
#include "fusefs/model/spill_file.h"

namespace blackout::model {
namespace {

// Pages examined per hold of the lock when looking for superseded ones: a
// few hundred microseconds at most, during which requests wait.
constexpr size_t kScanPagesPerHold = 4096;

// The longest pause after the disk refused a spill (Impl::spill_error).
constexpr std::chrono::seconds kSpillMaxPause{64};

uint64_t InMemory(const PendingOp& op) {
  if (op.kind != OpKind::kWrite) return 0;
  return (op.data.whole_pages() - op.data.spilled_pages()) * kPageSize;
}

}  // namespace

void Filesystem::Impl::AddPending(PendingOp op) {
  const Seq s = op.seq;
  pending_memory += InMemory(op);
  pending.emplace(s, std::move(op));
  if (SpillDue()) spill_cv.notify_one();
}

void Filesystem::Impl::ErasePending(std::map<Seq, PendingOp>::iterator it) {
  pending_memory -= InMemory(it->second);
  pending.erase(it);
}

void Filesystem::Impl::NoteWholeWrites(Ino ino, const std::vector<Seq>& seqs) {
  bool spilled = false;
  for (Seq s : seqs) {
    auto it = pending.find(s);
    if (it != pending.end() && it->second.kind == OpKind::kWrite) {
      spilled = spilled || it->second.data.spilled_pages() > 0;
    }
  }
  if (!spilled) return;
  std::unordered_map<uint64_t, Seq>& last = sync_whole_writes[ino];
  for (Seq s : seqs) {  // ascending: the last write of each page stays
    auto it = pending.find(s);
    if (it == pending.end() || it->second.kind != OpKind::kWrite) continue;
    const WriteData& data = it->second.data;
    for (size_t i = 0; i < data.whole_pages(); ++i)
      last[data.first_whole_page() + i] = s;
  }
}

bool Filesystem::Impl::SpillPaused() const {
  return !spill_error.empty() && std::chrono::steady_clock::now() < spill_retry_at;
}

bool Filesystem::Impl::SpillDue() const {
  // After a pass that found nothing to move, the next waits until writes
  // have replaced pages in the volatile view (each may have left a version
  // behind) in proportion to what a pass examines: a workload whose pending
  // data is all still in view costs about 64 examined pages per page written.
  const uint64_t enough_new = std::max<uint64_t>(1, pending_memory / kPageSize / 64);
  return options.spill && pending_memory > options.spill_after && replaced_pages >= enough_new &&
         !SpillPaused();
}

bool Filesystem::Impl::CollectSuperseded(std::vector<SpillCandidate>& batch, size_t limit) {
  size_t examined = 0;
  auto it = pending.lower_bound(spill_cursor);
  size_t page = it != pending.end() && it->first == spill_cursor ? spill_cursor_page : 0;
  for (; it != pending.end(); ++it, page = 0) {
    const WriteData& data = it->second.data;
    if (it->second.kind != OpKind::kWrite || data.spilled_pages() == data.whole_pages()) continue;
    for (; page < data.whole_pages(); ++page) {
      if (batch.size() == limit || examined == kScanPagesPerHold) {
        spill_cursor = it->first;
        spill_cursor_page = page;
        return false;
      }
      ++examined;
      if (const PageRef* ref = data.Superseded(page)) {
        batch.push_back({it->first, static_cast<uint32_t>(page), *ref});
      }
    }
  }
  spill_cursor = 0;
  spill_cursor_page = 0;
  return true;
}

bool Filesystem::Impl::SpillBatch(std::vector<SpillCandidate>& batch,
                                  std::unique_lock<std::mutex>& lock) {
  std::vector<const Page*> pages;
  pages.reserve(batch.size());
  for (const SpillCandidate& c : batch) pages.push_back(c.ref.get());
  const std::shared_ptr<SpillFile> file = options.spill;
  lock.unlock();
  std::string error;
  std::shared_ptr<const SpillChunk> chunk = file->Write(pages.data(), pages.size(), &error);
  lock.lock();
  if (!chunk) {
    spill_pause = std::min(kSpillMaxPause, std::max(std::chrono::seconds(1), 2 * spill_pause));
    spill_retry_at = std::chrono::steady_clock::now() + spill_pause;
    spill_error = error + "; spilling paused for " + std::to_string(spill_pause.count()) +
                  " s, pending pages stay in memory meanwhile";
    return false;
  }
  spill_error.clear();
  spill_pause = std::chrono::seconds(0);
  // The pages leave the writes here, under the lock, and are dropped after
  // it, with the batch's own references: their memory goes back then.
  std::vector<PageRef> released;
  released.reserve(batch.size());
  auto it = pending.end();
  for (size_t i = 0; i < batch.size(); ++i) {
    // A sync or a power cut may have taken the write meanwhile (seqs are
    // never reused); then the chunk's page goes unused. The batch is in seq
    // order, a few pages per write: one lookup per write.
    if (it == pending.end() || it->first != batch[i].seq) it = pending.find(batch[i].seq);
    if (it == pending.end() || it->second.kind != OpKind::kWrite) continue;
    if (PageRef page = it->second.data.MarkSpilled(batch[i].page, chunk, static_cast<uint32_t>(i))) {
      pending_memory -= kPageSize;
      released.push_back(std::move(page));
    }
  }
  std::vector<SpillCandidate> done = std::move(batch);
  batch.clear();
  lock.unlock();
  released.clear();
  done.clear();
  chunk.reset();
  lock.lock();
  return true;
}

uint64_t Filesystem::Impl::SpillUntil(std::unique_lock<std::mutex>& lock,
                                      const std::function<bool()>& enough) {
  uint64_t moved = 0;
  bool moved_in_pass = false;
  std::vector<SpillCandidate> batch;
  while (!enough()) {
    const bool pass_done = CollectSuperseded(batch, SpillFile::kChunkPages);
    if (batch.size() == SpillFile::kChunkPages || (pass_done && !batch.empty())) {
      const size_t n = batch.size();
      if (!SpillBatch(batch, lock)) break;
      moved += n * kPageSize;
      moved_in_pass = true;
    } else if (!pass_done) {
      // Let waiting requests in between two scans.
      lock.unlock();
      lock.lock();
    }
    if (pass_done) {
      if (!moved_in_pass) {
        replaced_pages = 0;
        break;
      }
      moved_in_pass = false;
    }
  }
  return moved;
}

void Filesystem::Impl::RunSpiller() {
  pthread_setname_np(pthread_self(), "spill");
  // Spilling runs on CPU time nothing else wants (SCHED_IDLE): with the
  // kernel's writeback cache the writer and the request threads keep both
  // CPUs of a small machine busy, and a spill thread competing with them
  // cost a quarter of the sequential write rate (1,036 to 1,145 MiB/s
  // against 1,245 to 1,458 as SCHED_IDLE, BENCHMARKS.md). When it lags,
  // memory grows as it would without a spill file.
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  std::unique_lock lock(mu);
  for (;;) {
    // After a refusal, no write wakes the thread until the pause is over.
    if (SpillPaused()) spill_cv.wait_until(lock, spill_retry_at, [this] { return spill_stop; });
    spill_cv.wait(lock, [this] { return spill_stop || SpillDue(); });
    if (spill_stop) return;
    SpillUntil(lock, [this] { return spill_stop || pending_memory <= options.spill_after; });
  }
}

void Filesystem::Impl::StopSpiller() {
  if (!spiller.joinable()) return;
  {
    std::lock_guard lock(mu);
    spill_stop = true;
  }
  spill_cv.notify_one();
  spiller.join();
}

MemoryUse Filesystem::Memory() const {
  std::lock_guard lock(impl_->mu);
  const Impl& m = *impl_;
  MemoryUse use;
  use.pending_in_memory = m.pending_memory;
  if (m.options.spill) {
    use.spilled = m.options.spill->bytes_held();
    use.spill_written = m.options.spill->bytes_written();
    use.spill_dir = m.options.spill->dir();
  }
  use.spill_error = m.spill_error;
  return use;
}

uint64_t Filesystem::SpillSuperseded() {
  Impl& m = *impl_;
  if (!m.options.spill) return 0;
  std::unique_lock lock(m.mu);
  m.spill_cursor = 0;
  m.spill_cursor_page = 0;
  return m.SpillUntil(lock, [] { return false; });
}

}  // namespace blackout::model
