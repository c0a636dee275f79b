// The filesystem subcommands of build/blackout:
//
//   blackout mount MNT [--model posix-strict|ext4-ordered] [--ctl SOCK] [--foreground]
//       Validates, then daemonizes and returns once the mount is usable.
//       Daemon log: MNT.log (stderr with --foreground).
//   blackout umount MNT [--ctl SOCK]
//       Asks the daemon to stop; falls back to fusermount3 -u (-z when busy).
//   blackout ctl MNT COMMAND [ARGS] [--ctl SOCK] [--state S] [--view V]
//       COMMAND: status, seq, sync, power-cut [--state drop-all|keep-all|ID],
//       unsynced, snapshot DIR [--view durable|volatile], trace.
//       Prints the daemon's JSON reply (pretty) on stdout.
//
// Exit codes: 0 success; 1 the command itself failed (the daemon answered
// "ok": false); 2 bad usage or setup (missing path, already mounted, unknown
// command, missing argument, no daemon on the socket).
#pragma once

#include <CLI/CLI.hpp>

namespace blackout::control {

void AddFilesystemCommands(CLI::App& app, int& exit_code);

}  // namespace blackout::control
