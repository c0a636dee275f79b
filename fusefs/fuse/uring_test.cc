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

}  // namespace
}  // namespace blackout::fusefs
