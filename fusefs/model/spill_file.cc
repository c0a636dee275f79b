#include "fusefs/model/spill_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace blackout::model {
namespace {

// A kChunkBytes buffer aligned for direct I/O, one per thread and purpose:
// allocated once, so spilling never asks the kernel for fresh memory.
struct AlignedChunk {
  AlignedChunk()
      : bytes(static_cast<char*>(std::aligned_alloc(kPageSize, SpillFile::kChunkBytes))) {
    if (bytes == nullptr) std::abort();
  }
  ~AlignedChunk() { std::free(bytes); }
  AlignedChunk(const AlignedChunk&) = delete;
  AlignedChunk& operator=(const AlignedChunk&) = delete;
  char* bytes;
};

// Full-length pread/pwrite: direct I/O may stop short on some file systems.
bool Transfer(bool write, int fd, char* buf, size_t len, uint64_t offset, int* err) {
  while (len > 0) {
    ssize_t n = write ? pwrite(fd, buf, len, static_cast<off_t>(offset))
                      : pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n < 0 ? errno : EIO;
      return false;
    }
    buf += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace

std::shared_ptr<SpillFile> SpillFile::Open(const std::string& dir, std::string* error,
                                           uint64_t keep_free) {
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // No O_TMPFILE here: a named file, unlinked before anyone can use it.
    std::string name = dir + "/blackout-spill-XXXXXX";
    fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) {
      unlink(name.c_str());
      if (fcntl(fd, F_SETFL, O_DIRECT) != 0) {
        const int e = errno;
        close(fd);
        fd = -1;
        errno = e;
      }
    }
  }
  if (fd < 0) {
    if (errno == EINVAL) {
      *error = "spill directory " + dir +
               ": its file system does not support direct I/O, without which spilled pages "
               "would stay in memory as page cache; choose a directory on a disk";
    } else {
      *error = "spill directory " + dir + ": cannot create a file there: " + std::strerror(errno);
    }
    return nullptr;
  }
  // Linux 6.6 and later accept O_DIRECT on tmpfs, whose pages are memory.
  struct statfs sfs {};
  if (fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)) {
    close(fd);
    *error = "spill directory " + dir +
             " is on tmpfs or ramfs (memory), where spilled pages would stay in memory; choose "
             "a directory on a disk";
    return nullptr;
  }
  if (keep_free == 0) {
    const uint64_t size = static_cast<uint64_t>(sfs.f_blocks) * sfs.f_frsize;
    keep_free = std::max<uint64_t>(uint64_t{1} << 30, size / 20);
  }
  return std::shared_ptr<SpillFile>(new SpillFile(fd, dir, keep_free));
}

std::string SpillFile::DefaultDir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != 0 ? tmp : "/var/tmp";
}

SpillFile::~SpillFile() { close(fd_); }

bool SpillFile::RoomToGrow(std::string* error) const {
  struct statfs sfs {};
  if (fstatfs(fd_, &sfs) != 0) {
    *error = "cannot read the free space of the spill directory " + dir_ + ": " +
             std::strerror(errno);
    return false;
  }
  const uint64_t free_bytes = static_cast<uint64_t>(sfs.f_bavail) * sfs.f_bsize;
  if (free_bytes < keep_free_ + kChunkBytes) {
    *error = "the spill directory " + dir_ + " has " + std::to_string(free_bytes >> 20) +
             " MiB free, and the last " + std::to_string(keep_free_ >> 20) +
             " MiB of its disk are left to other programs";
    return false;
  }
  return true;
}

std::shared_ptr<const SpillChunk> SpillFile::Write(const Page* const* pages, size_t n,
                                                   std::string* error) {
  static thread_local AlignedChunk staging;
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(staging.bytes + i * kPageSize, pages[i]->bytes, kPageSize);
  }
  uint64_t offset;
  {
    std::lock_guard lock(mu_);
    if (free_.empty()) {
      if (!RoomToGrow(error)) return nullptr;
      offset = end_;
      end_ += kChunkBytes;
    } else {
      offset = free_.back();
      free_.pop_back();
    }
    ++chunks_held_;
    pages_held_ += n;
  }
  int err = 0;
  if (!Transfer(/*write=*/true, fd_, staging.bytes, n * kPageSize, offset, &err)) {
    *error = "cannot write to the spill file in " + dir_ + ": " + std::strerror(err);
    Release(offset, n);
    return nullptr;
  }
  std::lock_guard lock(mu_);
  pages_written_ += n;
  return std::make_shared<const SpillChunk>(shared_from_this(), offset, n);
}

void SpillFile::Release(uint64_t offset, size_t pages) {
  std::lock_guard lock(mu_);
  pages_held_ -= pages;
  if (--chunks_held_ == 0) {
    // Nothing spilled is needed any more (a sync or a power cut took it
    // all): give the disk space back rather than keep it for reuse.
    free_.clear();
    end_ = 0;
    if (ftruncate(fd_, 0) != 0) {
      // The space stays allocated until the process ends; nothing is lost.
    }
    return;
  }
  free_.push_back(offset);
}

uint64_t SpillFile::bytes_held() const {
  std::lock_guard lock(mu_);
  return pages_held_ * kPageSize;
}

uint64_t SpillFile::bytes_written() const {
  std::lock_guard lock(mu_);
  return pages_written_ * kPageSize;
}

SpillChunk::~SpillChunk() { file_->Release(offset_, pages_); }

PageRef SpillChunk::Load(const std::shared_ptr<const SpillChunk>& chunk, size_t index) {
  struct ReadCache {
    std::weak_ptr<const SpillChunk> chunk;
    AlignedChunk buffer;
  };
  static thread_local ReadCache cache;
  if (cache.chunk.lock() != chunk) {
    cache.chunk.reset();
    int err = 0;
    if (!Transfer(/*write=*/false, chunk->file_->fd_, cache.buffer.bytes, chunk->pages_ * kPageSize,
                  chunk->offset_, &err)) {
      std::fprintf(stderr,
                   "blackout: cannot read back pages spilled to a file in %s: %s; the model "
                   "cannot go on without them\n",
                   chunk->file_->dir().c_str(), std::strerror(err));
      std::abort();
    }
    cache.chunk = chunk;
  }
  auto page = std::make_shared_for_overwrite<Page>();
  std::memcpy(page->bytes, cache.buffer.bytes + index * kPageSize, kPageSize);
  return page;
}

}  // namespace blackout::model
