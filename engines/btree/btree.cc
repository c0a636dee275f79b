// The B-tree port. Layout of this file: byte encodings (pages, meta, WAL entries), then
// BTree::Impl in three layers that mirror REF's classes: the data file (REF's PageManager),
// the page log (REF's WAL), and the tree algorithms (REF's BTree), which reach pages only
// through the profile-aware calls ReadPage / LogPage / AllocatePage / FreePage / Commit.
#include "engines/btree/btree.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "engines/common/coding.h"
#include "engines/common/crc32.h"
#include "engines/common/utf8.h"

namespace blackout::engines {
namespace {

constexpr uint32_t kNoSibling = 0xFFFFFFFF;
constexpr uint8_t kInternal = 0;
constexpr uint8_t kLeaf = 1;
// Fixed profile only: REF writes freed pages with type 0, indistinguishable from an empty
// internal node (H-T7); the fixed format gives them a type of their own.
constexpr uint8_t kFreePageType = 2;
constexpr size_t kMetaSize = 20;       // '>5I'
constexpr size_t kHeaderSize = 3;      // '>BH'
constexpr size_t kWalHeaderSize = 12;  // '>III'
// Fixed profile: the WAL entry that ends an operation (HEAD's COMMIT_PAGE_NUM).
constexpr uint32_t kCommitPage = 0xFFFFFFFF;
// Fixed profile: page 0 bytes 20..27 hold '>I' page_size and this magic.
constexpr char kFixedMagic[] = "BTF1";
constexpr size_t kFixedMetaSize = 28;
// Python's default recursion limit: REF raises RecursionError past it (a corrupt height).
constexpr int kMaxDepth = 1000;

const char kDataFile[] = "btree.dat";
const char kWalFile[] = "btree.wal";

struct Meta {
  uint32_t root = 1;
  uint32_t height = 1;
  uint32_t total_keys = 0;
  uint32_t next_free = 2;
  uint32_t free_head = kNoSibling;
};

struct Leaf {
  std::vector<std::string> keys;
  std::vector<std::string> values;
  uint32_t next = kNoSibling;
};

struct Internal {
  std::vector<std::string> keys;
  std::vector<uint32_t> children;
};

// Reads a page the way REF's struct.unpack and slicing do: a fixed-size field past the end
// is an error (struct.error), a byte slice past the end is silently short.
class PageCursor {
 public:
  PageCursor(std::string_view data, size_t offset) : data_(data), off_(offset) {}
  [[nodiscard]] Result<uint16_t> U16() {
    if (off_ + 2 > data_.size()) return Short(2);
    const uint16_t v = GetU16BE(data_.data() + off_);
    off_ += 2;
    return v;
  }
  [[nodiscard]] Result<uint32_t> U32() {
    if (off_ + 4 > data_.size()) return Short(4);
    const uint32_t v = GetU32BE(data_.data() + off_);
    off_ += 4;
    return v;
  }
  std::string Slice(size_t n) {
    std::string out;
    if (off_ < data_.size()) out.assign(data_.substr(off_, n));
    off_ += n;
    return out;
  }

 private:
  Status Short(int n) const {
    return Status::Corruption("struct.error: unpack requires a buffer of " + std::to_string(n) +
                              " bytes at page offset " + std::to_string(off_));
  }
  std::string_view data_;
  size_t off_;
};

Result<std::string> DecodeKey(PageCursor& cur) {
  BLACKOUT_ASSIGN_OR_RETURN(const uint16_t klen, cur.U16());
  std::string key = cur.Slice(klen);
  if (!IsValidUtf8(key)) return Status::Corruption("UnicodeDecodeError: a key is not UTF-8");
  return key;
}

Result<Leaf> DecodeLeaf(std::string_view page, bool check_type) {
  if (check_type && static_cast<uint8_t>(page[0]) != kLeaf) {
    return Status::Corruption("expected a leaf page, found type " +
                              std::to_string(static_cast<uint8_t>(page[0])));
  }
  Leaf leaf;
  const uint16_t n = GetU16BE(page.data() + 1);
  PageCursor cur(page, kHeaderSize);
  BLACKOUT_ASSIGN_OR_RETURN(leaf.next, cur.U32());
  for (uint16_t i = 0; i < n; ++i) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string key, DecodeKey(cur));
    BLACKOUT_ASSIGN_OR_RETURN(const uint16_t vlen, cur.U16());
    leaf.keys.push_back(std::move(key));
    leaf.values.push_back(cur.Slice(vlen));
  }
  return leaf;
}

Result<Internal> DecodeInternal(std::string_view page, bool check_type) {
  if (check_type && static_cast<uint8_t>(page[0]) != kInternal) {
    return Status::Corruption("expected an internal page, found type " +
                              std::to_string(static_cast<uint8_t>(page[0])));
  }
  Internal node;
  const uint16_t n = GetU16BE(page.data() + 1);
  PageCursor cur(page, kHeaderSize);
  BLACKOUT_ASSIGN_OR_RETURN(const uint32_t child0, cur.U32());
  node.children.push_back(child0);
  for (uint16_t i = 0; i < n; ++i) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string key, DecodeKey(cur));
    BLACKOUT_ASSIGN_OR_RETURN(const uint32_t child, cur.U32());
    node.keys.push_back(std::move(key));
    node.children.push_back(child);
  }
  return node;
}

// Unpadded, as REF's _serialize_*; REQUIRES every key and value length <= 0xFFFF (Put checks).
std::string EncodeLeaf(const std::vector<std::string>& keys, const std::vector<std::string>& values,
                       uint32_t next) {
  std::string out;
  out.push_back(static_cast<char>(kLeaf));
  PutU16BE(&out, static_cast<uint16_t>(keys.size()));
  PutU32BE(&out, next);
  for (size_t i = 0; i < keys.size(); ++i) {
    PutU16BE(&out, static_cast<uint16_t>(keys[i].size()));
    out += keys[i];
    PutU16BE(&out, static_cast<uint16_t>(values[i].size()));
    out += values[i];
  }
  return out;
}

