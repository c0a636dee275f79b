#include "fusefs/fuse/uring.h"

#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fusefs/control/signal_free_thread.h"
#include "fusefs/fuse/fuse_log.h"

namespace blackout::fusefs {
namespace {

// The ring's ABI (include/uapi/linux/fuse.h, protocol 7.42); Debian 12's
// kernel headers predate it.
constexpr uint32_t kCmdRegister = 1;
constexpr uint32_t kCmdCommitAndFetch = 2;
constexpr size_t kHeaderArea = 128;  // FUSE_URING_IN_OUT_HEADER_SZ, FUSE_URING_OP_IN_OUT_SZ

struct EntInOut {
  uint64_t flags;
  uint64_t commit_id;  // the request's unique, echoed in CmdReq::commit_id
  uint32_t payload_sz;
  uint32_t padding;
  uint64_t reserved;
};

struct ReqHeader {
  char in_out[kHeaderArea];  // fuse_in_header on fetch, fuse_out_header on commit
  char op_in[kHeaderArea];   // the per-opcode header (the request's first argument)
  EntInOut ent;
};

struct CmdReq {  // in the SQE's 80-byte command area (IORING_SETUP_SQE128)
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};

static_assert(sizeof(EntInOut) == 32 && sizeof(ReqHeader) == 288 && sizeof(CmdReq) == 24);

// The kernel makes one queue per possible CPU (num_possible_cpus) and puts a
// request on the queue of the CPU its caller runs on.
unsigned PossibleCpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string ranges;
  unsigned count = 0;
  if (std::getline(in, ranges)) {
    std::stringstream ss(ranges);
    std::string range;
    while (std::getline(ss, range, ',')) {
      unsigned lo = 0, hi = 0;
      if (std::sscanf(range.c_str(), "%u-%u", &lo, &hi) == 2) {
        count += hi - lo + 1;
      } else if (std::sscanf(range.c_str(), "%u", &lo) == 1) {
        ++count;
      }
    }
  }
  return count > 0 ? count : 1;
}

}  // namespace

struct Entry {
  ReqHeader header{};
  std::unique_ptr<char[]> buffer;  // room for the rebuilt headers, then the payload
  char* payload = nullptr;
  iovec iov[2]{};
  uint64_t unique = 0;  // of the request being served
  // Of the request being served, for its commit; read by the other thread
  // of the CPU after a hand-over (Serve), hence atomic.
  std::atomic<uint64_t> commit_id{0};
  size_t index = 0;  // in its first queue's list, for the log
  bool replied = false;
};

// A completion's user_data: the entry's address, with a tag in the low bits
// (an Entry is 8-byte aligned) when it is a message between the two rings
// of a CPU ("Hand-over" in Serve).
constexpr uint64_t kTagMask = 3;
constexpr uint64_t kTagHandedOver = 1;      // the other thread served it: commit it here
constexpr uint64_t kTagHandOverFailed = 2;  // a hand-over that did not arrive
constexpr uint64_t kTagWake = 3;            // no entry: look at the stop conditions

// A request's fuse_in_header and per-opcode header go in front of its
// payload: together they are what read(2) on /dev/fuse would have returned.
constexpr size_t kRebuildRoom = sizeof(fuse_in_header) + kHeaderArea;

// The kernel's readahead window for a FUSE mount unless raised
// (VM_READAHEAD_PAGES).
constexpr uint32_t kDefaultReadahead = 128 * 1024;

