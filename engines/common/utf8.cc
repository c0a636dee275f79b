#include "engines/common/utf8.h"

#include <cstdint>
#include <cstring>

namespace blackout::engines {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs, 32 bytes at a time: most keys and values are ASCII, and
    // recovery checks every one it reads back.
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    if (i + 32 <= s.size()) {
      uint64_t w[4];
      std::memcpy(w, s.data() + i, sizeof w);
      if (((w[0] | w[1] | w[2] | w[3]) & kHigh) == 0) {
        i += 32;
        continue;
      }
    }
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;  // continuation bytes
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t j = 1; j <= n; ++j) {
      const auto cc = static_cast<uint8_t>(s[i + j]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong =
        (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace blackout::engines
