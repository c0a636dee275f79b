// Checks of command-line options that name the option and what it takes. CLI11 reads an unsigned
// option's "-1" as 2^64 - 1 and has no word for "a count that starts at 1"; these refuse such
// values at parse time (exit 2, as every bad usage).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace blackout::control {

// A whole number of at least `min`, written in decimal digits only.
inline CLI::Validator WholeNumber(uint64_t min) {
  const std::string what = "a whole number >= " + std::to_string(min);
  return CLI::Validator(
      [min, what](std::string& text) -> std::string {
        bool digits = !text.empty() && text.size() <= 20;
        for (char c : text) digits = digits && c >= '0' && c <= '9';
        errno = 0;
        if (digits && std::strtoull(text.c_str(), nullptr, 10) >= min && errno == 0) return "";
        return "expected " + what + ", got '" + text + "'";
      },
      "N>=" + std::to_string(min));
}

// A time in seconds greater than 0 (fractions allowed).
inline CLI::Validator PositiveSeconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (!text.empty() && end != nullptr && *end == 0 && v > 0) return "";
        return "expected seconds > 0, got '" + text + "'";
      },
      "SECONDS>0");
}

// A path that is not empty (an empty one names no file; std::filesystem
// refuses to make it absolute).
inline CLI::Validator NonEmptyPath() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "the path is empty" : ""; },
      "PATH");
}

}  // namespace blackout::control
