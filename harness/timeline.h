// The timeline of one crash state, as report.json stores it and report.html
// draws it: the blackoutfs trace entries nearest the crash point, each with
// its fate at the crash, and the engine's acknowledgements between them.
//
// Kept bounded (the last `max_entries` trace entries before the crash), so a
// long workload does not make report.json grow with its length.
//
// JSON form ("timeline" in a crash state; reports/report-schema.md):
//   {"crash_seq":N, "state":"drop-all", "omitted":K,
//    "entries":[{"seq","op","kind","path","offset","length","detail","fate"}],
//    "acks":[{"seq","op","label","synced"}]}
// kind: "write" (write, truncate, fallocate: the flush of a userspace buffer
// reaches the filesystem as a write), "dir-op" (create, mkdir, rename, unlink,
// link, symlink, rmdir), "fsync" (fsync/fdatasync of a file), "dir-sync"
// (fsync of a directory), "sync" (a whole-filesystem sync), "other"
// (setattr, xattrs).
// fate: "durable" (a later sync made it durable before the crash), "torn"
// (explored states: only a prefix of the write reached the disk), "dropped"
// (pending at the crash and lost by the crash state), "kept" (pending and
// kept: keep-all, or a process crash), "pending" (pending; the crash state
// decides, the trace alone cannot tell), "" for syncs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/oracle.h"

namespace blackout::harness {

struct TimelineInput {
  const nlohmann::json* trace = nullptr;     // {"entries":[...]} from the control socket
  const nlohmann::json* unsynced = nullptr;  // the `unsynced` reply, or null (process crash)
  const std::vector<Ack>* acks = nullptr;
  std::string state;  // "drop-all", "keep-all", "process", a crash-state id
  size_t max_entries = 60;
};

nlohmann::json BuildTimeline(const TimelineInput& in);

// For a crash state explored offline (harness/explore.h): the recording
// run's trace up to the crash point at `point_seq`, each pending operation's
// fate taken from the state itself (seqs it keeps, drops, or tears: fate
// "torn"), every other write or directory operation "durable".
nlohmann::json ExploredTimeline(const nlohmann::json& trace, uint64_t point_seq,
                                const std::vector<Ack>& acks, const std::string& state_id,
                                const std::vector<uint64_t>& kept,
                                const std::vector<uint64_t>& dropped, uint64_t torn,
                                size_t max_entries = 60);

// Asks `control` for the trace and builds the timeline; null when the trace
// cannot be read (the report then shows no timeline, the run goes on).
class FsControl;
nlohmann::json CrashTimeline(FsControl& control, const nlohmann::json* unsynced,
                             const std::vector<Ack>& acks, const std::string& state);

}  // namespace blackout::harness
