// blackout::control::ControlServer: the daemon side of the control socket.
//
// Protocol: JSON lines over a Unix stream socket (mode 0600). Each line the
// client sends is one request object; the server answers each with exactly
// one reply object on one line, in order. Every reply has "ok"; when "ok" is
// false it has "error", a sentence a person can act on. Paths in replies are
// relative to the mount root and start with "/".
//
//   {"cmd":"status"}   -> {"ok":true,"model":"posix-strict","seq":N,"epoch":E,
//                          "mountpoint":"...","pending_ops":N}
//   {"cmd":"seq"}      -> {"ok":true,"seq":N}
//   {"cmd":"sync"}     -> {"ok":true,"seq":N}          everything made durable
//   {"cmd":"power-cut","state":"drop-all"|"keep-all"|ID}  (state defaults to drop-all;
//                       ID: a crash-state id of the model, e.g. "prefix:12")
//                      -> {"ok":true,"dropped_ops":N,"epoch":E,"seq":N}
//   {"cmd":"unsynced"} -> {"ok":true,"files":[{"path","pending_bytes","since"}],
//                          "dirs":[{"path","pending_entries","since"}]}
//   {"cmd":"snapshot","dir":"/abs/dir","view":"durable"|"volatile"}
//                      -> {"ok":true,"dir":"..."}   (view defaults to durable)
//   {"cmd":"crash-point","path":"/abs/file"}
//                      -> {"ok":true,"path":"...","seq":N,"bytes":B}: writes
//                         Filesystem::SaveCrashPoint() (durable view and pending
//                         ops) to the file, to explore this crash point offline
//   {"cmd":"saved-points","dir":"/abs/dir"}
//                      -> {"ok":true,"points":[{"trigger","nth","op","path",
//                          "before","seq","file","bytes"}...]}: writes each crash
//                         point a saving trigger (`crash-after` with "save")
//                         captured since the last request, at its nth matching
//                         operation, to DIR/saved-TRIGGER-NTH.bin, in
//                         firing order; they are handed over once, even when a
//                         write fails
//   {"cmd":"trace"}    -> {"ok":true,"entries":[{seq,pid,op,ino,path,offset,
//                          length,digest,flags,detail}...]}
//   {"cmd":"shutdown"} -> {"ok":true}, then the daemon unmounts and exits
//   anything else      -> {"ok":false,"error":"unknown command 'x'; commands: ..."}
//
// "pending_ops" in status counts, from ListUnsynced, each file with pending
// data as one and each pending directory entry as one: the model does not
// expose its pending-operation count directly. "pending_files" and
// "pending_entries" are the two parts.
//
// Thread-safety: Handle() may be called from any thread; the socket is served
// by one thread of its own, so requests are answered one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fusefs/model/filesystem.h"

namespace blackout::control {

struct ServerHooks {
  std::string mountpoint;  // reported by status
  // Called after a power cut with the volatile entries from before and after
  // it and the inodes the model says changed or vanished; tells the kernel to
  // forget them (FuseAdapter::InvalidateKernelCaches).
  std::function<void(const std::vector<std::pair<model::Ino, std::string>>&,
                     const std::vector<model::Ino>&)>
      invalidate;
  // Called with the entries of `invalidate` whose name is gone after the cut
  // (model::PowerCutResult::gone_entries) instead of passing them to it: the
  // caller drops them later, on another thread. Unset: all go to invalidate.
  std::function<void(std::vector<std::pair<model::Ino, std::string>>)> invalidate_later;
  // Called after the reply to "shutdown" is sent.
  std::function<void()> shutdown;
  // How the kernel's requests reach the daemon, for status: "io_uring" and
  // the requests served through the ring so far, or "/dev/fuse" and 0.
  std::function<std::pair<std::string, uint64_t>()> transport;
  // With the ring, for status: the requests its overflow entries served.
  std::function<uint64_t()> ring_overflow_requests;
  // With --writeback-cache, for status: FuseAdapter::DirtyLimit() and the
  // bytes of --dirty-limit (0 for none).
  std::function<std::pair<std::string, uint64_t>()> dirty_limit;
  // For status: whether handles opened for writing skip the kernel's page
  // cache (FuseAdapter::DirectWrites()).
  std::function<bool()> direct_writes;
};

class ControlServer {
 public:
  // REQUIRES: `fs` outlives the server.
  ControlServer(model::Filesystem& fs, ServerHooks hooks);
  ~ControlServer();  // Stop()s
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Answers one request (no socket involved). Sets *shutdown when the request
  // asks the daemon to stop.
  nlohmann::json Handle(const nlohmann::json& request, bool* shutdown = nullptr);
  // Parses one line and answers it; a line that is not a JSON object gets an
  // error reply.
  nlohmann::json HandleLine(std::string_view line, bool* shutdown = nullptr);

  // Creates the socket at `path` with mode 0600 and listens. The path must be
  // free (the mount command removes a stale socket first).
  [[nodiscard]] bool Listen(const std::string& path, std::string* error);
  // Serves connections on a new thread until Stop(). Signals are blocked on
  // that thread so that SIGTERM reaches the session loop.
  void Start();
  // Stops serving, joins the thread and removes the socket file. Idempotent.
  void Stop();
  // The same, waiting at most `limit` for the thread to end: false when it
  // did not (a request blocked, e.g. writing into a file system that does
  // not answer); the thread is then left running, still joinable, and the
  // caller must end the process without destroying the server.
  [[nodiscard]] bool Stop(std::chrono::milliseconds limit);
  // The request the thread is serving ("snapshot"), or "" between requests.
  std::string Serving() const;

 private:
  void Serve();
  nlohmann::json PowerCut(const nlohmann::json& request);
  nlohmann::json Snapshot(const nlohmann::json& request);
  nlohmann::json CrashPoint(const nlohmann::json& request);
  nlohmann::json SavedPoints(const nlohmann::json& request);
  nlohmann::json Trace(const nlohmann::json& request);
  nlohmann::json Load(const nlohmann::json& request);
  // Tells the kernel what it may hold wrong after a cut or a load.
  void InvalidateKernel(model::PowerCutResult& cut);

  model::Filesystem& fs_;
  ServerHooks hooks_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable ended_cv_;
  bool ended_ = false;   // Serve() returned
  std::string serving_;  // Serving()
};

}  // namespace blackout::control
