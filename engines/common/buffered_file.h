// BufferedFile: CPython's io.BufferedWriter / BufferedRandom over a File, so
// that a port issues write(2) exactly when the Python original did.
//
// Buffer size: CPython's open() sizes the buffer with the file's st_blksize
// (io.DEFAULT_BUFFER_SIZE = 8 KiB only when st_blksize <= 1), so on ext4 and
// on FUSE, where REF's traces were recorded, the buffer is 4 KiB (checked with
// strace on Python 3.11). BufferedFile does the same via File::BlockSize().
//
// The rules (CPython Modules/_io/bufferedio.c), with B the buffer size:
//  * Append(data): if data fits in the free part of the buffer, it is only
//    copied there (a buffer filled exactly to B stays unwritten).
//    Otherwise the buffer is written with one write(2); then, if data is
//    larger than B, all of it is written directly with one more write(2),
//    else it becomes the new buffer content.
//  * Flush() writes the buffer (nothing if empty); Sync() = Flush + fsync;
//    Close() = Flush + close(2), never fsync.
//  * Seek, Read, ReadAt, Truncate flush first, as Python does.
//  * The destructor does NOT flush: destroying a BufferedFile is what a
//    process crash does to Python's buffer (call Close() for a clean close).
// A file opened kAppend starts at the end of the file (Python's FileIO seeks
// to the end on open), so Tell() after opening "ab" is the file size.
//
// Not thread-safe: one owner at a time.
#ifndef BLACKOUT_ENGINES_COMMON_BUFFERED_FILE_H_
#define BLACKOUT_ENGINES_COMMON_BUFFERED_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engines/common/env.h"
#include "engines/common/status.h"

namespace blackout::engines {

class BufferedFile {
 public:
  static constexpr size_t kDefaultBufferSize = 8192;  // io.DEFAULT_BUFFER_SIZE

  // Opens `path` with `mode` (one open(2); kAppend also reads the size); the
  // buffer size is the file's BlockSize() unless `buffer_size` is given.
  // Durability: as Env::Open.
  [[nodiscard]] static Result<std::unique_ptr<BufferedFile>> Open(Env* env, const std::string& path,
                                                                  OpenMode mode,
                                                                  size_t buffer_size = 0);
  // Wraps an open File whose descriptor position is `position`.
  BufferedFile(std::unique_ptr<File> file, OpenMode mode, uint64_t position, size_t buffer_size);
  ~BufferedFile();  // no flush; closes the descriptor if still open
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;

  // Python's f.write(data). Durability: bytes still in the buffer are lost on
  // a process crash; bytes written through (see the rules above) survive a
  // process crash, not power loss.
  [[nodiscard]] Status Append(std::string_view data);
  // Python's f.flush(): write(2) of the buffer. Durability: everything
  // appended survives a process crash; nothing more survives power loss.
  [[nodiscard]] Status Flush();
  // Flush + fsync(2). Durability: everything appended survives power loss
  // (the directory entry only after Env::SyncDir).
  [[nodiscard]] Status Sync();
  // Flush + close(2), never fsync; later calls fail. Durability: as Flush.
  [[nodiscard]] Status Close();

  // Python's f.tell(): logical position, buffered bytes included.
  uint64_t Tell() const { return raw_pos_ + buffer_.size(); }
  // Flush, then lseek. Durability: as Flush.
  [[nodiscard]] Status Seek(uint64_t pos);
  // Flush, then ftruncate(len); the position does not move. Durability: as Flush.
  [[nodiscard]] Status Truncate(uint64_t length);
  // Flush, then read up to n bytes at the position and advance it; shorter
  // only at end of file. Durability: as Flush.
  [[nodiscard]] Result<std::string> Read(size_t n);
  // Flush, then pread; the position does not move. Durability: as Flush.
  [[nodiscard]] Result<std::string> ReadAt(uint64_t offset, size_t n);

  // Bytes waiting in the userspace buffer (what a process crash loses now).
  size_t buffered() const { return buffer_.size(); }
  size_t buffer_size() const { return buffer_size_; }
  bool closed() const { return closed_; }
  const std::string& path() const { return file_->path(); }
  File* file() { return file_.get(); }

 private:
  [[nodiscard]] Status CheckOpen(const char* what) const;
  [[nodiscard]] Status RawWrite(std::string_view data);

  std::unique_ptr<File> file_;
  OpenMode mode_;
  size_t buffer_size_;
  uint64_t raw_pos_;           // where the buffer starts (= fd position when in sync)
  bool fd_pos_stale_ = false;  // a Read moved raw_pos_ without moving the fd
  std::string buffer_;
  bool closed_ = false;
};

}  // namespace blackout::engines

#endif  // BLACKOUT_ENGINES_COMMON_BUFFERED_FILE_H_
