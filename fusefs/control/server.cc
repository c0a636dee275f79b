#include "fusefs/control/server.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <memory>

#include "fusefs/control/fault_protocol.h"
#include "fusefs/control/signal_free_thread.h"
#include "fusefs/fuse/mountinfo.h"

namespace blackout::control {
namespace {

using nlohmann::json;

constexpr const char* kCommands =
    "status, seq, sync, power-cut, unsynced, snapshot, crash-point, saved-points, trace, load, "
    "fail, crash-after, clear-faults, faults, shutdown";
constexpr const char* kStates =
    "drop-all, keep-all, or a crash-state id from the model's generators (prefix:S, "
    "reorder:K:S1,S2, torn:S:B, random:N:SEED:I)";
// A request longer than this is not one the protocol defines.
constexpr size_t kMaxRequestBytes = 1 << 20;

std::shared_ptr<spdlog::logger> Log() {
  auto log = spdlog::get("control");
  return log ? log : spdlog::default_logger();
}

// The refusal of a command asked to write its output into the mount, where it
// would become part of the state under test.
json InsideMount(const std::string& command, const std::string& path) {
  return BadRequestReply(
      command + ": " + path +
      " is inside the mount: its files would become part of the state under test; give "
      "a path outside it");
}

// Whether request[field] is a string holding an absolute path.
bool IsAbsolutePath(const json& request, const char* field) {
  if (!request.contains(field) || !request[field].is_string()) return false;
  const std::string& path = request[field].get_ref<const std::string&>();
  return !path.empty() && path[0] == '/';
}

std::string RootRelative(const std::string& path) {
  // "(deleted)": a file no name reaches any more, not a name in the root.
  if (!path.empty() && (path[0] == '/' || path[0] == '(')) return path;
  return "/" + path;
}

// Why the daemon refuses to open `path` for a command's file: empty when
// `fd` is a regular file. The daemon runs as its own process: a FIFO would
// hang the control socket, and /dev/fd/N or /proc/self/... would name the
// daemon's own descriptors (its log, its spill file), not the user's.
std::string NotRegular(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  return "";
}

// Writes `bytes` to the regular file at `path` (created, or truncated);
// empty, or why not. A symbolic link as the last component is refused.
std::string WriteWhole(const std::string& path, const std::string& bytes) {
  if (struct stat st{};
      lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
    return "not a regular file";
  }
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return errno == ELOOP ? "a symbolic link (give the file itself)" : std::strerror(errno);
  }
  std::string why = NotRegular(fd);
  if (why.empty() && ftruncate(fd, 0) != 0) why = std::strerror(errno);
  for (size_t done = 0; why.empty() && done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) why = n < 0 ? std::strerror(errno) : "short write";
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && why.empty()) why = std::strerror(errno);
  return why;
}

