#include "fusefs/control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace blackout::control {

using nlohmann::json;

std::string NormalizeMountpoint(const std::string& mountpoint) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(mountpoint, ec);
  if (ec) p = std::filesystem::absolute(mountpoint).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string DefaultSocketPath(const std::string& mountpoint) {
  return NormalizeMountpoint(mountpoint) + ".ctl";
}

Result<ControlClient> ControlClient::Connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return Result<ControlClient>::Error("control socket path " + socket_path + " is longer than " +
                                        std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Result<ControlClient>::Error(std::string("socket(): ") + std::strerror(errno));
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    std::string why = err == ENOENT         ? "it does not exist"
                      : err == ECONNREFUSED ? "nobody listens on it (a stale socket?)"
                      : err == ENOTSOCK     ? "it is not a socket"
                                            : std::strerror(err);
    return Result<ControlClient>::Error("cannot connect to control socket " + socket_path + ": " +
                                        why);
  }
  return ControlClient(fd, socket_path);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      pending_(std::move(other.pending_)) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    pending_ = std::move(other.pending_);
  }
  return *this;
}

ControlClient::~ControlClient() { Close(); }

void ControlClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Result<json> ControlClient::Call(const json& request, std::chrono::milliseconds timeout) {
  auto fail = [&](const std::string& what) {
    Close();
    return Result<json>::Error(what + " (control socket " + path_ + ")");
  };
  if (fd_ < 0) return fail("connection is closed");
  const std::string line = request.dump() + "\n";
  for (size_t sent = 0; sent < line.size();) {
    const ssize_t n = send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot send the request: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t newline;
  while ((newline = pending_.find('\n')) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail("no reply to '" + request.value("cmd", std::string("?")) + "' within " +
                  std::to_string(timeout.count()) + " ms");
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(std::string("poll: ") + std::strerror(errno));
    if (r == 0) continue;
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot read the reply: ") + std::strerror(errno));
    if (n == 0) return fail("the daemon closed the connection before replying");
    pending_.append(buf, static_cast<size_t>(n));
  }
  std::string reply_line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);
  json reply = json::parse(reply_line, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object()) {
    return fail("the daemon's reply is not a JSON object: " + reply_line.substr(0, 200));
  }
  return reply;
}

}  // namespace blackout::control
