// Fixed-width integer and double encodings, as Python's struct module packs
// them: "<" little-endian (WAL, hash-index Bitcask), ">" / "!" big-endian
// (B-tree, LSM, LSHT). Get* read from a pointer the caller has bounds-checked.
#ifndef BLACKOUT_ENGINES_COMMON_CODING_H_
#define BLACKOUT_ENGINES_COMMON_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

namespace blackout::engines {

namespace coding_internal {
template <class U>
inline void PutLE(std::string* dst, U v) {
  char buf[sizeof(U)];
  for (size_t i = 0; i < sizeof(U); ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  dst->append(buf, sizeof(U));
}
template <class U>
inline void PutBE(std::string* dst, U v) {
  char buf[sizeof(U)];
  for (size_t i = 0; i < sizeof(U); ++i)
    buf[sizeof(U) - 1 - i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  dst->append(buf, sizeof(U));
}
template <class U>
inline U GetLE(const char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
template <class U>
inline U GetBE(const char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | static_cast<uint8_t>(p[i]));
  return v;
}
}  // namespace coding_internal

inline void PutU16LE(std::string* dst, uint16_t v) { coding_internal::PutLE(dst, v); }
inline void PutU32LE(std::string* dst, uint32_t v) { coding_internal::PutLE(dst, v); }
inline void PutU64LE(std::string* dst, uint64_t v) { coding_internal::PutLE(dst, v); }
inline void PutI32LE(std::string* dst, int32_t v) { PutU32LE(dst, static_cast<uint32_t>(v)); }
inline void PutF64LE(std::string* dst, double v) { PutU64LE(dst, std::bit_cast<uint64_t>(v)); }
inline void PutU16BE(std::string* dst, uint16_t v) { coding_internal::PutBE(dst, v); }
inline void PutU32BE(std::string* dst, uint32_t v) { coding_internal::PutBE(dst, v); }
inline void PutU64BE(std::string* dst, uint64_t v) { coding_internal::PutBE(dst, v); }
inline void PutI32BE(std::string* dst, int32_t v) { PutU32BE(dst, static_cast<uint32_t>(v)); }
inline void PutF64BE(std::string* dst, double v) { PutU64BE(dst, std::bit_cast<uint64_t>(v)); }

inline uint16_t GetU16LE(const char* p) { return coding_internal::GetLE<uint16_t>(p); }
inline uint32_t GetU32LE(const char* p) { return coding_internal::GetLE<uint32_t>(p); }
inline uint64_t GetU64LE(const char* p) { return coding_internal::GetLE<uint64_t>(p); }
inline int32_t GetI32LE(const char* p) { return static_cast<int32_t>(GetU32LE(p)); }
inline double GetF64LE(const char* p) { return std::bit_cast<double>(GetU64LE(p)); }
inline uint16_t GetU16BE(const char* p) { return coding_internal::GetBE<uint16_t>(p); }
inline uint32_t GetU32BE(const char* p) { return coding_internal::GetBE<uint32_t>(p); }
inline uint64_t GetU64BE(const char* p) { return coding_internal::GetBE<uint64_t>(p); }
inline int32_t GetI32BE(const char* p) { return static_cast<int32_t>(GetU32BE(p)); }
inline double GetF64BE(const char* p) { return std::bit_cast<double>(GetU64BE(p)); }

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_COMMON_CODING_H_
