#include "harness/damage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace blackout::harness {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// True if `rel` names something strictly inside the store by its spelling
// (the real path is checked again when the damage is applied).
bool StaysInside(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  const fs::path p = fs::path(rel).lexically_normal();
  if (p.empty() || p == ".") return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

// Copies line d.amount of the open file right after itself (see damage.h).
// Returns an error message, or "" on success.
std::string DuplicateLine(int fd, int64_t size, const Damage& d) {
  std::string content(static_cast<size_t>(size), '\0');
  for (int64_t done = 0; done < size;) {
    const ssize_t n = pread(fd, content.data() + done, static_cast<size_t>(size - done), done);
    if (n <= 0)
      return n == 0 ? "damage: " + d.path + " shrank while it was read"
                    : Errno("damage: cannot read", d.path);
    done += n;
  }
  // Line i spans [starts[i], starts[i + 1]), its '\n' included.
  std::vector<size_t> starts;
  for (size_t at = 0; at < content.size();) {
    starts.push_back(at);
    const size_t newline = content.find('\n', at);
    at = newline == std::string::npos ? content.size() : newline + 1;
  }
  const auto lines = static_cast<int64_t>(starts.size());
  const int64_t index = d.amount > 0 ? d.amount - 1 : lines + d.amount;
  if (index < 0 || index >= lines)
    return "damage: line " + std::to_string(d.amount) + " lies outside " + d.path + " (" +
           std::to_string(lines) + (lines == 1 ? " line)" : " lines)");
  const size_t begin = starts[static_cast<size_t>(index)];
  const size_t end = index + 1 < lines ? starts[static_cast<size_t>(index) + 1] : content.size();
  std::string line = content.substr(begin, end - begin);
  // An unterminated last line gets a '\n' before its copy, so both are lines
  // and the file still ends without one.
  if (line.back() != '\n') line.insert(line.begin(), '\n');
  const std::string tail = line + content.substr(end);
  for (size_t done = 0; done < tail.size();) {
    const ssize_t n =
        pwrite(fd, tail.data() + done, tail.size() - done, static_cast<off_t>(end + done));
    if (n <= 0) return Errno("damage: cannot write", d.path);
    done += static_cast<size_t>(n);
  }
  return "";
}

}  // namespace

const std::vector<std::string>& DamageKinds() {
  static const std::vector<std::string> kinds = {"truncate", "flip", "duplicate_line"};
  return kinds;
}

bool ParseDamage(const json& step, const std::string& where, Damage* out,
                 std::vector<std::pair<std::string, std::string>>* problems) {
  const size_t before = problems->size();
  auto fail = [&](const std::string& path, const std::string& msg) {
    problems->push_back({path, msg});
  };
  const auto& kinds = DamageKinds();
  for (const auto& [key, value] : step.items())
    if (key != "step" && key != "path" && std::find(kinds.begin(), kinds.end(), key) == kinds.end())
      fail(where + "." + key, "unknown field '" + key +
                                  "'; expected one of: step, path, truncate, flip, duplicate_line");
  auto path = step.find("path");
  if (path == step.end() || !path->is_string()) {
    fail(where + (path == step.end() ? "" : ".path"),
         path == step.end() ? "missing required field 'path' (a string)"
                            : "expected a string, got " + path->dump());
  } else if (!StaysInside(path->get<std::string>())) {
    fail(where + ".path",
         "expected a path relative to the store that stays inside it, got " + path->dump());
  } else {
    out->path = fs::path(path->get<std::string>()).lexically_normal().string();
  }
  const auto given = std::count_if(kinds.begin(), kinds.end(),
                                   [&](const std::string& k) { return step.contains(k); });
  if (given != 1) {
    fail(where,
         "expected exactly one of \"truncate\": N, \"flip\": {\"offset\": N, \"bit\": B} "
         "or \"duplicate_line\": N");
  } else if (step.contains("truncate")) {
    const json& n = step["truncate"];
    if (!n.is_number_integer())
      fail(where + ".truncate",
           "expected an integer (negative: bytes cut off the end), got " + n.dump());
    else
      *out = Damage{Damage::Kind::kTruncate, out->path, n.get<int64_t>(), 0};
  } else if (step.contains("flip")) {
    const json& f = step["flip"];
    if (!f.is_object() || !f.contains("offset") || !f["offset"].is_number_integer() ||
        (f.contains("bit") && (!f["bit"].is_number_integer() || f["bit"].get<int64_t>() < 0 ||
                               f["bit"].get<int64_t>() > 7)) ||
        f.size() != (f.contains("bit") ? 2u : 1u)) {
      fail(where + ".flip",
           "expected {\"offset\": N (negative: from the end), \"bit\": 0..7}, got " + f.dump());
    } else {
      *out = Damage{Damage::Kind::kFlip, out->path, f["offset"].get<int64_t>(), f.value("bit", 0)};
    }
  } else {
    const json& n = step["duplicate_line"];
    if (!n.is_number_integer() || n.get<int64_t>() == 0)
      fail(where + ".duplicate_line",
           "expected a line number other than 0 (1 is the first line, -1 the last), got " +
               n.dump());
    else
      *out = Damage{Damage::Kind::kDuplicateLine, out->path, n.get<int64_t>(), 0};
  }
  return problems->size() == before;
}

