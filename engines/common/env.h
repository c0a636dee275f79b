// Env: the one seam through which every engine reaches the filesystem.
//
// Engines never call the OS directly. PosixEnv maps each call to exactly one
// system call (so an strace of an engine shows the calls ENGINES.md lists),
// MemEnv (mem_env.h) keeps everything in memory for fast unit tests, records
// the calls and simulates process crashes and power loss.
//
// Paths are plain strings, absolute or relative to the process's working
// directory; no call resolves or rewrites them.
#ifndef BLACKOUT_ENGINES_COMMON_ENV_H_
#define BLACKOUT_ENGINES_COMMON_ENV_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engines/common/status.h"

namespace blackout::engines {

// Python's binary open modes with the exact flags of ENGINES.md section 0.
enum class OpenMode {
  kRead,             // "rb":  O_RDONLY
  kAppend,           // "ab":  O_WRONLY|O_CREAT|O_APPEND
  kWrite,            // "wb":  O_WRONLY|O_CREAT|O_TRUNC (truncates at open)
  kReadWrite,        // "r+b": O_RDWR
  kReadWriteCreate,  // "w+b": O_RDWR|O_CREAT|O_TRUNC
};

// The flags an open with `mode` uses, as the traces print them: the sorted
// names joined by '|', e.g. "O_APPEND|O_CREAT|O_WRONLY"; "O_RDONLY" for kRead.
std::string OpenModeFlags(OpenMode mode);

// An open file descriptor. On PosixEnv each call is exactly one system call
// (Write loops only if the kernel accepts fewer bytes than asked).
// Not thread-safe: one owner at a time.
class File {
 public:
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  virtual ~File();  // closes the descriptor if still open (close(2), never fsync)

  // write(2) at the descriptor's position; with O_APPEND at the end of file.
  // Durability: survives a process crash on return (kernel page cache);
  // not power loss until Sync.
  [[nodiscard]] virtual Status Write(std::string_view data) = 0;
  // pwrite(2) at `offset`; the descriptor's position does not move.
  // Durability: as Write.
  [[nodiscard]] virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // pread(2) of up to n bytes at `offset`; shorter only at end of file.
  [[nodiscard]] virtual Result<std::string> ReadAt(uint64_t offset, size_t n) = 0;
  // lseek(offset, SEEK_SET).
  [[nodiscard]] virtual Status Seek(uint64_t offset) = 0;
  // fstat(2) size.
  [[nodiscard]] virtual Result<uint64_t> Size() = 0;
  // fsync(2). Durability: the file's data and size survive power loss; its
  // directory entry does not unless the directory is synced (Env::SyncDir).
  [[nodiscard]] virtual Status Sync() = 0;
  // ftruncate(2). Durability: as Write.
  [[nodiscard]] virtual Status Truncate(uint64_t length) = 0;
  // close(2), never fsync. Later calls fail. Durability: nothing changes.
  [[nodiscard]] virtual Status Close() = 0;
  virtual const std::string& path() const = 0;
  // st_blksize of the file (fstat), which CPython's open() takes as the size
  // of its userspace buffer. 4096 on ext4 and FUSE, where REF was traced.
  virtual size_t BlockSize() { return 4096; }
};

// An exclusive lock on a directory, held until the object is destroyed.
class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  virtual ~DirLock();
};

class Env {
 public:
  virtual ~Env();

  // The process-wide POSIX environment (never destroyed). Thread-safe.
  static Env* Posix();

  // open(2) with the flags of `mode`. A missing file (or directory on the
  // way) is NotFound; other failures are IOError with the path.
  // Durability: a created file's directory entry survives power loss only
  // after SyncDir of its directory.
  [[nodiscard]] virtual Result<std::unique_ptr<File>> Open(const std::string& path,
                                                           OpenMode mode) = 0;
  // rename(2), replacing `to`. Durability: survives power loss only after
  // SyncDir of both directories.
  [[nodiscard]] virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // unlink(2). Durability: as Rename.
  [[nodiscard]] virtual Status Remove(const std::string& path) = 0;
  // mkdir -p (Python's os.makedirs(exist_ok=True)); mkdir(2) per missing level.
  // Durability: each new directory survives power loss after SyncDir of its parent.
  [[nodiscard]] virtual Status CreateDirs(const std::string& path) = 0;
  // open(O_RDONLY|O_DIRECTORY) + fsync + close. Durability: every entry
  // created, renamed or removed in `path` so far survives power loss.
  [[nodiscard]] virtual Status SyncDir(const std::string& path) = 0;
  // Names in `path` (no "." or ".."), in no particular order.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  [[nodiscard]] virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Exclusive lock on `dir` (fixed profiles): open(DIR/LOCK, O_RDWR|O_CREAT)
  // + flock(LOCK_EX|LOCK_NB). Busy if another holder (another process, or
  // another lock object in this process) has it.
  [[nodiscard]] virtual Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) = 0;
};

// "dir/name" (no doubled slash).
std::string JoinPath(std::string_view dir, std::string_view name);

bool EndsWith(std::string_view s, std::string_view suffix);

// Fixed profiles' recovery: removes every entry of `dir` whose name ends with
// one of `suffixes` (files a crash left half made, never part of the store).
// True if it removed any; the caller makes that durable with SyncDir(dir).
[[nodiscard]] Result<bool> RemoveLeftovers(Env& env, const std::string& dir,
                                           std::initializer_list<std::string_view> suffixes);

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_COMMON_ENV_H_
