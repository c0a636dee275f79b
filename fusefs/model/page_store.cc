#include "fusefs/model/page_store.h"

#include <algorithm>

#include "fusefs/model/spill_file.h"

namespace blackout::model {

const PageRef& ZeroPage() {
  // Never written: this reference keeps its count above one, so Own copies.
  static const PageRef zero = std::make_shared<Page>();
  return zero;
}

PageRef CopyPage(const PageRef& base) {
  // make_shared_for_overwrite: no zero fill when the caller copies a base page.
  auto page = std::make_shared_for_overwrite<Page>();
  if (base) {
    std::memcpy(page->bytes, base->bytes, kPageSize);
  } else {
    std::memset(page->bytes, 0, kPageSize);
  }
  return page;
}

Page* Own(PageRef& ref) {
  if (ref.use_count() > 1) ref = CopyPage(ref);
  return ref.get();
}

int64_t WriteBytes(PageMap& pages, uint64_t offset, std::string_view data) {
  int64_t added = 0;
  uint64_t end = offset + data.size();
  const char* src = data.data();
  auto it = pages.lower_bound(PageIndex(offset));
  for (uint64_t pos = offset; pos < end;) {
    uint64_t idx = PageIndex(pos);
    uint64_t in_page = pos % kPageSize;
    uint64_t n = std::min<uint64_t>(kPageSize - in_page, end - pos);
    while (it != pages.end() && it->first < idx) ++it;
    Page* page;
    if (it != pages.end() && it->first == idx) {
      page = Own(it->second);
    } else {
      // A whole-page write needs no zero fill.
      PageRef fresh = n == kPageSize ? std::make_shared_for_overwrite<Page>() : CopyPage(nullptr);
      page = fresh.get();
      it = pages.emplace_hint(it, idx, std::move(fresh));
      ++added;
    }
    std::memcpy(page->bytes + in_page, src, n);
    src += n;
    pos += n;
  }
  return added;
}

uint64_t MissingPages(const PageMap& pages, uint64_t offset, uint64_t length) {
  if (length == 0) return 0;
  uint64_t first = PageIndex(offset), end = PagesFor(offset + length);
  uint64_t present = 0;
  for (auto it = pages.lower_bound(first); it != pages.end() && it->first < end; ++it) ++present;
  return end - first - present;
}

size_t ReadPages(const PageMap& pages, uint64_t file_size, uint64_t offset, size_t size,
                 char* dst) {
  if (offset >= file_size) return 0;
  const uint64_t end = std::min<uint64_t>(file_size, offset + size);
  auto it = pages.lower_bound(PageIndex(offset));
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t idx = PageIndex(pos);
    uint64_t in_page = pos % kPageSize;
    uint64_t n = std::min<uint64_t>(kPageSize - in_page, end - pos);
    while (it != pages.end() && it->first < idx) ++it;
    if (it != pages.end() && it->first == idx) {
      std::memcpy(dst, it->second->bytes + in_page, n);
    } else {
      std::memset(dst, 0, n);
    }
    dst += n;
    pos += n;
  }
  return end - offset;
}

int64_t ZeroRange(PageMap& pages, uint64_t from, uint64_t to) {
  int64_t delta = 0;
  uint64_t pos = from;
  while (pos < to) {
    uint64_t idx = PageIndex(pos);
    uint64_t in_page = pos % kPageSize;
    uint64_t n = std::min<uint64_t>(kPageSize - in_page, to - pos);
    auto it = pages.find(idx);
    bool present = it != pages.end();
    if (present) {
      if (n == kPageSize) {
        pages.erase(it);
        --delta;
      } else {
        std::memset(Own(it->second)->bytes + in_page, 0, n);
      }
    }
    pos += n;
    if (n == kPageSize && !present) {
      // Skip runs of holes quickly: jump to the next present page.
      auto next = pages.lower_bound(idx + 1);
      if (next == pages.end()) break;
      pos = std::max(pos, next->first * kPageSize);
    }
  }
  return delta;
}

