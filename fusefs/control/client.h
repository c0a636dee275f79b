// blackout::control::ControlClient: the client side of the control socket.
//
// The protocol (JSON lines over a Unix socket, one request object -> one
// reply object; every reply has "ok" and on failure an "error") is described
// in server.h. The harness and `blackout ctl` / `blackout umount` use this.
//
// Thread-safety: one client per thread; a client holds one connection.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

namespace blackout::control {

// A value or an error message a person can act on (which socket, what failed).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  static Result Error(std::string message) { return Result(ErrorTag{std::move(message)}); }
  bool ok() const { return v_.index() == 0; }
  const std::string& error() const { return std::get<1>(v_).message; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }

 private:
  struct ErrorTag {
    std::string message;
  };
  explicit Result(ErrorTag e) : v_(std::move(e)) {}
  std::variant<T, ErrorTag> v_;
};

class ControlClient {
 public:
  // Connects to the daemon's control socket. Fails (with a message naming
  // the socket) when the path is missing, is not a socket, or nobody
  // listens on it (a stale socket left by a killed daemon).
  [[nodiscard]] static Result<ControlClient> Connect(const std::string& socket_path);

  // Sends one request and waits up to `timeout` for its reply. The reply is
  // returned as the daemon sent it, also when it says "ok": false; an error
  // here means the exchange itself failed (daemon gone, timeout, bad JSON).
  // After such an error the connection is closed.
  [[nodiscard]] Result<nlohmann::json> Call(
      const nlohmann::json& request, std::chrono::milliseconds timeout = std::chrono::seconds(60));

  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  const std::string& socket_path() const { return path_; }

 private:
  ControlClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void Close();
  int fd_ = -1;
  std::string path_;
  std::string pending_;  // bytes received after the last reply line
};

// The default control socket of a mount point: the mount point's absolute
// path (symlinks resolved where they exist, no trailing slash) plus ".ctl".
std::string DefaultSocketPath(const std::string& mountpoint);

// The mount point's absolute, normalized path as the daemon records it.
std::string NormalizeMountpoint(const std::string& mountpoint);

}  // namespace blackout::control
