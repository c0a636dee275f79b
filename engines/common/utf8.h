// UTF-8 validation with the rules of Python's strict bytes.decode("utf-8"):
// the originals decode every key and value they read back, and a torn or
// damaged record that cuts a character raises UnicodeDecodeError there. The
// ports turn that into a Corruption status at the same point.
#pragma once

#include <string_view>

namespace blackout::engines {

// True when `s` decodes as Python would accept it: no overlong forms, no
// surrogates, nothing above U+10FFFF, no truncated sequence at the end.
bool IsValidUtf8(std::string_view s);

}  // namespace blackout::engines
