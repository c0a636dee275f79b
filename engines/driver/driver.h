// `blackout engine NAME --dir D [--config JSON] [--dump]`: runs one engine as
// a process speaking JSON lines, so that the harness can drive it and a
// kill -9 of that process is a real process crash.
//
// Protocol: one JSON object per line on stdin; one JSON object per line on
// stdout for each request, flushed before the next request is read. Every
// reply has "ok"; a failed request gets {"ok":false,"error":"..."} and the
// engine keeps serving (malformed JSON, a non-object, a missing or non-string
// "op", an unknown op, a missing field or a wrong type). "contract" answers
// {"ok":true,"process":...,"power":...}. "close" closes the store, answers,
// and ends the process (exit 0, or 1 if the close failed). End of input ends
// the process WITHOUT closing the store (what the engine had not written is
// lost, as in a crash of the process at that point).
//
// --dump opens (recovers) the store, prints Dump() as one JSON line and exits
// 0 without closing it; a recovery error prints {"ok":false,"error":...} and
// exits 1. Opening may itself write (REF creates its first files; fixed
// profiles cut torn tails).
//
// Exit codes: 0 done; 1 the store failed to open or close; 2 bad usage (an
// unknown engine, --config that is not a JSON object, an unknown config key
// or a config value of the wrong type), reported as one JSON error line.
#ifndef BLACKOUT_ENGINES_DRIVER_DRIVER_H_
#define BLACKOUT_ENGINES_DRIVER_DRIVER_H_

#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engines/common/env.h"
#include "engines/common/status.h"
#include "engines/driver/session.h"

namespace blackout::engines {

using SessionFactory = Result<std::unique_ptr<EngineSession>> (*)(Env*, const std::string&,
                                                                  const nlohmann::json&);
struct EngineEntry {
  const char* name;
  SessionFactory open;
};

// Every engine `blackout engine` knows, sorted by name (registry.cc).
const std::vector<EngineEntry>& EngineRegistry();

// Opens engine `name` on `dir`. An unknown name is InvalidArgument listing
// the engines; otherwise whatever the factory returns.
[[nodiscard]] Result<std::unique_ptr<EngineSession>> OpenEngineSession(
    const std::string& name, Env* env, const std::string& dir, const nlohmann::json& config);

// One request line -> one reply, exactly as the driver answers it (parse
// errors, "op" checks, "contract", "close", exceptions turned into errors).
// Sets *close_requested when the line was a "close" request (then the store
// has been closed, successfully iff reply["ok"]).
nlohmann::json HandleRequestLine(EngineSession& session, const std::string& line,
                                 bool* close_requested);

// The JSON text of a reply as the driver prints it: one line, invalid UTF-8
// (bytes read back from a damaged store) replaced by U+FFFD instead of failing.
std::string ReplyText(const nlohmann::json& reply);

// The serving loop: reads lines from `in` until "close" or end of input,
// writes and flushes one reply line per request to `out`; `after_reply` runs
// after each flushed reply (tests use it to mark acks). Returns the exit code.
int ServeEngine(EngineSession& session, std::istream& in, std::ostream& out,
                const std::function<void()>& after_reply = {});

struct EngineCommandOptions {
  std::string engine;
  std::string dir;
  std::string config_json = "{}";
  bool dump = false;
};

// The whole `blackout engine` command on `env`. Returns the exit code.
int RunEngineCommand(const EngineCommandOptions& options, Env* env, std::istream& in,
                     std::ostream& out);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_DRIVER_DRIVER_H_
