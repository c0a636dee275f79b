#include "fusefs/lazyfs/commands.h"

#include <cctype>
#include <exception>
#include <toml.hpp>

namespace blackout::lazyfs {
namespace {

// LazyFS's operation names that blackout's crash triggers can observe.
bool ToFaultOp(const std::string& name, model::FaultOp* op, std::string* error) {
  if (name == "access") {
    *error = "op=access never reaches blackoutfs: it mounts with default_permissions, so the "
             "kernel answers access(2) itself; use op=open";
    return false;
  }
  for (const char* n : {"write", "read", "fsync", "create", "rename", "unlink", "truncate", "open",
                        "link", "symlink"}) {
    if (name == n) {
      *op = *model::ParseFaultOp(name);
      return true;
    }
  }
  *error = "op=" + name +
           " is not an operation LazyFS knows; use write, read, fsync, create, rename, unlink, "
           "truncate, open, link or symlink";
  return false;
}

bool IsMultiPath(const std::string& op) { return op == "rename" || op == "link"; }

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

// One KEY=VALUE field of a command, after "lazyfs::NAME".
struct Field {
  std::string text, key, value;
};

std::vector<Field> CommandFields(const std::string& line) {
  std::vector<Field> out;
  const std::vector<std::string> fields = SplitFields(line);
  for (size_t i = 2; i < fields.size(); ++i) {
    const size_t eq = fields[i].find('=');
    out.push_back({fields[i], fields[i].substr(0, eq),
                   eq == std::string::npos ? "" : fields[i].substr(eq + 1)});
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
  for (const Field& field : CommandFields(line)) {
    const std::string& f = field.text;
    const std::string& key = field.key;
    const std::string& value = field.value;
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
  // LazyFS matches ".*R.*": R searched anywhere in the path, with C++'s
  // ECMAScript regexes, as here. The model's triggers match one pattern
  // against the source or the target of a rename or link; with both
  // regexes given, the source one is used.
  const std::string regex = from.empty() ? to : from;
  c.crash.trigger.regex = model::CompilePathRegex(regex, &error);
  if (!c.crash.trigger.regex) {
    return Invalid("crash: regex '" + regex + "' does not compile: " + error);
  }
  c.crash.trigger.path = regex;
  return c;
}

// LazyFS's `file` paths are exact; the model's globs use fnmatch, so the
// special characters are escaped.
std::string ExactGlob(const std::string& path, const std::string& mountpoint) {
  std::string exact;
  for (char ch : ToMountPath(path, mountpoint)) {
    if (ch == '*' || ch == '?' || ch == '[' || ch == '\\') exact += '\\';
    exact += ch;
  }
  return exact;
}

bool ParseCount(const std::string& text, uint64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 18) {
    return false;
  }
  *out = std::stoull(text);
  return true;
}

// "1,3" (FIFO) -> {1, 3}.
bool ParseList(const std::string& text, std::vector<uint64_t>* out) {
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    uint64_t v;
    if (!ParseCount(Trim(text.substr(start, comma == std::string::npos ? comma : comma - start)),
                    &v)) {
      return false;
    }
    out->push_back(v);
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

// Checks a torn write and wraps it as an injection; "" or why not.
std::string FinishTorn(model::TornWrite torn, const std::string& origin, Injection* out) {
  const std::string problem = model::TornWriteProblem(torn);
  if (!problem.empty()) return problem;
  out->action = FaultAction::kCrash;
  out->trigger.op = model::FaultOp::kWrite;
  out->trigger.path = torn.path;
  out->origin = origin;
  out->torn = std::move(torn);
  return "";
}

Command ParseTorn(const std::string& line, const std::string& mountpoint) {
  const bool seq = line.rfind("lazyfs::torn-seq", 0) == 0;
  const std::string type = seq ? "torn-seq" : "torn-op";
  model::TornWrite torn;
  torn.kind = seq ? model::TornWrite::Kind::kSeq : model::TornWrite::Kind::kOp;
  std::string file;
  bool has_occurrence = false;
  for (const Field& field : CommandFields(line)) {
    const std::string& f = field.text;
    const std::string& key = field.key;
    const std::string& value = field.value;
    bool ok = true;
    if (key == "file") {
      file = value;
    } else if (key == "occurrence") {
      ok = ParseCount(value, &torn.occurrence);
      has_occurrence = true;
    } else if (key == "persist") {
      ok = ParseList(value, &torn.persist);
    } else if (key == "parts" && !seq) {
      ok = ParseCount(value, &torn.parts) && torn.parts > 0;
    } else if (key == "parts_bytes" && !seq) {
      ok = ParseList(value, &torn.parts_bytes);
    } else if (key == "op" && seq) {
      if (value != "write") {
        return Invalid(type + ": op=" + value + ": LazyFS and blackout tear only writes");
      }
    } else {
      return Invalid(type + ": unknown field '" + f + "'; fields: " +
                     (seq ? "op, file, persist, occurrence"
                          : "file, persist, parts or parts_bytes, occurrence"));
    }
    if (!ok) return Invalid(type + ": '" + f + "' is not a number or a list like 1,3");
  }
  if (file.empty()) return Invalid(type + ": file= is missing");
  if (!has_occurrence) return Invalid(type + ": occurrence= is missing");
  torn.path = ExactGlob(file, mountpoint);
  Command c;
  const std::string problem = FinishTorn(std::move(torn), line, &c.crash);
  if (!problem.empty()) return Invalid(type + ": " + problem);
  c.kind = Command::kTorn;
  return c;
}

}  // namespace

std::string ToMountPath(const std::string& path, const std::string& mountpoint) {
  if (path.rfind(mountpoint + "/", 0) == 0) return path.substr(mountpoint.size());
  if (!path.empty() && path[0] == '/') return path;
  return "/" + path;
}

Command ParseCommand(std::string_view raw, const std::string& mountpoint) {
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
    return ParseTorn(line, mountpoint);
  } else {
    return Invalid("unknown command '" + line +
                   "'; commands: lazyfs::clear-cache, lazyfs::cache-checkpoint, "
                   "lazyfs::display-cache-usage, lazyfs::unsynced-data-report, lazyfs::help, "
                   "lazyfs::crash::timing=..::op=..::from_rgx=..[::to_rgx=..], "
                   "lazyfs::torn-op::.., lazyfs::torn-seq::..");
  }
  return c;
}

namespace {

// One torn-op / torn-seq [[injection]]: "" or the problem, naming the key.
std::string LoadTorn(const toml::value& inj, const std::string& type, const std::string& where,
                     const std::string& mountpoint, Config* config) {
  model::TornWrite torn;
  const bool seq = type == "torn-seq";
  torn.kind = seq ? model::TornWrite::Kind::kSeq : model::TornWrite::Kind::kOp;
  for (const char* key : {"file", "occurrence", "persist"}) {
    if (!inj.contains(key)) return where + ": key '" + key + "' is missing";
  }
  if (seq && toml::find_or<std::string>(inj, "op", "write") != "write") {
    return where + ": op=\"" + toml::find<std::string>(inj, "op") +
           "\": LazyFS and blackout tear only writes";
  }
  auto counts = [&](const char* key, std::vector<uint64_t>* out) -> std::string {
    for (int64_t v : toml::find<std::vector<int64_t>>(inj, key)) {
      if (v <= 0) return where + ": " + key + " holds " + std::to_string(v) + "; counts start at 1";
      out->push_back(static_cast<uint64_t>(v));
    }
    return "";
  };
  const int64_t occurrence = toml::find<int64_t>(inj, "occurrence");
  if (occurrence <= 0) return where + ": occurrence must be greater than 0";
  torn.occurrence = static_cast<uint64_t>(occurrence);
  if (std::string p = counts("persist", &torn.persist); !p.empty()) return p;
  if (!seq) {
    if (inj.contains("parts")) {
      const int64_t parts = toml::find<int64_t>(inj, "parts");
      if (parts <= 0) return where + ": parts must be greater than 0";
      torn.parts = static_cast<uint64_t>(parts);
    }
    if (inj.contains("parts_bytes")) {
      if (std::string p = counts("parts_bytes", &torn.parts_bytes); !p.empty()) return p;
    }
  }
  torn.path = ExactGlob(toml::find<std::string>(inj, "file"), mountpoint);
  Injection injection;
  const std::string problem = FinishTorn(std::move(torn), where, &injection);
  if (!problem.empty()) return where + ": " + problem;
  config->injections.push_back(std::move(injection));
  return "";
}

}  // namespace

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
        std::string problem = LoadTorn(inj, type, where, mountpoint, config);
        if (!problem.empty()) return fail(problem);
        continue;
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
      injection.trigger.path = ExactGlob(from.empty() ? to : from, mountpoint);
      const bool crash = type == "crash" || toml::find_or<bool>(inj, "crash", false);
      injection.action = crash ? FaultAction::kCrash : FaultAction::kClearCache;
      config->injections.push_back(std::move(injection));
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return true;
}

}  // namespace blackout::lazyfs
