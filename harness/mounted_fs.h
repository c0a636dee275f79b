// MountedFs: one blackoutfs mount in a fresh temporary directory, made with
// `blackout mount` and always unmounted (and its directory removed) when the
// object goes away, also when the run failed or was interrupted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness/expected.h"
#include "harness/fs_control.h"

namespace blackout::harness {

class MountedFs {
 public:
  // Creates TMP_ROOT/blackout-run-XXXXXX/mnt and mounts blackoutfs there with
  // the behaviour model `model`; `extra_args` go to `blackout mount` too
  // (e.g. {"--capacity", "1048576"}).
  static Expected<std::unique_ptr<MountedFs>> Mount(const std::string& blackout_bin,
                                                    const std::string& model,
                                                    const std::string& tmp_root,
                                                    const std::vector<std::string>& extra_args = {});
  ~MountedFs();
  MountedFs(const MountedFs&) = delete;
  MountedFs& operator=(const MountedFs&) = delete;

  const std::string& mountpoint() const { return mnt_; }
  const std::string& dir() const { return dir_; }  // the temp dir (logs go here)
  FsControl& control() { return *control_; }

 private:
  MountedFs() = default;
  void Unmount();
  std::string bin_;
  std::string dir_;
  std::string mnt_;
  bool mounted_ = false;
  std::unique_ptr<FsControl> control_;
};

}  // namespace blackout::harness