std::string EncodeInternal(const std::vector<std::string>& keys,
                           const std::vector<uint32_t>& children) {
  std::string out;
  out.push_back(static_cast<char>(kInternal));
  PutU16BE(&out, static_cast<uint16_t>(keys.size()));
  PutU32BE(&out, children[0]);
  for (size_t i = 0; i < keys.size(); ++i) {
    PutU16BE(&out, static_cast<uint16_t>(keys[i].size()));
    out += keys[i];
    PutU32BE(&out, children[i + 1]);
  }
  return out;
}

Meta DecodeMeta(std::string_view raw) {
  Meta m;
  m.root = GetU32BE(raw.data());
  m.height = GetU32BE(raw.data() + 4);
  m.total_keys = GetU32BE(raw.data() + 8);
  m.next_free = GetU32BE(raw.data() + 12);
  m.free_head = GetU32BE(raw.data() + 16);
  return m;
}

std::string Pad(std::string data, uint32_t page_size) {  // Python's ljust: never truncates
  if (data.size() < page_size) data.resize(page_size, '\0');
  return data;
}

}  // namespace

class BTree::Impl {
 public:
  Impl(Env* env, std::string dir, const BTreeOptions& options)
      : env_(env),
        dir_(std::move(dir)),
        dat_path_(JoinPath(dir_, kDataFile)),
        wal_path_(JoinPath(dir_, kWalFile)),
        opt_(options),
        max_keys_(options.max_keys_per_page.value_or(
            std::max<uint32_t>(4, (options.page_size - 7) / 100))) {}

  [[nodiscard]] Status Open();

  // ---- tree operations (REF's BTree) ----
  [[nodiscard]] Status Put(std::string_view key, std::string_view value);
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key);
  [[nodiscard]] Result<bool> Delete(std::string_view key);
  [[nodiscard]] Result<std::vector<KeyValue>> RangeScan(std::string_view start,
                                                        std::optional<std::string_view> end);
  [[nodiscard]] Result<std::vector<KeyValue>> Items();
  [[nodiscard]] Result<uint32_t> Size();
  [[nodiscard]] Result<std::vector<std::string>> Verify();
  [[nodiscard]] Status Close();

  const BTreeOptions& options() const { return opt_; }
  uint32_t max_keys() const { return max_keys_; }

 private:
  struct InsertResult {
    enum Kind { kUpdated, kInserted, kSplit } kind;
    std::string mid_key;
    uint32_t new_page = 0;
  };
  enum class DeleteResult { kNotFound, kDeleted, kEmpty };

  [[nodiscard]] Status CheckOpen() const {
    return closed_ ? Status::InvalidArgument("btree in " + dir_ + " is closed") : Status::OK();
  }
  uint64_t PageOffset(uint32_t pn) const { return uint64_t{pn} * opt_.page_size; }
  std::string EncodeMetaPage(const Meta& m) const;

  // ---- the data file (REF's PageManager); every write is one pwrite, as REF's
  // seek + write + flush ----
  [[nodiscard]] Status CreateDataFile();
  [[nodiscard]] Status CheckFixedHeader();
  [[nodiscard]] Status PmWritePage(uint32_t pn, std::string data);
  [[nodiscard]] Result<std::string> PmReadPage(uint32_t pn);
  [[nodiscard]] Result<Meta> PmReadMeta();
  [[nodiscard]] Status PmWriteMeta(const Meta& m);

  // ---- the page log (REF's WAL) ----
  [[nodiscard]] Status WalLogWrite(uint32_t pn, std::string_view image);
  [[nodiscard]] Status WalClear();  // REF's commit: data fsync, WAL ftruncate 0, WAL fsync
  [[nodiscard]] Status WalRecover();

  // ---- profile-aware page access used by the algorithms ----
  [[nodiscard]] Result<std::string> ReadPage(uint32_t pn);
  [[nodiscard]] Result<Meta> ReadMeta();
  [[nodiscard]] Status LogPage(uint32_t pn, std::string data);  // REF's _wal_write_page
  [[nodiscard]] Status LogMeta(const Meta& m);                  // REF's _wal_write_meta
  [[nodiscard]] Status WriteMetaDirect(const Meta& m);  // REF's pm.write_meta, outside the WAL
  [[nodiscard]] Result<uint32_t> AllocatePage();
  [[nodiscard]] Status FreePage(uint32_t pn);
  [[nodiscard]] Status Commit();
  void Abort() { pending_.clear(); }

  [[nodiscard]] Result<InsertResult> Insert(uint32_t pn, std::string_view key,
                                            std::string_view value, int64_t depth, int level);
  [[nodiscard]] Result<InsertResult> InsertIntoLeaf(uint32_t pn, const std::string& data,
                                                    std::string_view key, std::string_view value);
  // Takes a child's split into `node` (page pn) at child index idx; may split `node` in turn.
  [[nodiscard]] Result<InsertResult> InsertIntoInternal(uint32_t pn, Internal node, size_t idx,
                                                        const InsertResult& split);
  [[nodiscard]] Result<DeleteResult> DeleteIn(uint32_t pn, std::string_view key, int64_t depth,
                                              int level);
  [[nodiscard]] Result<std::optional<std::string>> Search(uint32_t pn, std::string_view key,
                                                          int64_t depth, int level);
  [[nodiscard]] Result<uint32_t> FindLeaf(uint32_t pn, std::string_view key, int64_t depth,
                                          int level);
  [[nodiscard]] Result<std::vector<KeyValue>> WalkChain(uint32_t leaf, std::string_view start,
                                                        std::optional<std::string_view> end);

  Env* env_;
  const std::string dir_;
  const std::string dat_path_;
  const std::string wal_path_;
  const BTreeOptions opt_;
  const uint32_t max_keys_;
  std::unique_ptr<DirLock> lock_;
  std::unique_ptr<File> dat_;
  std::unique_ptr<File> wal_;
  uint64_t wal_end_ = 0;  // REF seeks to the end before each entry; we pwrite there
  uint32_t wal_seq_ = 0;  // per-commit, restarts at 1, never read back (as REF)
  // Fixed profile: the page images of the running operation, applied only at Commit.
  std::map<uint32_t, std::string> pending_;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------------------
