#include "harness/fs_control.h"

#include <chrono>

#include "fusefs/control/client.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

class SocketFsControl : public FsControl {
 public:
  explicit SocketFsControl(control::ControlClient client) : client_(std::move(client)) {}

  Expected<uint64_t> Seq() override { return SeqOf(Call({{"cmd", "seq"}})); }
  Expected<uint64_t> Sync() override { return SeqOf(Call({{"cmd", "sync"}})); }
  Expected<json> PowerCut(const std::string& state) override {
    return Call({{"cmd", "power-cut"}, {"state", state}});
  }
  Expected<json> Unsynced() override { return Call({{"cmd", "unsynced"}}); }
  Expected<json> Trace() override { return Call({{"cmd", "trace"}}); }
  Expected<json> SaveCrashPoint(const std::string& file) override {
    return Call({{"cmd", "crash-point"}, {"path", file}});
  }

 private:
  Expected<json> Call(const json& request) {
    auto reply = client_.Call(request, std::chrono::seconds(60));
    if (!reply.ok()) return Error{"control socket " + client_.socket_path() + ": " + reply.error()};
    if (!reply->is_object() || reply->value("ok", false) != true)
      return Error{"control socket " + client_.socket_path() + ": " +
                   request["cmd"].get<std::string>() +
                   " failed: " + reply->value("error", reply->dump())};
    return *reply;
  }
  static Expected<uint64_t> SeqOf(Expected<json> reply) {
    if (!reply.ok()) return Error{reply.error()};
    if (!reply->contains("seq") || !(*reply)["seq"].is_number_unsigned())
      return Error{"control reply without \"seq\": " + reply->dump()};
    return (*reply)["seq"].get<uint64_t>();
  }
  control::ControlClient client_;
};

}  // namespace

Expected<std::unique_ptr<FsControl>> FsControl::Connect(const std::string& socket_path) {
  auto client = control::ControlClient::Connect(socket_path);
  if (!client.ok()) return Error{client.error()};
  return std::unique_ptr<FsControl>(new SocketFsControl(std::move(*client)));
}

Expected<nlohmann::json> ControlCall(const std::string& socket_path,
                                     const nlohmann::json& request) {
  auto client = control::ControlClient::Connect(socket_path);
  if (!client.ok()) return Error{client.error()};
  auto reply = client->Call(request, std::chrono::seconds(30));
  if (!reply.ok()) return Error{reply.error()};
  if (!reply->value("ok", false))
    return Error{request.value("cmd", "") + ": " + reply->value("error", reply->dump())};
  return *reply;
}

}  // namespace blackout::harness
