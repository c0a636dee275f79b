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

// Whether `path` (absolute; it need not exist) lies on the file system
// mounted at `mountpoint`: its nearest existing ancestor has that mount's
// device number. Symbolic links and bind mounts are followed, so a path that
// reaches the mount by another name counts too. False when nothing is
// mounted at `mountpoint`. Stats the ancestor, which reaches the mount's
// daemon when the path is inside: a daemon calls it from a thread that does
// not serve FUSE requests.
bool PathOnMount(const std::string& path, const std::string& mountpoint);

}  // namespace blackout::fusefs
