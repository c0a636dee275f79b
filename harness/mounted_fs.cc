#include "harness/mounted_fs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "harness/child_process.h"

namespace blackout::harness {
namespace {

// True while something is mounted on `mnt` (its device differs from its
// parent's).
bool IsMountPoint(const std::string& mnt) {
  struct stat a {
  }, b{};
  if (stat(mnt.c_str(), &a) != 0) return false;
  if (stat((mnt + "/..").c_str(), &b) != 0) return false;
  return a.st_dev != b.st_dev;
}

}  // namespace

Expected<std::unique_ptr<MountedFs>> MountedFs::Mount(const std::string& blackout_bin,
                                                      const std::string& model,
                                                      const std::string& tmp_root,
                                                      const std::vector<std::string>& extra_args) {
  std::string templ = tmp_root + "/blackout-run-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    return Error{"cannot create a temporary directory under " + tmp_root + ": " +
                 std::strerror(errno)};
  std::unique_ptr<MountedFs> m(new MountedFs);
  m->bin_ = blackout_bin;
  m->dir_ = buf.data();
  m->mnt_ = m->dir_ + "/mnt";
  if (mkdir(m->mnt_.c_str(), 0755) != 0)
    return Error{"cannot create " + m->mnt_ + ": " + std::strerror(errno)};
  // A scenario's run is bounded: its diagnosis may need every operation.
  std::vector<std::string> argv = {blackout_bin, "mount", m->mnt_, "--model", model,
                                   "--trace-limit", "0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  CommandResult r = RunCommand(argv, 60);
  if (r.exit_code != 0) {
    // The destructor removes the directory (and unmounts, if it got that far).
    m->mounted_ = IsMountPoint(m->mnt_);
    return Error{"blackout mount " + m->mnt_ + " failed" +
                 (r.timed_out ? std::string(" (no answer within 60 s)") : "") + ": " + r.output};
  }
  m->mounted_ = true;
  auto control = FsControl::Connect(m->mnt_ + ".ctl");
  if (!control.ok()) return Error{control.error()};
  m->control_ = std::move(*control);
  return m;
}

MountedFs::~MountedFs() {
  control_.reset();
  Unmount();
  std::error_code ec;
  if (!dir_.empty() && !IsMountPoint(mnt_)) std::filesystem::remove_all(dir_, ec);
}

void MountedFs::Unmount() {
  if (!mounted_) return;
  CommandResult r = RunCommand({bin_, "umount", mnt_}, 60);
  if (r.exit_code != 0 || IsMountPoint(mnt_)) {
    // The daemon did not answer: detach the mount so nothing is left behind.
    (void)RunCommand({"fusermount3", "-u", "-z", mnt_}, 30);
  }
  mounted_ = false;
}

}  // namespace blackout::harness
