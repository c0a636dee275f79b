#include "harness/process_cgroup.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace blackout::harness {
namespace {

// The directory of this process's own cgroup in the cgroup v2 hierarchy, or
// "" where there is none (or only a bind of a subtree, whose paths
// /proc/self/cgroup does not give).
std::string OwnCgroupDir() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line, mount;
  while (std::getline(mountinfo, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, point;
    head >> id >> parent >> dev >> root >> point;
    if (root != "/" || point.find('\\') != std::string::npos) continue;  // escaped characters
    mount = point;
    break;
  }
  if (mount.empty()) return "";
  std::ifstream own("/proc/self/cgroup");
  while (std::getline(own, line)) {
    if (line.rfind("0::", 0) == 0) return mount + (line == "0::/" ? "" : line.substr(3));
  }
  return "";
}

// `own_too`: also this process's pid, before it has made any leaf.
void RemoveStaleLeaves(const std::string& base, bool own_too) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    unsigned long pid = 0;
    unsigned long leaf = 0;
    if (std::sscanf(name.c_str(), "blackout-%lu-%lu", &pid, &leaf) != 2) continue;
    // This process's own names are free until it makes them: one there is
    // from a process that had its pid before.
    const bool gone = (own_too && static_cast<pid_t>(pid) == getpid()) ||
                      (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
    if (!gone) continue;
    rmdir(entry.path().c_str());
  }
}

// Where leaves go: this process's cgroup when it can make and fill children.
const std::string& Base() {
  static const std::string base = [] {
    const std::string dir = OwnCgroupDir();
    if (dir.empty() || access((dir + "/cgroup.procs").c_str(), W_OK) != 0 ||
        access(dir.c_str(), W_OK) != 0) {
      return std::string();
    }
    RemoveStaleLeaves(dir, /*own_too=*/true);
    return dir;
  }();
  return base;
}

std::atomic<bool> refused{false};  // a leaf could not be made once: stop trying
std::atomic<unsigned> next_leaf{0};

std::string ReadSmall(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

bool ProcessCgroup::Supported() { return !Base().empty() && !refused.load(); }

void ProcessCgroup::RemoveStale() {
  if (!Base().empty()) RemoveStaleLeaves(Base(), /*own_too=*/false);
}

std::unique_ptr<ProcessCgroup> ProcessCgroup::Create() {
  if (!Supported()) return nullptr;
  const std::string dir = Base() + "/blackout-" + std::to_string(getpid()) + "-" +
                          std::to_string(next_leaf.fetch_add(1));
  if (mkdir(dir.c_str(), 0755) != 0) {
    refused.store(true);
    return nullptr;
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int procs_fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (dir_fd < 0 || procs_fd < 0) {
    if (dir_fd >= 0) close(dir_fd);
    if (procs_fd >= 0) close(procs_fd);
    rmdir(dir.c_str());
    refused.store(true);
    return nullptr;
  }
  return std::unique_ptr<ProcessCgroup>(new ProcessCgroup(dir, dir_fd, procs_fd));
}

pid_t ProcessCgroup::Fork() const {
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(dir_fd_);
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid >= 0) return static_cast<pid_t>(pid);
  // ENOSYS or EINVAL before Linux 5.7, or refused here (a seccomp profile).
  const pid_t forked = fork();
  // "0": the writing process itself.
  if (forked == 0) (void)!write(procs_fd_, "0", 1);
  return forked;
}

bool ProcessCgroup::Empty() const {
  const std::string events = ReadSmall(dir_ + "/cgroup.events");
  // An unreadable file: the leaf is gone, so nothing is left in it.
  return events.empty() || events.find("populated 0") != std::string::npos;
}

void ProcessCgroup::KillAll() {
  if (Empty()) return;
  const int kill_fd = open((dir_ + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (kill_fd >= 0) {
    (void)!write(kill_fd, "1", 1);
    close(kill_fd);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!Empty() && std::chrono::steady_clock::now() < deadline) {
    if (kill_fd < 0) {
      // A kernel before 5.14: one by one, until nothing new appears.
      std::istringstream procs(ReadSmall(dir_ + "/cgroup.procs"));
      for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

ProcessCgroup::~ProcessCgroup() {
  KillAll();
  close(dir_fd_);
  close(procs_fd_);
  // The leaf empties as its last process finishes exiting; a short wait for that.
  for (int i = 0; i < 100 && rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace blackout::harness