struct UringQueues::Queue {
  unsigned qid = 0;
  // An overflow queue's thread: unpinned, normal priority (uring.h).
  bool overflow = false;
  // Set once the thread has handed its entries to the kernel.
  std::atomic<bool> registered{false};
  pthread_t handle{};  // set by the queue's thread before `tid`
  bool idle = false;   // runs at SCHED_IDLE; set before `tid`
  std::atomic<pid_t> tid{0};
  std::atomic<uint64_t> served{0};
  // The other queue of the same CPU (a queue thread's overflow queue and
  // the other way round), and the entries its ring holds now (this queue's
  // thread only; it started with `entries`): Serve, "Hand-over".
  Queue* peer = nullptr;
  unsigned owned = 0;
  // Entries of this CPU still registered with the kernel, both queues'.
  std::shared_ptr<std::atomic<unsigned>> live;
  std::atomic<uint64_t> handed_over{0};  // requests whose entries went to the peer
  // Guard's state: ticks seen runnable without progress, the served count
  // at the last tick, and until when the thread runs at normal priority.
  unsigned stalled_ticks = 0;
  uint64_t served_at_tick = 0;
  std::chrono::steady_clock::time_point promoted_until{};
  io_uring ring{};
  bool ring_up = false;
  std::vector<std::unique_ptr<Entry>> entries;
  ~Queue() {
    if (ring_up) io_uring_queue_exit(&ring);
  }
};

namespace {

thread_local Entry* serving = nullptr;  // the entry whose request this thread runs

bool SetPolicy(pthread_t thread, int policy) {
  sched_param param{};
  return pthread_setschedparam(thread, policy, &param) == 0;
}

// The state letter of thread `tid` of this process ('R' runnable or running,
// 'S' sleeping, ...), or 0 when it cannot be read.
char ThreadState(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');  // the name may hold spaces and parentheses
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : 0;
}

// An SQE of `ring`, cleared (both halves: IORING_SETUP_SQE128), or nullptr.
io_uring_sqe* ClearedSqe(io_uring* ring, unsigned qid) {
  // A ring has room for four SQEs per entry of its CPU, and an entry has one
  // command or message at a time, so it is never full; submitting first is
  // only a guard.
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) {
      Log()->error("fuse io_uring queue {}: no room in the submission queue", qid);
      return nullptr;
    }
  }
  std::memset(static_cast<void*>(sqe), 0, 2 * sizeof(io_uring_sqe));
  return sqe;
}

void PrepCommand(io_uring* ring, int fd, uint32_t cmd, unsigned qid, Entry& e, uint64_t commit_id) {
  io_uring_sqe* sqe = ClearedSqe(ring, qid);
  if (sqe == nullptr) return;
  // With IORING_SETUP_SQE128 an SQE is two io_uring_sqe long; the second half
  // is the command area.
  char* whole = reinterpret_cast<char*>(sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  sqe->cmd_op = cmd;
  sqe->addr = reinterpret_cast<uint64_t>(e.iov);
  sqe->len = 2;
  sqe->user_data = reinterpret_cast<uint64_t>(&e);
  CmdReq req{};
  req.commit_id = commit_id;
  req.qid = static_cast<uint16_t>(qid);
  std::memcpy(whole + offsetof(io_uring_sqe, cmd), &req, sizeof(req));
}

}  // namespace

bool EnableFuseUring(bool enable, std::string* why, const std::string& param) {
  std::ifstream in(param);
  std::string value;
  if (!std::getline(in, value)) {
    *why = "the kernel's fuse module has no io_uring transport (" + param +
           " is missing; it needs Linux 6.14 or later built with CONFIG_FUSE_IO_URING)";
    return false;
  }
  if (value == "Y" || value == "1") return true;
  if (!enable) {
    *why = "the fuse module's io_uring transport is off (" + param + " is " + value + ")";
    return false;
  }
  std::ofstream out(param);
  out << "Y\n";
  out.close();
  if (!out) {
    *why = "cannot turn on the fuse module's io_uring transport: " + param +
           " is not writable (it needs root)";
    return false;
  }
  Log()->info("turned on the fuse module's io_uring transport ({} = Y)", param);
  return true;
}

