#include "engines/common/buffered_file.h"

#include <catch2/catch.hpp>

#include "engines/common/mem_env.h"

namespace blackout::engines {
namespace {

using Calls = std::vector<std::string>;

std::unique_ptr<BufferedFile> OpenOrDie(MemEnv& env, const std::string& path, OpenMode mode) {
  auto f = BufferedFile::Open(&env, path, mode);
  REQUIRE(f.ok());
  return std::move(f).value();
}

TEST_CASE("BufferedFile holds small appends until flush, like CPython", "[buffered_file]") {
  MemEnv env("/db");
  auto f = OpenOrDie(env, "/db/a", OpenMode::kAppend);
  REQUIRE(f->Append("hello").ok());
  REQUIRE(f->Append(" world").ok());
  CHECK(env.Calls() == Calls{"open a O_APPEND|O_CREAT|O_WRONLY"});
  CHECK(f->Tell() == 11);
  REQUIRE(f->Flush().ok());
  REQUIRE(f->Flush().ok());  // an empty buffer issues no write
  CHECK(env.Calls() == Calls{"open a O_APPEND|O_CREAT|O_WRONLY", "write a 11"});
  REQUIRE(f->Close().ok());
}

TEST_CASE("BufferedFile buffers 4 KiB on MemEnv, like CPython on ext4 and FUSE",
          "[buffered_file]") {
  MemEnv env("/db");
  auto f = OpenOrDie(env, "/db/a", OpenMode::kAppend);
  CHECK(f->buffer_size() == 4096);
}

// Sequences checked against strace of CPython 3.11 writing to a file.
TEST_CASE("BufferedFile writes through exactly when the buffer would overflow", "[buffered_file]") {
  MemEnv env("/db");
  auto fr = BufferedFile::Open(&env, "/db/a", OpenMode::kWrite, 8192);
  REQUIRE(fr.ok());
  auto f = std::move(fr).value();
  env.ClearCalls();
  // Filling the buffer exactly to 8 KiB writes nothing.
  REQUIRE(f->Append(std::string(8000, 'a')).ok());
  REQUIRE(f->Append(std::string(192, 'b')).ok());
  CHECK(env.Calls().empty());
  // One more byte: the full buffer goes out, the byte is buffered.
  REQUIRE(f->Append("c").ok());
  CHECK(env.Calls() == Calls{"write a 8192"});
  CHECK(f->buffered() == 1);
  env.ClearCalls();
  // Data of exactly 8 KiB that does not fit: flush, then buffered (CPython's
  // direct write needs more than a whole buffer).
  REQUIRE(f->Append(std::string(8192, 'd')).ok());
  CHECK(env.Calls() == Calls{"write a 1"});
  CHECK(f->buffered() == 8192);
  env.ClearCalls();
  // Data larger than the buffer: flush, then written directly in one call.
  REQUIRE(f->Append(std::string(9000, 'e')).ok());
  const auto calls = env.Calls();
  REQUIRE(calls.size() == 1);  // the two writes are consecutive, so merged
  CHECK(calls[0] == "write a 17192");
  CHECK(f->buffered() == 0);
  CHECK(f->Tell() == 8192 + 1 + 8192 + 9000);
  CHECK(env.ReadFileForTest("/db/a").size() == f->Tell());
}

TEST_CASE("BufferedFile close flushes but never fsyncs; sync does", "[buffered_file]") {
  MemEnv env("/db");
  auto f = OpenOrDie(env, "/db/a", OpenMode::kAppend);
  REQUIRE(f->Append("xy").ok());
  REQUIRE(f->Sync().ok());
  REQUIRE(f->Append("z").ok());
  REQUIRE(f->Close().ok());
  CHECK(env.Calls() ==
        Calls{"open a O_APPEND|O_CREAT|O_WRONLY", "write a 2", "fsync a", "write a 1"});
  CHECK_FALSE(f->Append("more").ok());
  env.CrashPower();
  CHECK(env.Exists("/db/a") == false);  // its entry was never made durable
}

TEST_CASE("BufferedFile destroyed without close loses its buffer", "[buffered_file]") {
  MemEnv env("/db");
  {
    auto f = OpenOrDie(env, "/db/a", OpenMode::kAppend);
    REQUIRE(f->Append("flushed").ok());
    REQUIRE(f->Flush().ok());
    REQUIRE(f->Append("lost").ok());
  }
  CHECK(env.ReadFileForTest("/db/a") == "flushed");
}

TEST_CASE("BufferedFile in append mode starts at the end of the file", "[buffered_file]") {
  MemEnv env("/db");
  env.WriteFileForTest("/db/a", "0123456789");
  auto f = OpenOrDie(env, "/db/a", OpenMode::kAppend);
  CHECK(f->Tell() == 10);
  REQUIRE(f->Append("ab").ok());
  CHECK(f->Tell() == 12);
  REQUIRE(f->Close().ok());
  CHECK(env.ReadFileForTest("/db/a") == "0123456789ab");
}

TEST_CASE("BufferedFile read-write mode reads its own writes and seeks", "[buffered_file]") {
  MemEnv env("/db");
  auto f = OpenOrDie(env, "/db/a", OpenMode::kReadWriteCreate);
  REQUIRE(f->Append("abcdef").ok());
  auto r = f->ReadAt(2, 3);  // flushes first
  REQUIRE(r.ok());
  CHECK(*r == "cde");
  REQUIRE(f->Seek(1).ok());
  auto r2 = f->Read(2);
  REQUIRE(r2.ok());
  CHECK(*r2 == "bc");
  CHECK(f->Tell() == 3);
  REQUIRE(f->Append("XY").ok());  // overwrites at the position after the read
  REQUIRE(f->Truncate(5).ok());
  CHECK(env.ReadFileForTest("/db/a") == "abcXY");
  REQUIRE(f->Close().ok());
}

}  // namespace
}  // namespace blackout::engines