// Open

Status BTree::Impl::Open() {
  BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  if (opt_.fixed) {
    BLACKOUT_ASSIGN_OR_RETURN(lock_, env_->LockDir(dir_));
  }
  bool created = false;
  if (!env_->Exists(dat_path_)) {
    BLACKOUT_RETURN_IF_ERROR(CreateDataFile());
    created = true;
  } else {
    BLACKOUT_ASSIGN_OR_RETURN(dat_, env_->Open(dat_path_, OpenMode::kReadWrite));
  }
  // REF: 'r+b' if the WAL exists and is not empty, else 'w+b'.
  bool wal_has_data = false;
  if (env_->Exists(wal_path_)) {
    BLACKOUT_ASSIGN_OR_RETURN(const uint64_t size, env_->FileSize(wal_path_));
    wal_has_data = size > 0;
  }
  if (opt_.fixed && !env_->Exists(wal_path_)) created = true;
  BLACKOUT_ASSIGN_OR_RETURN(wal_, env_->Open(wal_path_, wal_has_data ? OpenMode::kReadWrite
                                                                     : OpenMode::kReadWriteCreate));
  if (wal_has_data) {
    BLACKOUT_ASSIGN_OR_RETURN(wal_end_, wal_->Size());
  }
  if (opt_.fixed && created) {
    // Without this a power cut can take the WAL's (or the data file's) directory entry away
    // after entries in it were relied on (H-T4).
    BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  BLACKOUT_RETURN_IF_ERROR(WalRecover());
  if (opt_.fixed) BLACKOUT_RETURN_IF_ERROR(CheckFixedHeader());
  return Status::OK();
}

Status BTree::Impl::CreateDataFile() {
  Meta fresh;
  std::string first_pages = EncodeMetaPage(fresh);
  first_pages += Pad(EncodeLeaf({}, {}, kNoSibling), opt_.page_size);
  if (!opt_.fixed) {
    // REF: open 'w+b', then _write_meta and _write_empty_leaf, each seek + write + flush.
    // Not fsynced, not logged, no directory fsync (H-T4).
    BLACKOUT_ASSIGN_OR_RETURN(dat_, env_->Open(dat_path_, OpenMode::kReadWriteCreate));
    BLACKOUT_RETURN_IF_ERROR(dat_->WriteAt(0, first_pages.substr(0, opt_.page_size)));
    return dat_->WriteAt(opt_.page_size, first_pages.substr(opt_.page_size));
  }
  // Fixed: a crash can never leave a btree.dat without its first two pages: they are written
  // to a temp file, fsynced and renamed; Open fsyncs the directory afterwards.
  const std::string tmp = dat_path_ + ".tmp";
  {
    BLACKOUT_ASSIGN_OR_RETURN(auto f, env_->Open(tmp, OpenMode::kReadWriteCreate));
    BLACKOUT_RETURN_IF_ERROR(f->WriteAt(0, first_pages));
    BLACKOUT_RETURN_IF_ERROR(f->Sync());
    BLACKOUT_RETURN_IF_ERROR(f->Close());
  }
  BLACKOUT_RETURN_IF_ERROR(env_->Rename(tmp, dat_path_));
  BLACKOUT_ASSIGN_OR_RETURN(dat_, env_->Open(dat_path_, OpenMode::kReadWrite));
  return Status::OK();
}

// Fixed profile: the page size is recorded in page 0 and must match (H-T6). A file written by
// the default profile (no magic) is adopted: its page size is recorded through the WAL, as
// HEAD does for legacy files.
Status BTree::Impl::CheckFixedHeader() {
  BLACKOUT_ASSIGN_OR_RETURN(const std::string raw, dat_->ReadAt(0, kFixedMetaSize));
  if (raw.size() < kFixedMetaSize) {
    return Status::Corruption(dat_path_ + " is " + std::to_string(raw.size()) +
                              " bytes, too short for a meta page");
  }
  const uint32_t stored = GetU32BE(raw.data() + kMetaSize);
  const bool has_magic = raw.compare(kMetaSize + 4, 4, kFixedMagic) == 0;
  if (has_magic) {
    if (stored != opt_.page_size) {
      return Status::InvalidArgument(dat_path_ + " was created with page_size " +
                                     std::to_string(stored) + " but is opened with page_size " +
                                     std::to_string(opt_.page_size));
    }
    return Status::OK();
  }
  if (stored != 0) {
    return Status::Corruption(dat_path_ + ": meta page holds unknown bytes at offset 20");
  }
  BLACKOUT_ASSIGN_OR_RETURN(const Meta m, PmReadMeta());
  BLACKOUT_RETURN_IF_ERROR(LogMeta(m));
  return Commit();
}

std::string BTree::Impl::EncodeMetaPage(const Meta& m) const {
  std::string out;
  PutU32BE(&out, m.root);
  PutU32BE(&out, m.height);
  PutU32BE(&out, m.total_keys);
  PutU32BE(&out, m.next_free);
  PutU32BE(&out, m.free_head);
  if (opt_.fixed) {
    PutU32BE(&out, opt_.page_size);
    out += kFixedMagic;
  }
  return Pad(std::move(out), opt_.page_size);
}

// ---------------------------------------------------------------------------------------
// The data file (REF's PageManager)

Status BTree::Impl::PmWritePage(uint32_t pn, std::string data) {
  // REF pads short data and cuts long data to page_size (the cut is H-T5).
  data.resize(opt_.page_size, '\0');
  return dat_->WriteAt(PageOffset(pn), data);
}

Result<std::string> BTree::Impl::PmReadPage(uint32_t pn) {
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, dat_->ReadAt(PageOffset(pn), opt_.page_size));
  data.resize(opt_.page_size, '\0');  // REF pads a short read with zeros
  return data;
}

