// Status and Result: errors as values for every engine. No exception crosses
// an engine boundary; a failed system call becomes a Status carrying the path
// and strerror(errno), made at the Env boundary.
#ifndef BLACKOUT_ENGINES_COMMON_STATUS_H_
#define BLACKOUT_ENGINES_COMMON_STATUS_H_

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace blackout::engines {

enum class StatusCode { kOk, kNotFound, kCorruption, kIOError, kInvalidArgument, kBusy };

// The outcome of an operation: OK, or a code plus a message a person can act on.
// Thread-safety: a Status is a value; distinct objects may be used concurrently.
class [[nodiscard]] Status {
 public:
  using Code = StatusCode;
  static constexpr Code kOk = Code::kOk;
  static constexpr Code kNotFound = Code::kNotFound;
  static constexpr Code kCorruption = Code::kCorruption;
  static constexpr Code kIOError = Code::kIOError;
  static constexpr Code kInvalidArgument = Code::kInvalidArgument;
  static constexpr Code kBusy = Code::kBusy;

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  // Message "context: strerror(err)"; with err == 0 the message is just context.
  static Status IOError(std::string_view context, int err = 0);
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsBusy() const { return code_ == Code::kBusy; }

  // "OK", or e.g. "Corruption: 000001.wal offset 96: CRC mismatch".
  std::string ToString() const;

  bool operator==(const Status& other) const = default;

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// A value of type T, or the non-OK Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  // Implicit from anything convertible to T (e.g. unique_ptr<Derived> for
  // Result<unique_ptr<Base>>), so `return value;` works.
  template <class U = T, std::enable_if_t<std::is_convertible_v<U&&, T> &&
                                              !std::is_same_v<std::decay_t<U>, Status> &&
                                              !std::is_same_v<std::decay_t<U>, Result<T>>,
                                          int> = 0>
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT(runtime/explicit)

  // REQUIRES: !status.ok(). An OK status carries no value, so it is turned
  // into an error rather than producing a Result that claims success.
  Result(Status status) : status_(std::move(status)) {  // NOLINT(runtime/explicit)
    if (status_.ok()) status_ = Status::InvalidArgument("Result built from an OK Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok(). Aborts otherwise: reading a missing value is a bug.
  T& value() & { return Checked(), *value_; }
  const T& value() const& { return Checked(), *value_; }
  T&& value() && { return Checked(), std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Checked() const {
    if (!value_.has_value()) std::abort();
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace blackout::engines

#define BLACKOUT_STATUS_CONCAT_INNER_(a, b) a##b
#define BLACKOUT_STATUS_CONCAT_(a, b) BLACKOUT_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define BLACKOUT_RETURN_IF_ERROR(expr)                     \
  do {                                                     \
    ::blackout::engines::Status blackout_status_ = (expr); \
    if (!blackout_status_.ok()) return blackout_status_;   \
  } while (0)

// `lhs = value of expr`, or returns its Status. lhs may declare: `auto x`.
#define BLACKOUT_ASSIGN_OR_RETURN(lhs, expr) \
  BLACKOUT_ASSIGN_OR_RETURN_IMPL_(BLACKOUT_STATUS_CONCAT_(blackout_result_, __LINE__), lhs, expr)
#define BLACKOUT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

#endif  // BLACKOUT_ENGINES_COMMON_STATUS_H_
