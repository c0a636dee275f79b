// blackout::e2e::MountFixture: a blackoutfs mount for one test, made with the
// real command line ($BLACKOUT_BIN mount) in a fresh temporary directory and
// always unmounted by the destructor, also when the test fails.
//
// Layout of the temporary directory D: D/mnt (the mount point), D/mnt.ctl
// (control socket), D/mnt.log (daemon log), D/scratch (a plain directory
// outside the mount, for snapshots and tool output).
//
// A process without /dev/fuse exits 77 on the first fixture, which CTest
// reports as "skipped" for tests added with the FUSE flag.
//
// A test process that ends through std::terminate (an exception out of a
// destructor or a noexcept function, or Catch2's own reporter failing, as
// it does on a test name too long to wrap) runs no destructor: a terminate
// handler unmounts every live fixture's mount first.
//
// Header-only; framework-free (failures throw std::runtime_error) so both
// Catch2 tests and the harness's tests can use it.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace blackout::e2e {

struct CommandResult {
  int exit_code = -1;  // -1: did not run or was killed
  std::string out;
  std::string err;
};

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (PATH lookup) with stdout and stderr captured, optionally in `cwd`.
inline CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& cwd = "") {
  char out_tmpl[] = "/tmp/blackout-e2e-out-XXXXXX";
  char err_tmpl[] = "/tmp/blackout-e2e-err-XXXXXX";
  const int out_fd = mkstemp(out_tmpl);
  const int err_fd = mkstemp(err_tmpl);
  CommandResult result;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  close(out_fd);
  close(err_fd);
  result.out = ReadWholeFile(out_tmpl);
  result.err = ReadWholeFile(err_tmpl);
  unlink(out_tmpl);
  unlink(err_tmpl);
  return result;
}

inline std::string BlackoutBin() {
  const char* bin = std::getenv("BLACKOUT_BIN");
  if (bin == nullptr) throw std::runtime_error("BLACKOUT_BIN is not set (run the test with ctest)");
  return bin;
}

inline void ExitSkippedWithoutFuse() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    std::cerr << "SKIP: /dev/fuse is missing or not usable\n";
    std::exit(77);
  }
}

// The file system type mounted at `path`, "" if none (from /proc/self/mounts).
inline std::string MountTypeAt(const std::string& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mnt, type, rest, found;
  while (in >> dev >> mnt >> type && std::getline(in, rest)) {
    if (mnt == path) found = type;
  }
  return found;
}

inline std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// Whether `blackout mount --io-uring` can work here, and so whether a
// default mount takes the ring: the kernel has FUSE's io_uring transport,
// this process is root, and the module parameter is on or can be turned on
// (sysfs may be read-only, in a container). Otherwise sets *why.
inline bool IoUringUsable(std::string* why) {
  const char* param = "/sys/module/fuse/parameters/enable_uring";
  if (!std::filesystem::exists(param)) {
    *why = "this kernel has no FUSE io_uring transport (Linux 6.14+, CONFIG_FUSE_IO_URING)";
    return false;
  }
  if (geteuid() != 0) {
    *why = "turning on fuse.enable_uring needs root";
    return false;
  }
  std::string value;
  std::getline(std::ifstream(param), value);
  if (value != "Y" && value != "1" && access(param, W_OK) != 0) {
    *why = std::string(param) + " is " + value + " and cannot be turned on here";
    return false;
  }
  return true;
}

