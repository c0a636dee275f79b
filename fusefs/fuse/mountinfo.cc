#include "fusefs/fuse/mountinfo.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace blackout::fusefs {
namespace {

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<MountInfo> MountAt(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<MountInfo> found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt, field, type;
    fields >> id >> parent >> devno >> root >> mnt;
    if (UnescapeMountPath(mnt) != path) continue;
    // Optional fields end at "-", then come the type and the source.
    while (fields >> field && field != "-") {
    }
    fields >> type;
    found = MountInfo{devno, type};  // the last matching line is the one on top
  }
  return found;
}

bool PathOnMount(const std::string& path, const std::string& mountpoint) {
  const std::optional<MountInfo> m = MountAt(mountpoint);
  unsigned major = 0, minor = 0;
  if (!m || std::sscanf(m->devno.c_str(), "%u:%u", &major, &minor) != 2) return false;
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  struct stat st {};
  while (stat(p.c_str(), &st) != 0) {
    if (!p.has_relative_path()) return false;  // not even "/" (cannot happen)
    p = p.parent_path();
  }
  return st.st_dev == makedev(major, minor);
}

}  // namespace blackout::fusefs