Result<Meta> BTree::Impl::PmReadMeta() {
  BLACKOUT_ASSIGN_OR_RETURN(const std::string raw, dat_->ReadAt(0, kMetaSize));
  if (raw.size() < kMetaSize) {
    return Status::Corruption("struct.error: " + dat_path_ + " holds " +
                              std::to_string(raw.size()) + " bytes, less than its meta fields");
  }
  return DecodeMeta(raw);
}

Status BTree::Impl::PmWriteMeta(const Meta& m) { return dat_->WriteAt(0, EncodeMetaPage(m)); }

// ---------------------------------------------------------------------------------------
// The page log (REF's WAL)

Status BTree::Impl::WalLogWrite(uint32_t pn, std::string_view image) {
  ++wal_seq_;
  std::string entry;
  PutU32BE(&entry, wal_seq_);
  PutU32BE(&entry, pn);
  PutU32BE(&entry, static_cast<uint32_t>(image.size()));
  entry += image;
  PutU32BE(&entry, Crc32(image));  // REF: the CRC covers the page image only
  BLACKOUT_RETURN_IF_ERROR(wal_->WriteAt(wal_end_, entry));
  wal_end_ += entry.size();
  return wal_->Sync();  // REF fsyncs every page image
}

Status BTree::Impl::WalClear() {
  BLACKOUT_RETURN_IF_ERROR(dat_->Sync());  // the data file is durable before the log goes
  BLACKOUT_RETURN_IF_ERROR(wal_->Truncate(0));
  wal_end_ = 0;
  BLACKOUT_RETURN_IF_ERROR(wal_->Sync());
  wal_seq_ = 0;
  return Status::OK();
}

Status BTree::Impl::WalRecover() {
  if (wal_end_ == 0) return Status::OK();  // REF: an empty WAL means no sync, no truncate
  BLACKOUT_ASSIGN_OR_RETURN(const std::string data, wal_->ReadAt(0, wal_end_));
  std::vector<std::pair<uint32_t, std::string>> uncommitted;
  size_t off = 0;
  while (off + kWalHeaderSize <= data.size()) {
    const uint32_t pn = GetU32BE(data.data() + off + 4);
    const uint64_t len = GetU32BE(data.data() + off + 8);
    const size_t header_at = off;
    off += kWalHeaderSize;
    if (off + len + 4 > data.size()) break;  // torn tail
    const std::string_view image(data.data() + off, len);
    off += len;
    const uint32_t crc = GetU32BE(data.data() + off);
    off += 4;
    if (!opt_.fixed) {
      // REF: every CRC-valid entry is applied, no commit marker (H-T2); a bad CRC is skipped
      // and replay CONTINUES with later entries (H-T3).
      if (Crc32(image) == crc) BLACKOUT_RETURN_IF_ERROR(PmWritePage(pn, std::string(image)));
      continue;
    }
    // Fixed: the CRC covers header and image; the first bad entry ends the log; entries count
    // only once their operation's commit entry is there.
    const std::string_view covered(data.data() + header_at, kWalHeaderSize + len);
    if (Crc32(covered) != crc) break;
    if (pn == kCommitPage) {
      for (auto& [page, img] : uncommitted) {
        BLACKOUT_RETURN_IF_ERROR(PmWritePage(page, std::move(img)));
      }
      uncommitted.clear();
    } else {
      uncommitted.emplace_back(pn, std::string(image));
    }
  }
  return WalClear();
}

// ---------------------------------------------------------------------------------------
// Profile-aware page access

Result<std::string> BTree::Impl::ReadPage(uint32_t pn) {
  if (auto it = pending_.find(pn); it != pending_.end()) return Pad(it->second, opt_.page_size);
  return PmReadPage(pn);
}

Result<Meta> BTree::Impl::ReadMeta() {
  if (auto it = pending_.find(0); it != pending_.end()) return DecodeMeta(it->second);
  return PmReadMeta();
}

Status BTree::Impl::LogPage(uint32_t pn, std::string data) {
  std::string padded = Pad(std::move(data), opt_.page_size);  // ljust: an oversize page stays whole
  if (opt_.fixed) {
    pending_[pn] = std::move(padded);
    return Status::OK();
  }
  BLACKOUT_RETURN_IF_ERROR(WalLogWrite(pn, padded));
  return PmWritePage(pn, std::move(padded));
}

Status BTree::Impl::LogMeta(const Meta& m) {
  if (opt_.fixed) {
    pending_[0] = EncodeMetaPage(m);
    return Status::OK();
  }
  BLACKOUT_RETURN_IF_ERROR(WalLogWrite(0, EncodeMetaPage(m)));
  return PmWriteMeta(m);
}

Status BTree::Impl::WriteMetaDirect(const Meta& m) {
  if (opt_.fixed) {  // the free-list changes go into the operation's WAL entries
    pending_[0] = EncodeMetaPage(m);
    return Status::OK();
  }
  return PmWriteMeta(m);  // REF: flush only, no WAL entry
}

Result<uint32_t> BTree::Impl::AllocatePage() {
  BLACKOUT_ASSIGN_OR_RETURN(Meta m, ReadMeta());
  if (m.free_head != kNoSibling) {
    const uint32_t pn = m.free_head;
    BLACKOUT_ASSIGN_OR_RETURN(const std::string page, ReadPage(pn));
    if (opt_.fixed && static_cast<uint8_t>(page[0]) != kFreePageType) {
      return Status::Corruption("free list head " + std::to_string(pn) + " is not a free page");
    }
    m.free_head = GetU32BE(page.data() + kHeaderSize);
    BLACKOUT_RETURN_IF_ERROR(WriteMetaDirect(m));
    return pn;
  }
  const uint32_t pn = m.next_free;
  if (pn == kNoSibling) return Status::Corruption("struct.error: next_free_page overflows");
  m.next_free = pn + 1;
  BLACKOUT_RETURN_IF_ERROR(WriteMetaDirect(m));
  return pn;
}

