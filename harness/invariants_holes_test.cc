#include "harness/invariants_holes.h"

#include <catch2/catch.hpp>

using namespace blackout::harness;
using nlohmann::json;

namespace {

const std::vector<std::string> kHoles = {"recovers", "no-resurrection", "exact-values",
                                         "replay-complete", "structure"};

Ack MakeAck(json request, json reply, bool synced = true) {
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

Ack Put(const std::string& k, const std::string& v) {
  return MakeAck({{"op", "put"}, {"key", k}, {"value", v}}, {{"ok", true}});
}
Ack Del(const std::string& k) { return MakeAck({{"op", "delete"}, {"key", k}}, {{"ok", true}}); }
Ack Append(const std::string& k, uint64_t seq) {
  return MakeAck({{"op", "append"}, {"key", k}, {"value", "v"}}, {{"ok", true}, {"seq", seq}});
}

CheckOutcome Check(StoreKind kind, std::vector<Ack> acks, const json& dump,
                   const LogicalState* base = nullptr, std::vector<std::string> problems = {}) {
  auto oracle = Oracle::Build(kind, std::move(acks), base);
  REQUIRE(oracle.ok());
  auto observed = ObservedState(kind, dump);
  REQUIRE(observed.ok());
  CheckInput in;
  in.oracle = &*oracle;
  in.contract = "acked";
  in.recovered = true;
  in.observed = *observed;
  in.check = kHoles;
  in.structure_checked = true;
  in.structure_problems = std::move(problems);
  return CheckInvariants(in);
}

json Kv(json data) { return {{"ok", true}, {"kind", "kv"}, {"data", std::move(data)}}; }

}  // namespace

TEST_CASE("no-resurrection reports a deleted key that comes back with its old value") {
  auto out = Check(StoreKind::kKeyValue, {Put("k", "old"), Del("k")}, Kv({{"k", "old"}}));
  REQUIRE(out.Violated() == std::vector<std::string>{"no-resurrection"});
  CHECK(out.violations[0].message.find("came back") != std::string::npos);
}

TEST_CASE("no-resurrection accepts a key deleted and written again") {
  auto out =
      Check(StoreKind::kKeyValue, {Put("k", "old"), Del("k"), Put("k", "new")}, Kv({{"k", "new"}}));
  CHECK(out.Violated().empty());
}

TEST_CASE("no-resurrection counts a key deleted after a crash step's recovered state") {
  LogicalState base = {{"k", "from-before-the-crash"}};
  auto out = Check(StoreKind::kKeyValue, {Del("k")}, Kv({{"k", "from-before-the-crash"}}), &base);
  CHECK(out.Violated() == std::vector<std::string>{"no-resurrection"});
}

TEST_CASE("exact-values names a recovered value that is a truncated copy") {
  auto out = Check(StoreKind::kKeyValue, {Put("b", "xyzxyz")}, Kv({{"b", "xyz"}}));
  REQUIRE(out.Violated() == std::vector<std::string>{"exact-values"});
  CHECK(out.violations[0].message.find("truncated") != std::string::npos);
}

TEST_CASE("exact-values names another key's value read back") {
  auto out = Check(StoreKind::kKeyValue, {Put("a", "AAA"), Put("b", "BBB")},
                   Kv({{"a", "AAA"}, {"b", "AAA"}}));
  REQUIRE(out.Violated() == std::vector<std::string>{"exact-values"});
  CHECK(out.violations[0].message.find("written to key \"a\"") != std::string::npos);
}

TEST_CASE("exact-values checks what a workload get returned against the acknowledged value") {
  Ack get = MakeAck({{"op", "get"}, {"key", "a"}}, {{"ok", true}, {"found", true}, {"value", "x"}});
  auto out = Check(StoreKind::kKeyValue, {Put("a", "xyz"), get}, Kv({{"a", "xyz"}}));
  REQUIRE(out.Violated() == std::vector<std::string>{"exact-values"});
  auto fine = Check(StoreKind::kKeyValue,
                    {Put("a", "x"), MakeAck({{"op", "get"}, {"key", "a"}},
                                            {{"ok", true}, {"found", true}, {"value", "x"}})},
                    Kv({{"a", "x"}}));
  CHECK(fine.Violated().empty());
}

TEST_CASE("replay-complete reports records appended after seq S that replay(after=S) skips") {
  // The seq restarted at 1 (H-W2): the record appended after the checkpoint
  // at seq 3 got seq 1 and replay(after=3) does not return it.
  Ack checkpoint = MakeAck({{"op", "checkpoint"}}, {{"ok", true}, {"seq", 3}});
  Ack truncate = MakeAck({{"op", "truncate"}, {"up_to", 3}}, {{"ok", true}});
  Ack replay = MakeAck({{"op", "replay"}, {"after", 3}}, {{"ok", true}, {"records", json::array()}});
  json dump = {{"ok", true},
               {"records", json::array({{{"seq", 1}, {"type", "PUT"}, {"key", "c"}, {"value", "v"}}})}};
  auto out = Check(StoreKind::kLog,
                   {Append("a", 1), Append("b", 2), checkpoint, truncate, Append("c", 1), replay},
                   dump);
  REQUIRE(out.Violated() == std::vector<std::string>{"replay-complete"});
  CHECK(out.violations[0].message.find("\"c\"") != std::string::npos);
}

TEST_CASE("replay-complete accepts a replay that returns every later record") {
  json rec = {{"seq", 2}, {"type", "PUT"}, {"key", "b"}, {"value", "v"}};
  Ack replay =
      MakeAck({{"op", "replay"}, {"after", 1}}, {{"ok", true}, {"records", json::array({rec})}});
  json dump = {{"ok", true},
               {"records", json::array({{{"seq", 1}, {"type", "PUT"}, {"key", "a"}, {"value", "v"}},
                                        rec})}};
  auto out = Check(StoreKind::kLog, {Append("a", 1), Append("b", 2), replay}, dump);
  CHECK(out.Violated().empty());
}

TEST_CASE("structure reports the problems the engine's verify answered") {
  auto out = Check(StoreKind::kKeyValue, {Put("a", "1")}, Kv({{"a", "1"}}), nullptr,
                   {"page 2 is reachable twice"});
  REQUIRE(out.Violated() == std::vector<std::string>{"structure"});
  CHECK(out.violations[0].message.find("page 2 is reachable twice") != std::string::npos);
}