bool ParseTransport(const std::string& text, Transport* out) {
  if (text == "auto") {
    *out = Transport::kAuto;
  } else if (text == "io-uring") {
    *out = Transport::kIoUring;
  } else if (text == "dev-fuse") {
    *out = Transport::kDevFuse;
  } else {
    return false;
  }
  return true;
}

bool PlanTransport(Transport asked, bool may_enable, bool* io_uring, std::string* why_not,
                   std::string* error, const std::string& param) {
  *io_uring = false;
  switch (asked) {
    case Transport::kDevFuse:
      *why_not = "asked for /dev/fuse";
      return true;
    case Transport::kIoUring:
      if (!EnableFuseUring(true, error, param)) return false;
      *io_uring = true;
      return true;
    case Transport::kAuto:
      *io_uring = EnableFuseUring(may_enable, why_not, param);
      return true;
  }
  return true;
}

std::unique_ptr<UringQueues> UringQueues::Start(fuse_session* session, int fd, size_t payload_bytes,
                                                unsigned depth, unsigned overflow_depth,
                                                std::string* error) {
  std::unique_ptr<UringQueues> u(new UringQueues());
  u->session_ = session;
  // A descriptor of its own: `fd` may be a session worker's clone, which
  // libfuse closes when its loop ends, before the queues have committed the
  // replies they hold (Stop), and a commit on a closed descriptor is lost.
  u->fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (u->fd_ < 0) {
    *error = std::string("cannot duplicate the FUSE descriptor for the io_uring queues: ") +
             std::strerror(errno);
    return nullptr;
  }
  const unsigned cpus = PossibleCpus();
  // queues_: one per CPU, then (with overflow entries) one overflow queue per CPU.
  const unsigned threads = overflow_depth > 0 ? 2 * cpus : cpus;
  for (unsigned k = 0; k < threads; ++k) {
    auto q = std::make_unique<Queue>();
    q->qid = k % cpus;
    q->overflow = k >= cpus;
    const unsigned entries = q->overflow ? overflow_depth : depth;
    const unsigned qid = q->qid;
    // Entries move between a CPU's two rings (Serve, "Hand-over"): room for
    // all of them, a command and a message each, twice over.
    const int rc = io_uring_queue_init(4 * (depth + overflow_depth), &q->ring, IORING_SETUP_SQE128);
    if (rc < 0) {
      *error = "cannot set up an io_uring for FUSE queue " + std::to_string(qid) + ": " +
               std::strerror(-rc);
      return nullptr;
    }
    q->ring_up = true;
    for (unsigned i = 0; i < entries; ++i) {
      auto e = std::make_unique<Entry>();
      e->buffer.reset(new char[kRebuildRoom + payload_bytes]);
      e->payload = e->buffer.get() + kRebuildRoom;
      e->iov[0] = {&e->header, sizeof(e->header)};
      e->iov[1] = {e->payload, payload_bytes};
      e->index = i;
      q->entries.push_back(std::move(e));
    }
    u->queues_.push_back(std::move(q));
  }
  for (unsigned k = 0; k < cpus; ++k) {
    auto live =
        std::make_shared<std::atomic<unsigned>>(depth + overflow_depth);
    u->queues_[k]->live = live;
    if (overflow_depth > 0) {
      u->queues_[k]->peer = u->queues_[cpus + k].get();
      u->queues_[cpus + k]->peer = u->queues_[k].get();
      u->queues_[cpus + k]->live = live;
    }
  }
  u->wake_ring_ = std::make_unique<io_uring>();
  if (io_uring_queue_init(std::max(8u, 2 * threads), u->wake_ring_.get(), 0) != 0) {
    u->wake_ring_.reset();  // Stop's threads then end at their next look
  }
  // The kernel hands a request the entry of its queue that became free
  // last, registration included: the overflow entries register first, so
  // that the queue threads' own entries are handed out before them.
  for (bool overflow : {true, false}) {
    for (auto& q : u->queues_) {
      if (q->overflow != overflow) continue;
      Queue* raw = q.get();
      UringQueues* self = u.get();
      u->threads_.push_back(control::SignalFreeThread([self, raw] { self->Run(*raw); }));
      while (overflow && !raw->registered.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  u->threads_.push_back(control::SignalFreeThread([self = u.get()] { self->Guard(); }));
  Log()->info("fuse io_uring: {} queues of {} entries and {} overflow entries, {} KiB payload each",
              cpus, depth, overflow_depth, payload_bytes / 1024);
  return u;
}

UringQueues::~UringQueues() {
  Stop();
  if (wake_ring_) io_uring_queue_exit(wake_ring_.get());
  if (fd_ >= 0) close(fd_);
  uint64_t to_queue = 0, to_overflow = 0;
  for (const auto& q : queues_) (q->overflow ? to_queue : to_overflow) += q->handed_over.load();
  Log()->info(
      "fuse io_uring: {} requests served through the ring, {} of them by overflow entries; "
      "entries handed to queue threads {} times, back to overflow threads {} times; queue "
      "threads raised to normal priority {} times",
      served(), served_by_overflow(), to_queue, to_overflow, promotions_);
}

void UringQueues::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_) return;
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (wake_ring_) {
    for (auto& q : queues_) {
      io_uring_sqe* sqe = io_uring_get_sqe(wake_ring_.get());
      if (sqe == nullptr) break;
      io_uring_prep_msg_ring(sqe, q->ring.ring_fd, 0, kTagWake, 0);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      sqe->user_data = kTagWake;
    }
    io_uring_submit(wake_ring_.get());
  }
  for (std::thread& t : threads_) t.join();
}

uint64_t UringQueues::served() const {
  uint64_t n = 0;
  for (const auto& q : queues_) n += q->served.load(std::memory_order_relaxed);
  return n;
}

uint64_t UringQueues::served_by_overflow() const {
  uint64_t n = 0;
  for (const auto& q : queues_) {
    if (q->overflow) n += q->served.load(std::memory_order_relaxed);
  }
  return n;
}

void UringQueues::Guard() {
  using namespace std::chrono;
  constexpr auto kTick = milliseconds(10);
  constexpr unsigned kStalledTicks = 2;
  constexpr auto kPromotion = seconds(1);
  // After a second in which no queue served a request, the guard looks ten
  // times less often, so an idle mount does not wake the machine 100 times a
  // second. A thread found runnable without progress gets the short tick
  // back until the next look confirms a stall (then it is raised and the
  // short tick stays) or clears it: a starved thread waits at most
  // kIdleTick more. Such glimpses are common on an idle mount (the queue
  // threads' own 200 ms wake-ups fall on the guard's timer tick, and the
  // guard, at normal priority, runs first), so they do not restart the
  // second.
  constexpr auto kIdleTick = milliseconds(100);
  constexpr unsigned kQuietTicksBeforeIdle = 100;
  unsigned quiet_ticks = 0;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, quiet_ticks >= kQuietTicksBeforeIdle ? kIdleTick : kTick,
                            [this] { return stop_.load(); })) {
    const auto now = steady_clock::now();
    bool busy = false, glimpse = false;
    for (auto& queue : queues_) {
      Queue& q = *queue;
      const pid_t tid = q.tid.load(std::memory_order_acquire);
      if (tid == 0 || !q.idle) continue;
      const uint64_t served = q.served.load(std::memory_order_relaxed);
      const bool progressed = served != q.served_at_tick;
      const bool stalled = !progressed && ThreadState(tid) == 'R';
      if (progressed) busy = true;
      if (stalled) glimpse = true;
      q.served_at_tick = served;
      q.stalled_ticks = stalled ? q.stalled_ticks + 1 : 0;
      const bool promoted = q.promoted_until != steady_clock::time_point{};
      if (promoted) busy = true;
      if (q.stalled_ticks >= kStalledTicks) {
        if (!promoted) {
          SetPolicy(q.handle, SCHED_OTHER);
          ++promotions_;
          if (promotions_ == 1) {
            Log()->info(
                "fuse io_uring queue {}: runnable without progress for {} ms; its thread "
                "runs at normal priority for a while",
                q.qid, duration_cast<milliseconds>(kTick * kStalledTicks).count());
          }
        }
        q.promoted_until = now + kPromotion;
      } else if (promoted && now >= q.promoted_until) {
        SetPolicy(q.handle, SCHED_IDLE);
        q.promoted_until = {};
      }
    }
    if (busy) {
      quiet_ticks = 0;
    } else if (glimpse) {
      quiet_ticks = std::min(quiet_ticks + 1, kQuietTicksBeforeIdle - kStalledTicks - 1);
    } else {
      ++quiet_ticks;
    }
  }
}

