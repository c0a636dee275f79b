// Fidelity tests: does a port make the calls REF made? Runs an
// engine-traces/NAME.jsonl workload (engine-traces/README.md) and produces
// the normalized call trace, to compare with NAME.trace:
//  * RunOnMemEnv: through the sessions on a MemEnv (one session per phase,
//    each request answered exactly as `blackout engine` answers it, an `ack`
//    after each reply);
//  * RunUnderStrace: through the real `blackout engine` binary on the POSIX
//    Env in a temp dir, under `strace -f -y`, normalized by NormalizeStrace,
//    so that MemEnv cannot drift from what really happens.
// Traces are read from $BLACKOUT_SHARED_DIR/engine-traces/.
#ifndef BLACKOUT_ENGINES_DRIVER_FIDELITY_TEST_SUPPORT_H_
#define BLACKOUT_ENGINES_DRIVER_FIDELITY_TEST_SUPPORT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engines/common/status.h"

namespace blackout::engines::fidelity {

struct TraceWorkload {
  std::string name;
  std::string engine;
  nlohmann::json config;
  std::vector<std::vector<std::string>> phases;  // request lines, verbatim
};

// $BLACKOUT_SHARED_DIR/engine-traces/NAME + ext.
[[nodiscard]] Result<std::string> TracePath(const std::string& name, const std::string& ext);
[[nodiscard]] Result<TraceWorkload> LoadWorkload(const std::string& name);
[[nodiscard]] Result<std::vector<std::string>> LoadExpectedTrace(const std::string& name);

// The store directory the MemEnv runs use (the trace is relative to it).
inline constexpr const char* kMemStoreDir = "/mem/store";
[[nodiscard]] Result<std::vector<std::string>> RunOnMemEnv(const TraceWorkload& workload);

// True if `strace -V` runs.
bool StraceAvailable();
// Runs each phase as `blackout_bin engine ...` under strace in a fresh
// directory under `scratch_dir`; returns the normalized trace with its
// `-- phase N (exit C)` lines.
[[nodiscard]] Result<std::vector<std::string>> RunUnderStrace(const std::string& blackout_bin,
                                                              const TraceWorkload& workload,
                                                              const std::string& scratch_dir);
// `strace -f -y` output lines -> trace lines for the calls on paths inside
// `store_dir` (an absolute, symlink-free path), plus `ack` for writes to
// stdout (fd 1), merged as engine-traces/README.md says.
std::vector<std::string> NormalizeStrace(const std::vector<std::string>& strace_lines,
                                         const std::string& store_dir);

// "" if the traces match, else a report of the first difference with context
// and both traces. With star_sizes, write sizes are not compared (event store).
std::string DiffTraces(const std::vector<std::string>& want, const std::vector<std::string>& got,
                       bool star_sizes);

// The whole check of a port on the MemEnv: loads workload NAME, runs it and
// compares with NAME.trace. "" when they match, else why not (a load or run
// error, or DiffTraces's report).
std::string MemEnvMismatch(const std::string& name, bool star_sizes);

}  // namespace blackout::engines::fidelity

#endif  // BLACKOUT_ENGINES_DRIVER_FIDELITY_TEST_SUPPORT_H_
