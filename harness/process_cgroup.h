// ProcessCgroup: a cgroup v2 leaf that a child of the harness starts in
// (Fork), so that everything its program starts can be stopped with it,
// whatever session or process group it moved to.
//
// A process group is not enough: a workload that starts a server with
// setsid, or a daemon that double-forks, leaves the group, and such a process
// outlived `blackout run` holding files on the mount (which then could not be
// unmounted cleanly). A cgroup's members cannot leave it without another
// cgroup's write permission, and cgroup.kill (Linux 5.14) stops them all at
// once.
//
// Leaves are named blackout-PID-N (RemoveStale).
//
// Where no writable cgroup v2 hierarchy is found (cgroup v1 only, or a user
// without a delegated subtree) Create returns null and the process group
// alone bounds the child, as before.
//
// Thread-safety: Create is thread-safe; one object belongs to one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace blackout::harness {

class ProcessCgroup {
 public:
  // A new, empty leaf under this process's own cgroup, or null where none
  // can be made (the first failure is remembered: no later call tries).
  static std::unique_ptr<ProcessCgroup> Create();
  // Whether Create can make leaves on this machine.
  static bool Supported();
  // Removes the empty leaves of blackout processes that are gone (killed
  // before they could remove their own); a leaf that still holds a process
  // stays. The first Create of a process does this.
  static void RemoveStale();

  ~ProcessCgroup();  // KillAll, then removes the leaf
  ProcessCgroup(const ProcessCgroup&) = delete;
  ProcessCgroup& operator=(const ProcessCgroup&) = delete;

  // fork(), with the child starting in the leaf: clone3(CLONE_INTO_CGROUP)
  // (Linux 5.7), since moving a process between cgroups waits for an RCU
  // grace period (16 ms a child on this project's VMs, 10% of the scenario
  // suite); where clone3 is refused, fork() and a move from the child.
  // The child must only make async-signal-safe calls and exec or _exit: it
  // may have been made without glibc's fork bookkeeping. Returns as fork does.
  pid_t Fork() const;

  // SIGKILLs every process in the leaf and waits, at most 2 s, until the
  // leaf is empty. Safe to call more than once.
  void KillAll();

  const std::string& path() const { return dir_; }

 private:
  ProcessCgroup(std::string dir, int dir_fd, int procs_fd)
      : dir_(std::move(dir)), dir_fd_(dir_fd), procs_fd_(procs_fd) {}
  bool Empty() const;

  std::string dir_;
  int dir_fd_ = -1;    // the leaf, for clone3
  int procs_fd_ = -1;  // the leaf's cgroup.procs, for the move after a fork()
};

}  // namespace blackout::harness
