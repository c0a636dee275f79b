#include "harness/invariants.h"

#include <catch2/catch.hpp>

using namespace blackout::harness;
using nlohmann::json;

namespace {

const std::vector<std::string> kAll = {"recovers", "acked-durable", "prefix", "atomic-batches",
                                       "no-corruption"};

Ack MakeAck(json request, json reply, bool synced = false) {
  static int n = 0;
  Ack a;
  a.item = n;
  a.op_number = ++n;
  a.where = "$.workload[" + std::to_string(a.item) + "]";
  a.request = std::move(request);
  a.reply = std::move(reply);
  a.synced = synced;
  return a;
}

Ack Put(const std::string& k, const std::string& v, bool synced = false) {
  return MakeAck({{"op", "put"}, {"key", k}, {"value", v}}, {{"ok", true}}, synced);
}

CheckOutcome Check(StoreKind kind, std::vector<Ack> acks, const json& dump,
                   const std::string& contract) {
  auto oracle = Oracle::Build(kind, std::move(acks));
  REQUIRE(oracle.ok());
  auto observed = ObservedState(kind, dump);
  REQUIRE(observed.ok());
  CheckInput in;
  in.oracle = &*oracle;
  in.contract = contract;
  in.recovered = true;
  in.observed = *observed;
  in.check = kAll;
  return CheckInvariants(in);
}

json Kv(json data) { return {{"ok", true}, {"engine", "lsm"}, {"kind", "kv"}, {"data", data}}; }

}  // namespace

TEST_CASE("a store that kept every acknowledged write passes every invariant") {
  auto out = Check(
      StoreKind::kKeyValue,
      {Put("a", "1"), Put("b", "2"), Put("a", "3"),
       MakeAck({{"op", "delete"}, {"key", "b"}}, {{"ok", true}}),
       MakeAck({{"op", "get"}, {"key", "a"}}, {{"ok", true}, {"found", true}, {"value", "3"}})},
      Kv({{"a", "3"}}), "acked");
  CHECK(out.violations.empty());
  CHECK(out.acked_writes == 4);  // the get is not a write
  CHECK(out.lost_writes == 0);
}

TEST_CASE(
    "lost acknowledged puts violate acked-durable under an 'acked' contract and are counted") {
  auto out = Check(StoreKind::kKeyValue, {Put("a", "1", true), Put("b", "2"), Put("c", "3")},
                   Kv({{"a", "1"}}), "acked");
  CHECK(out.Violated() == std::vector<std::string>{"acked-durable"});  // still a prefix
  CHECK(out.lost_writes == 2);
  CHECK(out.promised_lost == 2);
  CHECK(out.violations[0].message.find("2 of 3 acknowledged writes") != std::string::npos);
}

TEST_CASE(
    "the same loss is within a 'none' contract, and within 'synced-prefix' after the last sync") {
  std::vector<Ack> acks = {Put("a", "1"), Put("b", "2", true), Put("c", "3")};
  auto none = Check(StoreKind::kKeyValue, acks, Kv({{"a", "1"}, {"b", "2"}}), "none");
  CHECK(none.violations.empty());
  CHECK(none.lost_writes == 1);
  auto synced = Check(StoreKind::kKeyValue, acks, Kv({{"a", "1"}, {"b", "2"}}), "synced-prefix");
  CHECK(synced.violations.empty());
  auto too_much = Check(StoreKind::kKeyValue, acks, Kv({{"a", "1"}}), "synced-prefix");
  CHECK(too_much.Violated() == std::vector<std::string>{"acked-durable"});
}

TEST_CASE("a hole (a later write survived, an earlier one did not) violates prefix") {
  auto out = Check(StoreKind::kKeyValue, {Put("a", "1"), Put("b", "2"), Put("c", "3")},
                   Kv({{"a", "1"}, {"c", "3"}}), "none");
  CHECK(out.Violated() == std::vector<std::string>{"prefix"});
  CHECK(out.violations[0].message.find("was lost, but the later") != std::string::npos);
}

TEST_CASE("an older value of an overwritten key is a loss, a value never written is corruption") {
  auto older =
      Check(StoreKind::kKeyValue, {Put("a", "1"), Put("a", "2")}, Kv({{"a", "1"}}), "acked");
  CHECK(older.Violated() == std::vector<std::string>{"acked-durable"});
  auto garbage =
      Check(StoreKind::kKeyValue, {Put("a", "1")}, Kv({{"a", "1\x01"}, {"zz", "?"}}), "none");
  CHECK(garbage.Violated() == std::vector<std::string>{"no-corruption", "no-corruption", "prefix"});
}

TEST_CASE("a deleted key that comes back is a lost acknowledged delete") {
  auto out = Check(StoreKind::kKeyValue,
                   {Put("a", "1"), MakeAck({{"op", "delete"}, {"key", "a"}}, {{"ok", true}})},
                   Kv({{"a", "1"}}), "acked");
  CHECK(out.Violated() == std::vector<std::string>{"acked-durable"});
}

