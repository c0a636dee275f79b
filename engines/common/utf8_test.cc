#include "engines/common/utf8.h"

#include <catch2/catch.hpp>
#include <string>

using blackout::engines::IsValidUtf8;

TEST_CASE("UTF-8 that Python decodes is accepted", "[utf8]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("caf\xC3\xA9"));           // é
  CHECK(IsValidUtf8("\xE2\x82\xAC"));          // €
  CHECK(IsValidUtf8("\xF0\x9F\x98\x80"));      // U+1F600
  CHECK(IsValidUtf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST_CASE("bytes that raise UnicodeDecodeError in Python are rejected", "[utf8]") {
  CHECK_FALSE(IsValidUtf8("\xC3"));              // a torn record cut a character in half
  CHECK_FALSE(IsValidUtf8("ab\xE2\x82"));        // truncated three-byte sequence at the end
  CHECK_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  CHECK_FALSE(IsValidUtf8("\xC3("));
}
