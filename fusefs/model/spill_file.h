// SpillFile: a file on a real disk for the versions of file pages that only
// a pending write still holds (crash_model.md, "Memory: the spill file").
//
// A crash state may hold any version a page had since its last sync, so the
// model keeps every pending write's bytes; a program that overwrites a file
// without syncing makes a new version per write, which no view shows any
// more but a crash state may need. Those versions move here, in chunks of up
// to kChunkPages pages written once with direct I/O (O_DIRECT: the kernel
// keeps no copy in its page cache, so the memory they held is really given
// back), and are read back only when a sync or a crash state applies them.
//
// The file has no name (O_TMPFILE, or a name unlinked at once where the file
// system lacks it): it is gone when the process ends, however it ends.
//
// Thread-safety: every method is thread-safe. A chunk holds its file open.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fusefs/model/page_store.h"

namespace blackout::model {

class SpillChunk;

class SpillFile : public std::enable_shared_from_this<SpillFile> {
 public:
  static constexpr size_t kChunkPages = 512;  // 2 MiB: one request per chunk on the disk
  static constexpr uint64_t kChunkBytes = kChunkPages * kPageSize;

  // Opens an unnamed file in `dir` for direct I/O; null with a message that
  // names `dir` in *error when it cannot (missing, not writable, a file
  // system without O_DIRECT, or tmpfs: memory itself). The file never grows
  // into the last `keep_free` bytes of its file system (0: 5% of it, at
  // least 1 GiB), which belong to the machine's other programs.
  static std::shared_ptr<SpillFile> Open(const std::string& dir, std::string* error,
                                         uint64_t keep_free = 0);
  // Where `blackout mount` spills without --spill-dir: $TMPDIR, else
  // /var/tmp (a disk on most systems, where /tmp may be tmpfs).
  static std::string DefaultDir();
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Writes pages[0..n) to a free chunk and returns it; null with a message
  // naming the directory in *error when the disk refuses (EIO, ENOSPC) or
  // the file would grow into `keep_free`: the caller keeps the pages.
  // REQUIRES: 0 < n <= kChunkPages.
  std::shared_ptr<const SpillChunk> Write(const Page* const* pages, size_t n, std::string* error);

  const std::string& dir() const { return dir_; }
  uint64_t bytes_held() const;     // pages in chunks still referenced
  uint64_t bytes_written() const;  // every page ever written here

 private:
  friend class SpillChunk;
  SpillFile(int fd, std::string dir, uint64_t keep_free)
      : fd_(fd), dir_(std::move(dir)), keep_free_(keep_free) {}
  void Release(uint64_t offset, size_t pages);
  // Whether the file may grow by one more chunk; else *error says why.
  bool RoomToGrow(std::string* error) const;

  int fd_;
  std::string dir_;
  uint64_t keep_free_;
  mutable std::mutex mu_;
  std::vector<uint64_t> free_;  // offsets of chunks no page uses
  uint64_t end_ = 0;            // the file's size: chunks below it are in use or free
  uint64_t chunks_held_ = 0;
  uint64_t pages_held_ = 0;
  uint64_t pages_written_ = 0;
};

// Up to kChunkPages pages written together; its space is reused once the
// last reference to it goes.
class SpillChunk {
 public:
  SpillChunk(std::shared_ptr<SpillFile> file, uint64_t offset, size_t pages)
      : file_(std::move(file)), offset_(offset), pages_(pages) {}
  ~SpillChunk();
  SpillChunk(const SpillChunk&) = delete;
  SpillChunk& operator=(const SpillChunk&) = delete;

  // A fresh in-memory copy of page `index`. The last chunk read on each
  // thread stays in a buffer, so reading a chunk's pages in order costs one
  // read of the disk. A read error of the spill file leaves the model
  // without bytes it promised to keep: the process stops with a message
  // naming the file's directory rather than answer with wrong data.
  // REQUIRES: index < the number of pages written to the chunk.
  static PageRef Load(const std::shared_ptr<const SpillChunk>& chunk, size_t index);

 private:
  std::shared_ptr<SpillFile> file_;
  uint64_t offset_;
  size_t pages_;
};

}  // namespace blackout::model
