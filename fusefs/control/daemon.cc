#include "fusefs/control/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>

#include "fusefs/control/cache_drop_queue.h"
#include "fusefs/control/heap_prefault.h"
#include "fusefs/control/server.h"
#include "fusefs/control/signal_free_thread.h"
#include "fusefs/fuse/adapter.h"
#include "fusefs/lazyfs/fifo_reader.h"
#include "fusefs/model/spill_file.h"

namespace blackout::control {
namespace {

// One logger per component, all writing to the daemon's log.
std::shared_ptr<spdlog::logger> InstallLoggers(const std::string& log_path) {
  spdlog::sink_ptr sink;
  if (log_path.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path);
  }
  std::shared_ptr<spdlog::logger> mount_log;
  for (const char* name : {"fuse", "control", "mount", "lazyfs"}) {
    spdlog::drop(name);
    auto log = std::make_shared<spdlog::logger>(name, sink);
    log->flush_on(spdlog::level::info);
    spdlog::register_logger(log);
    if (std::string(name) == "mount") mount_log = log;
  }
  return mount_log;
}

void Report(int& ready_fd, const std::string& line) {
  if (ready_fd < 0) return;
  const std::string msg = line + "\n";
  (void)!write(ready_fd, msg.data(), msg.size());
  close(ready_fd);
  ready_fd = -1;
}

// Loads the crash point saved in `path` (model::Filesystem::SaveCrashPoint's
// bytes: `blackout record --out`, `ctl saved-points`) into `fs`, then, when
// `state` is not empty, cuts the power to that crash state of it (drop-all,
// keep-all or an id of its generators). False with a message naming the
// file or the state in *error.
bool LoadCrashPointFile(model::Filesystem& fs, const std::string& path, const std::string& state,
                        std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    *error = "--load: cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    *error = "--load: cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  if (const auto r = fs.LoadCrashPoint(bytes); !r.ok() && r.error() == EXDEV) {
    *error = "--load: " + path + " was saved under another behaviour model than the mount's";
    return false;
  } else if (!r.ok()) {
    *error = "--load: " + path +
             " is not a saved crash point (write one with `blackout record --out FILE` or "
             "`blackout ctl MNT saved-points DIR`)";
    return false;
  }
  if (state.empty()) return true;
  if (!fs.PowerCutTo(state).ok()) {
    *error = "--load-state: the crash point " + path + " has no crash state '" + state +
             "'; states: drop-all, keep-all, or an id of its generators (prefix:S, "
             "reorder:K:S1,S2, torn:S:B, random:N:SEED:I) that `blackout explore` reports";
    return false;
  }
  return true;
}

}  // namespace