class MountFixture {
 public:
  // `mount_args` are added to `blackout mount` (e.g. --writeback-cache).
  explicit MountFixture(std::string model = "posix-strict",
                        std::vector<std::string> mount_args = {})
      : model_(std::move(model)), mount_args_(std::move(mount_args)) {
    ExitSkippedWithoutFuse();
    // BLACKOUT_E2E_MOUNT_ARGS (space-separated) adds to every mount: CTest
    // runs some tests again with --dev-fuse that way. A transport the test
    // asks for itself wins over one from there.
    const auto has = [this](const std::string& arg) {
      return std::find(mount_args_.begin(), mount_args_.end(), arg) != mount_args_.end();
    };
    const bool own_transport = has("--io-uring") || has("--dev-fuse");
    if (const char* extra = std::getenv("BLACKOUT_E2E_MOUNT_ARGS")) {
      std::istringstream words(extra);
      for (std::string w; words >> w;) {
        const bool transport = w == "--io-uring" || w == "--dev-fuse";
        if (!has(w) && !(transport && own_transport)) mount_args_.push_back(w);
      }
    }
    if (has("--io-uring")) {
      std::string why;
      if (!IoUringUsable(&why)) {
        std::cerr << "SKIP: mounts with --io-uring: " << why << "\n";
        std::exit(77);
      }
    }
    // Before the directory exists: a constructor that throws leaves no
    // destructor to remove it.
    const std::string bin = BlackoutBin();
    dir_ = MakeTempDir("blackout-e2e");
    mnt_ = dir_ + "/mnt";
    std::filesystem::create_directory(mnt_);
    std::filesystem::create_directory(scratch());
    std::vector<std::string> argv = {bin, "mount", mnt_, "--model", model_};
    argv.insert(argv.end(), mount_args_.begin(), mount_args_.end());
    const bool ring = has("--io-uring");
    const bool dev_fuse = has("--dev-fuse");
    const CommandResult r = RunCommand(argv);
    if (r.exit_code != 0 || MountTypeAt(mnt_) != "fuse.blackout") {
      const std::string log = ReadWholeFile(mnt_ + ".log");
      Cleanup();
      throw std::runtime_error("blackout mount failed (exit " + std::to_string(r.exit_code) +
                               "): " + r.err + "\nlog:\n" + log);
    }
    // `blackout mount --io-uring` returns once the ring's queues serve;
    // --dev-fuse must keep the mount off the ring.
    if (ring || dev_fuse) {
      const std::string want = ring ? "io_uring" : "/dev/fuse";
      const std::string got = Ctl({"status"})["transport"];
      if (got != want) {
        const std::string log = ReadWholeFile(mnt_ + ".log");
        Cleanup();
        throw std::runtime_error("blackout mount " +
                                 std::string(ring ? "--io-uring" : "--dev-fuse") + ": transport " +
                                 got + ", not " + want + "; log:\n" + log);
      }
    }
    Remember(this);
  }
  ~MountFixture() {
    Forget(this);
    Cleanup();
  }
  MountFixture(const MountFixture&) = delete;
  MountFixture& operator=(const MountFixture&) = delete;

  const std::string& mnt() const { return mnt_; }
  std::string socket() const { return mnt_ + ".ctl"; }
  std::string log() const { return mnt_ + ".log"; }
  std::string scratch() const { return dir_ + "/scratch"; }
  const std::string& model() const { return model_; }
  // `rel` inside the mount, e.g. Path("a/b").
  std::string Path(const std::string& rel) const { return mnt_ + "/" + rel; }
  bool Mounted() const { return MountTypeAt(mnt_) == "fuse.blackout"; }
  // How to redo this mount by hand (for failure messages).
  std::string Reproduce() const {
    std::string cmd = "blackout mount " + mnt_ + " --model " + model_;
    for (const std::string& a : mount_args_) cmd += " " + a;
    return cmd;
  }

  // `blackout ctl MNT args...`
  CommandResult CtlCommand(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {BlackoutBin(), "ctl", mnt_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // `blackout ctl MNT args...` that must succeed; returns the JSON reply.
  nlohmann::json Ctl(const std::vector<std::string>& args) const {
    const CommandResult r = CtlCommand(args);
    if (r.exit_code != 0) {
      throw std::runtime_error("blackout ctl " + (args.empty() ? "" : args[0]) + " exited " +
                               std::to_string(r.exit_code) + ": " + r.err + r.out);
    }
    return nlohmann::json::parse(r.out);
  }

  nlohmann::json PowerCut(const std::string& state = "drop-all") const {
    return Ctl({"power-cut", "--state", state});
  }

 private:
  // The live fixtures, for the terminate handler (file comment).
  static std::mutex& LiveMutex() {
    static std::mutex mu;
    return mu;
  }
  static std::unordered_set<MountFixture*>& Live() {
    static std::unordered_set<MountFixture*> live;
    return live;
  }
  static std::terminate_handler& PreviousTerminate() {
    static std::terminate_handler previous = nullptr;
    return previous;
  }
  static void Remember(MountFixture* m) {
    static const bool installed = [] {
      PreviousTerminate() = std::set_terminate(UnmountAllAndTerminate);
      return true;
    }();
    (void)installed;
    std::lock_guard<std::mutex> lock(LiveMutex());
    Live().insert(m);
  }
  static void Forget(MountFixture* m) {
    std::lock_guard<std::mutex> lock(LiveMutex());
    Live().erase(m);
  }
  [[noreturn]] static void UnmountAllAndTerminate() {
    std::unordered_set<MountFixture*> live;
    {
      std::lock_guard<std::mutex> lock(LiveMutex());
      live.swap(Live());
    }
    for (MountFixture* m : live) {
      std::cerr << "terminating: unmounting " << m->mnt_ << "\n";
      m->Cleanup();
    }
    if (PreviousTerminate() != nullptr) PreviousTerminate()();  // says why, then aborts
    std::abort();
  }

  void Cleanup() {
    if (dir_.empty()) return;
    if (Mounted()) (void)RunCommand({BlackoutBin(), "umount", mnt_});
    if (Mounted()) (void)RunCommand({"fusermount3", "-u", "-z", mnt_});
    // Never remove through a mount that is still there.
    if (!Mounted()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    dir_.clear();
  }

  std::string model_;
  std::vector<std::string> mount_args_;
  std::string dir_;
  std::string mnt_;
};

}  // namespace blackout::e2e
