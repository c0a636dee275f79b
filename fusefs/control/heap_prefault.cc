#include "fusefs/control/heap_prefault.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "fusefs/control/signal_free_thread.h"

namespace blackout::control {
namespace {

// The populating holds the memory map's lock for this much at a time.
constexpr uintptr_t kStepBytes = uintptr_t{8} << 20;

}  // namespace

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
  // [.., populated_to) of the heap is faulted in, or left to fault as it is
  // used: what lies below the break now is in use already, and so is the
  // first pad (below).
  auto populated_to = reinterpret_cast<uintptr_t>(sbrk(0));
  bool first_growth = true;
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
    if (first_growth) {
      // The first growth after the mount brings the first pad: most mounts
      // (a scenario's, a test's) never hold more, and populating all of it
      // cost each of them 64 MiB of memory and the CPU to clear it. It
      // faults in as it is used; the prefaulting starts with the next
      // growth, once writes come in bulk.
      first_growth = false;
      populated_to = brk;
      continue;
    }
    // In steps, so that the memory map's lock, which the populating holds,
    // is free in between for a thread start or an mmap(2).
    while (populated_to < brk && !stop_) {
      const uintptr_t end = std::min(brk, populated_to + kStepBytes);
      lock.unlock();
      const int rc =
          madvise(reinterpret_cast<void*>(populated_to), end - populated_to, MADV_POPULATE_WRITE);
      const int err = errno;
      lock.lock();
      if (rc != 0 && err == EINVAL) return;  // a kernel before 5.14
      populated_to = end;
    }
  }
}

}  // namespace blackout::control