Status BTree::Impl::FreePage(uint32_t pn) {
  BLACKOUT_ASSIGN_OR_RETURN(Meta m, ReadMeta());
  std::string node;
  node.push_back(static_cast<char>(opt_.fixed ? kFreePageType : kInternal));
  PutU16BE(&node, 0);
  PutU32BE(&node, m.free_head);
  m.free_head = pn;
  if (opt_.fixed) {
    pending_[pn] = Pad(std::move(node), opt_.page_size);
    pending_[0] = EncodeMetaPage(m);
    return Status::OK();
  }
  // H-T1: REF writes the free-list node and the meta page straight to the data file, flush
  // only and with no WAL entry, before the parent's image is logged.
  BLACKOUT_RETURN_IF_ERROR(PmWritePage(pn, std::move(node)));
  return PmWriteMeta(m);
}

Status BTree::Impl::Commit() {
  if (!opt_.fixed) return WalClear();
  for (const auto& [pn, image] : pending_) {
    if (image.size() > opt_.page_size) {
      // Copied before Abort(): `pn` and `image` live in pending_, which Abort() clears
      // (a use-after-free the recovery fuzzer found).
      const uint32_t page = pn;
      const size_t size = image.size();
      Abort();
      return Status::InvalidArgument("page " + std::to_string(page) + " would hold " +
                                     std::to_string(size) + " bytes, more than page_size " +
                                     std::to_string(opt_.page_size) + "; nothing was written");
    }
  }
  if (pending_.empty()) return Status::OK();
  // One write of every image plus the commit entry, one fsync: the operation is in the log
  // whole or not at all before any page of btree.dat changes.
  std::string log;
  auto add_entry = [&](uint32_t pn, std::string_view image) {
    const size_t at = log.size();
    PutU32BE(&log, ++wal_seq_);
    PutU32BE(&log, pn);
    PutU32BE(&log, static_cast<uint32_t>(image.size()));
    log += image;
    PutU32BE(&log, Crc32(std::string_view(log).substr(at)));
  };
  for (const auto& [pn, image] : pending_) add_entry(pn, image);
  add_entry(kCommitPage, "");
  Status s = wal_->WriteAt(wal_end_, log);
  if (s.ok()) {
    wal_end_ += log.size();
    s = wal_->Sync();
  }
  if (!s.ok()) {
    Abort();
    return s;
  }
  auto pages = std::move(pending_);
  pending_.clear();
  for (auto& [pn, image] : pages) BLACKOUT_RETURN_IF_ERROR(PmWritePage(pn, std::move(image)));
  return WalClear();
}

// ---------------------------------------------------------------------------------------
// The tree (REF's BTree)

namespace {
Status TooDeep() { return Status::Corruption("RecursionError: tree deeper than 1000 levels"); }
}  // namespace

Status BTree::Impl::Put(std::string_view key, std::string_view value) {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  const size_t entry_size = kHeaderSize + 4 + 2 + key.size() + 2 + value.size();
  if (entry_size > opt_.page_size) {
    return Status::InvalidArgument("Key-value pair too large for page size " +
                                   std::to_string(opt_.page_size));
  }
  if (key.size() > 0xFFFF || value.size() > 0xFFFF) {  // REF: struct.error before any write
    return Status::InvalidArgument("key or value longer than 65535 bytes");
  }
  Result<Meta> meta = ReadMeta();
  if (!meta.ok()) return meta.status();
  Result<InsertResult> r = Insert(meta->root, key, value, meta->height, 0);
  Status s = r.ok() ? Status::OK() : r.status();
  if (s.ok() && r->kind == InsertResult::kInserted) {
    Result<Meta> now = ReadMeta();  // allocation may have moved next_free or free_head
    if (!now.ok()) {
      s = now.status();
    } else if (meta->total_keys == kNoSibling) {
      s = Status::Corruption("struct.error: total_keys overflows");
    } else {
      s = LogMeta({now->root, now->height, meta->total_keys + 1, now->next_free, now->free_head});
    }
  } else if (s.ok() && r->kind == InsertResult::kSplit) {
    Result<uint32_t> new_root = AllocatePage();
    if (!new_root.ok()) s = new_root.status();
    if (s.ok()) s = LogPage(*new_root, EncodeInternal({r->mid_key}, {meta->root, r->new_page}));
    Result<Meta> now = s.ok() ? ReadMeta() : Result<Meta>(s);
    if (s.ok() && !now.ok()) s = now.status();
    if (s.ok()) {
      s = LogMeta(
          {*new_root, meta->height + 1, meta->total_keys + 1, now->next_free, now->free_head});
    }
  }
  if (!s.ok()) {
    Abort();
    return s;
  }
  return Commit();
}

// REF recurses; this walks the same pages iteratively with the path on the heap, so a corrupt
// tree up to kMaxDepth levels deep cannot overflow the stack (the recursive form's frame was
// 8 KiB under AddressSanitizer, 1000 of them past an 8 MiB stack: fuzz corpus input
// recovery_btree/017eec5f...). Reads, writes and allocations happen in REF's order: every page
// on the way down is read first, then the leaf is written, then each split goes up one level.
Result<BTree::Impl::InsertResult> BTree::Impl::Insert(uint32_t pn, std::string_view key,
                                                      std::string_view value, int64_t depth,
                                                      int level) {
  struct Step {
    uint32_t pn;
    Internal node;
    size_t idx;  // the child that the insert went down into
  };
  std::vector<Step> path;
  std::string data;
  for (;; ++level, --depth) {
    if (level > kMaxDepth) return TooDeep();
    BLACKOUT_ASSIGN_OR_RETURN(data, ReadPage(pn));
    if (depth == 1) break;
    BLACKOUT_ASSIGN_OR_RETURN(Internal node, DecodeInternal(data, opt_.fixed));
    const size_t idx =
        std::upper_bound(node.keys.begin(), node.keys.end(), key) - node.keys.begin();
    const uint32_t child = node.children[idx];
    path.push_back(Step{pn, std::move(node), idx});
    pn = child;
  }
  BLACKOUT_ASSIGN_OR_RETURN(InsertResult r, InsertIntoLeaf(pn, data, key, value));
  for (auto it = path.rbegin(); it != path.rend() && r.kind == InsertResult::kSplit; ++it) {
    BLACKOUT_ASSIGN_OR_RETURN(r, InsertIntoInternal(it->pn, std::move(it->node), it->idx, r));
  }
  return r;
}

