// CRC-32 as every original engine computes it: zlib.crc32(data) & 0xFFFFFFFF
// (IEEE 802.3, reflected, poly 0xEDB88320, init and xorout 0xFFFFFFFF).
#ifndef BLACKOUT_ENGINES_COMMON_CRC32_H_
#define BLACKOUT_ENGINES_COMMON_CRC32_H_

#include <cstdint>
#include <string_view>

namespace blackout::engines {

// Continues a running checksum: Crc32(b, Crc32(a)) == Crc32(a + b), as with
// zlib.crc32(b, zlib.crc32(a)).
uint32_t Crc32(std::string_view data, uint32_t crc = 0);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_COMMON_CRC32_H_
