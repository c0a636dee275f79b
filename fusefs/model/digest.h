// Digest: the 32-bit checksum the model puts in trace entries (the bytes of a
// write) and in tree hashes (page contents).
//
// CRC-32C (Castagnoli, the iSCSI/ext4 polynomial), computed with the SSE4.2
// crc32 instruction when the CPU has it (three chains at once on long
// inputs) and with a table otherwise; both give the same value. It replaced
// zlib's crc32, which was the largest cost of the write path (BENCHMARKS.md,
// "Profile of the write path").
#pragma once

#include <cstdint>
#include <string_view>

namespace blackout::model {

uint32_t Digest(std::string_view bytes);

// The table implementation alone (what Digest computes without SSE4.2).
uint32_t PortableDigest(std::string_view bytes);

}  // namespace blackout::model
