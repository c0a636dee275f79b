#include "engines/eventstore/python_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace blackout::engines {
namespace {

void AppendEscaped(std::string* out, uint32_t unit) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", unit & 0xFFFF);
  out->append(buf);
}

// Python's py_encode_basestring_ascii.
void AppendString(std::string* out, const std::string& s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else if (c >= 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if (c >= 0xC0) {
      n = 2;
      cp = c & 0x1F;
    }
    for (size_t j = 1; j < n && i + j < s.size(); ++j) {
      cp = (cp << 6) | (static_cast<uint8_t>(s[i + j]) & 0x3F);
    }
    i += n;
    switch (cp) {
      case '"':
        out->append("\\\"");
        continue;
      case '\\':
        out->append("\\\\");
        continue;
      case '\n':
        out->append("\\n");
        continue;
      case '\r':
        out->append("\\r");
        continue;
      case '\t':
        out->append("\\t");
        continue;
      case '\b':
        out->append("\\b");
        continue;
      case '\f':
        out->append("\\f");
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp <= 0x7E) {
      out->push_back(static_cast<char>(cp));
    } else if (cp > 0xFFFF) {
      const uint32_t v = cp - 0x10000;
      AppendEscaped(out, 0xD800 | (v >> 10));
      AppendEscaped(out, 0xDC00 | (v & 0x3FF));
    } else {
      AppendEscaped(out, cp);
    }
  }
  out->push_back('"');
}

void Dump(std::string* out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out->append("null");
      return;
    case nlohmann::json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return;
    case nlohmann::json::value_t::number_integer:
      out->append(std::to_string(v.get<int64_t>()));
      return;
    case nlohmann::json::value_t::number_unsigned:
      out->append(std::to_string(v.get<uint64_t>()));
      return;
    case nlohmann::json::value_t::number_float:
      out->append(PythonFloatRepr(v.get<double>()));
      return;
    case nlohmann::json::value_t::string:
      AppendString(out, v.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out->append(", ");
        first = false;
        Dump(out, e);
      }
      out->push_back(']');
      return;
    }
    case nlohmann::json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->append(", ");
        first = false;
        AppendString(out, it.key());
        out->append(": ");
        Dump(out, it.value());
      }
      out->push_back('}');
      return;
    }
    default:  // binary and discarded values never come out of a JSON parse
      out->append("null");
      return;
  }
}

}  // namespace

std::string PythonFloatRepr(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";  // json.dumps, not repr
  char buf[64];
  // The shortest digits that round-trip, as Python's repr picks them.
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, end);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  const int exp10 = std::stoi(sci.substr(e + 1));
  const int decpt = exp10 + 1;  // digits = 0.d1d2... x 10^decpt
  const int n = static_cast<int>(digits.size());
  std::string out = sign;
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (n > 1) out += "." + digits.substr(1);
    const int x = decpt - 1;
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    out += ebuf;
  } else if (decpt <= 0) {
    out += "0." + std::string(-decpt, '0') + digits;
  } else if (decpt >= n) {
    out += digits + std::string(decpt - n, '0') + ".0";
  } else {
    out += digits.substr(0, decpt) + "." + digits.substr(decpt);
  }
  return out;
}

std::string PythonJsonDumps(const nlohmann::json& value) {
  std::string out;
  Dump(&out, value);
  return out;
}

std::string PythonLocalIsoformat(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  auto secs = static_cast<time_t>(us.count() / 1000000);
  auto micros = static_cast<long>(us.count() % 1000000);
  if (micros < 0) {
    micros += 1000000;
    --secs;
  }
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf);
  if (micros != 0) {
    std::snprintf(buf, sizeof(buf), ".%06ld", micros);
    out += buf;
  }
  return out;
}

}  // namespace blackout::engines
