#include "harness/sync_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "fusefs/control/client.h"

namespace blackout::harness {
namespace {

// One ABI the filter recognises: its audit arch and the numbers of sync and
// syncfs in it.
struct Abi {
  uint32_t arch;
  std::vector<uint32_t> numbers;
};

std::vector<Abi> GuardedAbis() {
#if defined(__x86_64__)
  constexpr uint32_t kX32 = 0x40000000;  // __X32_SYSCALL_BIT: x32 shares AUDIT_ARCH_X86_64
  return {{AUDIT_ARCH_X86_64, {SYS_sync, SYS_syncfs, kX32 | SYS_sync, kX32 | SYS_syncfs}},
          {AUDIT_ARCH_I386, {36, 344}}};  // i386 numbers of sync and syncfs
#elif defined(__aarch64__)
  return {{AUDIT_ARCH_AARCH64, {SYS_sync, SYS_syncfs}}};
#else
  return {};  // unknown architecture: the guard installs nothing
#endif
}

// For each ABI: load arch, skip the group unless it matches, load nr, jump
// to NOTIFY on a match, else ALLOW. Unknown arches fall through to ALLOW.
std::vector<sock_filter> BuildFilter() {
  std::vector<sock_filter> f;
  std::vector<size_t> to_notify;  // JEQs whose true branch goes to NOTIFY
  for (const Abi& abi : GuardedAbis()) {
    const uint8_t group = static_cast<uint8_t>(abi.numbers.size() + 2);  // LD nr, JEQs, RET
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, abi.arch, 0, group));
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    for (uint32_t nr : abi.numbers) {
      to_notify.push_back(f.size());
      f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 0));
    }
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  const size_t notify = f.size();
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  for (size_t i : to_notify) f[i].jt = static_cast<uint8_t>(notify - i - 1);
  return f;
}

// Installs the filter in this process; returns the listener fd or -errno.
// Without CAP_SYS_ADMIN the kernel wants no_new_privs first (EACCES).
int InstallFilter() {
  std::vector<sock_filter> f = BuildFilter();
  if (f.size() <= 2) return -ENOSYS;
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (fd < 0 && errno == EACCES) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  }
  return fd < 0 ? -errno : static_cast<int>(fd);
}

bool SendFd(int sock, int fd) {
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

int ReceiveFd(int sock) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

// Asks the mount to make everything durable; false when the daemon did not
// say ok (the caller's syncfs then fails with EIO, as a failing disk's would).
bool SyncMount(const std::string& socket) {
  auto client = control::ControlClient::Connect(socket);
  if (!client.ok()) {
    fprintf(stderr, "blackout: sync-guard: %s\n", client.error().c_str());
    return false;
  }
  auto reply = client->Call(nlohmann::json{{"cmd", "sync"}}, std::chrono::seconds(60));
  if (!reply.ok() || !reply->value("ok", false)) {
    fprintf(stderr, "blackout: sync-guard: sync of the mount failed: %s\n",
            reply.ok() ? reply->dump().c_str() : reply.error().c_str());
    return false;
  }
  return true;
}

bool IsSyncfs(const seccomp_notif& n) {
#if defined(__x86_64__)
  if (n.data.arch == AUDIT_ARCH_I386) return n.data.nr == 344;
  return (n.data.nr & ~0x40000000U) == SYS_syncfs;
#else
  return n.data.nr == SYS_syncfs;
#endif
}

// The supervisor's loop: answers notifications until no filtered process
// is left (POLLHUP) or the listener fails.
void Supervise(int listener, dev_t mount_dev, const std::string& socket) {
  seccomp_notif_sizes sizes{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return;
  // The kernel's structs may be larger than our headers' (newer kernels).
  std::vector<char> req_buf(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
  std::vector<char> resp_buf(
      std::max<size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp)));
  while (true) {
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (!(p.revents & POLLIN)) {
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return;
      continue;
    }
    std::fill(req_buf.begin(), req_buf.end(), 0);  // RECV wants it zeroed
    auto* req = reinterpret_cast<seccomp_notif*>(req_buf.data());
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: the caller died
      return;
    }
    std::fill(resp_buf.begin(), resp_buf.end(), 0);
    auto* resp = reinterpret_cast<seccomp_notif_resp*>(resp_buf.data());
    resp->id = req->id;
    bool ours = true;
    if (IsSyncfs(*req)) {
      // syncfs(fd) syncs the file system fd is on: only ours is our business.
      const std::string fd_path = "/proc/" + std::to_string(req->pid) + "/fd/" +
                                  std::to_string(static_cast<int>(req->data.args[0]));
      struct stat st {};
      ours = stat(fd_path.c_str(), &st) == 0 && st.st_dev == mount_dev;
      // The pid may have died and been reused while we looked.
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) continue;
    }
    if (ours) {
      resp->error = SyncMount(socket) ? 0 : -EIO;
    } else {
      resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;  // the kernel's own syncfs
    }
    (void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);  // ENOENT: the caller died
  }
}

