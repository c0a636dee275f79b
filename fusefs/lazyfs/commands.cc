#include "fusefs/lazyfs/commands.h"

#include <cctype>
#include <exception>
#include <toml.hpp>

namespace blackout::lazyfs {
namespace {

// LazyFS's operation names that blackout's crash triggers can observe.
// open, access, link and symlink are LazyFS names the model does not count.
bool ToFaultOp(const std::string& name, model::FaultOp* op, std::string* error) {
  static const char* kLazyfsOnly[] = {"open", "access", "link", "symlink"};
  for (const char* n : kLazyfsOnly) {
    if (name == n) {
      *error = "op=" + name +
               " is not supported by blackout's crash triggers; supported: write, read, fsync, "
               "create, rename, unlink, truncate";
      return false;
    }
  }
  if (name == "write" || name == "read" || name == "fsync" || name == "create" ||
      name == "rename" || name == "unlink" || name == "truncate") {
    *op = *model::ParseFaultOp(name);
    return true;
  }
  *error = "op=" + name +
           " is not an operation LazyFS knows; use write, read, fsync, create, rename, unlink "
           "or truncate";
  return false;
}

bool IsMultiPath(const std::string& op) { return op == "rename"; }

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return std::string(s);
}

std::vector<std::string> SplitFields(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find("::", start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 2;
  }
  return out;
}

Command Invalid(std::string message) {
  Command c;
  c.kind = Command::kInvalid;
  c.error = std::move(message);
  return c;
}

Command ParseCrash(const std::string& line) {
  std::string timing, op, from, to;
  std::vector<std::string> fields = SplitFields(line);
  for (size_t i = 2; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    const size_t eq = f.find('=');
    const std::string key = f.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (key == "timing") {
      timing = value;
    } else if (key == "op") {
      op = value;
    } else if (key == "from_rgx") {
      from = value;
    } else if (key == "to_rgx") {
      to = value;
    } else {
      return Invalid("crash: unknown field '" + f + "'; fields: timing, op, from_rgx, to_rgx");
    }
  }
  if (timing != "before" && timing != "after") {
    return Invalid("crash: timing=" + timing + " must be 'before' or 'after'");
  }
  Command c;
  c.kind = Command::kCrash;
  c.crash.action = FaultAction::kCrash;
  c.crash.origin = line;
  c.crash.trigger.before = timing == "before";
  c.crash.trigger.nth = 1;
  std::string error;
  if (op.empty()) return Invalid("crash: op= is missing");
  if (!ToFaultOp(op, &c.crash.trigger.op, &error)) return Invalid("crash: " + error);
  if (IsMultiPath(op)) {
    if (from.empty() && to.empty()) {
      return Invalid("crash: op=" + op + " needs from_rgx and/or to_rgx");
    }
  } else if (from.empty() || !to.empty()) {
    return Invalid("crash: op=" + op + " needs from_rgx (and no to_rgx)");
  }
  // The model's triggers match one glob against the source or the target of
  // a rename; with both regexes given, the source one is used.
  const std::string glob = RegexToGlob(from.empty() ? to : from, &error);
  if (glob.empty()) return Invalid("crash: " + error);
  c.crash.trigger.path = glob;
  return c;
}

}  // namespace

std::string RegexToGlob(std::string_view regex, std::string* error) {
  std::string glob = "*";
  for (size_t i = 0; i < regex.size(); ++i) {
    const char ch = regex[i];
    if (ch == '.' && i + 1 < regex.size() && regex[i + 1] == '*') {
      glob += '*';
      ++i;
    } else if (ch == '.') {
      glob += '?';
    } else if (ch == '\\' && i + 1 < regex.size() &&
               std::ispunct(static_cast<unsigned char>(regex[i + 1]))) {
      const char lit = regex[++i];
      if (lit == '*' || lit == '?' || lit == '[' || lit == '\\') glob += '\\';
      glob += lit;
    } else if (std::string_view("^$*+?()[]{}|\\").find(ch) != std::string_view::npos) {
      *error = "regex '" + std::string(regex) + "' uses '" + std::string(1, ch) +
               "', which blackout cannot match; use literal text, '.', '.*' and backslash "
               "escapes (LazyFS matches the regex anywhere in the path, blackout does too)";
      return "";
    } else {
      glob += ch;
    }
  }
  if (glob == "*") {
    *error = "the regex is empty";
    return "";
  }
  return glob + "*";
}

std::string ToMountPath(const std::string& path, const std::string& mountpoint) {
  if (path.rfind(mountpoint + "/", 0) == 0) return path.substr(mountpoint.size());
  if (!path.empty() && path[0] == '/') return path;
  return "/" + path;
}

