#include "engines/common/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

namespace blackout::engines {

uint32_t Crc32(std::string_view data, uint32_t crc) {
  // zlib takes uInt lengths; feed very large inputs in chunks.
  uLong c = crc;
  const auto* p = reinterpret_cast<const Bytef*>(data.data());
  size_t left = data.size();
  do {
    const size_t n = std::min<size_t>(left, std::numeric_limits<uInt>::max());
    c = ::crc32(c, p, static_cast<uInt>(n));
    p += n;
    left -= n;
  } while (left > 0);
  return static_cast<uint32_t>(c & 0xFFFFFFFFu);
}

}  // namespace blackout::engines