// Reads the whole regular file at `path` into `bytes`; empty, or why not.
std::string ReadWhole(const std::string& path, std::string& bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  std::string why = NotRegular(fd);
  bytes.clear();
  char buf[1 << 16];
  while (why.empty()) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = std::strerror(errno);
    if (n <= 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return why;
}

bool SendAll(int fd, const std::string& bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ControlServer::ControlServer(model::Filesystem& fs, ServerHooks hooks)
    : fs_(fs), hooks_(std::move(hooks)) {}

ControlServer::~ControlServer() { Stop(); }

json ControlServer::HandleLine(std::string_view line, bool* shutdown) {
  json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) {
    return BadRequestReply(
        "request is not a JSON object; send one object per line, e.g. {\"cmd\":\"status\"}");
  }
  return Handle(request, shutdown);
}

json ControlServer::Handle(const json& request, bool* shutdown) {
  if (!request.contains("cmd") || !request["cmd"].is_string()) {
    return BadRequestReply(std::string("request has no \"cmd\" string; commands: ") + kCommands);
  }
  const std::string cmd = request["cmd"];
  if (cmd == "status") {
    const model::Unsynced u = fs_.ListUnsynced();
    // pending_ops, as it was first defined: files with un-synced data plus
    // un-synced directory entries; the two parts are given apart too.
    uint64_t entries = 0;
    for (const auto& d : u.dirs) entries += d.pending_entries;
    const uint64_t pending = u.files.size() + entries;
    json reply{{"ok", true},
               {"model", std::string(model::Name(fs_.Model()))},
               {"seq", fs_.CurrentSeq()},
               {"epoch", fs_.Epoch()},
               {"mountpoint", hooks_.mountpoint},
               {"pid", getpid()},  // the daemon's, for tools that watch it
               {"pending_ops", pending},
               {"pending_files", u.files.size()},
               {"pending_entries", entries},
               {"tracing", fs_.Tracing()}};
    if (hooks_.transport) {
      const auto [transport, ring_requests] = hooks_.transport();
      reply["transport"] = transport;
      reply["ring_requests"] = ring_requests;
      if (hooks_.ring_overflow_requests && transport == "io_uring") {
        reply["ring_overflow_requests"] = hooks_.ring_overflow_requests();
      }
    }
    if (hooks_.dirty_limit) {
      const auto [limit, bytes] = hooks_.dirty_limit();
      if (!limit.empty()) reply["dirty_limit"] = limit;
      if (limit == "strict") reply["dirty_limit_bytes"] = bytes;
    }
    if (hooks_.direct_writes) reply["direct_writes"] = hooks_.direct_writes();
    const model::MemoryUse memory = fs_.Memory();
    reply["pending_memory_bytes"] = memory.pending_in_memory;
    if (!memory.spill_dir.empty()) {
      reply["spill"] = {{"dir", memory.spill_dir},
                        {"bytes", memory.spilled},
                        {"written_bytes", memory.spill_written}};
      if (!memory.spill_error.empty()) reply["spill"]["error"] = memory.spill_error;
    }
    return reply;
  }
  if (cmd == "seq") return json{{"ok", true}, {"seq", fs_.CurrentSeq()}};
  if (cmd == "sync") {
    fs_.SyncAll();
    return json{{"ok", true}, {"seq", fs_.CurrentSeq()}};
  }
  if (cmd == "power-cut") return PowerCut(request);
  if (IsFaultCommand(cmd)) return HandleFaultRequest(fs_, request);
  if (cmd == "unsynced") {
    const model::Unsynced u = fs_.ListUnsynced();
    json files = json::array();
    for (const auto& f : u.files) {
      files.push_back({{"path", RootRelative(f.path)},
                       {"ino", f.ino},
                       {"pending_bytes", f.pending_bytes},
                       {"since", f.since}});
    }
    json dirs = json::array();
    for (const auto& d : u.dirs) {
      dirs.push_back({{"path", RootRelative(d.path)},
                      {"ino", d.ino},
                      {"pending_entries", d.pending_entries},
                      {"since", d.since}});
    }
    json failed = json::array();
    for (const auto& f : u.failed_writeback) {
      failed.push_back({{"path", RootRelative(f.path)}, {"failed_fsync", f.since}});
    }
    return json{{"ok", true},
                {"files", std::move(files)},
                {"dirs", std::move(dirs)},
                {"failed_writeback", std::move(failed)}};
  }
  if (cmd == "snapshot") return Snapshot(request);
  if (cmd == "crash-point") return CrashPoint(request);
  if (cmd == "saved-points") return SavedPoints(request);
  if (cmd == "trace") return Trace(request);
  if (cmd == "load") return Load(request);
  if (cmd == "shutdown") {
    if (shutdown != nullptr) *shutdown = true;
    return json{{"ok", true}};
  }
  return BadRequestReply("unknown command '" + cmd + "'; commands: " + kCommands);
}

json ControlServer::PowerCut(const json& request) {
  std::string state = "drop-all";
  if (request.contains("state")) {
    if (!request["state"].is_string()) {
      return BadRequestReply("power-cut: \"state\" must be a string; states: " +
                             std::string(kStates));
    }
    state = request["state"];
  }
  model::Result<model::PowerCutResult> r = fs_.PowerCutTo(state);
  if (!r.ok()) {
    // A few ids the state's generator does give now, as explore lists them.
    std::string generator, examples;
    size_t total = 0;
    for (const std::string& id : fs_.SameGeneratorIds(state, 0, 8, &generator, &total))
      examples += (examples.empty() ? "" : ", ") + id;
    return BadRequestReply("power-cut: unknown or stale \"state\" '" + state + "' (" +
                           std::strerror(r.error()) + "); states: " + kStates +
                           (total > 0
                                ? "; generator " + generator + " gives " + std::to_string(total) +
                                      " now: " + examples + (total > 8 ? ", ..." : "")
                                : ""));
  }
  model::PowerCutResult& cut = *r;
  InvalidateKernel(cut);
  Log()->info("power cut ({}): dropped {} pending operations, epoch {}", state, cut.dropped_ops,
              cut.epoch);
  return json{{"ok", true},
              {"dropped_ops", cut.dropped_ops},
              {"epoch", cut.epoch},
              {"seq", fs_.CurrentSeq()}};
}

void ControlServer::InvalidateKernel(model::PowerCutResult& cut) {
  // The entries the kernel may hold wrong (gone, renamed over, or back
  // again); an entry that names the same inode stays, with its inode's page
  // cache, which the inode's own invalidation handles.
  std::vector<std::pair<model::Ino, std::string>> entries = std::move(cut.stale_entries);
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  std::vector<model::Ino> inodes = cut.changed;
  inodes.insert(inodes.end(), cut.forgotten.begin(), cut.forgotten.end());
  std::vector<std::pair<model::Ino, std::string>> later;
  if (hooks_.invalidate_later) {
    auto gone = [&cut](const std::pair<model::Ino, std::string>& e) {
      return std::binary_search(cut.gone_entries.begin(), cut.gone_entries.end(), e);
    };
    std::copy_if(entries.begin(), entries.end(), std::back_inserter(later), gone);
    entries.erase(std::remove_if(entries.begin(), entries.end(), gone), entries.end());
  }
  if (hooks_.invalidate) hooks_.invalidate(entries, inodes);
  if (!later.empty()) hooks_.invalidate_later(std::move(later));
}

json ControlServer::Trace(const json& request) {
  const std::string action =
      request.contains("action") && request["action"].is_string() ? request["action"] : "";
  if (request.contains("action") && !request["action"].is_string()) {
    return BadRequestReply("trace: \"action\" must be a string; actions: start, stop, save");
  }
  if (action == "start" || action == "stop") {
    fs_.SetTracing(action == "start");
    Log()->info("trace {} at seq {}", action == "start" ? "started" : "stopped", fs_.CurrentSeq());
    return json{{"ok", true}, {"tracing", fs_.Tracing()}, {"seq", fs_.CurrentSeq()}};
  }
  if (!action.empty() && action != "save") {
    return BadRequestReply("trace: unknown action '" + action +
                           "'; actions: start, stop, save (with \"path\"), or none to get the "
                           "trace in the reply");
  }
  std::string path;
  if (action == "save") {
    if (!IsAbsolutePath(request, "path")) {
      return BadRequestReply(
          "trace save: missing \"path\": give the absolute path of the file to write");
    }
    path = request["path"];
    if (fusefs::PathOnMount(path, hooks_.mountpoint)) return InsideMount("trace save", path);
  }
  json entries = json::array();
  for (const model::TraceEntry& e : fs_.Trace()) {
    entries.push_back({{"seq", e.seq},
                       {"pid", e.pid},
                       {"op", e.op},
                       {"ino", e.ino},
                       {"path", RootRelative(e.path)},
                       {"offset", e.offset},
                       {"length", e.length},
                       {"digest", e.digest},
                       {"flags", e.flags},
                       {"detail", e.detail}});
  }
  json trace{{"ok", true},
             {"entries", std::move(entries)},
             {"dropped", fs_.TraceDropped()},
             {"tracing", fs_.Tracing()},
             {"seq", fs_.CurrentSeq()}};
  if (path.empty()) return trace;
  // The file holds what `blackout ctl MNT trace` prints, so that either
  // feeds the same tools.
  const size_t count = trace["entries"].size();
  if (const std::string why = WriteWhole(path, trace.dump(2) + "\n"); !why.empty()) {
    return ErrorReply("trace save: cannot write " + path + ": " + why +
                      " (give a path outside the mount, in a directory that exists)");
  }
  return json{{"ok", true}, {"path", path}, {"entries", count}, {"seq", fs_.CurrentSeq()}};
}

json ControlServer::Load(const json& request) {
  if (!IsAbsolutePath(request, "path")) {
    return BadRequestReply(
        "load: missing \"path\": give the absolute path of a crash point (from `blackout record "
        "--out FILE` or `blackout ctl MNT saved-points DIR`)");
  }
  const std::string path = request["path"];
  // Reading a file of the mount would wait on this daemon's own requests.
  if (fusefs::PathOnMount(path, hooks_.mountpoint)) {
    return BadRequestReply("load: " + path +
                           " is inside the mount, whose state the load replaces; copy it out "
                           "first");
  }
  std::string state;
  if (request.contains("state")) {
    if (!request["state"].is_string()) {
      return BadRequestReply("load: \"state\" must be a string; states: " + std::string(kStates));
    }
    state = request["state"];
  }
  std::string bytes;
  if (const std::string why = ReadWhole(path, bytes); !why.empty()) {
    return BadRequestReply("load: cannot read " + path + ": " + why);
  }
  // Everything is checked before the mount's state changes: the point on a
  // scratch model of the same behaviour model, then the state on it.
  {
    model::Options scratch_options;
    scratch_options.model = fs_.Model();
    scratch_options.trace = false;
    model::Filesystem scratch(scratch_options);
    const auto loaded = scratch.LoadCrashPoint(bytes);
    if (!loaded.ok() && loaded.error() == EXDEV) {
      const auto saved = model::Filesystem::SavedModel(bytes);
      return BadRequestReply("load: " + path + " was saved under " +
                             (saved.ok() && *saved ? std::string(model::Name(**saved))
                                                   : std::string("another behaviour model")) +
                             ", the mount runs " + std::string(model::Name(fs_.Model())) +
                             "; mount one with `blackout mount MNT --load " + path + "`");
    }
    if (!loaded.ok()) {
      return BadRequestReply("load: " + path +
                             " is not a saved crash point (write one with `blackout record --out "
                             "FILE` or `blackout ctl MNT saved-points DIR`)");
    }
    if (!state.empty() && !scratch.PowerCutTo(state).ok()) {
      return BadRequestReply("load: the crash point " + path + " has no crash state '" + state +
                             "'; states: " + kStates);
    }
  }
  auto loaded = fs_.LoadCrashPoint(bytes);
  if (!loaded.ok()) {
    return ErrorReply("load: " + path + " could not be loaded: " + std::strerror(loaded.error()));
  }
  InvalidateKernel(*loaded);
  uint64_t dropped = 0;
  if (!state.empty()) {
    model::Result<model::PowerCutResult> cut = fs_.PowerCutTo(state);
    if (!cut.ok()) {
      return ErrorReply("load: the crash state '" + state + "' of " + path +
                        " could not be cut to: " + std::strerror(cut.error()));
    }
    dropped = cut->dropped_ops;
    InvalidateKernel(*cut);
  }
  const model::Unsynced u = fs_.ListUnsynced();
  uint64_t pending = u.files.size();
  for (const auto& d : u.dirs) pending += d.pending_entries;
  Log()->info("loaded the crash point {}{}", path,
              state.empty() ? std::string(", its operations pending") : ", in its state " + state);
  json reply{{"ok", true},
             {"path", path},
             {"pending_ops", pending},
             {"epoch", fs_.Epoch()},
             {"seq", fs_.CurrentSeq()}};
  if (!state.empty()) {
    reply["state"] = state;
    reply["dropped_ops"] = dropped;
  }
  return reply;
}

json ControlServer::Snapshot(const json& request) {
  if (!IsAbsolutePath(request, "dir")) {
    return BadRequestReply(
        "snapshot: missing \"dir\": give the absolute path of an empty or missing directory");
  }
  const std::string dir = request["dir"];
  if (fusefs::PathOnMount(dir, hooks_.mountpoint)) return InsideMount("snapshot", dir);
  model::View view = model::View::kDurable;
  if (request.contains("view")) {
    if (request["view"] == "durable") {
      view = model::View::kDurable;
    } else if (request["view"] == "volatile") {
      view = model::View::kVolatile;
    } else {
      return BadRequestReply("snapshot: unknown \"view\" " + request["view"].dump() +
                             "; views: durable, volatile");
    }
  }
  const model::Result<void> r = fs_.Materialize(view, dir);
  if (!r.ok()) {
    return ErrorReply("snapshot: cannot write the view into " + dir + ": " +
                      std::strerror(r.error()) +
                      " (the directory must be empty or missing, and outside the mount)");
  }
  return json{{"ok", true}, {"dir", dir}};
}

json ControlServer::CrashPoint(const json& request) {
  if (!IsAbsolutePath(request, "path")) {
    return BadRequestReply(
        "crash-point: missing \"path\": give the absolute path of the file to write");
  }
  const std::string path = request["path"];
  if (fusefs::PathOnMount(path, hooks_.mountpoint)) return InsideMount("crash-point", path);
  // Written outside the lock of the model: SaveCrashPoint copies what it
  // needs under the lock, the file write does not hold up FUSE requests.
  const std::string bytes = fs_.SaveCrashPoint();
  if (const std::string why = WriteWhole(path, bytes); !why.empty()) {
    return ErrorReply("crash-point: cannot write " + path + ": " + why +
                      " (give a path outside the mount, in a directory that exists)");
  }
  return json{{"ok", true}, {"path", path}, {"seq", fs_.CurrentSeq()}, {"bytes", bytes.size()}};
}

json ControlServer::SavedPoints(const json& request) {
  if (!IsAbsolutePath(request, "dir")) {
    return BadRequestReply(
        "saved-points: missing \"dir\": give the absolute path of an existing directory outside "
        "the mount");
  }
  const std::string dir = request["dir"];
  if (fusefs::PathOnMount(dir, hooks_.mountpoint)) return InsideMount("saved-points", dir);
  json points = json::array();
  for (const model::SavedCrashPoint& sp : fs_.TakeSavedCrashPoints()) {
    const std::string file =
        dir + "/saved-" + std::to_string(sp.trigger) + "-" + std::to_string(sp.nth) + ".bin";
    if (const std::string why = WriteWhole(file, sp.bytes); !why.empty()) {
      return ErrorReply("saved-points: cannot write " + file + ": " + why +
                        " (give a directory that exists, outside the mount)");
    }
    points.push_back({{"trigger", sp.trigger},
                      {"nth", sp.nth},
                      {"op", std::string(model::Name(sp.op))},
                      {"path", RootRelative(sp.path)},
                      {"before", sp.before},
                      {"seq", sp.seq},
                      {"file", file},
                      {"bytes", sp.bytes.size()}});
  }
  return json{{"ok", true}, {"points", std::move(points)}};
}

bool ControlServer::Listen(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    *error = "control socket path " + path + " is longer than " +
             std::to_string(sizeof(addr.sun_path) - 1) + " bytes; choose a shorter one with --ctl";
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    *error = std::string("socket(): ") + std::strerror(errno);
    return false;
  }
  // Only the owner may drive the mount: the socket is born 0600.
  const mode_t old_mask = umask(0177);
  const int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  umask(old_mask);
  if (rc != 0 || listen(listen_fd_, 16) != 0) {
    *error = "cannot listen on control socket " + path + ": " +
             std::strerror(rc != 0 ? bind_errno : errno);
    close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  path_ = path;
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    *error = std::string("pipe(): ") + std::strerror(errno);
    return false;
  }
  Log()->info("control socket listening on {}", path);
  return true;
}

