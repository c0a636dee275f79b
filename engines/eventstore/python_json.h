// The bytes Python's json.dumps writes with its defaults, and the naive local timestamps of
// datetime.now().isoformat(): the event store's default profile must write the same lines as
// the original (ENGINES.md 6.2).
#ifndef BLACKOUT_ENGINES_EVENTSTORE_PYTHON_JSON_H_
#define BLACKOUT_ENGINES_EVENTSTORE_PYTHON_JSON_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace blackout::engines {

// json.dumps(value): separators ", " and ": ", ensure_ascii (every code point above 0x7E and
// every control character as \uXXXX in lower-case hex, surrogate pairs above U+FFFF), floats
// as Python's repr ("1.0", "1e+16", "1e-05"). Object keys come out in the order the json
// object holds them: nlohmann::json keeps them sorted, so a caller that needs Python's
// insertion order must build the object in that order (a limitation the header of
// eventstore.h states). REQUIRES: strings are valid UTF-8.
std::string PythonJsonDumps(const nlohmann::json& value);

// Python's repr(float), e.g. 0.1 -> "0.1", 1e16 -> "1e+16", 2.0 -> "2.0".
std::string PythonFloatRepr(double v);

// datetime.fromtimestamp(t).isoformat() in the local time zone, no offset: microseconds
// are printed only when non-zero, as Python does.
std::string PythonLocalIsoformat(std::chrono::system_clock::time_point t);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_EVENTSTORE_PYTHON_JSON_H_
