// blackout::lazyfs::FaultFifo: the LazyFS control FIFO of a blackoutfs mount
// and the faults a LazyFS config injects (commands.h; docs/lazyfs.md).
//
// Every line written to the FIFO is one command:
//   lazyfs::clear-cache          power cut to drop-all: un-synced data AND
//                                un-synced directory entries are lost; then
//                                "finished::clear-cache" on fifo_path_completed
//   lazyfs::cache-checkpoint     everything becomes durable (control "sync")
//   lazyfs::display-cache-usage  logs what is un-synced (files, bytes, entries)
//   lazyfs::unsynced-data-report logs each file and directory with un-synced state
//   lazyfs::help                 logs the commands
//   lazyfs::crash::timing=before|after::op=OP::from_rgx=R[::to_rgx=R]
//                                at the next matching operation: power cut to
//                                drop-all, the durable view is saved to
//                                MNT.crash-point, and the daemon unmounts and exits
//   lazyfs::torn-op::.. / lazyfs::torn-seq::..
//                                at the chosen write: power cut keeping only the
//                                chosen parts or writes (model::TornWrite), then
//                                as crash
// Replies go to the daemon's log (MNT.log), as LazyFS's go to its logfile.
//
// Thread-safety: one thread of its own reads the FIFO; the public calls are
// for the daemon's main thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "fusefs/lazyfs/commands.h"
#include "fusefs/model/filesystem.h"

namespace blackout::lazyfs {

struct FifoHooks {
  // Answers a control request as the control socket does
  // (ControlServer::Handle): power cuts go through it so the kernel caches
  // are invalidated the same way.
  std::function<nlohmann::json(const nlohmann::json&)> control;
  // Stops the daemon (it unmounts and exits).
  std::function<void()> shutdown;
};

class FaultFifo {
 public:
  // Arms the config's injection, creates the FIFOs that do not exist
  // (mode 0600) and starts reading `fifo_path` (may be empty: injections
  // only). `mountpoint` names the crash-point file MNT.crash-point.
  // REQUIRES: `fs` outlives the object.
  static std::unique_ptr<FaultFifo> Start(model::Filesystem& fs, const std::string& fifo_path,
                                          Config config, const std::string& mountpoint,
                                          FifoHooks hooks, std::string* error);
  // For the mount daemon: loads the LazyFS config at `config_path` (may be
  // empty), reads the FIFO at `fifo_path` or else the config's
  // [faults] fifo_path, and Start()s. nullptr and *error on bad input.
  static std::unique_ptr<FaultFifo> StartFromOptions(model::Filesystem& fs,
                                                     const std::string& fifo_path,
                                                     const std::string& config_path,
                                                     const std::string& mountpoint,
                                                     FifoHooks hooks, std::string* error);
  ~FaultFifo();  // Stop()s
  FaultFifo(const FaultFifo&) = delete;
  FaultFifo& operator=(const FaultFifo&) = delete;

  // Runs one FIFO line (the reader thread calls it; tests may too).
  void HandleLine(std::string_view line);
  // Stops the reader thread. Idempotent. The FIFOs stay, as with LazyFS.
  void Stop();

 private:
  FaultFifo(model::Filesystem& fs, FifoHooks hooks) : fs_(fs), hooks_(std::move(hooks)) {}
  void Serve();
  void Arm(const Injection& injection);
  // Acts on an armed fault the model fired since the last look.
  void CheckFired();
  void NotifyCompleted(const std::string& message);

  model::Filesystem& fs_;
  FifoHooks hooks_;
  std::string mountpoint_;
  int fifo_fd_ = -1;
  int completed_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // Stop()
  int fire_pipe_[2] = {-1, -1};  // the model's fire listener: a trigger cut power
  std::mutex mu_;                         // guards armed_
  std::map<uint64_t, Injection> armed_;   // by the model's trigger id
  std::thread thread_;
  std::string buffer_;
};

}  // namespace blackout::lazyfs
