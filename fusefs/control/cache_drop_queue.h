// blackout::control::CacheDropQueue: hands kernel-cache invalidations that
// the model asks for from inside a FUSE request (a crash trigger's power
// cut, a btrfs revert; model::Filesystem::SetCacheDropListener) to a thread
// of its own. The request's handler cannot notify the kernel itself: the
// kernel may wait for that very request to finish (fusefs/fuse/adapter.h).
//
// Thread-safety: Push from any thread; Stop once, before the adapter goes.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fusefs/control/signal_free_thread.h"
#include "fusefs/model/filesystem.h"

namespace blackout::control {

class CacheDropQueue {
 public:
  using Entries = std::vector<std::pair<model::Ino, std::string>>;
  using Inodes = std::vector<model::Ino>;
  using Drop = std::function<void(const Entries&, const Inodes&)>;

  explicit CacheDropQueue(Drop drop)
      : drop_(std::move(drop)), thread_(SignalFreeThread([this] { Run(); })) {}
  ~CacheDropQueue() { Stop(); }
  CacheDropQueue(const CacheDropQueue&) = delete;
  CacheDropQueue& operator=(const CacheDropQueue&) = delete;

  void Push(Entries entries, Inodes inodes) {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      work_.emplace_back(std::move(entries), std::move(inodes));
    }
    cv_.notify_one();
  }
  // Finishes the queued work and joins the thread. Idempotent.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopped_ || !work_.empty(); });
      if (work_.empty()) return;
      auto item = std::move(work_.front());
      work_.pop_front();
      lock.unlock();
      drop_(item.first, item.second);
      lock.lock();
    }
  }

  Drop drop_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Entries, Inodes>> work_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace blackout::control
