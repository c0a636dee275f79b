// Child processes the harness starts: the mount command, the engine driver
// (killed with SIGKILL to simulate a process crash), recovery dumps.
//
// Every pipe is close-on-exec, so that with --jobs N one run's child never
// inherits another run's pipe (which would hide its EOF). A ChildProcess that
// is still running when destroyed is killed and reaped: nothing outlives the
// harness, also on failure or Ctrl-C. Where the machine allows it, each
// ChildProcess runs in a cgroup leaf of its own (process_cgroup.h), which
// also holds what it starts in another session (setsid, a double fork).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "harness/expected.h"
#include "harness/process_cgroup.h"

namespace blackout::harness {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdin and stdout as pipes; stderr goes to
  // `stderr_file` (appended) or, if empty, to /dev/null. The child leads a
  // process group of its own, in a cgroup leaf of its own where there is
  // one: once it has exited, or is killed, whatever it left running in that
  // group or leaf (a job put in the background, a server started with
  // setsid) is killed too, and a background job that keeps stdout open does
  // not hold up ReadAll or ReadLine past the child's exit.
  static Expected<ChildProcess> Start(const std::vector<std::string>& argv,
                                      const std::string& stderr_file);
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  [[nodiscard]] Status WriteLine(const std::string& line);
  // One line from stdout, without its newline; fails on EOF or timeout.
  Expected<std::string> ReadLine(double timeout_s);
  // Everything on stdout until EOF, or until the child has exited and
  // nothing more is there to read; fails on timeout.
  Expected<std::string> ReadAll(double timeout_s);
  void CloseStdin();
  // Waits for exit; returns the exit code (128+signal when killed); fails on
  // timeout, leaving the child running.
  Expected<int> Wait(double timeout_s);
  // SIGKILL and reap. Safe to call twice.
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  ChildProcess() = default;
  // Reaps the child if it has exited (Wait then returns its code at once);
  // true then. Kills the rest of its group first.
  bool ReapIfExited();

  pid_t pid_ = -1;
  bool exited_ = false;  // reaped; exit_code_ holds its code
  int exit_code_ = -1;
  int in_ = -1;   // our end of its stdin
  int out_ = -1;  // our end of its stdout
  std::string buffered_;
  std::unique_ptr<ProcessCgroup> cgroup_;  // null: the process group alone
};

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

// Runs a command to completion (killing it and its process group after
// timeout_s). Not in a cgroup leaf: this runs `blackout mount`, whose daemon
// must outlive it.
CommandResult RunCommand(const std::vector<std::string>& argv, double timeout_s);

// The path of the running blackout binary (the driver and the mount command
// are subcommands of the same binary).
std::string SelfExe();

// Set by the SIGINT/SIGTERM handler of `blackout run`; long waits poll it.
bool Interrupted();
void InstallInterruptHandler();

}  // namespace blackout::harness
