// harness::Expected<T>: a value, or an error message a person can act on.
// The harness reports errors as text (file, JSON path, what was expected), so
// unlike the engines' Status it carries no code, only the message.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace blackout::harness {

// Tag for an error: `return Error{"mount failed: ..."};`
struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const std::string& error() const { return std::get<Error>(v_).message; }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

// For calls that return nothing on success.
struct Done {};
using Status = Expected<Done>;
inline Status Ok() { return Done{}; }

}  // namespace blackout::harness
