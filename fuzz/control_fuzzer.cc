// Fuzz target: the control protocol request parser and dispatcher
// (ControlServer::HandleLine) over a model holding a few files with pending
// writes. Each input line is one request of one session, as a client would
// send them. Every line must get exactly one reply object with "ok" (and an
// "error" when not ok); nothing may crash, hang or allocate without bound.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fusefs/control/server.h"
#include "fusefs/model/filesystem.h"

namespace {

using blackout::control::ControlServer;
namespace model = blackout::model;

// A small tree with durable and pending state, so power cuts and crash-state
// ids have something to work on.
void Populate(model::Filesystem& fs) {
  const model::Caller who{};
  auto dir = fs.Mkdir(model::kRootIno, "d", 0755, who);
  if (!dir.ok()) std::abort();
  for (int i = 0; i < 3; ++i) {
    auto c = fs.Create(dir->ino, "f" + std::to_string(i), 0644, 0, who);
    if (!c.ok()) std::abort();
    (void)fs.Write(c->fh, 0, std::string(5000, static_cast<char>('a' + i)), who);
    if (i == 0) (void)fs.Fsync(c->fh, false, who);
    (void)fs.Write(c->fh, 100, "pending", who);
    (void)fs.Release(c->fh);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  model::Filesystem fs;
  Populate(fs);
  ControlServer server(fs, blackout::control::ServerHooks{});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    // "snapshot" writes a directory tree to the host's disk: that is the
    // daemon's job, not the parser's, and a fuzzer must not litter the disk.
    const nlohmann::json peek = nlohmann::json::parse(line, nullptr, false);
    if (peek.is_object() && peek.contains("cmd") && peek["cmd"] == "snapshot") continue;
    bool shutdown = false;
    const nlohmann::json reply = server.HandleLine(line, &shutdown);
    if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean()) std::abort();
    if (!reply["ok"].get<bool>() &&
        (!reply.contains("error") || !reply["error"].is_string() ||
         reply["error"].get<std::string>().empty())) {
      std::abort();
    }
    if (shutdown) break;
  }
  return 0;
}
