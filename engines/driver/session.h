// EngineSession: how an engine plugs into `blackout engine` (the JSON-lines
// driver, driver.h). One session = one open store in one process; the driver
// parses each request line, hands it to Handle(), prints the reply and
// flushes stdout, so that a kill -9 of the process is a real process crash.
//
// Reply conventions (the harness reads them; keep them stable):
//  * every reply has "ok": true, or "ok": false and "error": "<message>";
//  * put/delete/compact/checkpoint/truncate -> {"ok":true}; get ->
//    {"ok":true,"found":bool,"value":"..."}; scan -> {"ok":true,"items":[[k,v],...]};
//    wal append/append_batch -> {"ok":true,"seq":N}; replay -> {"ok":true,"records":[...]};
//    eventstore append -> {"ok":true,"event_id":N}, append_batch ->
//    {"ok":true,"event_ids":[...]}, read -> {"ok":true,"events":[...]};
//    verify -> {"ok":true,"problems":[...strings...]};
//  * an unknown op -> {"ok":false,"error":"unknown op 'x' for engine NAME; ops: a, b, ..."}.
// "close" and "contract" are handled by the driver through Close() and Contract().
#ifndef BLACKOUT_ENGINES_DRIVER_SESSION_H_
#define BLACKOUT_ENGINES_DRIVER_SESSION_H_

#include <nlohmann/json.hpp>
#include <string>

#include "engines/common/status.h"

namespace blackout::engines {

class EngineSession {
 public:
  virtual ~EngineSession() = default;
  // One request (already parsed, "op" present and a string) -> one reply
  // object with "ok". Errors are replies, never exceptions; the session must
  // keep serving after any error.
  virtual nlohmann::json Handle(const std::string& op, const nlohmann::json& request) = 0;
  // Everything the store holds, in the engine kind's dump format:
  //  kv:     {"ok":true,"engine":"lsm","kind":"kv","data":{"k":"v",...}}
  //  log:    {"ok":true,"engine":"wal","kind":"log","current_seq":N,"records":[...],"raw":[...]}
  //  events: {"ok":true,"engine":"eventstore","kind":"events","events":[...]}
  virtual nlohmann::json Dump() = 0;
  // {"process": C, "power": C}, each C one of "acked", "synced-prefix",
  // "batch-atomic", "none": what this configuration promises about
  // acknowledged writes after a process crash and after power loss.
  virtual nlohmann::json Contract() = 0;
  // Closes the store cleanly (what the original's close() does).
  [[nodiscard]] virtual Status Close() = 0;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_DRIVER_SESSION_H_