bool UringQueues::TakeReply(const iovec* iov, int count, ssize_t* written) {
  Entry* e = serving;
  if (e == nullptr || e->replied || count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) {
    return false;
  }
  fuse_out_header out{};
  std::memcpy(&out, iov[0].iov_base, sizeof(out));
  if (out.unique != e->unique) return false;
  const size_t room = e->iov[1].iov_len;
  size_t n = 0;
  for (int i = 1; i < count; ++i) {
    if (n + iov[i].iov_len > room) {  // cannot happen: replies fit max_write / max_pages
      out.error = -EIO;
      n = 0;
      break;
    }
    // Data built in place (ReplyArea) is already there.
    if (iov[i].iov_base != e->payload + n) {
      std::memcpy(e->payload + n, iov[i].iov_base, iov[i].iov_len);
    }
    n += iov[i].iov_len;
  }
  out.len = static_cast<uint32_t>(sizeof(out) + n);
  std::memcpy(e->header.in_out, &out, sizeof(out));
  e->header.ent.payload_sz = static_cast<uint32_t>(n);
  e->replied = true;
  *written = static_cast<ssize_t>(sizeof(out) + n);
  return true;
}

char* UringQueues::ReplyArea(size_t size) {
  Entry* e = serving;
  return e != nullptr && !e->replied && size <= e->iov[1].iov_len ? e->payload : nullptr;
}

