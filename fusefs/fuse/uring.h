// FUSE over io_uring (Linux 6.14 and later, CONFIG_FUSE_IO_URING, module
// parameter fuse.enable_uring): the kernel hands requests to the daemon
// through io_uring commands, one queue per CPU, instead of through read(2)
// and writev(2) on /dev/fuse.
//
// A mount uses it by default where the kernel has it (PlanTransport below);
// `--dev-fuse` keeps a mount on /dev/fuse.
//
// Why: on a small VM a FUSE round trip is mostly two cross-CPU wake-ups
// (the caller wakes a daemon thread on the other CPU, the reply wakes the
// caller back). With the ring, a request waits on the queue of the CPU its
// caller runs on, served by a thread pinned to that CPU, so the caller and
// the thread that answers it hand the CPU to each other.
//
// How it fits libfuse 3.14, which knows nothing of the ring: each queue
// thread rebuilds the request as /dev/fuse would have delivered it (in
// header, per-opcode header, payload, contiguous) in front of the payload it
// arrived in, and passes it to fuse_session_process_buf. The handler's
// reply comes back through the session's writev (adapter.cc), which gives it
// to TakeReply: on a queue thread, for the request that thread is serving,
// the reply is copied into the ring entry and committed with the next fetch.
// Everything else (notifications, replies to requests read from /dev/fuse)
// still goes to /dev/fuse. FORGET and INTERRUPT always come through
// /dev/fuse, so the ordinary session loop keeps running beside the queues.
//
// Priority: a queue thread wakes its caller while it is still running, and
// the scheduler then moves the caller to the other, idle CPU: a wake-up
// across CPUs again, and on a VM an idle CPU's wake-up is the costliest
// part of the round trip. A queue thread therefore runs as SCHED_IDLE: the
// scheduler counts its CPU as idle and wakes the caller right there, which
// preempts the queue thread (random 4 KiB writes and write + fsync each
// 1.5 to 2 times as fast on this project's 2-CPU VM; BENCHMARKS.md). Idle priority
// would starve a queue thread on a machine busy with other work, so a guard
// thread at normal priority looks every 10 ms (every 100 ms after a second
// in which no queue served a request): a queue thread that stays runnable
// for two looks without serving a request runs at normal priority for the
// next second. Where a thread may not leave SCHED_IDLE again (not
// root, RLIMIT_NICE 0), the queue threads stay at normal priority.
//
// Overflow: a reader's readahead requests do not make it wait, so they wait
// on its CPU's queue, whose thread runs only once the reader blocks: they
// were served one after another, where /dev/fuse spreads them over every CPU
// (sequential 128 KiB reads at 0.75x of /dev/fuse). Each queue therefore
// also has overflow entries, served by a thread of its own at normal
// priority and on no fixed CPU. The kernel gives a request the queue's entry
// that became free last (registration included), so the overflow entries
// are registered before the queue thread's own: a request takes one only
// while the queue thread's own entries are all taken, as readahead's
// requests do when the window spans two requests (a reader that declares
// sequential access with posix_fadvise, as fio, cat and cp do, doubles the
// mount's 1 MiB window; 1.3 to 1.4 times as fast, BENCHMARKS.md), while a
// caller that waits for each request keeps being served on its own CPU.
// A burst can end with an overflow entry freed last, though; then the
// overflow thread hands that entry to the queue thread (uring.cc,
// "Hand-over"). An entry that served readahead, or the writeback cache's
// writeback of a large run, goes the other way, to the overflow thread, so
// that a streaming reader's requests are served on the other CPU while it
// reads (uring.cc, "Readahead").
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct fuse_session;
struct io_uring;

namespace blackout::fusefs {

// The INIT flag (flags2 bit 9) a daemon sets to use the ring.
inline constexpr uint64_t kFuseOverIoUring = 1ULL << 41;

// The fuse module's parameter that lets connections use io_uring.
inline constexpr const char* kFuseUringParam = "/sys/module/fuse/parameters/enable_uring";

// Whether the fuse module lets connections use io_uring (`param`, Y or N);
// when `enable` and it is N, turns it on (root only). On failure returns
// false and sets *why to a sentence naming the parameter's file.
bool EnableFuseUring(bool enable, std::string* why, const std::string& param = kFuseUringParam);

// How a mount's requests reach the daemon, as `blackout mount` is asked for
// it: --io-uring, --dev-fuse, or neither (kAuto: the ring where the kernel
// has it, /dev/fuse elsewhere).
enum class Transport { kAuto, kIoUring, kDevFuse };

// "auto", "io-uring" or "dev-fuse" (BLACKOUT_TRANSPORT); false for anything else.
bool ParseTransport(const std::string& text, Transport* out);

// Whether a mount asked for `asked` should ask the kernel for the ring in
// its INIT reply. kIoUring must have it: when the module has no ring or it
// is off and cannot be turned on, returns false and sets *error. kAuto asks
// for it where the module has it, turning the parameter on when
// `may_enable` (root), and otherwise sets *io_uring false and *why_not to
// the reason. kDevFuse never asks (and leaves the parameter alone).
bool PlanTransport(Transport asked, bool may_enable, bool* io_uring, std::string* why_not,
                   std::string* error, const std::string& param = kFuseUringParam);

class UringQueues {
 public:
  // Starts one queue per possible CPU on the connection of `session`
  // (descriptor `fd`), each with `depth` entries of `payload_bytes`. Call
  // after the INIT reply that asked for FUSE_OVER_IO_URING was written.
  // Returns nullptr and sets *error when a ring cannot be set up.
  // Each queue also gets `overflow_depth` entries served by an unpinned
  // thread at normal priority ("Overflow" above; 0 for none).
  static std::unique_ptr<UringQueues> Start(fuse_session* session, int fd, size_t payload_bytes,
                                            unsigned depth, unsigned overflow_depth,
                                            std::string* error);
  ~UringQueues();  // Stop()
  // Ends the queue threads, each once its replies in hand are committed, so
  // that unmounting after it takes no answer from a caller; then joins them.
  // Requests arriving later wait in the ring until the connection goes.
  void Stop();
  UringQueues(const UringQueues&) = delete;
  UringQueues& operator=(const UringQueues&) = delete;

  // Called by the session's writev for every reply: when the calling thread
  // is a queue thread serving the request this reply answers, stores it in
  // that request's ring entry, sets *written and returns true.
  static bool TakeReply(const iovec* iov, int count, ssize_t* written);

  // On a queue thread serving a request: where a reply's data of up to
  // `size` bytes can be built so that TakeReply need not copy it (the ring
  // entry's payload). Else nullptr.
  static char* ReplyArea(size_t size);

  // Requests served through the ring so far (all queues).
  uint64_t served() const;
  // Of those, the ones the overflow entries served ("Overflow" above).
  uint64_t served_by_overflow() const;

  struct Queue;

 private:
  UringQueues() = default;
  // A queue's thread: registers its entries, then serves them until stop_.
  void Run(Queue& q);
  // Pins the calling thread to q's CPU at SCHED_IDLE where it may leave it.
  void PinAtIdlePriority(Queue& q);
  void Serve(Queue& q);
  // Watches the queue threads: see "Priority" above.
  void Guard();

  fuse_session* session_ = nullptr;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  uint64_t promotions_ = 0;  // Guard's thread only
  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::thread> threads_;  // the queues' and Guard's
  // Stop's messages to the queues' rings (IORING_OP_MSG_RING), which wake
  // their threads at once instead of at their next 200 ms look.
  std::unique_ptr<io_uring> wake_ring_;  // null when it could not be set up
};

}  // namespace blackout::fusefs
