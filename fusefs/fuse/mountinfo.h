// What /proc/self/mountinfo says is mounted at a path.
#pragma once

#include <optional>
#include <string>

namespace blackout::fusefs {

struct MountInfo {
  std::string devno;  // "major:minor" of the mounted file system, e.g. "0:39"
  std::string type;   // e.g. "fuse.blackout"
};

// The mount on top at `path` (an absolute, normalized path), or nullopt when
// `path` is not a mount point. Reads no file below `path`: safe to call for a
// FUSE mount whose daemon is this process or does not answer.
std::optional<MountInfo> MountAt(const std::string& path);

}  // namespace blackout::fusefs
