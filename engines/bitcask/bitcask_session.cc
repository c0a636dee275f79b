// The driver adapter for BitcaskStore: `blackout engine bitcask`.
#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "engines/bitcask/bitcask.h"
#include "engines/driver/request.h"
#include "engines/driver/sessions.h"

namespace blackout::engines {
namespace {

namespace rq = request;

class BitcaskSession final : public EngineSession {
 public:
  BitcaskSession(std::unique_ptr<bitcask::BitcaskStore> store, bool sync_writes)
      : store_(std::move(store)), sync_writes_(sync_writes) {}

  nlohmann::json Handle(const std::string& op, const nlohmann::json& req) override {
    if (auto reply = rq::KeyValueOp(*store_, op, req)) return *reply;
    if (op == "scan") return Scan(req);
    if (op == "compact") return rq::StatusReply(store_->Compact());
    if (op == "verify") {
      nlohmann::json problems = nlohmann::json::array();
      for (const std::string& p : store_->Verify()) problems.push_back(p);
      return {{"ok", true}, {"problems", problems}};
    }
    return rq::UnknownOp(
        op, "bitcask", {"put", "get", "delete", "scan", "compact", "verify", "close", "contract"});
  }

  nlohmann::json Dump() override {
    auto all = store_->ReadAll();
    if (!all.ok()) return rq::ErrorReply(all.status());
    nlohmann::json data = nlohmann::json::object();
    for (const auto& [k, v] : *all) data[k] = v;
    return {{"ok", true}, {"engine", "bitcask"}, {"kind", "kv"}, {"data", data}};
  }

  // A record is written through to the kernel before every acknowledgement;
  // it is fsynced only when sync_writes is on.
  nlohmann::json Contract() override {
    return {{"process", "acked"}, {"power", sync_writes_ ? "acked" : "none"}};
  }

  Status Close() override { return store_->Close(); }

 private:
  // Half-open [start, end) over the live keys in key order (REF has no scan;
  // it is keys() + get()).
  nlohmann::json Scan(const nlohmann::json& req) {
    auto range = rq::ScanRange(req);
    if (!range.ok()) return rq::ErrorReply(range.status());
    std::vector<std::string> keys = store_->Keys();
    std::sort(keys.begin(), keys.end());
    nlohmann::json items = nlohmann::json::array();
    for (const std::string& k : keys) {
      if (!range->Contains(k)) continue;
      auto value = store_->Get(k);
      if (!value.ok()) return rq::ErrorReply(value.status());
      if (value->has_value()) items.push_back({k, **value});
    }
    return {{"ok", true}, {"items", items}};
  }

  std::unique_ptr<bitcask::BitcaskStore> store_;
  bool sync_writes_;
};

}  // namespace

Result<std::unique_ptr<EngineSession>> OpenBitcaskSession(Env* env, const std::string& dir,
                                                          const nlohmann::json& config) {
  BLACKOUT_RETURN_IF_ERROR(
      rq::OnlyKeys(config, "bitcask", {"max_file_size", "sync_writes", "profile"}));
  bitcask::Options options;
  BLACKOUT_ASSIGN_OR_RETURN(
      int64_t max_file_size,
      rq::IntOr(config, "max_file_size", static_cast<int64_t>(options.max_file_size)));
  if (max_file_size < 0) {
    return Status::InvalidArgument("config key 'max_file_size' must be >= 0");
  }
  options.max_file_size = static_cast<uint64_t>(max_file_size);
  BLACKOUT_ASSIGN_OR_RETURN(options.sync_writes, rq::BoolOr(config, "sync_writes", true));
  BLACKOUT_ASSIGN_OR_RETURN(bool fixed, rq::FixedProfile(config));
  options.profile = fixed ? bitcask::Profile::kFixed : bitcask::Profile::kDefault;
  const bool sync_writes = options.sync_writes;
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<bitcask::BitcaskStore> store,
                            bitcask::BitcaskStore::Open(env, dir, std::move(options)));
  return std::unique_ptr<EngineSession>(new BitcaskSession(std::move(store), sync_writes));
}

}  // namespace blackout::engines
