// Test helper: whether a process still runs, for tests that check that
// blackout stops what it started.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <string>

namespace blackout::e2e {

// Whether `pid` still runs; a zombie waiting for its reaper does not.
inline bool ProcessRunning(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');  // the name may hold spaces and parentheses
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

}  // namespace blackout::e2e
