// HeapPrefaulter: faults in the daemon's heap each time malloc extends it,
// ahead of the writers, on a thread of its own.
//
// Every pending write needs memory of its own (a crash state may hold any
// subset of the pending writes, so a write never reuses the memory of an
// earlier one; only spilling superseded versions, crash_model.md, gives
// memory back), and fresh memory costs a page fault and the kernel's zero
// fill per 4 KiB on the request path: about a third of the daemon's time on
// sequential 128 KiB writes (BENCHMARKS.md, "Profile of the write path").
// The daemon allocates from the main arena, which grows by moving the
// program break 64 MiB (M_TOP_PAD) past what it needs; this thread notices
// the break move and asks the kernel to populate the new range with
// madvise(MADV_POPULATE_WRITE), which allocates the missing pages without
// touching their contents, so it never races malloc for a byte. It leaves
// the first growth after the mount alone (most mounts never need more than
// that pad) and populates 8 MiB at a time, so that a thread start or an
// mmap(2) elsewhere in the daemon waits for one step at most.
//
// Linux 5.14 or later; on an older kernel the first call fails and the
// thread ends (writes then fault as before). Costs at most the pad, 64 MiB,
// of resident memory before malloc hands it out.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace blackout::control {

class HeapPrefaulter {
 public:
  HeapPrefaulter() = default;
  ~HeapPrefaulter();  // Stop()
  HeapPrefaulter(const HeapPrefaulter&) = delete;
  HeapPrefaulter& operator=(const HeapPrefaulter&) = delete;

  void Start();
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace blackout::control
