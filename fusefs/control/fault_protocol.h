// The fault commands of the control protocol (server.h lists the others):
//
//   {"cmd":"fail","op":OP,"path":GLOB,"errno":"EIO"|"ENOSPC"|"EDQUOT"|"EROFS",
//    "nth":N | "from":N, "count":C}
//        -> {"ok":true,"rules":R}   adds an error-injection rule; path
//           defaults to "*", errno to EIO; without nth/from every matching
//           operation fails (up to count); nth N: the Nth only (count 1
//           unless given); from N: the Nth and later.
//   {"cmd":"crash-after","op":OP,"path":GLOB,"nth":N,"before":false}
//        -> {"ok":true}   cuts power (drop-all) right after (before) the Nth
//           matching operation; replaces an armed trigger.
//   {"cmd":"crash-after",...,"save":true}
//        -> {"ok":true,"id":I}   a saving trigger: at that operation the
//           model saves the crash point (SaveCrashPoint) and cuts nothing;
//           armed beside the others, so one run can save several points.
//           "every":true (with save) saves at the Nth matching operation
//           and at each one after it. `saved-points` (server.h) writes the
//           saved points to files.
//   {"cmd":"clear-faults"} -> {"ok":true}   rules and trigger removed
//   {"cmd":"faults"} -> {"ok":true,"rules":[{op,path,errno,first,count,seen,
//           fired}],"trigger":{op,path,nth,before,save,every,seen}|null,
//           "triggers":[...every armed one...],"triggered_cuts":N}
//
// OP: read, write, fsync, fsyncdir, create, rename, unlink, truncate,
// fallocate. What matches and what a failure does: fusefs/model/faults.h.
// `blackout ctl MNT fail|crash-after|clear-faults|faults` and the harness
// (scenario "faults" and crash triggers) build these requests.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "fusefs/control/client.h"
#include "fusefs/model/filesystem.h"

namespace blackout::control {

bool IsFaultCommand(std::string_view cmd);
// Answers one fault request (cmd as above).
nlohmann::json HandleFaultRequest(model::Filesystem& fs, const nlohmann::json& request);

// The request fields, parsed and checked; the error names the field and
// lists the accepted values. Used by the server and, to refuse bad usage
// before connecting, by the clients.
[[nodiscard]] Result<model::FaultRule> ParseFailRequest(const nlohmann::json& request);
[[nodiscard]] Result<model::CrashTrigger> ParseCrashAfterRequest(const nlohmann::json& request);

// "4096", "64K", "10M", "1G" (powers of 1024) -> bytes; refuses 0 and junk.
[[nodiscard]] Result<uint64_t> ParseByteSize(std::string_view text);

// The fault options of `blackout ctl` (0 and empty: not given).
// The daemon's refusals: {"ok":false,"error":message}; a BadRequestReply
// also carries "usage":true, for a request refused for what it asks (an
// unknown command or state, a rule spelt wrong): `blackout ctl` exits 2 on
// it, and 1 when a well-formed request failed.
nlohmann::json ErrorReply(const std::string& message);
nlohmann::json BadRequestReply(const std::string& message);

struct FaultArgs {
  std::string op, path, err;
  uint64_t nth = 0, from = 0, count = 0;
  bool before = false;
  bool save = false;
  bool every = false;
  bool stop = false;
  bool Given() const {
    return !op.empty() || !path.empty() || !err.empty() || nth || from || count || before || save ||
           every || stop;
  }
};
// Adds --op, --path, --errno, --nth, --from, --count, --before, --save, --every to `ctl`.
void AddFaultOptions(CLI::App& ctl, FaultArgs& args);
// The request for `blackout ctl MNT COMMAND` with these options, checked:
// an error (bad usage) names the option and the accepted values.
[[nodiscard]] Result<nlohmann::json> FaultCtlRequest(const std::string& command,
                                                     const FaultArgs& args);

}  // namespace blackout::control