int64_t TruncatePages(PageMap& pages, uint64_t size) {
  int64_t delta = 0;
  auto first_dead = pages.lower_bound(PagesFor(size));
  for (auto it = first_dead; it != pages.end(); ++it) --delta;
  pages.erase(first_dead, pages.end());
  if (size % kPageSize != 0) {
    auto it = pages.find(PageIndex(size));
    if (it != pages.end()) {
      std::memset(Own(it->second)->bytes + size % kPageSize, 0, kPageSize - size % kPageSize);
    }
  }
  return delta;
}

WriteData::WriteData(uint64_t offset, std::string_view bytes)
    : offset_(offset), size_(bytes.size()) {
  const uint64_t in_page = offset % kPageSize;
  size_t head = in_page != 0 ? std::min<size_t>(bytes.size(), kPageSize - in_page)
                             : (bytes.size() < kPageSize ? bytes.size() : 0);
  head_.assign(bytes.substr(0, head));
  bytes.remove_prefix(head);
  whole_.reserve(bytes.size() / kPageSize);
  while (bytes.size() >= kPageSize) {
    auto page = std::make_shared_for_overwrite<Page>();
    std::memcpy(page->bytes, bytes.data(), kPageSize);
    whole_.push_back({std::move(page), nullptr, 0});
    bytes.remove_prefix(kPageSize);
  }
  tail_.assign(bytes);
}

WriteData WriteData::Prefix(size_t n) const {
  WriteData out;
  out.offset_ = offset_;
  out.size_ = n;
  if (n <= head_.size()) {
    out.head_ = head_.substr(0, n);
    return out;
  }
  out.head_ = head_;
  n -= head_.size();
  const size_t keep = std::min(whole_.size(), n / kPageSize);
  out.whole_.assign(whole_.begin(), whole_.begin() + static_cast<ptrdiff_t>(keep));
  for (const WholePage& w : out.whole_) out.spilled_ += w.chunk ? 1 : 0;
  n -= keep * kPageSize;
  if (keep < whole_.size()) {
    out.tail_.assign(whole_[keep].Get()->bytes, n);
  } else {
    out.tail_ = tail_.substr(0, n);
  }
  return out;
}

std::string WriteData::ToString() const {
  std::string s;
  s.reserve(size_);
  s += head_;
  for (const WholePage& w : whole_) s.append(w.Get()->bytes, kPageSize);
  s += tail_;
  return s;
}

int64_t WriteData::ApplyTo(PageMap& pages,
                           const std::function<bool(uint64_t)>& skip_spilled) const {
  int64_t added = 0;
  uint64_t pos = offset_;
  if (!head_.empty()) added += WriteBytes(pages, pos, head_);
  pos += head_.size();
  if (!whole_.empty()) {
    uint64_t idx = PageIndex(pos);
    auto it = pages.lower_bound(idx);
    for (const WholePage& w : whole_) {
      if (w.chunk && skip_spilled && skip_spilled(idx)) {
        ++idx;
        continue;
      }
      PageRef page = w.Get();
      while (it != pages.end() && it->first < idx) ++it;
      if (it != pages.end() && it->first == idx) {
        it->second = std::move(page);  // the old page stays with whoever else holds it
      } else {
        it = pages.emplace_hint(it, idx, std::move(page));
        ++added;
      }
      ++idx;
    }
    pos += whole_.size() * kPageSize;
  }
  if (!tail_.empty()) added += WriteBytes(pages, pos, tail_);
  return added;
}

PageRef WriteData::MarkSpilled(size_t i, std::shared_ptr<const SpillChunk> chunk,
                               uint32_t index) {
  WholePage& w = whole_[i];
  if (w.chunk) return nullptr;
  PageRef page = std::move(w.page);
  w.chunk = std::move(chunk);
  w.index = index;
  ++spilled_;
  return page;
}

PageRef WriteData::WholePage::Get() const { return page ? page : SpillChunk::Load(chunk, index); }

}  // namespace blackout::model