Command ParseCommand(std::string_view raw) {
  const std::string line = Trim(raw);
  Command c;
  if (line == "lazyfs::clear-cache") {
    c.kind = Command::kClearCache;
  } else if (line == "lazyfs::cache-checkpoint") {
    c.kind = Command::kCheckpoint;
  } else if (line == "lazyfs::display-cache-usage") {
    c.kind = Command::kDisplayUsage;
  } else if (line == "lazyfs::unsynced-data-report") {
    c.kind = Command::kUnsyncedReport;
  } else if (line == "lazyfs::help") {
    c.kind = Command::kHelp;
  } else if (line.rfind("lazyfs::crash", 0) == 0 &&
             (line.size() == 13 || line.compare(13, 2, "::") == 0)) {
    return ParseCrash(line);
  } else if (line.rfind("lazyfs::torn-op", 0) == 0 || line.rfind("lazyfs::torn-seq", 0) == 0) {
    c.kind = Command::kUnsupported;
    c.error = "'" + line +
              "': torn-op and torn-seq are not supported by blackout yet; `blackout explore` "
              "with --states torn covers torn writes";
  } else {
    return Invalid("unknown command '" + line +
                   "'; commands: lazyfs::clear-cache, lazyfs::cache-checkpoint, "
                   "lazyfs::display-cache-usage, lazyfs::unsynced-data-report, lazyfs::help, "
                   "lazyfs::crash::timing=..::op=..::from_rgx=..[::to_rgx=..]");
  }
  return c;
}

bool LoadConfig(const std::string& path, const std::string& mountpoint, Config* config,
                std::string* error) {
  toml::value data;
  try {
    data = toml::parse(path);
  } catch (const std::exception& e) {
    *error = "lazyfs config " + path + ": " + e.what();
    return false;
  }
  auto fail = [&](const std::string& message) {
    *error = "lazyfs config " + path + ": " + message;
    return false;
  };
  try {
    if (data.contains("faults")) {
      const toml::value& faults = toml::find(data, "faults");
      config->fifo_path = toml::find_or<std::string>(faults, "fifo_path", "");
      config->fifo_path_completed = toml::find_or<std::string>(faults, "fifo_path_completed", "");
    }
    if (!data.contains("injection")) return true;
    const toml::array& injections = toml::find<toml::array>(data, "injection");
    for (size_t i = 0; i < injections.size(); ++i) {
      const toml::value& inj = injections[i];
      const std::string where = "[[injection]] #" + std::to_string(i + 1);
      if (!inj.contains("type")) return fail(where + ": key 'type' is missing");
      const std::string type = toml::find<std::string>(inj, "type");
      if (type == "torn-op" || type == "torn-seq") {
        return fail(where + ": type=\"" + type +
                    "\" is not supported by blackout yet; `blackout explore --states torn` "
                    "covers torn writes");
      }
      if (type != "clear-cache" && type != "crash") {
        return fail(where + ": type=\"" + type +
                    "\" is unknown; types: clear-cache, crash, torn-op, torn-seq");
      }
      for (const char* key : {"timing", "op", "occurrence"}) {
        if (!inj.contains(key)) return fail(where + ": key '" + key + "' is missing");
      }
      Injection injection;
      injection.origin = where;
      const std::string timing = toml::find<std::string>(inj, "timing");
      if (timing != "before" && timing != "after") {
        return fail(where + ": timing=\"" + timing + "\" must be \"before\" or \"after\"");
      }
      injection.trigger.before = timing == "before";
      const std::string op = toml::find<std::string>(inj, "op");
      std::string op_error;
      if (!ToFaultOp(op, &injection.trigger.op, &op_error)) return fail(where + ": " + op_error);
      const int64_t occurrence = toml::find<int64_t>(inj, "occurrence");
      if (occurrence <= 0) return fail(where + ": occurrence must be greater than 0");
      injection.trigger.nth = static_cast<uint64_t>(occurrence);
      std::string from = toml::find_or<std::string>(inj, "from", "");
      if (from.empty()) from = toml::find_or<std::string>(inj, "file", "");
      const std::string to = toml::find_or<std::string>(inj, "to", "");
      if (from.empty() && !(IsMultiPath(op) && !to.empty())) {
        return fail(where + ": key 'from' is missing (the path the operation acts on)");
      }
      // LazyFS matches `from` exactly; the model's globs match with fnmatch,
      // so the special characters are escaped.
      std::string exact;
      for (char ch : ToMountPath(from.empty() ? to : from, mountpoint)) {
        if (ch == '*' || ch == '?' || ch == '[' || ch == '\\') exact += '\\';
        exact += ch;
      }
      injection.trigger.path = exact;
      const bool crash = type == "crash" || toml::find_or<bool>(inj, "crash", false);
      injection.action = crash ? FaultAction::kCrash : FaultAction::kClearCache;
      config->injections.push_back(std::move(injection));
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (config->injections.size() > 1) {
    return fail("[[injection]] #2: blackout arms one injected fault at a time; keep one "
                "clear-cache or crash injection per config");
  }
  return true;
}

}  // namespace blackout::lazyfs