Result<BTree::Impl::InsertResult> BTree::Impl::InsertIntoLeaf(uint32_t pn, const std::string& data,
                                                              std::string_view key,
                                                              std::string_view value) {
  BLACKOUT_ASSIGN_OR_RETURN(Leaf leaf, DecodeLeaf(data, opt_.fixed));
  auto it = std::lower_bound(leaf.keys.begin(), leaf.keys.end(), key);
  const size_t idx = it - leaf.keys.begin();
  if (it != leaf.keys.end() && *it == key) {
    leaf.values[idx] = std::string(value);
    BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeLeaf(leaf.keys, leaf.values, leaf.next)));
    return InsertResult{InsertResult::kUpdated, "", 0};
  }
  leaf.keys.insert(it, std::string(key));
  leaf.values.insert(leaf.values.begin() + idx, std::string(value));
  if (leaf.keys.size() <= max_keys_) {
    BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeLeaf(leaf.keys, leaf.values, leaf.next)));
    return InsertResult{InsertResult::kInserted, "", 0};
  }
  const size_t mid = leaf.keys.size() / 2;
  std::vector<std::string> left_keys(leaf.keys.begin(), leaf.keys.begin() + mid);
  std::vector<std::string> left_vals(leaf.values.begin(), leaf.values.begin() + mid);
  std::vector<std::string> right_keys(leaf.keys.begin() + mid, leaf.keys.end());
  std::vector<std::string> right_vals(leaf.values.begin() + mid, leaf.values.end());
  BLACKOUT_ASSIGN_OR_RETURN(const uint32_t new_page, AllocatePage());
  // REF writes the right page first, then the left one that points at it.
  BLACKOUT_RETURN_IF_ERROR(LogPage(new_page, EncodeLeaf(right_keys, right_vals, leaf.next)));
  BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeLeaf(left_keys, left_vals, new_page)));
  return InsertResult{InsertResult::kSplit, right_keys[0], new_page};
}

Result<BTree::Impl::InsertResult> BTree::Impl::InsertIntoInternal(uint32_t pn, Internal node,
                                                                  size_t idx,
                                                                  const InsertResult& split) {
  node.keys.insert(node.keys.begin() + idx, split.mid_key);
  node.children.insert(node.children.begin() + idx + 1, split.new_page);
  if (node.keys.size() <= max_keys_) {
    BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeInternal(node.keys, node.children)));
    return InsertResult{InsertResult::kInserted, "", 0};
  }
  const size_t mid = node.keys.size() / 2;
  std::string promote = node.keys[mid];
  std::vector<std::string> left_keys(node.keys.begin(), node.keys.begin() + mid);
  std::vector<uint32_t> left_children(node.children.begin(), node.children.begin() + mid + 1);
  std::vector<std::string> right_keys(node.keys.begin() + mid + 1, node.keys.end());
  std::vector<uint32_t> right_children(node.children.begin() + mid + 1, node.children.end());
  BLACKOUT_ASSIGN_OR_RETURN(const uint32_t new_page, AllocatePage());
  BLACKOUT_RETURN_IF_ERROR(LogPage(new_page, EncodeInternal(right_keys, right_children)));
  BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeInternal(left_keys, left_children)));
  return InsertResult{InsertResult::kSplit, std::move(promote), new_page};
}

Result<bool> BTree::Impl::Delete(std::string_view key) {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  Result<DeleteResult> found = DeleteIn(meta.root, key, meta.height, 0);
  Status s = found.ok() ? Status::OK() : found.status();
  if (s.ok() && *found == DeleteResult::kNotFound) return false;  // REF: nothing written
  if (s.ok()) {
    Result<Meta> now = ReadMeta();
    if (!now.ok()) {
      s = now.status();
    } else if (meta.total_keys == 0) {
      s = Status::Corruption("struct.error: total_keys would go below zero");
    } else {
      s = LogMeta({meta.root, meta.height, meta.total_keys - 1, now->next_free, now->free_head});
    }
  }
  if (!s.ok()) {
    Abort();
    return s;
  }
  BLACKOUT_RETURN_IF_ERROR(Commit());
  return true;
}

// Iterative for the same reason as Insert: a recursive frame per level could overflow the stack
// before kMaxDepth under a sanitizer. Only the leaf's parent (depth 2) ever has work after the
// leaf; above it, REF's recursion just turns kEmpty into kDeleted.
Result<BTree::Impl::DeleteResult> BTree::Impl::DeleteIn(uint32_t pn, std::string_view key,
                                                        int64_t depth, int level) {
  std::optional<Internal> parent;  // the leaf's parent, when the tree has more than one level
  uint32_t parent_pn = 0;
  size_t idx = 0;  // the leaf's index among the parent's children
  std::string data;
  for (;; ++level, --depth) {
    if (level > kMaxDepth) return TooDeep();
    BLACKOUT_ASSIGN_OR_RETURN(data, ReadPage(pn));
    if (depth == 1) break;
    BLACKOUT_ASSIGN_OR_RETURN(Internal node, DecodeInternal(data, opt_.fixed));
    idx = std::upper_bound(node.keys.begin(), node.keys.end(), key) - node.keys.begin();
    parent_pn = pn;
    pn = node.children[idx];
    parent = std::move(node);
  }
  BLACKOUT_ASSIGN_OR_RETURN(Leaf leaf, DecodeLeaf(data, opt_.fixed));
  auto it = std::lower_bound(leaf.keys.begin(), leaf.keys.end(), key);
  if (it == leaf.keys.end() || *it != key) return DeleteResult::kNotFound;
  leaf.values.erase(leaf.values.begin() + (it - leaf.keys.begin()));
  leaf.keys.erase(it);
  BLACKOUT_RETURN_IF_ERROR(LogPage(pn, EncodeLeaf(leaf.keys, leaf.values, leaf.next)));
  if (!leaf.keys.empty()) return DeleteResult::kDeleted;
  if (!parent) return DeleteResult::kEmpty;
  if (idx > 0) {
    // REF unlinks an empty leaf (not the leftmost) from its parent (depth 2: always the leaf's).
    Internal& node = *parent;
    const uint32_t child = node.children[idx];
    BLACKOUT_ASSIGN_OR_RETURN(const std::string empty_page, ReadPage(child));
    BLACKOUT_ASSIGN_OR_RETURN(const Leaf empty, DecodeLeaf(empty_page, opt_.fixed));
    BLACKOUT_ASSIGN_OR_RETURN(const std::string prev_page, ReadPage(node.children[idx - 1]));
    BLACKOUT_ASSIGN_OR_RETURN(const Leaf prev, DecodeLeaf(prev_page, opt_.fixed));
    BLACKOUT_RETURN_IF_ERROR(
        LogPage(node.children[idx - 1], EncodeLeaf(prev.keys, prev.values, empty.next)));
    node.keys.erase(node.keys.begin() + (idx - 1));
    node.children.erase(node.children.begin() + idx);
    BLACKOUT_RETURN_IF_ERROR(FreePage(child));  // H-T1 in the default profile
    BLACKOUT_RETURN_IF_ERROR(LogPage(parent_pn, EncodeInternal(node.keys, node.children)));
  }
  return DeleteResult::kDeleted;
}

