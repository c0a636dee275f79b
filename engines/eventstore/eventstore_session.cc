// `blackout engine eventstore`: the driver adapter (engines/driver/session.h) over EventStore.
// The store's file is DIR/events.ndjson.
#include <memory>

#include "engines/driver/request.h"
#include "engines/driver/sessions.h"
#include "engines/eventstore/eventstore.h"

namespace blackout::engines {
namespace {

nlohmann::json EventJson(const StoredEvent& e) {
  return {
      {"event_id", e.event_id}, {"stream", e.stream_id}, {"type", e.event_type}, {"data", e.data}};
}

Result<std::optional<int64_t>> ExpectedVersion(const nlohmann::json& req) {
  if (!req.contains("expected_version") || req["expected_version"].is_null()) {
    return std::optional<int64_t>();
  }
  BLACKOUT_ASSIGN_OR_RETURN(const int64_t v, request::Int(req, "expected_version"));
  return std::optional<int64_t>(v);
}

class EventstoreSession final : public EngineSession {
 public:
  EventstoreSession(std::unique_ptr<EventStore> store, bool fixed)
      : store_(std::move(store)), fixed_(fixed) {}

  nlohmann::json Handle(const std::string& op, const nlohmann::json& req) override {
    using request::ErrorReply;
    if (op == "append") {
      auto stream = request::String(req, "stream");
      if (!stream.ok()) return ErrorReply(stream.status());
      auto type = request::String(req, "type");
      if (!type.ok()) return ErrorReply(type.status());
      if (!req.contains("data")) return ErrorReply(Status::InvalidArgument("missing field 'data'"));
      auto expected = ExpectedVersion(req);
      if (!expected.ok()) return ErrorReply(expected.status());
      nlohmann::json metadata = req.contains("metadata") ? req["metadata"] : nullptr;
      auto e = store_->Append(*stream, *type, req["data"], metadata, *expected);
      if (!e.ok()) return ErrorReply(e.status());
      return {{"ok", true}, {"event_id", e->event_id}};
    }
    if (op == "append_batch") {
      auto stream = request::String(req, "stream");
      if (!stream.ok()) return ErrorReply(stream.status());
      if (!req.contains("events")) {
        return ErrorReply(Status::InvalidArgument("missing field 'events'"));
      }
      if (!req["events"].is_array()) {
        return ErrorReply(request::WrongType("events", "an array", req["events"]));
      }
      std::vector<NewEvent> events;
      for (size_t i = 0; i < req["events"].size(); ++i) {
        const nlohmann::json& item = req["events"][i];
        const std::string field = "events[" + std::to_string(i) + "]";
        if (!item.is_object()) return ErrorReply(request::WrongType(field, "an object", item));
        auto type = request::String(item, "type");
        if (!type.ok()) {
          return ErrorReply(Status::InvalidArgument(field + ": " + type.status().message()));
        }
        if (!item.contains("data")) {
          return ErrorReply(Status::InvalidArgument(field + ": missing field 'data'"));
        }
        events.emplace_back(*type, item["data"]);
      }
      auto expected = ExpectedVersion(req);
      if (!expected.ok()) return ErrorReply(expected.status());
      auto stored = store_->AppendBatch(*stream, events, *expected);
      if (!stored.ok()) return ErrorReply(stored.status());
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& e : *stored) ids.push_back(e.event_id);
      return {{"ok", true}, {"event_ids", ids}};
    }
    if (op == "read") {
      auto stream = request::String(req, "stream");
      if (!stream.ok()) return ErrorReply(stream.status());
      auto from = request::IntOr(req, "from", 0);
      if (!from.ok()) return ErrorReply(from.status());
      nlohmann::json list = nlohmann::json::array();
      for (const auto& e : store_->ReadStream(*stream, *from)) list.push_back(EventJson(e));
      return {{"ok", true}, {"events", list}};
    }
    if (op == "verify") {
      auto problems = store_->Verify();
      if (!problems.ok()) return ErrorReply(problems.status());
      return {{"ok", true}, {"problems", *problems}};
    }
    return request::UnknownOp(op, "eventstore",
                              {"append", "append_batch", "read", "verify", "close", "contract"});
  }

  nlohmann::json Dump() override {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : store_->ReadAll(0)) list.push_back(EventJson(e));
    return {{"ok", true}, {"engine", "eventstore"}, {"kind", "events"}, {"events", list}};
  }

  // Default: each event is written (open/write/close) before the reply, so a process crash
  // keeps every acknowledged event, but nothing is ever fsynced, so a power cut may lose any
  // of them; a batch is one write per event and is not atomic. Fixed: fsync per append, one
  // write + fsync per batch with a batch marker, so batches are also all-or-nothing.
  nlohmann::json Contract() override {
    if (fixed_) return {{"process", "acked"}, {"power", "acked"}, {"batches", "batch-atomic"}};
    return {{"process", "acked"}, {"power", "none"}, {"batches", "none"}};
  }

  Status Close() override { return store_->Close(); }

 private:
  std::unique_ptr<EventStore> store_;
  const bool fixed_;
};

}  // namespace

Result<std::unique_ptr<EngineSession>> OpenEventstoreSession(Env* env, const std::string& dir,
                                                             const nlohmann::json& config) {
  BLACKOUT_RETURN_IF_ERROR(request::OnlyKeys(config, "eventstore", {"profile"}));
  EventStoreOptions options;
  BLACKOUT_ASSIGN_OR_RETURN(options.fixed, request::FixedProfile(config));
  BLACKOUT_ASSIGN_OR_RETURN(auto store, EventStore::Open(env, dir, options));
  return std::unique_ptr<EngineSession>(
      std::make_unique<EventstoreSession>(std::move(store), options.fixed));
}

}  // namespace blackout::engines
