// WriteData (the bytes of a pending write, sharing whole pages with the views)
// and Digest (CRC-32C).
#include "fusefs/model/page_store.h"

#include <catch2/catch.hpp>
#include <string>

#include "fusefs/model/digest.h"

namespace blackout::model {
namespace {

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

std::string ReadAll(const PageMap& pages, uint64_t size) {
  std::string out(size, '\x55');  // not zeros: a hole must be written as zeros
  out.resize(ReadPages(pages, size, 0, size, out.data()));
  return out;
}

TEST_CASE("a write's bytes read back the same at any alignment and length") {
  for (uint64_t offset : {0ul, 1ul, 4095ul, 4096ul, 5000ul}) {
    for (size_t len : {1ul, 100ul, 4096ul, 4097ul, 3 * 4096ul, 3 * 4096ul + 10}) {
      const std::string bytes = Pattern(len, static_cast<char>(offset + len));
      WriteData w(offset, bytes);
      CHECK(w.size() == len);
      CHECK(w.ToString() == bytes);
      PageMap pages;
      WriteBytes(pages, 0, std::string(offset + len + 50, 'o'));
      w.ApplyTo(pages);
      std::string expect(offset + len + 50, 'o');
      expect.replace(offset, len, bytes);
      CHECK(ReadAll(pages, expect.size()) == expect);
    }
  }
}

TEST_CASE("a torn prefix of a write keeps exactly its first bytes") {
  const std::string bytes = Pattern(3 * 4096 + 300, 'a');
  WriteData w(1000, bytes);
  for (size_t n : {1ul, 3095ul, 3096ul, 4000ul, 7192ul, 7193ul, bytes.size()}) {
    WriteData p = w.Prefix(n);
    CHECK(p.size() == n);
    CHECK(p.ToString() == bytes.substr(0, n));
    PageMap pages;
    p.ApplyTo(pages);
    CHECK(ReadAll(pages, 1000 + n).substr(1000) == bytes.substr(0, n));
  }
}

TEST_CASE("a pending write and the view share whole pages, and a later write does not change it") {
  const std::string first(2 * 4096, 'x');
  WriteData w(0, first);
  PageMap vol;
  CHECK(w.ApplyTo(vol) == 2);
  // One copy of the bytes: the view holds the write's own pages.
  CHECK(vol.at(0).use_count() == 2);
  WriteBytes(vol, 10, "later");  // copy-on-write: the pending bytes stay
  CHECK(w.ToString() == first);
  CHECK(ReadAll(vol, first.size()).substr(10, 5) == "later");
}

TEST_CASE("digest is CRC-32C") {
  CHECK(Digest("123456789") == 0xE3069283u);  // the standard check value
  CHECK(Digest("") == 0u);
  const std::string big = Pattern(100000, 'q');
  CHECK(Digest(big) != Digest(big.substr(1)));
}

TEST_CASE("digest: the fast path (three chains on long inputs) equals the table at every length") {
  std::string bytes;
  uint32_t x = 12345;
  for (int i = 0; i < 3 * 4096 + 100; ++i) {
    x = x * 1103515245 + 12345;
    bytes.push_back(static_cast<char>(x >> 16));
  }
  CHECK(PortableDigest("123456789") == 0xE3069283u);
  for (size_t len = 0; len <= bytes.size(); len += (len < 8200 ? 1 : 7)) {
    for (size_t start : {0ul, 1ul, 5ul}) {
      if (start > len) continue;
      const std::string_view v(bytes.data() + start, len - start);
      INFO("start " << start << " length " << v.size());
      REQUIRE(Digest(v) == PortableDigest(v));
    }
  }
}

}  // namespace
}  // namespace blackout::model