void UringQueues::Run(Queue& q) {
  const pthread_t self = pthread_self();
  if (!q.overflow) PinAtIdlePriority(q);
  q.handle = self;
  q.tid.store(gettid(), std::memory_order_release);  // publishes `handle` to Guard

  for (auto& e : q.entries) PrepCommand(&q.ring, fd_, kCmdRegister, q.qid, *e, 0);
  q.owned = static_cast<unsigned>(q.entries.size());
  io_uring_submit(&q.ring);
  q.registered.store(true, std::memory_order_release);
  Serve(q);
}

void UringQueues::PinAtIdlePriority(Queue& q) {
  cpu_set_t cpu;
  CPU_ZERO(&cpu);
  CPU_SET(q.qid, &cpu);
  pthread_setaffinity_np(pthread_self(), sizeof(cpu), &cpu);  // an offline CPU: stay unpinned
  // Idle priority only where the guard can raise the thread again: leaving
  // SCHED_IDLE needs root or a permissive RLIMIT_NICE.
  const pthread_t self = pthread_self();
  q.idle =
      SetPolicy(self, SCHED_IDLE) && SetPolicy(self, SCHED_OTHER) && SetPolicy(self, SCHED_IDLE);
  if (!q.idle) {
    SetPolicy(self, SCHED_OTHER);
    Log()->info(
        "fuse io_uring queue {}: its thread stays at normal priority (it could not "
        "leave SCHED_IDLE again: RLIMIT_NICE)",
        q.qid);
  }
}

