#include "fusefs/control/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "fusefs/control/cli_checks.h"
#include "fusefs/control/client.h"
#include "fusefs/control/daemon.h"
#include "fusefs/control/fault_protocol.h"
#include "fusefs/fuse/mountinfo.h"
#include "fusefs/fuse/uring.h"
#include "fusefs/lazyfs/commands.h"
#include "fusefs/model/spill_file.h"

namespace blackout::control {
namespace {

using nlohmann::json;

// The file system type mounted at `path` ("" when it is not a mount point).
std::string MountTypeAt(const std::string& path) {
  const std::optional<fusefs::MountInfo> m = fusefs::MountAt(path);
  return m ? m->type : "";
}

bool WaitUntilUnmounted(const std::string& mnt, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // A daemon told to stop unmounts within a few milliseconds: look often at
  // first (a harness run unmounts once per scenario), then less.
  auto every = std::chrono::milliseconds(1);
  while (!MountTypeAt(mnt).empty()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
    every = std::min(every * 2, std::chrono::milliseconds(20));
  }
  return true;
}

int Usage(const std::string& message) {
  std::cerr << "blackout: " << message << "\n";
  return 2;
}

// Runs a program, returns its exit status (-1 if it could not run).
int RunProgram(std::vector<std::string> argv) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- mount

struct MountArgs {
  std::string mnt;
  std::string model;  // empty: --load's model, else posix-strict
  std::string ctl;
  std::string capacity;
  std::string lazyfs_fifo;
  std::string lazyfs_config;
  bool foreground = false;
  bool writeback_cache = false;
  std::string dirty_limit;
  bool io_uring = false;
  bool dev_fuse = false;
  bool cached_writes = false;
  // 2^20 entries, 56 MiB: about the last half minute of a mount under fio.
  uint64_t trace_limit = 1u << 20;
  bool no_trace = false;
  std::string spill_dir;
  std::string spill_after = "1G";
  bool no_spill = false;
  std::string load;
  std::string load_state;
};

// True when the FUSE mount at `mnt` has lost its daemon (killed, crashed):
// the kernel then answers every call on it with ENOTCONN. stat() runs in a
// child with a time limit, because a live daemon that hangs would hang it too.
bool DaemonIsGone(const std::string& mnt) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct stat st {};
    _exit(stat(mnt.c_str(), &st) != 0 && errno == ENOTCONN ? 0 : 1);
  }
  if (pid < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Detaches the blackout mount at `mnt` whose daemon is gone; true once it
// is no longer mounted.
bool RemoveStaleMount(const std::string& mnt) {
  RunProgram({"fusermount3", "-u", "-z", mnt});
  return WaitUntilUnmounted(mnt, std::chrono::milliseconds(2000));
}

// Checks that the socket path is free; removes a stale socket nobody answers.
bool ClaimSocketPath(const std::string& path, std::string* error) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return true;
  if (!S_ISSOCK(st.st_mode)) {
    *error =
        "control socket path " + path + " exists and is not a socket; choose another with --ctl";
    return false;
  }
  if (ControlClient::Connect(path).ok()) {
    *error = "control socket " + path +
             " is in use by a running blackout daemon; unmount it first (blackout umount) or "
             "choose another with --ctl";
    return false;
  }
  if (unlink(path.c_str()) != 0) {
    *error = "cannot remove the stale control socket " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// Whether `path` is the mount point or lies below it once the symbolic links
// of its existing part are resolved. Called before the mount exists, so
// resolving reaches no FUSE daemon.
bool UnderMountpoint(const std::string& path, const std::string& mountpoint) {
  const std::filesystem::path p(NormalizeMountpoint(path));
  const std::filesystem::path m(mountpoint);
  return std::mismatch(m.begin(), m.end(), p.begin(), p.end()).first == m.end();
}

int Mount(const MountArgs& args) {
  DaemonConfig config;
  config.mountpoint = NormalizeMountpoint(args.mnt);
  // Checked before stat(): stat of a mount whose daemon hangs would hang too.
  std::string type = MountTypeAt(config.mountpoint);
  // A blackout mount left behind by a daemon that was killed: nothing can
  // use it and nothing else will remove it, so clean it up and go on.
  if (type == "fuse.blackout" && DaemonIsGone(config.mountpoint)) {
    std::cerr << "blackout: mount: " << config.mountpoint
              << " is a stale blackout mount (its daemon is gone); unmounting it\n";
    if (RemoveStaleMount(config.mountpoint)) type.clear();
  }
  if (!type.empty()) {
    return Usage("mount: " + config.mountpoint + " is already a mount point (type " + type +
                 "); unmount it first");
  }
  struct stat st {};
  if (stat(args.mnt.c_str(), &st) != 0) {
    return Usage("mount: mount point " + args.mnt + " does not exist (create the directory first)");
  }
  if (!S_ISDIR(st.st_mode)) return Usage("mount: mount point " + args.mnt + " is not a directory");
  std::string model_name = args.model;
  if (!args.load.empty()) {
    // A crash point says which model it was saved under: the mount takes it.
    std::ifstream in(args.load, std::ios::binary);
    std::string head(16, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    const auto saved = model::Filesystem::SavedModel(head);
    if (saved.ok() && *saved) {
      const std::string recorded(model::Name(**saved));
      if (model_name.empty()) model_name = recorded;
      if (model_name != recorded) {
        return Usage("mount: --model " + model_name + ": the crash point " + args.load +
                     " was saved under " + recorded +
                     ", and which operations are still pending there depends on the model; "
                     "mount it without --model");
      }
    }
  }
  if (model_name.empty()) model_name = "posix-strict";
  model::Result<model::BehaviourModel> m = model::ParseBehaviourModel(model_name);
  if (!m.ok()) {
    return Usage("mount: --model " + model_name +
                 " is unknown; models: " + model::BehaviourModelNames());
  }
  config.model = *m;
  if (!args.capacity.empty()) {
    Result<uint64_t> bytes = ParseByteSize(args.capacity);
    if (!bytes.ok()) return Usage("mount: --capacity " + bytes.error());
    config.capacity_bytes = *bytes;
  }
  config.writeback_cache = args.writeback_cache;
  if (!args.dirty_limit.empty()) {
    Result<uint64_t> bytes = ParseByteSize(args.dirty_limit);
    if (!bytes.ok()) return Usage("mount: --dirty-limit " + bytes.error());
    config.dirty_limit = *bytes;
  }
  // The transport: --io-uring or --dev-fuse, else BLACKOUT_TRANSPORT, else
  // auto (the ring where the kernel has it: 1.5 to 2 times as fast on small
  // synchronous I/O, with the same durability results).
  fusefs::Transport transport = fusefs::Transport::kAuto;
  std::string transport_source = "--io-uring";
  if (args.io_uring) {
    transport = fusefs::Transport::kIoUring;
  } else if (args.dev_fuse) {
    transport = fusefs::Transport::kDevFuse;
  } else if (const char* env = std::getenv("BLACKOUT_TRANSPORT"); env != nullptr && *env != 0) {
    if (!fusefs::ParseTransport(env, &transport)) {
      return Usage(std::string("mount: BLACKOUT_TRANSPORT=") + env +
                   " is unknown; transports: auto, io-uring, dev-fuse");
    }
    transport_source = std::string("BLACKOUT_TRANSPORT=") + env;
  }
  {
    std::string error;
    if (!fusefs::PlanTransport(transport, geteuid() == 0, &config.io_uring, &config.transport_note,
                               &error)) {
      return Usage("mount: " + transport_source + ": " + error);
    }
  }
  config.direct_writes = !args.cached_writes;
  config.trace_limit = args.trace_limit;
  config.trace = !args.no_trace;
  if (args.spill_after == "0") {
    config.spill_after = 0;  // spill every superseded version at once
  } else {
    Result<uint64_t> bytes = ParseByteSize(args.spill_after);
    if (!bytes.ok()) return Usage("mount: --spill-after " + bytes.error());
    config.spill_after = *bytes;
  }
  if (!args.no_spill) {
    config.spill_dir_default = args.spill_dir.empty();
    const std::string dir = args.spill_dir.empty() ? model::SpillFile::DefaultDir() : args.spill_dir;
    struct stat dst {};
    if (stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
      if (!config.spill_dir_default) {
        return Usage("mount: --spill-dir " + dir + " is not an existing directory");
      }
    } else if (UnderMountpoint(dir, config.mountpoint)) {
      return Usage("mount: --spill-dir " + dir + " is inside the mount point " + config.mountpoint +
                   "; choose a directory on a disk");
    } else {
      config.spill_dir = std::filesystem::absolute(dir).lexically_normal().string();
    }
  }
  config.socket_path = args.ctl.empty()
                           ? config.mountpoint + ".ctl"
                           : std::filesystem::absolute(args.ctl).lexically_normal().string();
  // The daemon makes its socket and opens the FIFO while the kernel waits for
  // it to answer the mount: a path inside the mount would wait on itself.
  if (UnderMountpoint(config.socket_path, config.mountpoint)) {
    return Usage("mount: --ctl " + args.ctl + " is inside the mount point " + config.mountpoint +
                 "; put the control socket outside it");
  }
  std::string error;
  if (!ClaimSocketPath(config.socket_path, &error)) return Usage("mount: " + error);
  if (!args.lazyfs_fifo.empty()) {
    config.lazyfs_fifo = std::filesystem::absolute(args.lazyfs_fifo).lexically_normal().string();
    if (UnderMountpoint(config.lazyfs_fifo, config.mountpoint)) {
      return Usage("mount: --lazyfs-fifo " + args.lazyfs_fifo + " is inside the mount point " +
                   config.mountpoint + "; put the FIFO outside it");
    }
  }
  if (!args.lazyfs_config.empty()) {
    // Checked here too, so that a bad config is reported before the fork.
    config.lazyfs_config =
        std::filesystem::absolute(args.lazyfs_config).lexically_normal().string();
    lazyfs::Config lazyfs_config;
    if (!lazyfs::LoadConfig(config.lazyfs_config, config.mountpoint, &lazyfs_config, &error)) {
      return Usage("mount: --lazyfs-config: " + error);
    }
  }

  if (!args.load.empty()) {
    // The daemon loads it before it mounts anything: a bad file or state
    // comes back as its ERR reply, exit 2 (loading it here as well would
    // read and rebuild the whole point twice).
    config.load_path = std::filesystem::absolute(args.load).lexically_normal().string();
    config.load_state = args.load_state;
    if (UnderMountpoint(config.load_path, config.mountpoint)) {
      return Usage("mount: --load " + args.load + " is inside the mount point " +
                   config.mountpoint + "; the daemon reads it before the mount exists");
    }
  }

  if (args.foreground) return RunDaemon(config, -1);

  config.log_path = config.mountpoint + ".log";
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0)
    return Usage(std::string("mount: pipe: ") + std::strerror(errno));
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid < 0) return Usage(std::string("mount: fork: ") + std::strerror(errno));
  if (pid == 0) {
    close(ready[0]);
    setsid();
    if (chdir("/") != 0) _exit(2);
    const int devnull = open("/dev/null", O_RDWR);
    for (int fd : {0, 1, 2}) dup2(devnull, fd);
    if (devnull > 2) close(devnull);
    _exit(RunDaemon(config, ready[1]));
  }
  close(ready[1]);
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = read(ready[0], buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(ready[0]);
  if (reply.rfind("OK", 0) == 0) {
    // "OK <transport>\n": the transport the mount took (io_uring or /dev/fuse).
    std::string transport = reply.substr(2);
    transport.erase(0, transport.find_first_not_of(' '));
    transport.erase(transport.find_last_not_of(" \n") + 1);
    std::cout << "mounted blackoutfs on " << config.mountpoint << " (model "
              << model::Name(config.model) << (transport.empty() ? "" : ", transport " + transport)
              << ", control socket " << config.socket_path << ", log " << config.log_path
              << ", pid " << pid << ")\n";
    return 0;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  // A daemon that died after mounting (killed, crashed) leaves its mount
  // behind: this command made it, so it removes it.
  const bool stale = MountTypeAt(config.mountpoint) == "fuse.blackout" &&
                     DaemonIsGone(config.mountpoint) && RemoveStaleMount(config.mountpoint);
  if (stale) {
    std::error_code ec;
    if (std::filesystem::is_socket(config.socket_path, ec)) {
      std::filesystem::remove(config.socket_path, ec);
    }
  }
  if (reply.rfind("ERR ", 0) == 0) {
    while (!reply.empty() && reply.back() == '\n') reply.pop_back();
    return Usage("mount: " + reply.substr(4));
  }
  return Usage("mount: the daemon exited before the mount was ready" +
               std::string(stale ? " (its mount was removed)" : "") + "; see " + config.log_path);
}

// ---- umount

int Umount(const std::string& mnt_arg, const std::string& ctl) {
  const std::string mnt = NormalizeMountpoint(mnt_arg);
  const std::string type = MountTypeAt(mnt);
  if (type != "fuse.blackout") {
    return Usage("umount: " + mnt + " is not a blackout mount" +
                 (type.empty() ? std::string(" (not a mount point)") : " (type " + type + ")"));
  }
  const std::string socket = ctl.empty() ? mnt + ".ctl" : ctl;
  Result<ControlClient> client = ControlClient::Connect(socket);
  if (client.ok()) {
    Result<json> r = client->Call(json{{"cmd", "shutdown"}}, std::chrono::seconds(10));
    if (r.ok() && r.value().value("ok", false) &&
        WaitUntilUnmounted(mnt, std::chrono::seconds(10))) {
      std::cout << "unmounted " << mnt << "\n";
      return 0;
    }
    std::cerr << "blackout: umount: the daemon did not unmount " << mnt
              << "; falling back to fusermount3 -u\n";
  } else {
    std::cerr << "blackout: umount: " << client.error() << "; falling back to fusermount3 -u\n";
  }
  if (RunProgram({"fusermount3", "-u", mnt}) != 0) {
    std::cerr << "blackout: umount: " << mnt
              << " is busy; detaching it lazily (fusermount3 -u -z): it disappears from the "
                 "namespace now and is released when its last user closes it\n";
    if (RunProgram({"fusermount3", "-u", "-z", mnt}) != 0) {
      std::cerr << "blackout: umount: fusermount3 -u -z " << mnt << " failed\n";
      return 1;
    }
  }
  // A daemon that died left its socket: nobody answers on it now.
  struct stat st {};
  if (lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      !ControlClient::Connect(socket).ok()) {
    unlink(socket.c_str());
  }
  std::cout << "unmounted " << mnt << "\n";
  return 0;
}

// ---- ctl

struct CtlArgs {
  std::string mnt;
  std::string command;
  std::vector<std::string> rest;
  std::string ctl;
  std::string state;
  std::string view;
  double timeout_s = 120;
  FaultArgs fault;
};

constexpr const char* kCtlCommands =
    "status, seq, sync, power-cut, unsynced, snapshot, trace, load, fail, crash-after, "
    "clear-faults, faults, saved-points";

// A path argument made absolute (the daemon runs in another directory);
// empty with *error set when it lies inside the mount.
std::string OutsideMount(const CtlArgs& a, const std::string& arg, const std::string& what,
                         std::string* error) {
  if (arg.empty()) {
    *error = "ctl: " + a.command + ": the path is empty";
    return "";
  }
  const std::string path = std::filesystem::absolute(arg).lexically_normal().string();
  if (const std::string mnt = NormalizeMountpoint(a.mnt); fusefs::PathOnMount(path, mnt)) {
    *error = "ctl: " + a.command + " " + arg + " is inside the mount " + mnt + ": " + what +
             "; give a path outside it";
    return "";
  }
  return path;
}

// The request of `ctl MNT trace [start|stop|save FILE]`, or a usage error.
Result<json> TraceRequest(const CtlArgs& a) {
  json request{{"cmd", "trace"}};
  if (a.rest.empty()) return request;
  const std::string& action = a.rest[0];
  if (action == "start" || action == "stop") {
    if (a.rest.size() > 1) {
      return Result<json>::Error("ctl: trace " + action + " takes no argument, got '" + a.rest[1] +
                                 "'");
    }
    request["action"] = action;
    return request;
  }
  if (action != "save") {
    return Result<json>::Error("ctl: trace " + action +
                               " is unknown; blackout ctl MNT trace [start | stop | save FILE] "
                               "(no argument prints the trace)");
  }
  if (a.rest.size() != 2) {
    return Result<json>::Error(
        "ctl: trace save needs one file to write: blackout ctl MNT trace save FILE");
  }
  std::string error;
  const std::string path =
      OutsideMount(a, a.rest[1], "the file would become part of the state under test", &error);
  if (path.empty()) return Result<json>::Error(error);
  request["action"] = "save";
  request["path"] = path;
  return request;
}

// The request of `ctl MNT load FILE [--state ID]`, or a usage error.
Result<json> LoadRequest(const CtlArgs& a) {
  if (a.rest.size() != 1) {
    return Result<json>::Error(
        a.rest.empty() ? "ctl: load needs a crash point: blackout ctl MNT load FILE [--state ID] "
                         "(FILE from `blackout record --out` or `ctl saved-points`)"
                       : "ctl: load takes one file, got " + a.rest[1] + " too");
  }
  std::string error;
  const std::string path =
      OutsideMount(a, a.rest[0], "the load replaces the mount's files", &error);
  if (path.empty()) return Result<json>::Error(error);
  // The daemon opens the file by name, in its own process: give it the file
  // itself, resolved here (a /dev/fd/N of this shell is a pipe there).
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || access(path.c_str(), R_OK) != 0) {
    return Result<json>::Error("ctl: load: cannot read " + a.rest[0] + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Result<json>::Error("ctl: load: " + a.rest[0] +
                               " is not a regular file; give a crash point file (from `blackout "
                               "record --out` or `ctl saved-points`)");
  }
  std::error_code ec;
  const std::string real = std::filesystem::canonical(path, ec).string();
  json request{{"cmd", "load"}, {"path", ec ? path : real}};
  if (!a.state.empty()) request["state"] = a.state;
  return request;
}

int Ctl(const CtlArgs& a) {
  json request{{"cmd", a.command}};
  if (IsFaultCommand(a.command) || a.fault.Given()) {
    Result<json> r = FaultCtlRequest(a.command, a.fault);
    if (!r.ok()) return Usage("ctl: " + r.error());
    if (!a.rest.empty()) {
      return Usage("ctl: " + a.command + " takes no argument, got '" + a.rest[0] + "'");
    }
    request = std::move(*r);
  } else {
    const bool simple = a.command == "status" || a.command == "seq" || a.command == "sync" ||
                        a.command == "unsynced";
    const bool dir_arg = a.command == "snapshot" || a.command == "saved-points";
    if (!simple && a.command != "power-cut" && !dir_arg && a.command != "trace" &&
        a.command != "load") {
      return Usage("ctl: unknown command '" + a.command + "'; commands: " + kCtlCommands);
    }
    if (!a.state.empty() && a.command != "power-cut" && a.command != "load") {
      return Usage("ctl: --state applies to power-cut and load only");
    }
    if (!a.view.empty() && a.command != "snapshot") {
      return Usage("ctl: --view applies to snapshot only");
    }
    if (dir_arg) {
      if (a.rest.empty()) {
        return Usage(a.command == "snapshot"
                         ? "ctl: snapshot needs a directory: blackout ctl MNT snapshot DIR "
                           "[--view durable|volatile]"
                         : "ctl: saved-points needs a directory to write the saved crash points "
                           "into: blackout ctl MNT saved-points DIR");
      }
      if (a.rest.size() > 1)
        return Usage("ctl: " + a.command + " takes one directory, got " + a.rest[1] + " too");
      if (a.rest[0].empty()) return Usage("ctl: " + a.command + ": the directory is empty");
      request["dir"] = std::filesystem::absolute(a.rest[0]).lexically_normal().string();
      if (const std::string mnt = NormalizeMountpoint(a.mnt);
          fusefs::PathOnMount(request["dir"], mnt)) {
        return Usage("ctl: " + a.command + " " + a.rest[0] + " is inside the mount " + mnt +
                     ": the files would become part of the state under test; give a directory "
                     "outside it");
      }
      if (!a.view.empty()) {
        if (a.view != "durable" && a.view != "volatile") {
          return Usage("ctl: --view " + a.view + " is unknown; views: durable, volatile");
        }
        request["view"] = a.view;
      }
    } else if (a.command == "trace" || a.command == "load") {
      Result<json> r = a.command == "trace" ? TraceRequest(a) : LoadRequest(a);
      if (!r.ok()) return Usage(r.error());
      request = std::move(*r);
    } else if (!a.rest.empty()) {
      return Usage("ctl: " + a.command + " takes no argument, got '" + a.rest[0] + "'");
    }
  }
  if ((a.command == "power-cut" || a.command == "load") && !a.state.empty()) {
    // A crash-state id ("prefix:12", ...) is checked by the daemon's model.
    if (a.state != "drop-all" && a.state != "keep-all" && a.state.find(':') == std::string::npos) {
      return Usage("ctl: --state " + a.state +
                   " is unknown; states: drop-all, keep-all, or a crash-state id such as "
                   "prefix:12");
    }
    request["state"] = a.state;
  }
  const std::string socket = a.ctl.empty() ? DefaultSocketPath(a.mnt) : a.ctl;
  Result<ControlClient> client = ControlClient::Connect(socket);
  if (!client.ok()) {
    return Usage("ctl: no blackout daemon answers: " + client.error() +
                 "; mount one with `blackout mount " + a.mnt + "`");
  }
  // `trace save FILE` is written here, with the user's rights and in the
  // user's view of the file system (/dev/stdout, a FIFO), from the trace.
  std::string save_to;
  if (a.command == "trace" && request.value("action", "") == "save") {
    save_to = request["path"];
    request = json{{"cmd", "trace"}};
  }
  Result<json> reply =
      client->Call(request, std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000)));
  if (!reply.ok()) return Usage("ctl: " + reply.error());
  if (!save_to.empty() && reply->value("ok", false)) {
    std::ofstream out(save_to, std::ios::trunc);
    out << reply->dump(2) << "\n";
    out.close();
    if (!out) {
      std::cerr << "blackout: ctl trace save: cannot write " << save_to << ": "
                << std::strerror(errno) << "\n";
      return 1;
    }
    *reply = json{{"ok", true},
                  {"path", save_to},
                  {"entries", (*reply)["entries"].size()},
                  {"seq", (*reply)["seq"]}};
  }
  std::cout << reply->dump(2) << "\n";
  if (!reply->value("ok", false)) {
    // The reply (stdout) is for scripts; this line for people. The daemon's
    // messages mostly begin with the command already.
    const std::string error = reply->value("error", std::string("the daemon answered ok:false"));
    const bool named = error.rfind(a.command + ":", 0) == 0 || error.rfind(a.command + " ", 0) == 0;
    std::cerr << "blackout: ctl " << (named ? "" : a.command + ": ") << error << "\n";
    return reply->value("usage", false) ? 2 : 1;
  }
  return 0;
}

}  // namespace

void AddFilesystemCommands(CLI::App& app, int& exit_code) {
  auto mount_args = std::make_shared<MountArgs>();
  CLI::App* mount =
      app.add_subcommand("mount", "Mount blackoutfs on MNT; returns once the mount is usable");
  mount->add_option("MNT", mount_args->mnt, "mount point (an existing directory)")->required();
  mount->add_option("--model", mount_args->model,
                    "behaviour model: posix-strict (default; with --load, the crash point's), "
                    "ext4-ordered, ext4-writeback, btrfs, xfs (fusefs/model/crash_model.md)");
  mount->add_option("--ctl", mount_args->ctl, "control socket path (default MNT.ctl)");
  mount->add_option("--capacity", mount_args->capacity,
                    "size of the disk: writes past it fail with ENOSPC, statfs reports it "
                    "(bytes, or 64K, 10M, 1G)");
  mount->add_option("--lazyfs-fifo", mount_args->lazyfs_fifo,
                    "accept LazyFS control commands (lazyfs::clear-cache, ...) on this FIFO, "
                    "created if missing; see docs/lazyfs.md");
  mount->add_option("--lazyfs-config", mount_args->lazyfs_config,
                    "a LazyFS TOML config: its [[injection]] faults and [faults] fifo_path");
  mount->add_flag("--foreground", mount_args->foreground,
                  "stay in the foreground and log to stderr");
  CLI::Option* writeback_flag =
      mount->add_flag("--writeback-cache", mount_args->writeback_cache,
                      "let the kernel batch writes; a power cut drops what it has not handed over");
  mount
      ->add_option("--dirty-limit", mount_args->dirty_limit,
                   "with --writeback-cache: the most of the mount's data the kernel may hold "
                   "dirty before it slows writers (bytes, or 64M, 1G); a power cut costs about "
                   "0.4 ms per dirty MiB. Default: the machine's limits, as for a disk file "
                   "system (vm.dirty_ratio). Needs root, as does the default")
      ->needs(writeback_flag);
  CLI::Option* io_uring_flag = mount->add_flag(
      "--io-uring", mount_args->io_uring,
      "serve FUSE requests over io_uring, a queue per CPU, or fail (Linux 6.14+; turns on the "
      "fuse module's enable_uring parameter, which needs root). The default where the kernel "
      "has it (as root, the mount turns the parameter on); BLACKOUT_TRANSPORT=auto|io-uring|"
      "dev-fuse sets the default");
  mount
      ->add_flag("--dev-fuse", mount_args->dev_fuse,
                 "serve FUSE requests through /dev/fuse even where io_uring is available")
      ->excludes(io_uring_flag);
  mount->add_flag("--cached-writes", mount_args->cached_writes,
                  "copy writes into the kernel's page cache on their way to the model; by "
                  "default a handle opened for writing skips it (one copy less; reads through "
                  "a read-write handle then miss the cache)");
  mount
      ->add_option("--trace-limit", mount_args->trace_limit,
                   "keep the last N operations in the trace (`ctl trace`), 56 bytes each; "
                   "0 keeps all")
      ->check(control::WholeNumber(0))
      ->capture_default_str();
  mount->add_flag("--no-trace", mount_args->no_trace,
                  "start with the trace off (`ctl MNT trace start` turns it on); writes then "
                  "skip the checksum of their bytes that trace entries carry");
  CLI::Option* no_spill_flag =
      mount->add_flag("--no-spill", mount_args->no_spill,
                      "keep every pending page version in memory (no spill file)");
  mount
      ->add_option("--spill-dir", mount_args->spill_dir,
                   "directory on a disk for the spill file: versions of file pages that only an "
                   "un-synced write still holds (a later write replaced them) move there once "
                   "pending writes hold more than --spill-after in memory. The file has no name "
                   "and goes with the daemon. Default: $TMPDIR, else /var/tmp (skipped with a "
                   "warning in the log when its file system has no direct I/O)")
      ->excludes(no_spill_flag);
  mount
      ->add_option("--spill-after", mount_args->spill_after,
                   "pending data held in memory before superseded versions spill (bytes, or "
                   "512M, 4G; 0: spill each one at once)")
      ->capture_default_str()
      ->excludes(no_spill_flag);
  CLI::Option* load =
      mount->add_option("--load", mount_args->load,
                        "start from a saved crash point (`blackout record --out FILE`, `ctl "
                        "saved-points DIR`): the files as the program saw them, its un-synced "
                        "operations pending, so that `ctl power-cut --state ID` cuts to any of "
                        "its crash states on a live mount");
  mount
      ->add_option("--load-state", mount_args->load_state,
                   "with --load: start in this crash state of the point instead (drop-all, "
                   "keep-all, prefix:S, ...), e.g. to run a program's recovery on it")
      ->needs(load);
  mount->callback([mount_args, &exit_code] { exit_code = Mount(*mount_args); });

  auto umount_mnt = std::make_shared<std::string>();
  auto umount_ctl = std::make_shared<std::string>();
  CLI::App* umount = app.add_subcommand("umount", "Unmount a blackoutfs mount");
  umount->add_option("MNT", *umount_mnt, "mount point")->required();
  umount->add_option("--ctl", *umount_ctl, "control socket path (default MNT.ctl)");
  umount->callback(
      [umount_mnt, umount_ctl, &exit_code] { exit_code = Umount(*umount_mnt, *umount_ctl); });

  auto ctl_args = std::make_shared<CtlArgs>();
  CLI::App* ctl = app.add_subcommand(
      "ctl", std::string("Send a control command to a mounted blackoutfs and print the JSON reply; "
                         "COMMAND: ") +
                 kCtlCommands);
  ctl->add_option("MNT", ctl_args->mnt, "mount point")->required();
  ctl->add_option("COMMAND", ctl_args->command, kCtlCommands)->required();
  ctl->add_option("ARGS", ctl_args->rest,
                  "arguments of the command (snapshot: DIR; saved-points: DIR, where the crash "
                  "points of crash-after --save triggers are written; trace: start, stop, or "
                  "save FILE, none to print it; load: FILE, a crash point the mount takes on)");
  ctl->add_option("--ctl", ctl_args->ctl, "control socket path (default MNT.ctl)");
  ctl->add_option("--state", ctl_args->state,
                  "power-cut: drop-all (default), keep-all, or a crash-state id of the pending "
                  "operations (prefix:S, reorder:K:S1,S2, torn:S:B, random:N:SEED:I); load: "
                  "the crash state of the point to start in (default: its operations pending)");
  ctl->add_option("--view", ctl_args->view, "snapshot: durable (default) or volatile");
  ctl->add_option("--timeout", ctl_args->timeout_s, "seconds to wait for the reply (default 120)")
      ->check(control::PositiveSeconds());
  AddFaultOptions(*ctl, ctl_args->fault);
  ctl->callback([ctl_args, &exit_code] { exit_code = Ctl(*ctl_args); });
}

}  // namespace blackout::control
