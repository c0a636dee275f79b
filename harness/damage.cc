#include "harness/damage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

bool ParseDamage(const json& step, const std::string& where, Damage* out,
                 std::vector<std::pair<std::string, std::string>>* problems) {
  const size_t before = problems->size();
  auto fail = [&](const std::string& path, const std::string& msg) {
    problems->push_back({path, msg});
  };
  for (const auto& [key, value] : step.items())
    if (key != "step" && key != "path" && key != "truncate" && key != "flip")
      fail(where + "." + key,
           "unknown field '" + key + "'; expected one of: step, path, truncate, flip");
  auto path = step.find("path");
  if (path == step.end() || !path->is_string()) {
    fail(where + (path == step.end() ? "" : ".path"),
         path == step.end() ? "missing required field 'path' (a string)"
                            : "expected a string, got " + path->dump());
  } else if (!StaysInside(path->get<std::string>())) {
    fail(where + ".path", "expected a path relative to the store that stays inside it, got " +
                              path->dump());
  } else {
    out->path = fs::path(path->get<std::string>()).lexically_normal().string();
  }
  const bool has_t = step.contains("truncate"), has_f = step.contains("flip");
  if (has_t == has_f) {
    fail(where, "expected exactly one of \"truncate\": N or \"flip\": {\"offset\": N, \"bit\": B}");
  } else if (has_t) {
    const json& n = step["truncate"];
    if (!n.is_number_integer())
      fail(where + ".truncate", "expected an integer (negative: bytes cut off the end), got " +
                                    n.dump());
    else
      *out = Damage{Damage::Kind::kTruncate, out->path, n.get<int64_t>(), 0};
  } else {
    const json& f = step["flip"];
    if (!f.is_object() || !f.contains("offset") || !f["offset"].is_number_integer() ||
        (f.contains("bit") && (!f["bit"].is_number_integer() || f["bit"].get<int64_t>() < 0 ||
                               f["bit"].get<int64_t>() > 7)) ||
        f.size() != (f.contains("bit") ? 2u : 1u)) {
      fail(where + ".flip",
           "expected {\"offset\": N (negative: from the end), \"bit\": 0..7}, got " + f.dump());
    } else {
      *out = Damage{Damage::Kind::kFlip, out->path, f["offset"].get<int64_t>(),
                    f.value("bit", 0)};
    }
  }
  return problems->size() == before;
}

Status ApplyDamage(const std::string& store_dir, const Damage& d) {
  const std::string file = store_dir + "/" + d.path;
  // A symlink inside the store could point anywhere: compare real paths.
  char real_store[PATH_MAX], real_file[PATH_MAX];
  if (!realpath(store_dir.c_str(), real_store)) return Error{Errno("damage: cannot resolve", store_dir)};
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
  return "flip bit " + std::to_string(d.bit) + " of byte " + std::to_string(d.amount) + " of " +
         d.path;
}

}  // namespace blackout::harness
