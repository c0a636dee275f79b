// On-disk encodings of the WAL (FORMAT.md): REF's record format for the
// default profile and the checksummed, framed format of the fixed profile.
// Shared by wal.cc and the tests that craft or damage files.
#ifndef BLACKOUT_ENGINES_WAL_WAL_FORMAT_H_
#define BLACKOUT_ENGINES_WAL_WAL_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace blackout::engines::wal_format {

inline constexpr uint8_t kOpPut = 1;
inline constexpr uint8_t kOpDelete = 2;
inline constexpr uint8_t kOpCommit = 3;
inline constexpr uint8_t kOpCheckpoint = 4;
inline constexpr uint8_t kOpBegin = 5;  // fixed profile only

// "PUT" -> 1 etc.; 0 for a name REF's OP_BYTES does not know (BEGIN only
// when `fixed`).
uint8_t OpByte(std::string_view name, bool fixed);
// 1 -> "PUT" etc.; "UNKNOWN" otherwise (BEGIN only when `fixed`).
std::string OpName(uint8_t op, bool fixed);

// ---- Default profile (REF) ------------------------------------------------
// struct.pack("<IIQBi", len, crc, seq, op, klen) + key + pack("<i", vlen) + value,
// crc = crc32(op byte + key + value), len = 21 + klen + vlen.
std::string EncodeRef(uint64_t seq, uint8_t op, std::string_view key, std::string_view value);

enum class RefOutcome {
  kRecord,       // a record was read
  kEnd,          // short read: EOF or torn tail (REF returns None)
  kValueError,   // CRC mismatch or invalid UTF-8 (REF raises ValueError)
  kStructError,  // misframed lengths (REF raises struct.error, which nobody catches)
};
struct RefRead {
  RefOutcome outcome = RefOutcome::kEnd;
  uint64_t seq = 0;
  uint8_t op = 0;
  std::string key, value;
  uint32_t crc = 0;
  std::string error;
};
// REF's _read_record on `data` at *pos, with Python's slicing and
// struct.unpack_from semantics for misframed lengths; advances *pos past the
// record (by 4 + record_length) whenever the length and body were read.
RefRead ReadRef(std::string_view data, size_t* pos);

// ---- Fixed profile ------------------------------------------------------------
// Segment header: "BLKWAL2\n" + u64le seq floor + u32le crc32(first 16 bytes).
inline constexpr std::string_view kMagic = "BLKWAL2\n";
inline constexpr size_t kHeaderSize = 20;
// Record: u32le crc | u32le len | body, body = u64le seq | u8 op | u32le klen |
// key | u32le vlen | value; crc = crc32(len field + body).
inline constexpr size_t kMinBody = 17;
inline constexpr uint32_t kMaxBody = 256u << 20;  // sanity bound on a length field

std::string EncodeHeader(uint64_t floor);
std::string EncodeFixed(uint64_t seq, uint8_t op, std::string_view key, std::string_view value);

struct FixedRecord {
  uint64_t seq = 0;
  uint8_t op = 0;
  std::string key, value;
  uint32_t crc = 0;
  size_t offset = 0;  // where the record starts
  size_t end = 0;     // one past its last byte
};
struct FixedSegment {
  bool header_ok = false;
  uint64_t floor = 0;
  std::vector<FixedRecord> records;
  size_t valid_end = 0;  // end of the last valid record (or of the header)
  std::string error;     // why parsing stopped before the end of data, if it did
};
FixedSegment ParseFixed(std::string_view data);

}  // namespace blackout::engines::wal_format

#endif  // BLACKOUT_ENGINES_WAL_WAL_FORMAT_H_
