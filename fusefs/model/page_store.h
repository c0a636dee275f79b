// File data as copy-on-write 4 KiB pages.
//
// A page reached through more than one PageRef (two views, or a view and a
// Materialize snapshot) is read-only: a write first copies it (Own). A page
// held once is written in place, so the write path allocates nothing for a
// page it already owns. A snapshot of a file costs one pointer per page, and
// dropping a view (a power cut) only drops references.
//
// Thread-safety: the maps and in-place writes are guarded by the Filesystem
// mutex; use_count() is exact under it because every PageRef copy that a
// live view can see is made under it too (a count that another thread lowers
// concurrently only causes an unneeded copy).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "fusefs/model/filesystem.h"

namespace blackout::model {

struct Page {
  char bytes[kPageSize];
};
using PageRef = std::shared_ptr<Page>;

// Page index -> page. A missing index is a hole and reads as zeros.
// A B-tree, not std::map: a file of 65,536 pages is 16 or more levels of
// red-black nodes, a cache miss each, on every write (random 4 KiB writes
// through --io-uring: 7 to 12% faster, BENCHMARKS.md). Like any B-tree it
// invalidates iterators on insert and erase: keep the one emplace_hint or
// erase returns.
using PageMap = absl::btree_map<uint64_t, PageRef>;

// The one all-zero page, shared by every fallocated range (no memory per page).
const PageRef& ZeroPage();

// A fresh page holding `base` (or zeros when base is null).
PageRef CopyPage(const PageRef& base);

// The page behind `ref`, copied first when anyone else holds it.
Page* Own(PageRef& ref);

// Writes `data` at byte `offset`, allocating missing pages; returns the
// number of pages added.
int64_t WriteBytes(PageMap& pages, uint64_t offset, std::string_view data);

// Pages missing in [offset, offset+length): what a write or fallocate would add.
uint64_t MissingPages(const PageMap& pages, uint64_t offset, uint64_t length);

// Copies bytes [offset, offset+size) of a file of `file_size` bytes to `dst`
// (room for `size` bytes); holes read as zeros, nothing is read past
// file_size. Returns the number of bytes copied.
size_t ReadPages(const PageMap& pages, uint64_t file_size, uint64_t offset, size_t size, char* dst);

// Zeroes bytes [from, to) of the file, removing pages that become entirely
// zero-by-hole; returns the change in page count.
int64_t ZeroRange(PageMap& pages, uint64_t from, uint64_t to);

// Removes every page at or after byte `size` and zeroes the tail of the last
// page, as truncate(2) does; returns the change in page count.
int64_t TruncatePages(PageMap& pages, uint64_t size);

inline uint64_t PageIndex(uint64_t offset) { return offset / kPageSize; }
inline uint64_t PagesFor(uint64_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }

// The bytes of one write(2) at a file offset, held so that the pending
// operation and the views it is applied to share memory: every whole page the
// write covers is a PageRef that ApplyTo hands to the page map as is (so the
// volatile view, the durable view after a sync, and the pending op hold one
// copy of those bytes, copy-on-write), and only the partial first and last
// pages are plain bytes. A write of N aligned bytes therefore costs N bytes,
// not 2N, while it is pending (BENCHMARKS.md, "Memory").
// Immutable once built: a page it holds is shared, so writers copy it (Own).
class SpillChunk;

class WriteData {
 public:
  WriteData() = default;
  // Copies `bytes`, the data written at byte `offset` of the file.
  WriteData(uint64_t offset, std::string_view bytes);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The first `n` bytes, as a torn write leaves them. REQUIRES: n <= size().
  WriteData Prefix(size_t n) const;
  std::string ToString() const;
  // Writes the bytes into `pages` (sharing the whole pages still in memory,
  // reading spilled ones back); returns the number of pages added. A spilled
  // page whose index `skip_spilled` accepts is left out: the caller knows a
  // later write replaces it.
  int64_t ApplyTo(PageMap& pages,
                  const std::function<bool(uint64_t)>& skip_spilled = nullptr) const;
  // The page index of the first whole page (whole_pages() of them follow).
  uint64_t first_whole_page() const { return PageIndex(offset_ + head_.size()); }

  // ---- Spilling (Filesystem's spill pass, under the Filesystem mutex; the
  // only change a WriteData sees after it is built).
  size_t whole_pages() const { return whole_.size(); }
  // Whole page `i` when it is in memory and this write alone holds it (no
  // view shows this version any more), else null.
  const PageRef* Superseded(size_t i) const {
    const PageRef& p = whole_[i].page;
    return p && p.use_count() == 1 ? &p : nullptr;
  }
  // Whole page `i` is now page `index` of `chunk`. Returns the page it held,
  // for the caller to drop where that costs no one (a page's last reference
  // frees it); null, and nothing changes, when it was spilled already.
  PageRef MarkSpilled(size_t i, std::shared_ptr<const SpillChunk> chunk, uint32_t index);
  size_t spilled_pages() const { return spilled_; }

 private:
  // One whole page: in memory, or page `index` of a spill chunk.
  struct WholePage {
    PageRef page;
    std::shared_ptr<const SpillChunk> chunk;
    uint32_t index = 0;
    PageRef Get() const;
  };
  uint64_t offset_ = 0;
  size_t size_ = 0;
  size_t spilled_ = 0;            // whole pages in a spill chunk
  std::string head_;              // bytes before the first whole page (or all of a small write)
  std::vector<WholePage> whole_;  // whole pages, from PageIndex(offset_ + head_.size())
  std::string tail_;              // bytes after the last whole page
};

}  // namespace blackout::model
