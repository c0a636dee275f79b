#include "fusefs/lazyfs/fifo_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fusefs/control/signal_free_thread.h"

namespace blackout::lazyfs {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  std::shared_ptr<spdlog::logger> log = spdlog::get("lazyfs");
  if (!log) {
    log = spdlog::default_logger()->clone("lazyfs");
    spdlog::register_logger(log);
  }
  return log;
}

// Opens (creating if missing) a FIFO for reading and writing: with a
// writer of our own, the reader never sees end-of-file when a shell's
// `echo ... > fifo` closes, and opening never blocks (as LazyFS does).
int OpenFifo(const std::string& path, std::string* error) {
  if (mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST) {
    *error = "cannot create the LazyFS FIFO " + path + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    *error = "LazyFS FIFO path " + path + " exists and is not a FIFO";
    return -1;
  }
  const int fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) *error = "cannot open the LazyFS FIFO " + path + ": " + std::strerror(errno);
  return fd;
}

const char* ActionName(FaultAction a) { return a == FaultAction::kCrash ? "crash" : "clear-cache"; }

}  // namespace

std::unique_ptr<FaultFifo> FaultFifo::Start(model::Filesystem& fs, const std::string& fifo_path,
                                            Config config, const std::string& mountpoint,
                                            FifoHooks hooks, std::string* error) {
  std::unique_ptr<FaultFifo> f(new FaultFifo(fs, std::move(hooks)));
  f->mountpoint_ = mountpoint;
  if (!fifo_path.empty()) {
    f->fifo_fd_ = OpenFifo(fifo_path, error);
    if (f->fifo_fd_ < 0) return nullptr;
  }
  if (!config.fifo_path_completed.empty()) {
    f->completed_fd_ = OpenFifo(config.fifo_path_completed, error);
    if (f->completed_fd_ < 0) return nullptr;
  }
  if (pipe2(f->wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0 ||
      pipe2(f->fire_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *error = std::string("lazyfs: pipe: ") + std::strerror(errno);
    return nullptr;
  }
  // A fired trigger wakes the reader at once: the crash point is saved and
  // the daemon stops right after the cut, not at the next poll.
  fs.SetFireListener([fd = f->fire_pipe_[1]](uint64_t) { (void)!write(fd, "f", 1); });
  for (const Injection& inj : config.injections) f->Arm(inj);
  f->thread_ = control::SignalFreeThread([p = f.get()] { p->Serve(); });
  Log()->info("LazyFS interface ready (FIFO {}, {} injection(s) armed)",
              fifo_path.empty() ? "none" : fifo_path, config.injections.size());
  return f;
}

std::unique_ptr<FaultFifo> FaultFifo::StartFromOptions(model::Filesystem& fs,
                                                       const std::string& fifo_path,
                                                       const std::string& config_path,
                                                       const std::string& mountpoint,
                                                       FifoHooks hooks, std::string* error) {
  Config config;
  if (!config_path.empty() && !LoadConfig(config_path, mountpoint, &config, error)) {
    return nullptr;
  }
  const std::string fifo = fifo_path.empty() ? config.fifo_path : fifo_path;
  return Start(fs, fifo, std::move(config), mountpoint, std::move(hooks), error);
}

FaultFifo::~FaultFifo() {
  Stop();
  for (int fd :
       {fifo_fd_, completed_fd_, wake_pipe_[0], wake_pipe_[1], fire_pipe_[0], fire_pipe_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void FaultFifo::Stop() {
  if (fire_pipe_[1] >= 0) fs_.SetFireListener(nullptr);
  if (!thread_.joinable()) return;
  (void)!write(wake_pipe_[1], "x", 1);
  thread_.join();
}

void FaultFifo::Arm(const Injection& injection) {
  std::lock_guard lock(mu_);
  const model::Result<uint64_t> id =
      injection.torn ? fs_.AddTornWrite(*injection.torn) : fs_.AddCrashTrigger(injection.trigger);
  if (!id.ok()) {
    Log()->error("{}: the model refused the trigger (path glob '{}')", injection.origin,
                 injection.trigger.path);
    return;
  }
  armed_[*id] = injection;
  if (injection.torn) {
    const model::TornWrite& t = *injection.torn;
    Log()->info("armed {}: {} of '{}', occurrence {}", injection.origin,
                t.kind == model::TornWrite::Kind::kOp ? "torn-op" : "torn-seq", t.path,
                t.occurrence);
    return;
  }
  Log()->info("armed {}: {} {} the {}th {} of '{}'", injection.origin, ActionName(injection.action),
              injection.trigger.before ? "before" : "after", injection.trigger.nth,
              model::Name(injection.trigger.op), injection.trigger.path);
}

void FaultFifo::CheckFired() {
  std::vector<Injection> fired;
  {
    std::lock_guard lock(mu_);
    for (uint64_t id : fs_.TakeFiredTriggers()) {
      auto it = armed_.find(id);
      if (it == armed_.end()) continue;  // armed by the control socket, not by us
      fired.push_back(std::move(it->second));
      armed_.erase(it);
    }
  }
  for (const Injection& f : fired) {
    if (f.action == FaultAction::kClearCache) {
      Log()->warn("{} fired: power cut to drop-all, the mount stays up", f.origin);
      continue;
    }
    // LazyFS SIGKILLs itself here; its root directory keeps what was synced.
    // blackoutfs keeps state in memory, so the durable view is saved first.
    const std::string saved = mountpoint_ + ".crash-point";
    const nlohmann::json reply = hooks_.control({{"cmd", "crash-point"}, {"path", saved}});
    Log()->critical(
        "{} fired: power cut to {}; durable view saved to {} ({}); the daemon exits as LazyFS "
        "does",
        f.origin, f.torn ? "the persisted writes or parts, nothing else pending" : "drop-all",
        saved, reply.value("ok", false) ? "ok" : reply.value("error", std::string("failed")));
    hooks_.shutdown();
    return;
  }
}

void FaultFifo::NotifyCompleted(const std::string& message) {
  if (completed_fd_ < 0) return;
  const std::string line = message + "\n";
  if (write(completed_fd_, line.data(), line.size()) < 0) {
    Log()->warn("cannot write '{}' to the completion FIFO: {}", message, std::strerror(errno));
  }
}

void FaultFifo::HandleLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  const Command c = ParseCommand(line, mountpoint_);
  auto log = Log();
  switch (c.kind) {
    case Command::kClearCache: {
      const nlohmann::json r = hooks_.control({{"cmd", "power-cut"}, {"state", "drop-all"}});
      log->warn("lazyfs::clear-cache: power cut to drop-all: {}", r.dump());
      NotifyCompleted("finished::clear-cache");
      break;
    }
    case Command::kCheckpoint: {
      const nlohmann::json r = hooks_.control({{"cmd", "sync"}});
      log->warn("lazyfs::cache-checkpoint: everything durable: {}", r.dump());
      break;
    }
    case Command::kDisplayUsage:
    case Command::kUnsyncedReport: {
      const model::Unsynced u = fs_.ListUnsynced();
      uint64_t bytes = 0, entries = 0;
      for (const auto& f : u.files) bytes += f.pending_bytes;
      for (const auto& d : u.dirs) entries += d.pending_entries;
      log->info("un-synced: {} bytes in {} file(s), {} entries in {} directory(ies)", bytes,
                u.files.size(), entries, u.dirs.size());
      if (c.kind == Command::kUnsyncedReport) {
        for (const auto& f : u.files) {
          log->info("un-synced file {} (inode {}): {} bytes since #{}", f.path, f.ino,
                    f.pending_bytes, f.since);
        }
        for (const auto& d : u.dirs) {
          log->info("un-synced directory {} (inode {}): {} entries since #{}", d.path, d.ino,
                    d.pending_entries, d.since);
        }
      }
      break;
    }
    case Command::kHelp:
      log->info(
          "commands: lazyfs::clear-cache (power cut to drop-all), lazyfs::cache-checkpoint "
          "(sync everything), lazyfs::display-cache-usage, lazyfs::unsynced-data-report, "
          "lazyfs::crash::timing=before|after::op=OP::from_rgx=R[::to_rgx=R], "
          "lazyfs::torn-op::file=F::persist=1,3::parts=N|parts_bytes=B,B::occurrence=N, "
          "lazyfs::torn-seq::op=write::file=F::persist=1,4::occurrence=N; see docs/lazyfs.md");
      break;
    case Command::kCrash:
    case Command::kTorn:
      Arm(c.crash);
      break;
    case Command::kInvalid:
      log->error("lazyfs: {}", c.error);
      break;
  }
}

void FaultFifo::Serve() {
  while (true) {
    pollfd fds[3] = {{wake_pipe_[0], POLLIN, 0}, {fire_pipe_[0], POLLIN, 0}, {fifo_fd_, POLLIN, 0}};
    // An armed trigger fires inside a FUSE request; the fire listener wakes us.
    const int n = poll(fds, fifo_fd_ >= 0 ? 3 : 2, -1);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents != 0) break;
    if ((fds[1].revents & POLLIN) != 0) {
      char drain[64];
      while (read(fire_pipe_[0], drain, sizeof drain) > 0) {
      }
      CheckFired();
    }
    if (fifo_fd_ >= 0 && (fds[2].revents & POLLIN) != 0) {
      char buf[4096];
      const ssize_t got = read(fifo_fd_, buf, sizeof buf);
      if (got > 0) buffer_.append(buf, static_cast<size_t>(got));
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        const std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        HandleLine(line);
      }
    }
  }
}

}  // namespace blackout::lazyfs
