// blackout::control::RunDaemon: the process behind `blackout mount`: one
// model::Filesystem, served to the kernel by the FUSE adapter and to tools by
// the control socket, until unmounted or signalled.
#pragma once

#include <string>

#include "fusefs/model/filesystem.h"

namespace blackout::control {

struct DaemonConfig {
  std::string mountpoint;  // absolute, normalized (NormalizeMountpoint)
  std::string socket_path;
  std::string log_path;  // empty: log to stderr
  model::BehaviourModel model = model::BehaviourModel::kPosixStrict;
  std::string lazyfs_fifo;       // LazyFS control FIFO (fusefs/lazyfs); empty: none
  std::string lazyfs_config;     // LazyFS TOML config, absolute; empty: none
  uint64_t capacity_bytes = 0;   // 0: unlimited (model::Options::capacity_bytes)
  bool writeback_cache = false;  // fusefs::MountOptions::writeback_cache
  uint64_t dirty_limit = 0;      // fusefs::MountOptions::dirty_limit
  bool io_uring = false;         // fusefs::MountOptions::io_uring
  std::string transport_note;    // when !io_uring: why (fusefs::PlanTransport), for the log
  bool direct_writes = true;     // fusefs::MountOptions::direct_writes
  uint64_t trace_limit = 0;      // model::Options::trace_limit (0: keep all)
  bool trace = true;             // model::Options::trace
  // model::Options::spill: a spill file in this directory; empty: none.
  std::string spill_dir;
  bool spill_dir_default = false;  // not asked for: without direct I/O there, go on without
  uint64_t spill_after = uint64_t{1} << 30;  // model::Options::spill_after
  // A saved crash point to start from (mount --load), absolute; empty: an
  // empty file system. load_state: a crash state of it to cut to first.
  std::string load_path;
  std::string load_state;
};

// Mounts, listens on the control socket, then serves until the file system is
// unmounted, SIGTERM/SIGINT/SIGHUP arrives or a client sends "shutdown"; then
// unmounts and removes the socket.
// Readiness: when `ready_fd` >= 0, writes "OK\n" to it once the mount is
// usable and the socket listens, or "ERR <message>\n" if setting up failed,
// then closes it.
// Returns the process exit code: 0 after a clean stop, 2 when setting up
// failed (bad input: the path cannot be mounted or the socket not created).
// REQUIRES: no other threads yet (signals must reach the session loop).
int RunDaemon(const DaemonConfig& config, int ready_fd);

}  // namespace blackout::control
