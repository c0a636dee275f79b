// The "fuse" logger of the mount daemon (daemon.cc installs it), or spdlog's
// default where none is installed (tests that build an adapter alone).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace blackout::fusefs {

inline std::shared_ptr<spdlog::logger> Log() {
  auto log = spdlog::get("fuse");
  return log ? log : spdlog::default_logger();
}

}  // namespace blackout::fusefs
