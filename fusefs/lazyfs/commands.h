// blackout::lazyfs: LazyFS's fault-injection interface on blackoutfs, so that
// a Jepsen test or shell script written for LazyFS can point at blackout.
// docs/lazyfs.md lists what each command means here and where blackout
// differs from LazyFS on purpose.
//
// This file: the FIFO command language and the TOML [[injection]] table,
// parsed into plain values (no I/O besides reading the config file). What a
// command does to the filesystem is fifo_reader.h's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fusefs/model/faults.h"

namespace blackout::lazyfs {

// What happens when an injected fault fires.
enum class FaultAction {
  kClearCache,  // power cut to drop-all; the mount stays up
  kCrash,       // power cut to drop-all, then the daemon exits (LazyFS kills itself)
};

// One armed fault: at the `occurrence`-th matching operation (1-based for
// both timings; LazyFS counts from 0 for timing=before), before or after it.
struct Injection {
  FaultAction action = FaultAction::kClearCache;
  model::CrashTrigger trigger;  // op, path glob (mount-relative), nth, before
  // torn-op / torn-seq: the torn write to arm instead of `trigger` (action
  // kCrash: LazyFS kills itself after persisting the chosen writes or parts).
  std::optional<model::TornWrite> torn;
  std::string origin;           // the command or "injection #N" it came from, for logs
};

// One line written to the FIFO.
struct Command {
  enum Kind {
    kClearCache,         // lazyfs::clear-cache
    kCheckpoint,         // lazyfs::cache-checkpoint
    kDisplayUsage,       // lazyfs::display-cache-usage
    kUnsyncedReport,     // lazyfs::unsynced-data-report
    kHelp,               // lazyfs::help
    kCrash,              // lazyfs::crash::timing=..::op=..::from_rgx=..[::to_rgx=..]
    kTorn,               // lazyfs::torn-op::file=..::persist=..::parts=..|parts_bytes=..::occurrence=..
                         // lazyfs::torn-seq::op=write::file=..::persist=..::occurrence=..
    kInvalid,            // anything else (see `error`)
  };
  Kind kind = kInvalid;
  Injection crash;    // kCrash and kTorn
  std::string error;  // kInvalid: a sentence a person can act on
};

// Parses one FIFO line (without its newline; trailing spaces and '\r' are
// ignored). Lines of any length are accepted (LazyFS cuts at 100 bytes).
// `mountpoint` maps torn-op/torn-seq `file=` paths (ToMountPath).
Command ParseCommand(std::string_view line, const std::string& mountpoint = "");

// A path from a LazyFS config (`from`, `file`) as a mount-relative model path:
// MNT/a/b -> /a/b; a/b -> /a/b; /a/b (not under MNT) -> /a/b.
std::string ToMountPath(const std::string& path, const std::string& mountpoint);

// The parts of a LazyFS TOML config file blackout uses.
struct Config {
  std::string fifo_path;            // [faults] fifo_path
  std::string fifo_path_completed;  // [faults] fifo_path_completed
  std::vector<Injection> injections;
};

// Reads and validates a LazyFS TOML config. [cache] and [filesystem] are
// accepted and ignored (blackoutfs has no cache to size). Every error names
// the file, the injection number and the key.
// `mountpoint`: absolute, to map `from`/`file` paths (ToMountPath).
[[nodiscard]] bool LoadConfig(const std::string& path, const std::string& mountpoint,
                              Config* config, std::string* error);

}  // namespace blackout::lazyfs
