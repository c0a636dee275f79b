#include "engines/common/env.h"

namespace blackout::engines {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Result<bool> RemoveLeftovers(Env& env, const std::string& dir,
                             std::initializer_list<std::string_view> suffixes) {
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> names, env.ListDir(dir));
  bool removed = false;
  for (const std::string& name : names) {
    for (std::string_view suffix : suffixes) {
      if (!EndsWith(name, suffix)) continue;
      BLACKOUT_RETURN_IF_ERROR(env.Remove(JoinPath(dir, name)));
      removed = true;
      break;
    }
  }
  return removed;
}

}  // namespace blackout::engines