Result<std::optional<std::string>> BTree::Impl::Get(std::string_view key) {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  return Search(meta.root, key, meta.height, 0);
}

Result<std::optional<std::string>> BTree::Impl::Search(uint32_t pn, std::string_view key,
                                                       int64_t depth, int level) {
  if (level > kMaxDepth) return TooDeep();
  BLACKOUT_ASSIGN_OR_RETURN(const std::string data, ReadPage(pn));
  if (depth == 1) {
    BLACKOUT_ASSIGN_OR_RETURN(const Leaf leaf, DecodeLeaf(data, opt_.fixed));
    auto it = std::lower_bound(leaf.keys.begin(), leaf.keys.end(), key);
    if (it != leaf.keys.end() && *it == key) return {leaf.values[it - leaf.keys.begin()]};
    return std::optional<std::string>();
  }
  BLACKOUT_ASSIGN_OR_RETURN(const Internal node, DecodeInternal(data, opt_.fixed));
  const size_t idx = std::upper_bound(node.keys.begin(), node.keys.end(), key) - node.keys.begin();
  return Search(node.children[idx], key, depth - 1, level + 1);
}

Result<uint32_t> BTree::Impl::FindLeaf(uint32_t pn, std::string_view key, int64_t depth,
                                       int level) {
  if (level > kMaxDepth) return TooDeep();
  if (depth == 1) return pn;
  BLACKOUT_ASSIGN_OR_RETURN(const std::string data, ReadPage(pn));
  BLACKOUT_ASSIGN_OR_RETURN(const Internal node, DecodeInternal(data, opt_.fixed));
  const size_t idx = std::upper_bound(node.keys.begin(), node.keys.end(), key) - node.keys.begin();
  return FindLeaf(node.children[idx], key, depth - 1, level + 1);
}

// REF's range_scan loop. REF has no cycle guard (H-T8) and would spin forever; both profiles
// here report the cycle instead, so a driver never hangs.
Result<std::vector<KeyValue>> BTree::Impl::WalkChain(uint32_t leaf_pn, std::string_view start,
                                                     std::optional<std::string_view> end) {
  std::vector<KeyValue> out;
  std::set<uint32_t> seen;
  while (leaf_pn != kNoSibling) {
    if (!seen.insert(leaf_pn).second) {
      return Status::Corruption("leaf chain loops back to page " + std::to_string(leaf_pn));
    }
    BLACKOUT_ASSIGN_OR_RETURN(const std::string data, ReadPage(leaf_pn));
    BLACKOUT_ASSIGN_OR_RETURN(Leaf leaf, DecodeLeaf(data, opt_.fixed));
    for (size_t i = 0; i < leaf.keys.size(); ++i) {
      if (leaf.keys[i] < start) continue;
      if (end && leaf.keys[i] >= *end) return out;
      out.emplace_back(std::move(leaf.keys[i]), std::move(leaf.values[i]));
    }
    leaf_pn = leaf.next;
  }
  return out;
}

Result<std::vector<KeyValue>> BTree::Impl::RangeScan(std::string_view start,
                                                     std::optional<std::string_view> end) {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  BLACKOUT_ASSIGN_OR_RETURN(const uint32_t leaf, FindLeaf(meta.root, start, meta.height, 0));
  return WalkChain(leaf, start, end);
}

Result<std::vector<KeyValue>> BTree::Impl::Items() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  uint32_t pn = meta.root;
  // REF: `for _ in range(height - 1)`, leftmost child each time.
  for (int64_t i = 0; i < int64_t{meta.height} - 1; ++i) {
    if (i > kMaxDepth) return TooDeep();
    BLACKOUT_ASSIGN_OR_RETURN(const std::string data, ReadPage(pn));
    BLACKOUT_ASSIGN_OR_RETURN(const Internal node, DecodeInternal(data, opt_.fixed));
    pn = node.children[0];
  }
  return WalkChain(pn, "", std::nullopt);
}

Result<uint32_t> BTree::Impl::Size() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  return meta.total_keys;
}

