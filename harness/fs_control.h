// FsControl: what the harness asks of a mounted blackoutfs, over its control
// socket (protocol in fusefs/control/server.h). The one place that knows the
// control client, so that changing it touches this file only.
//
// Thread-safety: one FsControl per run (per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/expected.h"

namespace blackout::harness {

class FsControl {
 public:
  static Expected<std::unique_ptr<FsControl>> Connect(const std::string& socket_path);
  virtual ~FsControl() = default;

  // Current trace position.
  virtual Expected<uint64_t> Seq() = 0;
  // Makes everything durable (a machine that has run for a while).
  virtual Expected<uint64_t> Sync() = 0;
  // Cuts power, leaving the crash state `state` ("drop-all", "keep-all").
  // Returns the reply ({"dropped_ops","epoch","seq"}).
  virtual Expected<nlohmann::json> PowerCut(const std::string& state) = 0;
  // {"files":[{"path","pending_bytes","since"}],"dirs":[{"path","pending_entries","since"}]}
  virtual Expected<nlohmann::json> Unsynced() = 0;
  // {"entries":[{seq,pid,op,ino,path,offset,length,digest,flags,detail}],"dropped":N}
  virtual Expected<nlohmann::json> Trace() = 0;
  // Saves the crash point (durable view and pending ops) to the absolute
  // path `file`, to explore its crash states offline (harness/explore.h).
  virtual Expected<nlohmann::json> SaveCrashPoint(const std::string& file) = 0;
};

// One request on its own connection to the control socket `socket_path`
// (30 s limit); a reply with "ok": false is an error naming the command.
Expected<nlohmann::json> ControlCall(const std::string& socket_path,
                                     const nlohmann::json& request);

}  // namespace blackout::harness