TEST_CASE("wal records are matched by seq, batches must survive whole, truncate removes records") {
  std::vector<Ack> acks = {
      MakeAck({{"op", "append"}, {"key", "k1"}, {"value", "v1"}}, {{"ok", true}, {"seq", 1}}),
      MakeAck({{"op", "append_batch"},
               {"items", {{{"key", "a"}, {"value", "1"}}, {{"type", "DELETE"}, {"key", "b"}}}}},
              {{"ok", true}, {"seq", 4}}),
  };
  auto rec = [](int seq, const char* type, const char* k, const char* v) {
    return json{{"seq", seq}, {"type", type}, {"key", k}, {"value", v}};
  };
  auto log = [](json records) { return json{{"ok", true}, {"kind", "log"}, {"records", records}}; };
  auto whole =
      Check(StoreKind::kLog, acks,
            log({rec(1, "PUT", "k1", "v1"), rec(2, "PUT", "a", "1"), rec(3, "DELETE", "b", "")}),
            "acked");
  CHECK(whole.violations.empty());
  auto torn = Check(StoreKind::kLog, acks,
                    log({rec(1, "PUT", "k1", "v1"), rec(2, "PUT", "a", "1")}), "none");
  CHECK(torn.Violated() == std::vector<std::string>{"atomic-batches"});

  acks.push_back(MakeAck({{"op", "checkpoint"}}, {{"ok", true}, {"seq", 5}}));
  acks.push_back(MakeAck({{"op", "truncate"}, {"up_to", 2}}, {{"ok", true}}));
  auto truncated = Check(StoreKind::kLog, acks, log({rec(3, "DELETE", "b", "")}), "acked");
  std::string messages;
  for (const auto& v : truncated.violations) messages += v.message + "\n";
  INFO(messages);
  CHECK(truncated.violations.empty());
  CHECK(truncated.acked_writes == 4);
}

TEST_CASE("events are matched by id and their content") {
  std::vector<Ack> acks = {
      MakeAck({{"op", "append"}, {"stream", "s"}, {"type", "T"}, {"data", {{"n", 1}}}},
              {{"ok", true}, {"event_id", 1}}),
      MakeAck({{"op", "append_batch"},
               {"stream", "s"},
               {"events",
                {{{"type", "A"}, {"data", json::object()}}, {{"type", "B"}, {"data", {1, 2}}}}}},
              {{"ok", true}, {"event_ids", {2, 3}}}),
  };
  auto ev = [](int id, const char* type, json data) {
    return json{{"event_id", id}, {"stream", "s"}, {"type", type}, {"data", data}};
  };
  auto dump = [](json events) {
    return json{{"ok", true}, {"kind", "events"}, {"events", events}};
  };
  CHECK(Check(StoreKind::kEvents, acks,
              dump({ev(1, "T", {{"n", 1}}), ev(2, "A", json::object()), ev(3, "B", {1, 2})}),
              "acked")
            .violations.empty());
  auto lost = Check(StoreKind::kEvents, acks, dump({ev(1, "T", {{"n", 1}})}), "none");
  CHECK(lost.violations.empty());
  CHECK(lost.lost_writes == 1);
  auto changed = Check(StoreKind::kEvents, acks, dump({ev(1, "T", {{"n", 2}})}), "none");
  CHECK(changed.Violated() == std::vector<std::string>{"no-corruption", "prefix"});
}

TEST_CASE("a store that does not recover fails recovers and loses everything") {
  auto oracle = Oracle::Build(StoreKind::kKeyValue, {Put("a", "1")});
  REQUIRE(oracle.ok());
  CheckInput in;
  in.oracle = &*oracle;
  in.recovered = false;
  in.recovery_error = "recovery did not finish within 5 s";
  in.check = kAll;
  auto out = CheckInvariants(in);
  CHECK(out.Violated() == std::vector<std::string>{"recovers"});
  CHECK(out.lost_writes == 1);
}

TEST_CASE("a reply without the seq the protocol promises is an error, not a silent pass") {
  auto oracle =
      Oracle::Build(StoreKind::kLog, {MakeAck({{"op", "append"}, {"key", "k"}}, {{"ok", true}})});
  REQUIRE_FALSE(oracle.ok());
  CHECK(oracle.error().find("has no integer \"seq\"") != std::string::npos);
}

TEST_CASE("the oracle groups its writes by key in key order, each write placed once") {
  auto oracle = Oracle::Build(StoreKind::kKeyValue,
                              {Put("b", "1"), Put("a", "2"), Put("b", "3"),
                               MakeAck({{"op", "delete"}, {"key", "a"}}, {{"ok", true}})});
  REQUIRE(oracle.ok());
  const auto& keys = oracle->keys();
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].key == "a");
  CHECK(keys[1].key == "b");
  CHECK(keys[0].count == 2);  // the put and the delete, in unit order
  CHECK(keys[1].count == 2);
  CHECK(oracle->write_count() == 4);
  CHECK(oracle->written_at(keys[0].first) == std::pair<int, size_t>{1, 0});
  CHECK(oracle->written_at(keys[0].first + 1) == std::pair<int, size_t>{3, 0});
  CHECK(oracle->written_at(keys[1].first) == std::pair<int, size_t>{0, 0});
  CHECK(oracle->written_at(keys[1].first + 1) == std::pair<int, size_t>{2, 0});
  // place() is the inverse of written_at().
  for (size_t w = 0; w < oracle->write_count(); ++w) {
    const auto [u, i] = oracle->written_at(w);
    CHECK(oracle->place(u, i).second == w);
  }
  // A copy checks as the original does (the index holds positions, not pointers).
  const Oracle copy = *oracle;
  CheckInput in;
  in.oracle = &copy;
  in.contract = "acked";
  in.recovered = true;
  in.observed = {{"b", "1"}};
  in.check = kAll;
  const CheckOutcome out = CheckInvariants(in);
  CHECK(out.lost_writes == 1);  // b=3; a's put and delete leave it absent, as recovered
  // {b: 1} is the state after the first put: a loss, but no hole.
  CHECK(out.Violated() == std::vector<std::string>{"acked-durable"});
}