Status ApplyDamage(const std::string& store_dir, const Damage& d) {
  const std::string file = store_dir + "/" + d.path;
  // A symlink inside the store could point anywhere: compare real paths.
  char real_store[PATH_MAX], real_file[PATH_MAX];
  if (!realpath(store_dir.c_str(), real_store))
    return Error{Errno("damage: cannot resolve", store_dir)};
  if (!realpath(file.c_str(), real_file))
    return Error{Errno("damage: no file to damage at", d.path + " in the store")};
  const std::string rs = real_store, rf = real_file;
  if (rf.size() <= rs.size() || rf.compare(0, rs.size(), rs) != 0 || rf[rs.size()] != '/')
    return Error{"damage: " + d.path + " resolves outside the store (" + rf + ")"};
  const int fd = open(real_file, O_RDWR);
  if (fd < 0) return Error{Errno("damage: cannot open", d.path)};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Error{Errno("damage: cannot stat", d.path)};
  }
  const int64_t size = st.st_size;
  std::string error;
  if (d.kind == Damage::Kind::kTruncate) {
    int64_t to = d.amount >= 0 ? d.amount : size + d.amount;
    if (to < 0) to = 0;
    if (ftruncate(fd, to) != 0) error = Errno("damage: cannot truncate", d.path);
  } else if (d.kind == Damage::Kind::kDuplicateLine) {
    error = DuplicateLine(fd, size, d);
  } else {
    const int64_t at = d.amount >= 0 ? d.amount : size + d.amount;
    unsigned char byte = 0;
    if (at < 0 || at >= size) {
      error = "damage: offset " + std::to_string(d.amount) + " lies outside " + d.path + " (" +
              std::to_string(size) + " bytes)";
    } else if (pread(fd, &byte, 1, at) != 1) {
      error = Errno("damage: cannot read", d.path);
    } else {
      byte ^= static_cast<unsigned char>(1u << d.bit);
      if (pwrite(fd, &byte, 1, at) != 1) error = Errno("damage: cannot write", d.path);
    }
  }
  // A damaged disk keeps its damage across power cuts.
  if (error.empty() && fsync(fd) != 0) error = Errno("damage: cannot fsync", d.path);
  close(fd);
  if (!error.empty()) return Error{error};
  return Ok();
}

std::string DescribeDamage(const Damage& d) {
  if (d.kind == Damage::Kind::kTruncate)
    return d.amount >= 0 ? "truncate " + d.path + " to " + std::to_string(d.amount) + " bytes"
                         : "cut " + std::to_string(-d.amount) + " bytes off the end of " + d.path;
  if (d.kind == Damage::Kind::kDuplicateLine)
    return d.amount > 0 ? "duplicate line " + std::to_string(d.amount) + " of " + d.path
           : d.amount == -1
               ? "duplicate the last line of " + d.path
               : "duplicate line " + std::to_string(-d.amount) + " from the end of " + d.path;
  return "flip bit " + std::to_string(d.bit) + " of byte " + std::to_string(d.amount) + " of " +
         d.path;
}

}  // namespace blackout::harness
