// Result<T>: a value or a positive errno, the currency of the filesystem model.
// Made at the point where the error is decided, passed unchanged to
// fuse_reply_err by the adapter.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace blackout::model {

// Tag for an error result: `return Errno{ENOENT};`
struct Errno {
  int value;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Errno e) : v_(e) { assert(e.value > 0); }  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  int error() const { return ok() ? 0 : std::get<Errno>(v_).value; }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Errno> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno e) : error_(e.value) { assert(e.value > 0); }  // NOLINT
  bool ok() const { return error_ == 0; }
  int error() const { return error_; }

 private:
  int error_ = 0;
};

inline Result<void> Ok() { return {}; }

}  // namespace blackout::model
