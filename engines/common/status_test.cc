#include "engines/common/status.h"

#include <catch2/catch.hpp>
#include <memory>

#include "engines/common/coding.h"
#include "engines/common/crc32.h"

namespace blackout::engines {
namespace {

struct Base {
  virtual ~Base() = default;
};
struct Derived : Base {};

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  BLACKOUT_ASSIGN_OR_RETURN(int h, Half(v));
  BLACKOUT_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

Status FailsOnOdd(int v) {
  BLACKOUT_RETURN_IF_ERROR(Half(v).status());
  return Status::OK();
}

TEST_CASE("Status messages carry the context and strerror", "[status]") {
  Status s = Status::IOError("open /x/y", 2);
  CHECK(s.IsIOError());
  CHECK(s.message() == "open /x/y: No such file or directory");
  CHECK(s.ToString() == "IO error: open /x/y: No such file or directory");
  CHECK(Status::OK().ToString() == "OK");
  CHECK(Status::Corruption("bad crc").ToString() == "Corruption: bad crc");
  CHECK(Status::Busy("locked").IsBusy());
  CHECK(Status::NotFound("k").code() == Status::kNotFound);
}

TEST_CASE("Result propagates errors through the macros", "[status]") {
  CHECK(*Quarter(8) == 2);
  Result<int> r = Quarter(6);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().IsInvalidArgument());
  CHECK(FailsOnOdd(2).ok());
  CHECK(FailsOnOdd(3).IsInvalidArgument());
  Result<std::unique_ptr<Base>> p = std::make_unique<Derived>();
  CHECK(p.ok());
  Result<int> from_ok = Status::OK();
  CHECK_FALSE(from_ok.ok());
}

TEST_CASE("Crc32 equals zlib.crc32", "[crc32]") {
  CHECK(Crc32("123456789") == 0xCBF43926u);
  CHECK(Crc32("") == 0u);
  CHECK(Crc32("6789", Crc32("12345")) == 0xCBF43926u);
}

TEST_CASE("coding packs like Python's struct", "[coding]") {
  std::string b;
  PutU32LE(&b, 0x01020304u);
  PutI32LE(&b, -1);
  PutU64BE(&b, 0x0102030405060708ull);
  PutF64LE(&b, 1.5);
  REQUIRE(b.size() == 24);
  CHECK(b.substr(0, 4) == std::string("\x04\x03\x02\x01", 4));
  CHECK(b.substr(4, 4) == std::string("\xff\xff\xff\xff", 4));
  CHECK(b.substr(8, 8) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  // struct.pack("<d", 1.5) == b"\x00\x00\x00\x00\x00\x00\xf8?"
  CHECK(b.substr(16, 8) == std::string("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8));
  CHECK(GetU32LE(b.data()) == 0x01020304u);
  CHECK(GetI32LE(b.data() + 4) == -1);
  CHECK(GetU64BE(b.data() + 8) == 0x0102030405060708ull);
  CHECK(GetF64LE(b.data() + 16) == 1.5);
  std::string s;
  PutU16BE(&s, 0xABCD);
  PutU32BE(&s, 7);
  CHECK(GetU16BE(s.data()) == 0xABCD);
  CHECK(GetU32BE(s.data() + 2) == 7);
}

}  // namespace
}  // namespace blackout::engines