int RunDaemon(const DaemonConfig& config, int ready_fd) {
  // Pending data grows by about a page per 4 KiB write. In a per-thread
  // arena (the session loop's workers) every such growth was an mprotect(2)
  // of the arena's heap, one system call per write; the main arena grows by
  // brk(2) with a 64 MiB pad instead, and the model's mutex serializes the
  // writers anyway. Before any thread starts.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_TOP_PAD, 64 << 20);
  std::shared_ptr<spdlog::logger> log;
  try {
    log = InstallLoggers(config.log_path);
  } catch (const spdlog::spdlog_ex& e) {
    Report(ready_fd, "ERR cannot open the log file " + config.log_path + ": " + e.what());
    return 2;
  }
  auto fail = [&](const std::string& message) {
    log->error("{}", message);
    Report(ready_fd, "ERR " + message);
    return 2;
  };

  model::Options options;
  options.model = config.model;
  options.capacity_bytes = config.capacity_bytes;
  options.stale_all_entries = config.writeback_cache;
  options.trace_limit = config.trace_limit;
  options.trace = config.trace;
  options.spill_after = config.spill_after;
  if (!config.spill_dir.empty()) {
    std::string error;
    options.spill = model::SpillFile::Open(config.spill_dir, &error);
    if (!options.spill && !config.spill_dir_default) return fail("--spill-dir: " + error);
    if (!options.spill) log->warn("{}; every pending page stays in memory", error);
  }
  if (options.spill) {
    log->info("superseded page versions spill to an unnamed file in {} once pending writes hold {} "
              "bytes in memory",
              config.spill_dir, config.spill_after);
  }
  model::Filesystem fs(options);
  if (!config.load_path.empty()) {
    std::string error;
    if (!LoadCrashPointFile(fs, config.load_path, config.load_state, &error)) return fail(error);
    log->info("started from the crash point {}{}", config.load_path,
              config.load_state.empty() ? std::string(", its operations pending")
                                        : ", in its crash state " + config.load_state);
  }

  fusefs::MountOptions mount_options;
  mount_options.mountpoint = config.mountpoint;
  mount_options.writeback_cache = config.writeback_cache;
  mount_options.dirty_limit = config.dirty_limit;
  mount_options.io_uring = config.io_uring;
  mount_options.direct_writes = config.direct_writes;
  std::string error;
  std::unique_ptr<fusefs::FuseAdapter> adapter =
      fusefs::FuseAdapter::Mount(fs, mount_options, &error);
  if (!adapter) return fail(error);
  // A shell starts background jobs with SIGINT ignored, and libfuse keeps an
  // ignored disposition; the daemon must stop cleanly on all three anyway.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) signal(sig, SIG_DFL);
  if (!adapter->InstallSignalHandlers()) {
    return fail("cannot install signal handlers for the session loop");
  }

  ServerHooks hooks;
  hooks.mountpoint = config.mountpoint;
  fusefs::FuseAdapter* raw = adapter.get();
  hooks.invalidate = [raw](const std::vector<std::pair<model::Ino, std::string>>& entries,
                           const std::vector<model::Ino>& inodes) {
    raw->InvalidateKernelCaches(entries, inodes);
  };
  // Entries a power cut removed, dropped after its reply (the kernel may free
  // a file's whole page cache on each). Tests widen the window between the
  // reply and the drop to check what a program sees in it
  // (BLACKOUT_TEST_GONE_ENTRY_DELAY_MS, fusefs_crash_table_test).
  const char* delay_env = std::getenv("BLACKOUT_TEST_GONE_ENTRY_DELAY_MS");
  const std::chrono::milliseconds gone_delay(delay_env != nullptr ? std::atoi(delay_env) : 0);
  CacheDropQueue gone_entries(
      [raw, gone_delay](const CacheDropQueue::Entries& entries, const CacheDropQueue::Inodes&) {
        std::this_thread::sleep_for(gone_delay);
        raw->InvalidateEntries(entries);
      });
  hooks.invalidate_later = [&gone_entries](CacheDropQueue::Entries entries) {
    gone_entries.Push(std::move(entries), {});
  };
  // The session loop wakes for a signal, not for fuse_session_exit alone;
  // every other thread blocks signals, so this one reaches the loop.
  hooks.shutdown = [] { kill(getpid(), SIGTERM); };
  hooks.transport = [raw] { return raw->Transport(); };
  hooks.ring_overflow_requests = [raw] { return raw->RingOverflowRequests(); };
  hooks.direct_writes = [raw] { return raw->DirectWrites(); };
  hooks.dirty_limit = [raw, bytes = config.dirty_limit] {
    return std::pair<std::string, uint64_t>(raw->DirtyLimit(), bytes);
  };
  // Crash triggers and btrfs reverts change the model inside a request.
  CacheDropQueue drops(
      [raw](const CacheDropQueue::Entries& entries, const CacheDropQueue::Inodes& inodes) {
        raw->InvalidateKernelCaches(entries, inodes);
      });
  fs.SetCacheDropListener([&drops](CacheDropQueue::Entries entries, CacheDropQueue::Inodes inodes) {
    drops.Push(std::move(entries), std::move(inodes));
  });
  // A crash trigger armed with "stop" freezes the program whose call it
  // cut, with its process group, as the power going out would: what it
  // would do after the cut never happens (a harness kills it). Never the
  // daemon's own group.
  fs.SetStopListener([] {
    const pid_t pid = fusefs::RequestCallerPid();
    if (pid <= 0) return;
    const pid_t group = getpgid(pid);
    kill(group > 1 && group != getpgrp() ? -group : pid, SIGSTOP);
  });
  ControlServer server(fs, hooks);
  if (!server.Listen(config.socket_path, &error)) return fail(error);
  server.Start();
  std::unique_ptr<lazyfs::FaultFifo> lazyfs_fifo;
  if (!config.lazyfs_fifo.empty() || !config.lazyfs_config.empty()) {
    lazyfs::FifoHooks lazyfs_hooks{[&server](const nlohmann::json& r) { return server.Handle(r); },
                                   hooks.shutdown};
    lazyfs_fifo = lazyfs::FaultFifo::StartFromOptions(fs, config.lazyfs_fifo, config.lazyfs_config,
                                                      config.mountpoint, lazyfs_hooks, &error);
    if (!lazyfs_fifo) return fail(error);
  }

  HeapPrefaulter prefault;
  prefault.Start();

  log->info("blackoutfs ready on {} (model {}, control socket {})", config.mountpoint,
            model::Name(config.model), config.socket_path);
  // `blackout mount` returns once the kernel's INIT is answered, which the
  // session loop below serves, so that the first requests and `ctl status`
  // see the mount as it stays (readahead, direct writes, the transport: the
  // INIT reply starts the io_uring queues before it counts as answered).
  std::atomic<bool> loop_ended{false};
  std::thread ready_reporter;
  if (ready_fd >= 0) {
    ready_reporter = SignalFreeThread([&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!raw->Initialized() && !loop_ended.load() &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (loop_ended.load()) {
        Report(ready_fd, "ERR the daemon stopped before the kernel's INIT was answered; see " +
                             config.log_path);
        return;
      }
      if (!raw->Initialized()) {
        log->warn("the kernel's INIT not answered 5 s after the mount");
      } else if (raw->Transport().first == "io_uring") {
        log->info("serving requests over io_uring");
      } else if (config.io_uring) {
        log->warn("io_uring asked for but its queues did not start; serving /dev/fuse");
      } else {
        log->info("serving requests through /dev/fuse ({})", config.transport_note);
      }
      Report(ready_fd, "OK " + raw->Transport().first);
    });
  }

  const int rc = adapter->Loop();
  loop_ended.store(true);
  if (ready_reporter.joinable()) ready_reporter.join();
  log->info("session loop ended ({}); unmounting {}",
            rc > 0 ? "signal " + std::to_string(rc) : "rc " + std::to_string(rc),
            config.mountpoint);
  prefault.Stop();
  lazyfs_fifo.reset();
  // A control request may block for good (writing into a file system that
  // does not answer): the mount and the process must still go.
  constexpr std::chrono::seconds kControlStopLimit(10);
  if (!server.Stop(kControlStopLimit)) {
    log->error(
        "the control thread did not stop within {} s (serving: {}); unmounting {} and exiting "
        "without it",
        kControlStopLimit.count(), server.Serving(), config.mountpoint);
    adapter->Unmount();
    unlink(config.socket_path.c_str());
    log->info("stopped");
    log->flush();
    _exit(1);
  }
  fs.SetCacheDropListener(nullptr);
  drops.Stop();
  gone_entries.Stop();  // it uses the adapter, which goes next
  adapter->Unmount();
  adapter.reset();
  log->info("stopped");
  return 0;
}

}  // namespace blackout::control
