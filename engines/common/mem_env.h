// MemEnv: an in-memory Env for fast unit tests, with a call log and the three
// durability levels of DESIGN.md.
//
// Crash model (the one place it is written down for the engine tests):
//  * Kernel state: every call applies at once to the "volatile" view (file
//    contents, directory entries), which is what reads see.
//  * CrashProcess(): the process dies. Every File and DirLock handed out so far
//    becomes inert: writes, syncs and closes through it are silently ignored
//    (so a destroyed engine cannot flush its userspace buffer afterwards),
//    reads fail. Kernel state is kept as it is.
//  * CrashPower(): CrashProcess(), then the volatile view is replaced by the
//    durable one: each file's content is what its last File::Sync made durable
//    (empty if never synced); each directory's entries are what its last
//    SyncDir made durable (a file or directory whose entry was never made
//    durable disappears, and so does everything under a directory that
//    disappears). The root directory given at construction, and its
//    ancestors, always exist.
//  * Nothing is torn or reordered here; the harness's filesystem model does that.
//
// Call log: every call in the normalized format of engine-traces/README.md,
// with paths relative to the root: `open NAME FLAGS` (write intent only),
// `write NAME N` (consecutive writes to one file merged), `fsync NAME`,
// `fsync .` (SyncDir of the root), `rename A -> B`, `unlink NAME`,
// `ftruncate NAME LEN`, `mkdir NAME`, and `ack` lines added by MarkAck()
// (consecutive acks merged). Paths outside the root are logged as given.
//
// Thread-safe: one mutex guards the whole environment. The MemEnv must
// outlive every File and DirLock it hands out.
#ifndef BLACKOUT_ENGINES_COMMON_MEM_ENV_H_
#define BLACKOUT_ENGINES_COMMON_MEM_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engines/common/env.h"

namespace blackout::engines {

class MemEnv final : public Env {
 public:
  // `root` is the directory the call log is relative to (normally the store
  // directory); it and its ancestors exist and are durable from the start.
  explicit MemEnv(std::string root = "/mem");
  ~MemEnv() override;

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  bool Exists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override;

  const std::string& root() const { return root_; }

  // The call log since construction or the last ClearCalls().
  std::vector<std::string> Calls() const;
  void ClearCalls();
  // Appends an `ack` line (the engine answered a request).
  void MarkAck();

  // Durability levels; see the crash model at the top of this file.
  void CrashProcess();
  void CrashPower();
  // Makes everything durable, as if every file and directory were synced.
  void SyncAll();

  // Starting from an existing tree (a crash state recovered inside the
  // explorer's process, harness/in_memory_recovery.h): `path` exists with
  // `bytes` (PutFile) or as a directory (PutDir), in both the volatile and the
  // durable view, with every missing parent directory. Not logged.
  void PutFile(const std::string& path, std::string bytes);
  void PutDir(const std::string& path);

  // Test helpers; they bypass the call log. ReadFileForTest returns the
  // volatile content ("" if the file does not exist). WriteFileForTest sets
  // the content of `path` (creating it, with its entry, if needed) in both
  // the volatile and the durable view, e.g. to tear or corrupt a file.
  std::string ReadFileForTest(const std::string& path);
  void WriteFileForTest(const std::string& path, std::string_view bytes);

 private:
  struct Node {
    std::string data;     // what the kernel holds
    std::string durable;  // what survives power loss
  };
  class MemFile;
  class MemDirLock;

  std::string Rel(const std::string& path) const;
  void LogLocked(std::string line);
  void LogWriteLocked(const std::string& path, size_t n);
  bool DirExistsLocked(const std::string& path) const;
  void PutDirsLocked(const std::string& path);

  const std::string root_;
  mutable std::mutex mu_;
  uint64_t generation_ = 0;  // bumped by CrashProcess; older handles are inert
  std::map<std::string, std::shared_ptr<Node>> files_;
  std::set<std::string> dirs_;
  std::map<std::string, std::shared_ptr<Node>> durable_files_;
  std::set<std::string> durable_dirs_;
  std::map<std::string, uint64_t> locks_;  // locked dir -> generation of the holder
  std::vector<std::string> calls_;
  std::string last_write_path_;  // non-empty while calls_.back() is a write line
  size_t last_write_bytes_ = 0;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_COMMON_MEM_ENV_H_
