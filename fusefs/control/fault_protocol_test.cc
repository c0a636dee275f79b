// The fault commands of the control protocol (fault_protocol.h), answered by
// a ControlServer over an in-memory model (no socket, no FUSE).
// Reproduce with: build/fusefs/control/control_faults_test "<test name>"
#include "fusefs/control/fault_protocol.h"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "fusefs/control/server.h"

using nlohmann::json;
using namespace blackout;

namespace {

const model::Caller kWho{1000, 1000, 1, 022};

}  // namespace

TEST_CASE("fail makes matching writes answer the errno until clear-faults") {
  model::Filesystem fs;
  control::ControlServer server(fs, {});
  json r = server.Handle(
      {{"cmd", "fail"}, {"op", "write"}, {"path", "*.log"}, {"errno", "ENOSPC"}, {"nth", 2}});
  REQUIRE(r["ok"] == true);
  CHECK(r["rules"] == 1);
  auto c = fs.Create(model::kRootIno, "a.log", 0644, O_WRONLY | O_CREAT, kWho);
  REQUIRE(c.ok());
  CHECK(fs.Write(c->fh, 0, "1", kWho).ok());
  CHECK(fs.Write(c->fh, 1, "2", kWho).error() == ENOSPC);
  CHECK(fs.Write(c->fh, 1, "2", kWho).ok());  // nth: that one only
  json listing = server.Handle({{"cmd", "faults"}});
  REQUIRE(listing["ok"] == true);
  CHECK(listing["rules"][0]["fired"] == 1);
  CHECK(listing["rules"][0]["errno"] == "ENOSPC");
  CHECK(listing["trigger"].is_null());
  CHECK(server.Handle({{"cmd", "clear-faults"}})["ok"] == true);
  CHECK(server.Handle({{"cmd", "faults"}})["rules"].empty());
}

TEST_CASE("crash-after arms a trigger that the faults listing shows until it fires") {
  model::Filesystem fs;
  control::ControlServer server(fs, {});
  json r = server.Handle(
      {{"cmd", "crash-after"}, {"op", "fsync"}, {"path", "*.log"}, {"nth", 1}, {"before", true}});
  REQUIRE(r["ok"] == true);
  json listing = server.Handle({{"cmd", "faults"}});
  CHECK(listing["trigger"]["op"] == "fsync");
  CHECK(listing["trigger"]["before"] == true);
  CHECK(listing["triggers"].size() == 1);
  auto c = fs.Create(model::kRootIno, "a.log", 0644, O_WRONLY | O_CREAT, kWho);
  REQUIRE(c.ok());
  CHECK(fs.Fsync(c->fh, false, kWho).error() == EIO);
  listing = server.Handle({{"cmd", "faults"}});
  CHECK(listing["trigger"].is_null());
  CHECK(listing["triggers"].empty());
  CHECK(listing["triggered_cuts"] == 1);
}

TEST_CASE("bad fault requests are refused with the field and the accepted values") {
  model::Filesystem fs;
  control::ControlServer server(fs, {});
  auto error = [&](json request) {
    json r = server.Handle(request);
    CHECK(r["ok"] == false);
    return r.value("error", std::string());
  };
  CHECK_THAT(error({{"cmd", "fail"}, {"op", "frob"}}),
             Catch::Contains("unknown op 'frob'") && Catch::Contains("fallocate"));
  CHECK_THAT(error({{"cmd", "fail"}, {"op", "write"}, {"errno", "EPERM"}}),
             Catch::Contains("unknown errno") && Catch::Contains("EDQUOT"));
  CHECK_THAT(error({{"cmd", "fail"}, {"op", "write"}, {"path", "[a"}}),
             Catch::Contains("invalid path glob"));
  CHECK_THAT(error({{"cmd", "fail"}, {"op", "write"}, {"nth", 1}, {"from", 2}}),
             Catch::Contains("not both"));
  CHECK_THAT(error({{"cmd", "fail"}}), Catch::Contains("missing \"op\""));
  CHECK_THAT(error({{"cmd", "crash-after"}, {"op", "fsync"}, {"nth", 0}}),
             Catch::Contains("positive integer"));
  CHECK_THAT(error({{"cmd", "crash-after"}, {"op", "fsync"}, {"save", "yes"}}),
             Catch::Contains("\"save\" must be true or false"));
  CHECK_THAT(error({{"cmd", "crash-after"}, {"op", "fsync"}, {"every", true}}),
             Catch::Contains("\"every\" needs \"save\""));
  CHECK_THAT(error({{"cmd", "crash-after"}, {"op", "fsync"}, {"stop", 1}}),
             Catch::Contains("\"stop\" must be true or false"));
  CHECK_THAT(error({{"cmd", "crash-after"}, {"op", "fsync"}, {"stop", true}, {"save", true}}),
             Catch::Contains("a saving trigger cuts nothing"));
  CHECK(fs.Faults().empty());
}

TEST_CASE("ctl fault options build the request or name the misused option") {
  control::FaultArgs a;
  a.op = "fsync";
  a.path = "*.log";
  a.nth = 3;
  auto r = control::FaultCtlRequest("crash-after", a);
  REQUIRE(r.ok());
  CHECK((*r)["before"] == false);
  CHECK((*r)["nth"] == 3);
  a.err = "EIO";
  CHECK_THAT(control::FaultCtlRequest("crash-after", a).error(), Catch::Contains("fail only"));
  a.err.clear();
  a.save = true;
  auto saving = control::FaultCtlRequest("crash-after", a);
  REQUIRE(saving.ok());
  CHECK((*saving)["save"] == true);
  a.every = true;
  auto every = control::FaultCtlRequest("crash-after", a);
  REQUIRE(every.ok());
  CHECK((*every)["every"] == true);
  a.every = false;
  CHECK_THAT(control::FaultCtlRequest("fail", a).error(), Catch::Contains("crash-after only"));
  a.save = false;
  CHECK_THAT(control::FaultCtlRequest("status", a).error(),
             Catch::Contains("fail and crash-after only"));
  control::FaultArgs none;
  CHECK_THAT(control::FaultCtlRequest("fail", none).error(), Catch::Contains("needs --op"));
  CHECK(control::FaultCtlRequest("clear-faults", none).ok());
}

TEST_CASE("capacity sizes parse with K, M, G suffixes and refuse junk") {
  CHECK(*control::ParseByteSize("4096") == 4096);
  CHECK(*control::ParseByteSize("64K") == 65536);
  CHECK(*control::ParseByteSize("10MB") == 10u << 20);
  CHECK(*control::ParseByteSize("1g") == uint64_t{1} << 30);
  CHECK_FALSE(control::ParseByteSize("0").ok());
  CHECK_FALSE(control::ParseByteSize("12Q").ok());
  CHECK_FALSE(control::ParseByteSize("").ok());
  CHECK_FALSE(control::ParseByteSize("99999999999999999999").ok());
}