// Hand-over: the kernel gives a request the entry of its queue that became
// free last (uring.h, "Overflow"). A burst the overflow entries served can
// end with one of them freed last; it then takes the next request of a
// caller that waits for each, and the next, served across CPUs (a third as
// fast) until a burst frees them in the other order. So when a request
// reaches an overflow entry while the queue thread sleeps (nothing of its
// own to serve), the overflow thread serves it and hands the entry to the
// queue thread, which commits it through its own ring: from then on the
// entry's requests come to the queue thread, on the caller's CPU. The queue
// thread gives an entry back, the same way, when it holds more than its
// share and a burst is on (more requests waiting behind the one it served).
// Readahead: a sequential reader's window is issued as requests of 1 MiB,
// which the queue thread's own entries take first, and the queue thread
// runs only once the reader blocks on them: a quarter of the requests were
// served that way, one after another with the reader (fio busy 81 to 85% of
// the time). So the queue thread hands every entry that served readahead
// (IsStreaming) to the overflow thread, which keeps it: while the reader
// streams, its requests find no entry of the queue thread's and go to the
// other CPU (fio busy 94 to 97%, sequential 128 KiB reads 1.05 to 1.4 times
// as fast). The next request that comes alone, not readahead, while the
// queue thread sleeps brings an entry back. The writeback cache's writeback
// of large runs of dirty pages is the same kind of request: nobody waits on
// one alone (a writer that fsyncs, or fio's cache drop at each pass, waits
// for all of them), and the flusher issues them from the writer's CPU, so
// they go the same way (fio busy 90 to 93% of the time instead of 70 to
// 81%; --writeback-cache sequential 128 KiB writes 2,044 to 2,293 MiB/s
// against 1,452 to 1,809 in paired runs).
// Only the thread of the ring that submitted an entry's command may commit
// it (the kernel runs the entry's next delivery in that thread's context),
// hence a message (IORING_OP_MSG_RING) to the other thread rather than a
// commit through the other ring.
namespace {

void HandOver(UringQueues::Queue& q, Entry& e) {
  io_uring_sqe* sqe = ClearedSqe(&q.ring, q.qid);
  if (sqe == nullptr) return;
  io_uring_prep_msg_ring(sqe, q.peer->ring.ring_fd, 0,
                         reinterpret_cast<uint64_t>(&e) | kTagHandedOver, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = reinterpret_cast<uint64_t>(&e) | kTagHandOverFailed;
  --q.owned;
  q.handed_over.fetch_add(1, std::memory_order_relaxed);
}

// Whether request `in`, which entry `e` holds, streams ("Readahead" in
// Serve): a READ larger than the kernel's default window of 128 KiB, or a
// writeback of more than that from the page cache (FUSE_WRITE_CACHE). Only
// a sequential reader's window grows past it (the mount's is 1 MiB,
// RaiseReadahead in adapter.cc), or a direct read that large, which waits
// for its 1 MiB or more of copying on any CPU as well. A writeback of a page
// or a few (an fsync after a small write) stays: its caller waits for it.
bool IsStreaming(const fuse_in_header& in, const Entry& e) {
  if (in.opcode == FUSE_WRITE) {
    fuse_write_in write{};
    std::memcpy(&write, e.header.op_in, sizeof(write));
    return (write.write_flags & FUSE_WRITE_CACHE) != 0 && write.size > kDefaultReadahead;
  }
  if (in.opcode != FUSE_READ) return false;
  fuse_read_in read{};
  std::memcpy(&read, e.header.op_in, sizeof(read));
  return read.size > kDefaultReadahead;
}

}  // namespace

void UringQueues::Serve(Queue& q) {
  __kernel_timespec tick{0, 200 * 1000 * 1000};
  while (q.live->load() > 0 && !stop_.load(std::memory_order_relaxed)) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_submit_and_wait_timeout(&q.ring, &cqe, 1, &tick, nullptr);
    if (rc == -ETIME || rc == -EINTR) continue;
    if (rc < 0) {
      Log()->warn("fuse io_uring queue {}: waiting failed: {}", q.qid, std::strerror(-rc));
      break;
    }
    const unsigned ready = io_uring_cq_ready(&q.ring);
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(&q.ring, head, cqe) {
      ++seen;
      const uint64_t tag = cqe->user_data & kTagMask;
      if (tag == kTagWake) continue;
      Entry& e = *reinterpret_cast<Entry*>(cqe->user_data & ~kTagMask);
      if (tag == kTagHandedOver || tag == kTagHandOverFailed) {
        // Served already; its reply is in its buffers.
        ++q.owned;
        PrepCommand(&q.ring, fd_, kCmdCommitAndFetch, q.qid, e,
                    e.commit_id.load(std::memory_order_acquire));
        continue;
      }
      if (cqe->res < 0) {
        // The connection is gone (unmount, abort) or refused the entry.
        if (cqe->res != -ENOTCONN && cqe->res != -ECONNABORTED && cqe->res != -ECANCELED) {
          Log()->warn("fuse io_uring queue {}: entry {} failed: {}", q.qid, e.index,
                      std::strerror(-cqe->res));
        }
        --q.owned;
        // The last entry of this CPU: wake the other thread to end too.
        if (q.live->fetch_sub(1) == 1 && q.peer != nullptr) {
          io_uring_sqe* sqe = ClearedSqe(&q.ring, q.qid);
          if (sqe != nullptr) {
            io_uring_prep_msg_ring(sqe, q.peer->ring.ring_fd, 0, kTagWake, 0);
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
            sqe->user_data = kTagWake;
            io_uring_submit(&q.ring);
          }
        }
        continue;
      }
      fuse_in_header in{};
      std::memcpy(&in, e.header.in_out, sizeof(in));
      const uint64_t payload = e.header.ent.payload_sz;
      const uint64_t commit_id = e.header.ent.commit_id;
      e.unique = in.unique;
      e.replied = false;
      if (in.len >= sizeof(in) + payload && in.len - sizeof(in) - payload <= kHeaderArea &&
          payload <= e.iov[1].iov_len) {
        const size_t op = in.len - sizeof(in) - payload;
        char* start = e.payload - sizeof(in) - op;
        std::memcpy(start, &in, sizeof(in));
        std::memcpy(start + sizeof(in), e.header.op_in, op);
        fuse_buf buf{};
        buf.size = in.len;
        buf.mem = start;
        serving = &e;
        fuse_session_process_buf(session_, &buf);
        serving = nullptr;
        q.served.fetch_add(1, std::memory_order_relaxed);
      }
      if (!e.replied) {  // malformed, or a request libfuse does not answer
        fuse_out_header out{sizeof(fuse_out_header), -EIO, in.unique};
        std::memcpy(e.header.in_out, &out, sizeof(out));
        e.header.ent.payload_sz = 0;
      }
      // Hand-over (above): the overflow thread, for a request that came
      // alone while the queue thread sleeps, unless it streams; the queue
      // thread, for a streaming request, and for an entry beyond its share
      // while more requests wait.
      const bool streaming = IsStreaming(in, e);
      const bool hand_over =
          q.peer != nullptr &&
          (q.overflow ? !streaming && ready == 1 && ThreadState(q.peer->tid.load()) == 'S'
                      : streaming || (q.owned > q.entries.size() && seen < ready));
      if (hand_over) {
        // Released after the reply is in the entry: the thread that commits
        // it acquires both.
        e.commit_id.store(commit_id, std::memory_order_release);
        HandOver(q, e);
      } else {
        PrepCommand(&q.ring, fd_, kCmdCommitAndFetch, q.qid, e, commit_id);
      }
    }
    io_uring_cq_advance(&q.ring, seen);
  }
  // Commits prepared before a stop still go out: a request left unanswered
  // would hold its caller until the connection is aborted.
  io_uring_submit(&q.ring);
}

}  // namespace blackout::fusefs
