// The `blackout engine wal` session: JSON requests -> WriteAheadLog calls.
#include <memory>

#include "engines/driver/request.h"
#include "engines/driver/sessions.h"
#include "engines/wal/wal.h"

namespace blackout::engines {

namespace {

namespace rq = request;

nlohmann::json RecordJson(const WalRecord& r) {
  return {{"seq", r.seq}, {"type", r.op_type}, {"key", r.key}, {"value", r.value}};
}

nlohmann::json RecordsJson(const std::vector<WalRecord>& records) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : records) out.push_back(RecordJson(r));
  return out;
}

// "PUT" unless given; the names REF's OP_BYTES accepts.
Result<std::string> OpType(const nlohmann::json& obj, const std::string& field) {
  BLACKOUT_ASSIGN_OR_RETURN(std::string type, rq::StringOr(obj, field, "PUT"));
  if (type != "PUT" && type != "DELETE" && type != "COMMIT" && type != "CHECKPOINT")
    return Status::InvalidArgument(
        "field '" + field + "' must be PUT, DELETE, COMMIT or CHECKPOINT, got '" + type + "'");
  return type;
}

class WalSession final : public EngineSession {
 public:
  explicit WalSession(std::unique_ptr<WriteAheadLog> wal) : wal_(std::move(wal)) {}

  nlohmann::json Handle(const std::string& op, const nlohmann::json& req) override {
    Result<nlohmann::json> reply = Dispatch(op, req);
    if (!reply.ok()) return rq::ErrorReply(reply.status());
    return *reply;
  }

  // One read of the log for both lists: an explored crash state is dumped
  // once per state, by the thousand.
  nlohmann::json Dump() override {
    auto raw = wal_->Iterate();
    if (!raw.ok()) return rq::ErrorReply(raw.status());
    return {{"ok", true},
            {"engine", "wal"},
            {"kind", "log"},
            {"current_seq", wal_->current_seq()},
            {"records", RecordsJson(wal_->Replayed(*raw))},
            {"raw", RecordsJson(*raw)}};
  }

  // A WAL exists so that acknowledged records survive: every mode promises
  // that a process crash loses nothing acknowledged (REF's batch and no-sync
  // modes break that by keeping records in Python's buffer, H-W7: a finding,
  // not a setting). Power loss: "sync" promises every acknowledged record;
  // "batch" and the no-sync modes only what the last fsync (every Nth record,
  // append_batch, checkpoint, rotation, truncate, close) covered.
  nlohmann::json Contract() override {
    // Outside "sync" mode REF defers the flush together with the fsync
    // (wal.py:124-134), so even a process crash keeps only what the last sync
    // point wrote: the promise of batch mode is a synced prefix, not every
    // acknowledged record. The fixed profile flushes every record.
    const bool sync = wal_->options().sync_mode == "sync";
    const bool flushed = sync || wal_->options().fixed;
    return {{"process", flushed ? "acked" : "synced-prefix"},
            {"power", sync ? "acked" : "synced-prefix"}};
  }

  Status Close() override { return wal_->Close(); }