// Fork twice: the grandchild supervises, the child exits at once so the
// grandchild is reparented and the command never sees an extra child.
// Returns false when the supervisor could not be started.
bool StartSupervisor(int sock, int keep_other, dev_t mount_dev, const std::string& socket) {
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    const pid_t grandchild = fork();
    if (grandchild < 0) _exit(1);
    if (grandchild > 0) _exit(0);
    signal(SIGPIPE, SIG_IGN);  // a daemon gone mid-reply is an error, not our death
    // Hold nothing of the caller's but stderr: not its stdin/stdout pipes
    // (their EOF is how the harness sees the command end), not the mount
    // (cwd), which must unmount once the command is done.
    close(keep_other);
    sock = fcntl(sock, F_DUPFD_CLOEXEC, 3);
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (sock < 0 || devnull < 0) _exit(1);
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (sock > 3) syscall(SYS_close_range, 3, sock - 1, 0);
    syscall(SYS_close_range, sock + 1, ~0U, 0);
    if (chdir("/") != 0) _exit(1);
    const int listener = ReceiveFd(sock);
    if (listener < 0) _exit(1);
    char ready = 'R';
    if (write(sock, &ready, 1) != 1) _exit(1);
    close(sock);
    Supervise(listener, mount_dev, socket);
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Sets the guard up in this process; an empty string on success, else why not.
std::string Guard(const std::string& mountpoint) {
  struct stat st {};
  if (stat(mountpoint.c_str(), &st) != 0) return "cannot stat " + mountpoint;
  const std::string socket = control::DefaultSocketPath(mountpoint);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return std::string("socketpair: ") + strerror(errno);
  if (!StartSupervisor(sv[1], sv[0], st.st_dev, socket)) {
    close(sv[0]);
    close(sv[1]);
    return "cannot start the supervisor";
  }
  close(sv[1]);
  const int listener = InstallFilter();
  if (listener < 0) {
    close(sv[0]);  // the supervisor sees EOF and exits
    return std::string("the kernel refused the seccomp filter: ") + strerror(-listener);
  }
  const bool sent = SendFd(sv[0], listener);
  close(listener);
  char ready = 0;
  const bool acked = sent && read(sv[0], &ready, 1) == 1;
  close(sv[0]);
  // The filter is in place now; without a supervisor the calls would fail
  // with ENOSYS, which no caller expects from sync.
  if (!acked) return "the supervisor did not take the listener";
  return "";
}

}  // namespace

std::vector<std::string> SyncGuardArgv(const std::string& blackout_bin,
                                       const std::string& mountpoint,
                                       const std::vector<std::string>& command) {
  std::vector<std::string> argv = {blackout_bin, "sync-guard", "--mount", mountpoint, "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

int RunSyncGuard(const std::string& mountpoint, const std::vector<std::string>& command) {
  if (command.empty()) {
    fprintf(stderr, "blackout: sync-guard: give the command after --\n");
    return 2;
  }
  if (!std::filesystem::is_directory(mountpoint)) {
    fprintf(stderr, "blackout: sync-guard: --mount %s is not a directory\n", mountpoint.c_str());
    return 2;
  }
  const std::string mnt = std::filesystem::absolute(mountpoint).lexically_normal().string();
  const std::string why = Guard(mnt);
  if (!why.empty()) {
    fprintf(stderr,
            "blackout: sync-guard: %s; running %s without it: its sync(2)/syncfs(2) calls will "
            "not reach %s\n",
            why.c_str(), command[0].c_str(), mnt.c_str());
  }
  std::vector<char*> args;
  for (const std::string& a : command) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  fprintf(stderr, "blackout: cannot run %s: %s\n", args[0], strerror(errno));
  return 127;
}

void AddSyncGuardCommand(CLI::App& app, int& exit_code) {
  auto mount = std::make_shared<std::string>();
  auto command = std::make_shared<std::vector<std::string>>();
  CLI::App* guard = app.add_subcommand(
      "sync-guard",
      "Run COMMAND with its sync(2)/syncfs(2) calls turned into a sync of the blackoutfs mount "
      "MNT (used by record and exec workloads)");
  guard->group("");  // hidden: the harness starts it, users need not
  guard->add_option("--mount", *mount, "the blackoutfs mount point (MNT)")->required();
  guard->add_option("COMMAND", *command, "the command and its arguments, after --")->required();
  guard->callback([mount, command, &exit_code] { exit_code = RunSyncGuard(*mount, *command); });
}

}  // namespace blackout::harness
