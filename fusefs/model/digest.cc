#include "fusefs/model/digest.h"

#include <array>
#include <cstring>

namespace blackout::model {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // CRC-32C, reflected

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t Software(uint32_t crc, const unsigned char* p, size_t n) {
  while (n--) crc = kTable[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The crc32 instruction takes a cycle per 8 bytes but three cycles before
// its result is there, so one chain of it runs at a third of its speed.
// Long inputs go three blocks of kBlock bytes at a time, one chain each,
// combined after: the CRC register after a block is linear in the register
// before it, so the first chain's value is carried over a block by
// ShiftOverBlock (the register after kBlock zero bytes, by table) and XORed
// with the next chain's, which started from zero.
constexpr size_t kBlock = 1360;  // 3 * kBlock fits a 4 KiB page

__attribute__((target("sse4.2"))) uint32_t OverZeros(uint32_t crc) {
  uint64_t c = crc;
  for (size_t i = 0; i < kBlock; i += 8) c = __builtin_ia32_crc32di(c, 0);
  return static_cast<uint32_t>(c);
}

// Shift().t[k][b]: OverZeros of byte value b at byte k of the register.
struct ShiftTable {
  uint32_t t[4][256];
};
const ShiftTable& Shift() {
  static const ShiftTable table = [] {
    ShiftTable s{};
    for (uint32_t k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) s.t[k][b] = OverZeros(b << (8 * k));
    }
    return s;
  }();
  return table;
}

uint32_t ShiftOverBlock(uint32_t crc) {
  const auto& t = Shift().t;
  return t[0][crc & 0xFF] ^ t[1][(crc >> 8) & 0xFF] ^ t[2][(crc >> 16) & 0xFF] ^ t[3][crc >> 24];
}

__attribute__((target("sse4.2"))) uint32_t Hardware(uint32_t crc, const unsigned char* p,
                                                    size_t n) {
  uint64_t c = crc;
  for (; n >= 3 * kBlock; n -= 3 * kBlock, p += 3 * kBlock) {
    uint64_t c1 = 0;
    uint64_t c2 = 0;
    for (size_t i = 0; i < kBlock; i += 8) {
      uint64_t a, b, d;
      std::memcpy(&a, p + i, 8);
      std::memcpy(&b, p + kBlock + i, 8);
      std::memcpy(&d, p + 2 * kBlock + i, 8);
      c = __builtin_ia32_crc32di(c, a);
      c1 = __builtin_ia32_crc32di(c1, b);
      c2 = __builtin_ia32_crc32di(c2, d);
    }
    c = ShiftOverBlock(ShiftOverBlock(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1)) ^
        static_cast<uint32_t>(c2);
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  crc = static_cast<uint32_t>(c);
  for (; n > 0; --n) crc = __builtin_ia32_crc32qi(crc, *p++);
  return crc;
}

bool HasHardware() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

uint32_t PortableDigest(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return ~Software(0xFFFFFFFF, p, bytes.size());
}

uint32_t Digest(std::string_view bytes) {
#if defined(__x86_64__)
  if (HasHardware()) {
    return ~Hardware(0xFFFFFFFF, reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  }
#endif
  return PortableDigest(bytes);
}

}  // namespace blackout::model
