// Fault rules and crash triggers: parsing and matching (faults.h). What a
// fired rule does to the model's state is in filesystem.cc and durability.cc.
#include "fusefs/model/faults.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <regex>
#include <cerrno>
#include <utility>

namespace blackout::model {

namespace {

constexpr std::array<std::pair<FaultOp, std::string_view>, 12> kOps{{
    {FaultOp::kRead, "read"},
    {FaultOp::kWrite, "write"},
    {FaultOp::kFsync, "fsync"},
    {FaultOp::kFsyncDir, "fsyncdir"},
    {FaultOp::kCreate, "create"},
    {FaultOp::kRename, "rename"},
    {FaultOp::kUnlink, "unlink"},
    {FaultOp::kTruncate, "truncate"},
    {FaultOp::kFallocate, "fallocate"},
    {FaultOp::kOpen, "open"},
    {FaultOp::kLink, "link"},
    {FaultOp::kSymlink, "symlink"},
}};

constexpr std::array<std::pair<int, std::string_view>, 4> kErrnos{{
    {EIO, "EIO"},
    {ENOSPC, "ENOSPC"},
    {EDQUOT, "EDQUOT"},
    {EROFS, "EROFS"},
}};

bool AnyMatches(const std::string& glob, const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    if (GlobMatches(glob, p)) return true;
  }
  return false;
}

}  // namespace

Result<FaultOp> ParseFaultOp(std::string_view name) {
  for (const auto& [op, n] : kOps) {
    if (n == name) return op;
  }
  return Errno{EINVAL};
}

std::string_view Name(FaultOp op) {
  for (const auto& [o, n] : kOps) {
    if (o == op) return n;
  }
  return "?";
}

std::string_view FaultOpNames() {
  return "read, write, fsync, fsyncdir, create, rename, unlink, truncate, fallocate, open, link, "
         "symlink";
}

Result<int> ParseFaultErrno(std::string_view name) {
  for (const auto& [e, n] : kErrnos) {
    if (n == name) return e;
  }
  return Errno{EINVAL};
}

std::string_view FaultErrnoName(int err) {
  for (const auto& [e, n] : kErrnos) {
    if (e == err) return n;
  }
  return "?";
}

std::string_view FaultErrnoNames() { return "EIO, ENOSPC, EDQUOT, EROFS"; }

std::string GlobProblem(std::string_view glob) {
  if (glob.empty()) return "the glob is empty (use \"*\" for every path)";
  // fnmatch(3) treats an unclosed '[' as a literal; a user who wrote one
  // almost always meant a class, so refuse it rather than match nothing.
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\') {
      ++i;
      continue;
    }
    if (glob[i] != '[') continue;
    size_t j = i + 1;
    if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
    if (j < glob.size() && glob[j] == ']') ++j;
    while (j < glob.size() && glob[j] != ']') ++j;
    if (j >= glob.size()) return "unbalanced '[' at position " + std::to_string(i);
    i = j;
  }
  return {};
}

bool GlobMatches(const std::string& glob, const std::string& path) {
  if (fnmatch(glob.c_str(), path.c_str(), 0) == 0) return true;
  if (glob.find('/') != std::string::npos) return false;
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return false;
  return fnmatch(glob.c_str(), path.c_str() + slash + 1, 0) == 0;
}

int FaultTable::Error(FaultOp op, const std::vector<std::string>& paths) {
  int err = 0;
  for (auto& r : rules_) {
    if (r.op != op || !AnyMatches(r.path, paths)) continue;
    ++r.seen;
    bool in_window = r.seen >= r.first && (r.count == 0 || r.seen < r.first + r.count);
    if (in_window && err == 0) {
      err = r.err;
      ++r.fired;
    }
  }
  return err;
}

struct PathRegex {
  std::regex re;
};

std::shared_ptr<const PathRegex> CompilePathRegex(const std::string& text, std::string* error) {
  try {
    return std::make_shared<const PathRegex>(PathRegex{std::regex(text, std::regex::ECMAScript)});
  } catch (const std::regex_error& e) {
    *error = e.what();
    return nullptr;
  }
}

bool RegexMatches(const PathRegex& regex, const std::string& path) {
  return std::regex_search(path, regex.re);
}

uint64_t FaultTable::Fires(FaultOp op, const std::vector<std::string>& paths, bool before,
                           std::vector<std::pair<uint64_t, uint64_t>>* saves) {
  uint64_t fired = 0;
  fired_stop_ = false;
  for (auto it = triggers_.begin(); it != triggers_.end();) {
    const bool matches =
        it->regex ? std::any_of(paths.begin(), paths.end(),
                                [&](const std::string& p) { return RegexMatches(*it->regex, p); })
                  : AnyMatches(it->path, paths);
    if (it->before != before || it->op != op || !matches || ++it->seen < it->nth ||
        (!it->save && fired != 0)) {
      ++it;
      continue;
    }
    if (it->save) {
      saves->emplace_back(it->id, it->seen);
      if (it->every) {
        ++it;
        continue;
      }
    } else {
      fired = it->id;
      fired_stop_ = it->stop;
    }
    it = triggers_.erase(it);
  }
  return fired;
}

std::string TornWriteProblem(const TornWrite& t) {
  if (!GlobProblem(t.path).empty()) return GlobProblem(t.path);
  if (t.occurrence == 0) return "occurrence must be 1 or more";
  if (t.persist.empty()) return "persist lists no part";
  for (uint64_t p : t.persist) {
    if (p == 0) return "persist counts from 1";
  }
  if (t.kind == TornWrite::Kind::kSeq) return "";
  if ((t.parts == 0) == t.parts_bytes.empty()) return "give parts or parts_bytes, not both";
  const uint64_t n = t.parts != 0 ? t.parts : t.parts_bytes.size();
  for (uint64_t p : t.persist) {
    if (p > n) return "persist names part " + std::to_string(p) + " of " + std::to_string(n);
  }
  for (uint64_t b : t.parts_bytes) {
    if (b == 0) return "parts_bytes holds an empty part";
  }
  return "";
}

}  // namespace blackout::model
