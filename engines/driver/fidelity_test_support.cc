#include "engines/driver/fidelity_test_support.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "engines/common/mem_env.h"
#include "engines/driver/driver.h"

namespace blackout::engines::fidelity {

namespace {

Result<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Appends a trace line, merging consecutive writes to one file and
// consecutive acks, as engine-traces/README.md normalizes them.
void Emit(std::vector<std::string>* out, const std::string& line) {
  if (line == "ack" && !out->empty() && out->back() == "ack") return;
  if (line.rfind("write ", 0) == 0 && !out->empty() && out->back().rfind("write ", 0) == 0) {
    const size_t a = line.rfind(' '), b = out->back().rfind(' ');
    if (line.substr(0, a) == out->back().substr(0, b)) {
      const long long sum = std::stoll(line.substr(a + 1)) + std::stoll(out->back().substr(b + 1));
      out->back() = line.substr(0, a) + " " + std::to_string(sum);
      return;
    }
  }
  out->push_back(line);
}

std::vector<std::string> QuotedStrings(const std::string& args) {
  static const std::regex quoted(R"re("((?:[^"\\]|\\.)*)")re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(args.begin(), args.end(), quoted);
       it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

}  // namespace

Result<std::string> TracePath(const std::string& name, const std::string& ext) {
  const char* shared = std::getenv("BLACKOUT_SHARED_DIR");
  if (shared == nullptr) return Status::InvalidArgument("BLACKOUT_SHARED_DIR is not set");
  return std::string(shared) + "/engine-traces/" + name + ext;
}

Result<TraceWorkload> LoadWorkload(const std::string& name) {
  BLACKOUT_ASSIGN_OR_RETURN(std::string path, TracePath(name, ".jsonl"));
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(path));
  if (lines.empty()) return Status::Corruption(path + ": empty");
  TraceWorkload w;
  w.name = name;
  try {
    const auto head = nlohmann::json::parse(lines[0]);
    w.engine = head.at("engine").get<std::string>();
    w.config = head.value("config", nlohmann::json::object());
    for (size_t i = 1; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      const auto req = nlohmann::json::parse(lines[i]);
      if (req.contains("phase")) {
        w.phases.emplace_back();
      } else {
        if (w.phases.empty()) return Status::Corruption(path + ": request before the first phase");
        w.phases.back().push_back(lines[i]);
      }
    }
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return w;
}

Result<std::vector<std::string>> LoadExpectedTrace(const std::string& name) {
  BLACKOUT_ASSIGN_OR_RETURN(std::string path, TracePath(name, ".trace"));
  return ReadLines(path);
}

Result<std::vector<std::string>> RunOnMemEnv(const TraceWorkload& workload) {
  MemEnv env(kMemStoreDir);
  std::vector<std::string> trace;
  for (size_t p = 0; p < workload.phases.size(); ++p) {
    env.ClearCalls();
    int exit_code = 0;
    {
      BLACKOUT_ASSIGN_OR_RETURN(
          std::unique_ptr<EngineSession> session,
          OpenEngineSession(workload.engine, &env, kMemStoreDir, workload.config));
      for (const auto& line : workload.phases[p]) {
        bool close_requested = false;
        const nlohmann::json reply = HandleRequestLine(*session, line, &close_requested);
        env.MarkAck();
        if (close_requested) {
          exit_code = reply.value("ok", false) ? 0 : 1;
          break;
        }
      }
    }
    trace.push_back("-- phase " + std::to_string(p) + " (exit " + std::to_string(exit_code) + ")");
    for (const auto& c : env.Calls()) trace.push_back(c);
  }
  return trace;
}

bool StraceAvailable() { return std::system("strace -V >/dev/null 2>&1") == 0; }

std::vector<std::string> NormalizeStrace(const std::vector<std::string>& lines,
                                         const std::string& store_dir) {
  static const std::regex call(R"re(^(?:\[pid\s+)?(?:\d+\]?\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+))re");
  static const std::regex fd_arg(R"re(^(\d+)<([^>]*)>)re");
  auto rel = [&store_dir](const std::string& path, std::string* name) {
    if (path == store_dir) {
      *name = ".";
      return true;
    }
    if (path.size() > store_dir.size() && path.compare(0, store_dir.size(), store_dir) == 0 &&
        path[store_dir.size()] == '/') {
      *name = path.substr(store_dir.size() + 1);
      return true;
    }
    return false;
  };
  std::vector<std::string> out;
  for (const auto& raw : lines) {
    // The result is what follows the last ") = " (a data string may hold one too).
    const size_t eq = raw.rfind(") = ");
    if (eq == std::string::npos) continue;
    std::smatch m;
    const std::string head = raw.substr(0, eq + 1) + " = " + raw.substr(eq + 4);
    if (!std::regex_search(head, m, call)) continue;
    const std::string fn = m[1];
    const std::string args = m[2];
    if (std::stoll(m[3]) < 0) continue;  // failed call
    std::smatch fdm;
    const bool has_fd = std::regex_search(args, fdm, fd_arg);
    std::string name;
    if (fn == "write" || fn == "pwrite64" || fn == "writev" || fn == "pwritev" ||
        fn == "pwritev2") {
      if (has_fd && fdm[1] == "1") {
        Emit(&out, "ack");
      } else if (has_fd && rel(fdm[2], &name)) {
        Emit(&out, "write " + name + " " + std::string(m[3]));
      }
    } else if (fn == "fsync" || fn == "fdatasync" || fn == "sync_file_range") {
      if (has_fd && rel(fdm[2], &name)) Emit(&out, "fsync " + name);
    } else if (fn == "ftruncate") {
      if (has_fd && rel(fdm[2], &name)) {
        const std::string len = args.substr(args.rfind(',') + 1);
        Emit(&out, "ftruncate " + name + " " + std::to_string(std::stoll(len)));
      }
    } else if (fn == "open" || fn == "openat" || fn == "creat") {
      const auto q = QuotedStrings(args);
      if (q.empty() || !rel(q[0], &name)) continue;
      const std::string flags_field = args.substr(args.find(q[0]) + q[0].size() + 1);
      std::vector<std::string> flags;
      for (const char* f : {"O_APPEND", "O_CREAT", "O_RDWR", "O_TRUNC", "O_WRONLY"})
        if (flags_field.find(f) != std::string::npos) flags.push_back(f);
      if (fn == "creat") flags = {"O_CREAT", "O_TRUNC", "O_WRONLY"};
      if (flags_field.find("O_DIRECTORY") != std::string::npos) continue;
      const bool write_intent = std::find(flags.begin(), flags.end(), "O_WRONLY") != flags.end() ||
                                std::find(flags.begin(), flags.end(), "O_RDWR") != flags.end();
      if (!write_intent) continue;
      std::string joined;
      for (const auto& f : flags) joined += (joined.empty() ? "" : "|") + f;
      Emit(&out, "open " + name + " " + joined);
    } else if (fn == "rename" || fn == "renameat" || fn == "renameat2") {
      const auto q = QuotedStrings(args);
      std::string from, to;
      if (q.size() >= 2 && rel(q[0], &from) && rel(q[1], &to))
        Emit(&out, "rename " + from + " -> " + to);
    } else if (fn == "unlink" || fn == "unlinkat") {
      const auto q = QuotedStrings(args);
      if (fn == "unlinkat" && args.find("AT_REMOVEDIR") != std::string::npos) continue;
      if (!q.empty() && rel(q[0], &name)) Emit(&out, "unlink " + name);
    } else if (fn == "mkdir" || fn == "mkdirat") {
      const auto q = QuotedStrings(args);
      if (!q.empty() && rel(q[0], &name)) Emit(&out, "mkdir " + name);
    }
  }
  return out;
}

Result<std::vector<std::string>> RunUnderStrace(const std::string& blackout_bin,
                                                const TraceWorkload& workload,
                                                const std::string& scratch_dir) {
  std::string tmpl = scratch_dir + "/strace-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Status::IOError("mkdtemp " + tmpl, errno);
  char* real = realpath(tmpl.c_str(), nullptr);
  if (real == nullptr) return Status::IOError("realpath " + tmpl, errno);
  const std::string work = real;
  free(real);
  const std::string store = work + "/store";
  if (mkdir(store.c_str(), 0755) != 0) return Status::IOError("mkdir " + store, errno);
  std::vector<std::string> trace;
  for (size_t p = 0; p < workload.phases.size(); ++p) {
    const std::string in = work + "/phase" + std::to_string(p) + ".in";
    const std::string st = work + "/phase" + std::to_string(p) + ".strace";
    {
      std::ofstream f(in);
      for (const auto& line : workload.phases[p]) f << line << '\n';
    }
    // LeakSanitizer cannot run under ptrace: in a sanitizer build (scripts/test --sanitize) its
    // exit-time check dies and changes the exit status. Leaks are checked by the other tests;
    // here only the calls matter. The option is ignored by a build without ASan.
    const char* asan = std::getenv("ASAN_OPTIONS");
    std::string asan_options = "detect_leaks=0";
    if (asan != nullptr && *asan != '\0') asan_options = std::string(asan) + ":" + asan_options;
    const std::string cmd =
        "ASAN_OPTIONS=" + ShellQuote(asan_options) + " strace -f -y -qq -o " + ShellQuote(st) +
        " -e trace=open,openat,creat,write,pwrite64,writev,pwritev,fsync,fdatasync,"
        "sync_file_range,rename,renameat,renameat2,unlink,unlinkat,ftruncate,mkdir,mkdirat " +
        ShellQuote(blackout_bin) + " engine " + ShellQuote(workload.engine) + " --dir " +
        ShellQuote(store) + " --config " + ShellQuote(workload.config.dump()) + " < " +
        ShellQuote(in) + " > " + ShellQuote(work + "/phase" + std::to_string(p) + ".out") + " 2> " +
        ShellQuote(work + "/phase" + std::to_string(p) + ".err");
    const int rc = std::system(cmd.c_str());
    if (rc == -1 || !WIFEXITED(rc)) return Status::IOError("could not run: " + cmd);
    BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(st));
    trace.push_back("-- phase " + std::to_string(p) + " (exit " + std::to_string(WEXITSTATUS(rc)) +
                    ")");
    for (const auto& l : NormalizeStrace(lines, store)) trace.push_back(l);
  }
  std::system(("rm -rf " + ShellQuote(work)).c_str());
  return trace;
}

std::string DiffTraces(const std::vector<std::string>& want, const std::vector<std::string>& got,
                       bool star_sizes) {
  auto norm = [star_sizes](std::string s) {
    if (star_sizes && s.rfind("write ", 0) == 0) s = s.substr(0, s.rfind(' ')) + " *";
    return s;
  };
  const size_t n = std::max(want.size(), got.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string w = i < want.size() ? norm(want[i]) : "<end>";
    const std::string g = i < got.size() ? norm(got[i]) : "<end>";
    if (w == g) continue;
    std::ostringstream os;
    os << "first difference at trace line " << i + 1 << ": want '" << w << "', got '" << g
       << "'\n--- context (want | got):\n";
    for (size_t j = (i > 5 ? i - 5 : 0); j < std::min(n, i + 6); ++j)
      os << (j == i ? ">> " : "   ") << (j < want.size() ? want[j] : "<end>") << " | "
         << (j < got.size() ? got[j] : "<end>") << '\n';
    return os.str();
  }
  return "";
}

std::string MemEnvMismatch(const std::string& name, bool star_sizes) {
  auto workload = LoadWorkload(name);
  if (!workload.ok()) return workload.status().ToString();
  auto want = LoadExpectedTrace(name);
  if (!want.ok()) return want.status().ToString();
  auto got = RunOnMemEnv(*workload);
  if (!got.ok()) return "running " + name + " on the MemEnv: " + got.status().ToString();
  return DiffTraces(*want, *got, star_sizes);
}

}  // namespace blackout::engines::fidelity
