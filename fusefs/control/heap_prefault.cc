#include "fusefs/control/heap_prefault.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "fusefs/control/signal_free_thread.h"

namespace blackout::control {

HeapPrefaulter::~HeapPrefaulter() { Stop(); }

void HeapPrefaulter::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = SignalFreeThread([this] { Run(); });
}

void HeapPrefaulter::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HeapPrefaulter::Run() {
  // [.., populated_to) of the heap is faulted in: what lies below the break
  // now is in use already.
  auto populated_to = reinterpret_cast<uintptr_t>(sbrk(0));
  auto idle = std::chrono::milliseconds(2);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, idle, [this] { return stop_; })) {
    const auto brk = reinterpret_cast<uintptr_t>(sbrk(0));
    if (brk <= populated_to) {
      populated_to = brk;  // unchanged, or trimmed after a power cut freed data
      idle = std::min(idle * 2, std::chrono::milliseconds(64));
      continue;
    }
    idle = std::chrono::milliseconds(2);
    lock.unlock();
    const int rc =
        madvise(reinterpret_cast<void*>(populated_to), brk - populated_to, MADV_POPULATE_WRITE);
    const int err = errno;
    lock.lock();
    if (rc != 0 && err == EINVAL) return;  // a kernel before 5.14
    populated_to = brk;
  }
}

}  // namespace blackout::control
