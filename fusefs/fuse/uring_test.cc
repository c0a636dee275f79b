// EnableFuseUring against a stand-in for the fuse module's parameter file:
// what `blackout mount --io-uring` says and does on each kind of kernel.
#include "fusefs/fuse/uring.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace blackout::fusefs {
namespace {

struct ParamDir {
  ParamDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "uring-param-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~ParamDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string Write(const std::string& value) const {
    const std::string path = dir + "/enable_uring";
    std::ofstream(path) << value << "\n";
    return path;
  }
  std::string Read() const {
    std::ifstream in(dir + "/enable_uring");
    std::string v;
    std::getline(in, v);
    return v;
  }
  std::string dir;
};

TEST_CASE("a kernel without the parameter: refused, naming the file and what is needed") {
  ParamDir d;
  std::string why;
  CHECK_FALSE(EnableFuseUring(true, &why, d.dir + "/enable_uring"));
  CHECK(why.find(d.dir + "/enable_uring is missing") != std::string::npos);
  CHECK(why.find("6.14") != std::string::npos);
}

TEST_CASE("the parameter already on: accepted and left alone") {
  ParamDir d;
  const std::string path = d.Write("Y");
  std::string why;
  CHECK(EnableFuseUring(false, &why, path));
  CHECK(EnableFuseUring(true, &why, path));
  CHECK(d.Read() == "Y");
}

TEST_CASE("the parameter off: turned on when asked, reported otherwise") {
  ParamDir d;
  const std::string path = d.Write("N");
  std::string why;
  CHECK_FALSE(EnableFuseUring(false, &why, path));
  CHECK(why.find(path + " is N") != std::string::npos);
  CHECK(d.Read() == "N");
  CHECK(EnableFuseUring(true, &why, path));
  CHECK(d.Read() == "Y");
}

TEST_CASE("the parameter off and not writable: refused, naming the file") {
  // /proc/version reads as something other than Y and refuses writes, even
  // from root (a plain file would not: root writes through its mode).
  std::string why;
  CHECK_FALSE(EnableFuseUring(true, &why, "/proc/version"));
  CHECK(why.find("/proc/version is not writable") != std::string::npos);
}

TEST_CASE("transport names: auto, io-uring, dev-fuse; nothing else") {
  Transport t = Transport::kAuto;
  CHECK(ParseTransport("io-uring", &t));
  CHECK(t == Transport::kIoUring);
  CHECK(ParseTransport("dev-fuse", &t));
  CHECK(t == Transport::kDevFuse);
  CHECK(ParseTransport("auto", &t));
  CHECK(t == Transport::kAuto);
  CHECK_FALSE(ParseTransport("io_uring", &t));
  CHECK_FALSE(ParseTransport("", &t));
}

// What `blackout mount` asks the kernel for, with and without --io-uring or
// --dev-fuse, on each kind of kernel.
TEST_CASE("by default the ring is used where the module has it, and turned on as root") {
  ParamDir d;
  bool ring = false;
  std::string why_not, error;
  SECTION("parameter on") {
    const std::string path = d.Write("Y");
    REQUIRE(PlanTransport(Transport::kAuto, false, &ring, &why_not, &error, path));
    CHECK(ring);
  }
  SECTION("parameter off, root: turned on") {
    const std::string path = d.Write("N");
    REQUIRE(PlanTransport(Transport::kAuto, true, &ring, &why_not, &error, path));
    CHECK(ring);
    CHECK(d.Read() == "Y");
  }
  SECTION("parameter off, not root: /dev/fuse, saying why, parameter untouched") {
    const std::string path = d.Write("N");
    REQUIRE(PlanTransport(Transport::kAuto, false, &ring, &why_not, &error, path));
    CHECK_FALSE(ring);
    CHECK(why_not.find(path + " is N") != std::string::npos);
    CHECK(d.Read() == "N");
  }
  SECTION("no ring in the kernel: /dev/fuse, not an error") {
    REQUIRE(
        PlanTransport(Transport::kAuto, true, &ring, &why_not, &error, d.dir + "/enable_uring"));
    CHECK_FALSE(ring);
    CHECK(why_not.find("6.14") != std::string::npos);
    CHECK(error.empty());
  }
}

TEST_CASE("--io-uring fails where the ring cannot be had; --dev-fuse never asks for it") {
  ParamDir d;
  bool ring = true;
  std::string why_not, error;
  CHECK_FALSE(
      PlanTransport(Transport::kIoUring, true, &ring, &why_not, &error, d.dir + "/enable_uring"));
  CHECK_FALSE(ring);
  CHECK(error.find("is missing") != std::string::npos);
  const std::string path = d.Write("N");
  REQUIRE(PlanTransport(Transport::kDevFuse, true, &ring, &why_not, &error, path));
  CHECK_FALSE(ring);
  CHECK(d.Read() == "N");
  error.clear();
  CHECK_FALSE(PlanTransport(Transport::kIoUring, true, &ring, &why_not, &error, "/proc/version"));
  CHECK(error.find("/proc/version is not writable") != std::string::npos);
}

}  // namespace
}  // namespace blackout::fusefs
