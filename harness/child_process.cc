#include "harness/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include "harness/util.h"

namespace blackout::harness {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Waits until fd is readable or the deadline passes; false on timeout or
// interruption.
bool WaitReadable(int fd, double deadline) {
  while (true) {
    const double left = deadline - Now();
    if (left <= 0 || g_interrupted.load()) return false;
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min(left, 0.2) * 1000) + 1);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

// Whether fd has data (or EOF) to read right now.
bool ReadableNow(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

}  // namespace

bool Interrupted() { return g_interrupted.load(); }

void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked poll returns and sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a dead driver is an error reply, not our death
}

std::string SelfExe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "blackout";
  return std::string(buf, n);
}

Expected<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                           const std::string& stderr_file) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Error{Errno("pipe")};
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return Error{Errno("pipe")};
  }
  const int err = stderr_file.empty()
                      ? open("/dev/null", O_WRONLY | O_CLOEXEC)
                      : open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::unique_ptr<ProcessCgroup> cgroup = ProcessCgroup::Create();
  const pid_t pid = cgroup ? cgroup->Fork() : fork();
  if (pid < 0) return Error{Errno("fork")};
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in[0], 0);
    dup2(out[1], 1);
    if (err >= 0) dup2(err, 2);
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that it holds before either side goes on
  close(in[0]);
  close(out[1]);
  if (err >= 0) close(err);
  ChildProcess c;
  c.pid_ = pid;
  c.in_ = in[1];
  c.out_ = out[0];
  c.cgroup_ = std::move(cgroup);
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept { *this = std::move(o); }

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    exited_ = o.exited_;
    exit_code_ = o.exit_code_;
    in_ = o.in_;
    out_ = o.out_;
    buffered_ = std::move(o.buffered_);
    cgroup_ = std::move(o.cgroup_);
    o.pid_ = o.in_ = o.out_ = -1;
    o.exited_ = false;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Kill(); }

Status ChildProcess::WriteLine(const std::string& line) {
  if (in_ < 0) return Error{"the process's stdin is closed"};
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(in_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{Errno("write to the process")};
    done += n;
  }
  return Ok();
}

Expected<std::string> ChildProcess::ReadLine(double timeout_s) {
  const double deadline = Now() + timeout_s;
  while (true) {
    if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    if (out_ < 0) return Error{"the process's stdout is closed"};
    if (!WaitReadable(out_, deadline)) {
      // Exited, and what it left in the background keeps the pipe open.
      if (!Interrupted() && ReapIfExited() && !ReadableNow(out_)) {
        return Error{"the process closed its output (it exited or crashed)"};
      }
      return Error{Interrupted()
                       ? "interrupted"
                       : "no reply within " + std::to_string(static_cast<int>(timeout_s)) + " s"};
    }
    char buf[65536];
    const ssize_t n = read(out_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{"the process closed its output (it exited or crashed)"};
    buffered_.append(buf, n);
  }
}

Expected<std::string> ChildProcess::ReadAll(double timeout_s) {
  const double deadline = Now() + timeout_s;
  std::string all = std::move(buffered_);
  buffered_.clear();
  while (out_ >= 0) {
    // In short steps, to notice an exit while a background job holds the pipe.
    if (!WaitReadable(out_, std::min(deadline, Now() + 0.05))) {
      if (Interrupted()) return Error{"interrupted"};
      if (ReapIfExited() && !ReadableNow(out_)) break;
      if (Now() >= deadline) return Error{"timeout"};
      continue;
    }
    char buf[65536];
    const ssize_t n = read(out_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    all.append(buf, n);
  }
  return all;
}

void ChildProcess::CloseStdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

bool ChildProcess::ReapIfExited() {
  if (exited_) return true;
  if (pid_ <= 0) return false;
  // Seen exited but not yet reaped, so that its pid, the group's id, cannot
  // be taken by another process before the rest of the group is killed.
  siginfo_t info{};
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_) {
    return false;
  }
  kill(-pid_, SIGKILL);  // the rest of its process group, if any
  if (cgroup_) cgroup_->KillAll();  // and of its leaf
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

Expected<int> ChildProcess::Wait(double timeout_s) {
  const double deadline = Now() + timeout_s;
  while (pid_ > 0) {
    if (ReapIfExited()) {
      pid_ = -1;
      exited_ = false;
      CloseStdin();
      if (out_ >= 0) close(out_);
      out_ = -1;
      return exit_code_;
    }
    if (Now() > deadline)
      return Error{"did not exit within " + std::to_string(static_cast<int>(timeout_s)) + " s"};
    usleep(2000);
  }
  return Error{"not running"};
}

void ChildProcess::Kill() {
  if (pid_ > 0) {
    // Its process group, what it started too; once it is reaped (exited_),
    // ReapIfExited has done that already and the id may be another's.
    if (!exited_) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      int status;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
    exited_ = false;
  }
  cgroup_.reset();  // kills what is left in the leaf, and removes it
  CloseStdin();
  if (out_ >= 0) close(out_);
  out_ = -1;
}

CommandResult RunCommand(const std::vector<std::string>& argv, double timeout_s) {
  CommandResult r;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    r.output = Errno("pipe");
    return r;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // so that a timeout kills what it started too
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    signal(SIGPIPE, SIG_DFL);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    r.output = Errno("fork");
    return r;
  }
  setpgid(pid, pid);
  const double deadline = Now() + timeout_s;
  // Read until EOF: a daemonizing child may keep the pipe open after its
  // parent exits, so also stop once the direct child has exited and nothing
  // is left to read.
  int status = 0;
  bool exited = false;
  while (true) {
    pollfd p{out[0], POLLIN, 0};
    const int rc = poll(&p, 1, 50);
    if (rc > 0) {
      char buf[4096];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0) {
        r.output.append(buf, n);
        continue;
      }
      if (n == 0) break;
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited && rc == 0) break;
    if (Now() > deadline) {
      r.timed_out = true;
      break;
    }
  }
  close(out[0]);
  if (!exited) {
    if (r.timed_out) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  r.exit_code =
      r.timed_out ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return r;
}

}  // namespace blackout::harness