Result<std::vector<std::string>> BTree::Impl::Verify() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  std::vector<std::string> problems;
  BLACKOUT_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  auto page_name = [](uint32_t pn) { return "page " + std::to_string(pn); };
  if (meta.height == 0 || meta.height > 64) {
    problems.push_back("meta height " + std::to_string(meta.height) + " is implausible");
    return problems;
  }
  // Walk the index depth-first, left to right.
  std::map<uint32_t, uint32_t> parent_of;  // page -> the page that first referenced it
  std::vector<uint32_t> index_leaves;
  std::vector<std::string> index_keys;
  uint64_t leaf_keys = 0;
  struct Frame {
    uint32_t pn;
    uint32_t parent;
    int64_t depth;
  };
  std::vector<Frame> stack{{meta.root, 0, meta.height}};
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    if (f.pn == 0 || f.pn >= meta.next_free) {
      problems.push_back(page_name(f.pn) + " is referenced by " + page_name(f.parent) +
                         " but lies outside the allocated pages 1.." +
                         std::to_string(meta.next_free - 1));
      continue;
    }
    if (auto [it, fresh] = parent_of.emplace(f.pn, f.parent); !fresh) {
      problems.push_back(page_name(f.pn) + " is reachable twice (from " + page_name(it->second) +
                         " and from " + page_name(f.parent) + ")");
      continue;
    }
    Result<std::string> data = ReadPage(f.pn);
    if (!data.ok()) {
      problems.push_back(page_name(f.pn) + ": " + data.status().ToString());
      continue;
    }
    if (f.depth == 1) {
      Result<Leaf> leaf = DecodeLeaf(*data, true);
      if (!leaf.ok()) {
        problems.push_back(page_name(f.pn) + ": " + leaf.status().message());
        continue;
      }
      index_leaves.push_back(f.pn);
      leaf_keys += leaf->keys.size();
      index_keys.insert(index_keys.end(), leaf->keys.begin(), leaf->keys.end());
      continue;
    }
    Result<Internal> node = DecodeInternal(*data, true);
    if (!node.ok()) {
      problems.push_back(page_name(f.pn) + ": " + node.status().message());
      continue;
    }
    for (auto c = node->children.rbegin(); c != node->children.rend(); ++c) {
      stack.push_back({*c, f.pn, f.depth - 1});
    }
  }
  for (size_t i = 1; i < index_keys.size(); ++i) {
    if (!(index_keys[i - 1] < index_keys[i])) {
      problems.push_back("keys out of order in the index: '" + index_keys[i - 1] + "' before '" +
                         index_keys[i] + "'");
      break;
    }
  }
  if (leaf_keys != meta.total_keys) {
    problems.push_back("meta total_keys is " + std::to_string(meta.total_keys) +
                       " but the leaves hold " + std::to_string(leaf_keys) + " keys");
  }
  // The free list must not share a page with the tree.
  std::set<uint32_t> free_pages;
  for (uint32_t pn = meta.free_head; pn != kNoSibling;) {
    if (!free_pages.insert(pn).second) {
      problems.push_back("free list loops back to " + page_name(pn));
      break;
    }
    if (parent_of.count(pn)) {
      problems.push_back(page_name(pn) + " is on the free list and reachable from " +
                         page_name(parent_of[pn]));
    }
    Result<std::string> data = ReadPage(pn);
    if (!data.ok() || pn == 0 || pn >= meta.next_free) {
      problems.push_back("free list reaches " + page_name(pn) + ", which is not a data page");
      break;
    }
    pn = GetU32BE(data->data() + kHeaderSize);
  }
  // The leaf chain from the leftmost leaf must visit exactly the index's leaves, in order.
  if (!index_leaves.empty()) {
    std::vector<uint32_t> chain;
    std::set<uint32_t> seen;
    for (uint32_t pn = index_leaves.front(); pn != kNoSibling;) {
      if (!seen.insert(pn).second) {
        problems.push_back("leaf chain loops back to " + page_name(pn));
        break;
      }
      chain.push_back(pn);
      Result<std::string> data = ReadPage(pn);
      if (!data.ok()) break;
      Result<Leaf> leaf = DecodeLeaf(*data, false);
      if (!leaf.ok()) break;
      pn = leaf->next;
    }
    if (chain != index_leaves) {
      auto list = [](const std::vector<uint32_t>& v) {
        std::string s;
        for (uint32_t p : v) s += (s.empty() ? "" : ",") + std::to_string(p);
        return s;
      };
      problems.push_back("leaf chain " + list(chain) + " differs from the index's leaves " +
                         list(index_leaves));
    }
  }
  return problems;
}

Status BTree::Impl::Close() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen());
  closed_ = true;
  // REF: wal.commit(pm), wal.close(), pm.close() = flush + fsync + close.
  BLACKOUT_RETURN_IF_ERROR(WalClear());
  BLACKOUT_RETURN_IF_ERROR(wal_->Close());
  BLACKOUT_RETURN_IF_ERROR(dat_->Sync());
  BLACKOUT_RETURN_IF_ERROR(dat_->Close());
  lock_.reset();
  return Status::OK();
}

// ---------------------------------------------------------------------------------------
// BTree

BTree::BTree(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BTree::~BTree() = default;

Result<std::unique_ptr<BTree>> BTree::Open(Env* env, const std::string& dir,
                                           const BTreeOptions& options) {
  if (options.page_size < 32) {
    return Status::InvalidArgument("page_size must be at least 32, got " +
                                   std::to_string(options.page_size));
  }
  if (options.max_keys_per_page &&
      (*options.max_keys_per_page < 1 || *options.max_keys_per_page > 0xFFFF)) {
    return Status::InvalidArgument("max_keys_per_page must be in 1..65535");
  }
  auto impl = std::make_unique<Impl>(env, dir, options);
  BLACKOUT_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<BTree>(new BTree(std::move(impl)));
}

Status BTree::Put(std::string_view key, std::string_view value) { return impl_->Put(key, value); }
Result<std::optional<std::string>> BTree::Get(std::string_view key) { return impl_->Get(key); }
Result<bool> BTree::Delete(std::string_view key) { return impl_->Delete(key); }
Result<std::vector<KeyValue>> BTree::RangeScan(std::string_view start,
                                               std::optional<std::string_view> end) {
  return impl_->RangeScan(start, end);
}
Result<std::vector<KeyValue>> BTree::Items() { return impl_->Items(); }
Result<uint32_t> BTree::Size() { return impl_->Size(); }
Result<std::vector<std::string>> BTree::Verify() { return impl_->Verify(); }
Status BTree::Close() { return impl_->Close(); }
uint32_t BTree::page_size() const { return impl_->options().page_size; }
uint32_t BTree::max_keys() const { return impl_->max_keys(); }
bool BTree::fixed() const { return impl_->options().fixed; }

}  // namespace blackout::engines
