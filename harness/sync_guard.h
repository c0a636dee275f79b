// The sync guard: sync(2) and syncfs(2) never reach a FUSE server (the
// kernel sends an ordinary FUSE filesystem no request for them), so a
// program that relies on `sync` would look as if it lost data a real disk
// keeps. The guard turns those calls of a command, and of everything it
// starts, into a control `sync` of one blackoutfs mount.
//
// How: `blackout sync-guard --mount MNT -- CMD...` (a hidden subcommand)
// forks a supervisor, installs a seccomp filter that sends sync and syncfs
// (x86_64, its i386 and x32 ABIs; aarch64 natively) to a user-notification
// listener, hands the listener to the supervisor over a socketpair
// (SCM_RIGHTS), and then execs CMD in its own process: the pid the harness
// started, waits for and kills is the command's, and its exit status is the
// command's. The supervisor is a grandchild that is reparented at once (the
// command has no extra child to reap), holds no file of the caller's but
// stderr, leaves the mount (cwd /), and exits when the last filtered process
// is gone. Each notification is answered after the mount's control socket
// replied to `sync`:
//   sync()      -> control sync, returns (the host's other disks are not
//                  flushed: the command's world is the mount);
//   syncfs(fd)  -> control sync when fd is on the mount (same st_dev),
//                  otherwise the kernel runs the real syncfs.
// Static binaries are covered (the filter sees system calls, not libc).
//
// Where it cannot reach: programs started outside blackout (a process of
// yours writing to a `blackout mount` by hand: use `blackout ctl MNT sync`);
// a command that itself installs a seccomp filter that denies or traps sync
// (the stricter action wins); a command that itself asks for a seccomp
// listener (the kernel allows one per process tree: it gets EBUSY). Under
// the guard no_new_privs is set when we lack CAP_SYS_ADMIN, so set-user-ID
// programs do not gain privileges. When the kernel refuses the filter
// (seccomp missing, or already under a listener), the command runs
// unguarded after a warning on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace blackout::harness {

// argv that runs `command` under the guard of the mount at `mountpoint`:
// {blackout_bin, "sync-guard", "--mount", mountpoint, "--", command...}.
// Starters use it in place of `command`; cwd and environment pass through.
std::vector<std::string> SyncGuardArgv(const std::string& blackout_bin,
                                       const std::string& mountpoint,
                                       const std::vector<std::string>& command);

// The body of `blackout sync-guard`: sets up the guard and execs `command`
// (PATH lookup). Returns only when that fails: 127 (command not found or
// not executable) or 2 (bad usage: no command, MNT missing).
int RunSyncGuard(const std::string& mountpoint, const std::vector<std::string>& command);

// Adds the hidden `blackout sync-guard --mount MNT -- CMD...` (AddRecordCommands
// calls it). Its exit status is CMD's; 127 when CMD cannot run, 2 on bad usage.
void AddSyncGuardCommand(CLI::App& app, int& exit_code);

}  // namespace blackout::harness
