// File data as copy-on-write 4 KiB pages.
//
// A Page is immutable once published: a write makes a new page image and
// swaps the pointer, so the volatile view, the durable view and every
// PendingOp that recorded an image can share pages without copying them. A
// snapshot of a file therefore costs one pointer per page, and dropping a view
// (a power cut) only drops references.
//
// Thread-safety: pages are immutable and shared_ptr counts are atomic; the
// maps are guarded by the Filesystem mutex.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "fusefs/model/filesystem.h"

namespace blackout::model {

struct Page {
  char bytes[kPageSize];
};
using PageRef = std::shared_ptr<const Page>;

// Page index -> page. A missing index is a hole and reads as zeros.
using PageMap = std::map<uint64_t, PageRef>;

// The one all-zero page, shared by every fallocated range (no memory per page).
const PageRef& ZeroPage();

// A fresh page holding `base` (or zeros when base is null), to be modified
// before it is published.
std::shared_ptr<Page> CopyPage(const PageRef& base);

// Appends bytes [offset, offset+size) of a file of `file_size` bytes to `out`;
// holes read as zeros, nothing is read past file_size.
void ReadPages(const PageMap& pages, uint64_t file_size, uint64_t offset, size_t size,
               std::string& out);

// Zeroes bytes [from, to) of the file, removing pages that become entirely
// zero-by-hole; returns the change in page count.
int64_t ZeroRange(PageMap& pages, uint64_t from, uint64_t to);

// Removes every page at or after byte `size` and zeroes the tail of the last
// page, as truncate(2) does; returns the change in page count.
int64_t TruncatePages(PageMap& pages, uint64_t size);

inline uint64_t PageIndex(uint64_t offset) { return offset / kPageSize; }
inline uint64_t PagesFor(uint64_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }

}  // namespace blackout::model