 private:
  Result<nlohmann::json> Dispatch(const std::string& op, const nlohmann::json& req) {
    if (op == "append") {
      BLACKOUT_ASSIGN_OR_RETURN(std::string type, OpType(req, "type"));
      BLACKOUT_ASSIGN_OR_RETURN(std::string key, rq::String(req, "key"));
      BLACKOUT_ASSIGN_OR_RETURN(std::string value, rq::StringOr(req, "value", ""));
      BLACKOUT_ASSIGN_OR_RETURN(uint64_t seq, wal_->Append(type, key, value));
      return nlohmann::json{{"ok", true}, {"seq", seq}};
    }
    if (op == "append_batch") {
      auto it = req.find("items");
      if (it == req.end()) return Status::InvalidArgument("missing field 'items'");
      if (!it->is_array()) return rq::WrongType("items", "an array", *it);
      std::vector<WalOperation> ops;
      for (size_t i = 0; i < it->size(); ++i) {
        const auto& item = (*it)[i];
        const std::string where = "items[" + std::to_string(i) + "]";
        if (!item.is_object()) return rq::WrongType(where, "an object", item);
        WalOperation o;
        BLACKOUT_ASSIGN_OR_RETURN(o.op_type, OpType(item, "type"));
        auto key = rq::String(item, "key");
        if (!key.ok()) return Status::InvalidArgument(where + ": " + key.status().message());
        auto value = rq::StringOr(item, "value", "");
        if (!value.ok()) return Status::InvalidArgument(where + ": " + value.status().message());
        o.key = *key;
        o.value = *value;
        ops.push_back(std::move(o));
      }
      BLACKOUT_ASSIGN_OR_RETURN(uint64_t seq, wal_->AppendBatch(ops));
      return nlohmann::json{{"ok", true}, {"seq", seq}};
    }
    if (op == "checkpoint") {
      BLACKOUT_ASSIGN_OR_RETURN(uint64_t seq, wal_->Checkpoint());
      return nlohmann::json{{"ok", true}, {"seq", seq}};
    }
    if (op == "truncate") {
      BLACKOUT_ASSIGN_OR_RETURN(int64_t up_to, rq::Int(req, "up_to"));
      BLACKOUT_RETURN_IF_ERROR(wal_->Truncate(up_to));
      return rq::OkReply();
    }
    if (op == "replay") {
      BLACKOUT_ASSIGN_OR_RETURN(int64_t after, rq::IntOr(req, "after", 0));
      BLACKOUT_ASSIGN_OR_RETURN(auto records, wal_->Replay(after));
      return nlohmann::json{{"ok", true}, {"records", RecordsJson(records)}};
    }
    if (op == "verify") return Verify();
    return rq::UnknownOp(op, "wal",
                         {"append", "append_batch", "checkpoint", "truncate", "replay", "verify",
                          "contract", "close"});
  }

  // Structural self-check: the records read back must have strictly
  // increasing seq numbers not above current_seq, and reading must not fail.
  Result<nlohmann::json> Verify() {
    nlohmann::json problems = nlohmann::json::array();
    auto raw = wal_->Iterate();
    if (!raw.ok()) {
      problems.push_back("reading the log failed: " + raw.status().ToString());
    } else {
      uint64_t prev = 0;
      for (const auto& r : *raw) {
        if (r.seq <= prev)
          problems.push_back("seq " + std::to_string(r.seq) + " follows seq " +
                             std::to_string(prev));
        if (r.seq > wal_->current_seq())
          problems.push_back("seq " + std::to_string(r.seq) + " is above current_seq " +
                             std::to_string(wal_->current_seq()));
        if (r.op_type == "UNKNOWN")
          problems.push_back("record seq " + std::to_string(r.seq) + " has an unknown op type");
        prev = r.seq;
      }
    }
    return nlohmann::json{{"ok", true}, {"problems", problems}};
  }

  std::unique_ptr<WriteAheadLog> wal_;
};

}  // namespace

Result<std::unique_ptr<EngineSession>> OpenWalSession(Env* env, const std::string& dir,
                                                      const nlohmann::json& config) {
  BLACKOUT_RETURN_IF_ERROR(
      rq::OnlyKeys(config, "wal", {"sync_mode", "max_file_size", "batch_sync_count", "profile"}));
  WalOptions o;
  BLACKOUT_ASSIGN_OR_RETURN(o.sync_mode, rq::StringOr(config, "sync_mode", o.sync_mode));
  BLACKOUT_ASSIGN_OR_RETURN(o.max_file_size, rq::IntOr(config, "max_file_size", o.max_file_size));
  BLACKOUT_ASSIGN_OR_RETURN(o.batch_sync_count,
                            rq::IntOr(config, "batch_sync_count", o.batch_sync_count));
  BLACKOUT_ASSIGN_OR_RETURN(o.fixed, rq::FixedProfile(config));
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<WriteAheadLog> wal, WriteAheadLog::Open(env, dir, o));
  return std::unique_ptr<EngineSession>(std::make_unique<WalSession>(std::move(wal)));
}

}  // namespace blackout::engines