void ControlServer::Start() {
  thread_ = SignalFreeThread([this] {
    Serve();
    std::lock_guard lock(mu_);
    ended_ = true;
    ended_cv_.notify_all();
  });
}

void ControlServer::Stop() { (void)Stop(std::chrono::milliseconds::max()); }

std::string ControlServer::Serving() const {
  std::lock_guard lock(mu_);
  return serving_;
}

bool ControlServer::Stop(std::chrono::milliseconds limit) {
  if (thread_.joinable()) {
    const char byte = 1;
    (void)!write(wake_pipe_[1], &byte, 1);
    std::unique_lock lock(mu_);
    const auto ended = [this] { return ended_; };
    if (limit == std::chrono::milliseconds::max()) {
      ended_cv_.wait(lock, ended);
    } else if (!ended_cv_.wait_for(lock, limit, ended)) {
      return false;
    }
    lock.unlock();
    thread_.join();
  }
  for (int& fd : wake_pipe_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(path_.c_str());
    Log()->info("control socket {} removed", path_);
  }
  return true;
}

void ControlServer::Serve() {
  struct Client {
    int fd;
    std::string in;
  };
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  bool running = true;
  while (running) {
    fds.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Client& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log()->error("control poll failed: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) clients.push_back({fd, {}});
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Client& c = clients[i - 2];
      char buf[65536];
      const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      bool keep = n > 0;
      if (keep) c.in.append(buf, static_cast<size_t>(n));
      size_t nl;
      while (keep && (nl = c.in.find('\n')) != std::string::npos) {
        bool shutdown = false;
        const std::string_view line = std::string_view(c.in).substr(0, nl);
        const json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
        const bool object = !request.is_discarded() && request.is_object();
        {
          // What it is, for a shutdown that waits on it (Serving()).
          std::lock_guard lock(mu_);
          serving_ = object && request.contains("cmd") && request["cmd"].is_string()
                         ? request["cmd"].get<std::string>()
                         : "a malformed request";
        }
        const json reply = object ? Handle(request, &shutdown) : HandleLine(line, &shutdown);
        {
          std::lock_guard lock(mu_);
          serving_.clear();
        }
        c.in.erase(0, nl + 1);
        keep = SendAll(c.fd, reply.dump() + "\n");
        if (shutdown && hooks_.shutdown) {
          Log()->info("shutdown requested over the control socket");
          hooks_.shutdown();
        }
      }
      if (keep && c.in.size() > kMaxRequestBytes) {
        (void)SendAll(c.fd,
                      ErrorReply("request longer than 1 MiB without a newline").dump() + "\n");
        keep = false;
      }
      if (!keep) {
        close(c.fd);
        c.fd = -1;
      }
    }
    clients.erase(
        std::remove_if(clients.begin(), clients.end(), [](const Client& c) { return c.fd < 0; }),
        clients.end());
  }
  for (const Client& c : clients) close(c.fd);
}

}  // namespace blackout::control
