#include "engines/lsm/lsm.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "engines/common/coding.h"
#include "engines/common/crc32.h"
#include "engines/common/utf8.h"

namespace blackout::engines::lsm {
namespace {

constexpr char kWalName[] = "wal.log";
// REF trailer: ">Q" footer_start, ">I" count.
constexpr size_t kTrailerSize = 12;
// Fixed trailer: ">Q" footer_start, ">I" count, ">Q" supersedes_below,
// ">I" magic, ">I" crc32 of every byte before the crc.
constexpr size_t kFixedTrailerSize = 28;
constexpr uint32_t kFixedMagic = 0x424C534D;  // "BLSM"
// Fixed profile: vlen of a tombstone, so that "" stays a value.
constexpr uint32_t kFixedTombstone = 0xFFFFFFFF;

std::string TableName(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "sst_%06llu.sst", static_cast<unsigned long long>(seq));
  return buf;
}

// REF: int(fname.split("_")[1].split(".")[0]).
std::optional<uint64_t> ParseSeq(std::string_view name) {
  size_t us = name.find('_');
  if (us == std::string_view::npos) return std::nullopt;
  std::string_view rest = name.substr(us + 1);
  rest = rest.substr(0, rest.find('_'));
  rest = rest.substr(0, rest.find('.'));
  if (rest.empty() || rest.size() > 18) return std::nullopt;
  uint64_t v = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Python's f.read(n) on a binary file: up to n bytes from the position,
// fewer at end of file, position clamped at EOF; reads in 64 KiB chunks.
class FileCursor {
 public:
  FileCursor(File* file, uint64_t size) : file_(file), size_(size) {}
  void Seek(uint64_t pos) { pos_ = pos; }
  uint64_t Tell() const { return pos_; }
  [[nodiscard]] Result<std::string> Read(uint64_t n) {
    std::string out;
    while (out.size() < n && pos_ < size_) {
      if (pos_ < buf_off_ || pos_ >= buf_off_ + buf_.size()) {
        const uint64_t want =
            std::min<uint64_t>(std::max<uint64_t>(n - out.size(), 65536), size_ - pos_);
        BLACKOUT_ASSIGN_OR_RETURN(buf_, file_->ReadAt(pos_, want));
        buf_off_ = pos_;
        if (buf_.empty()) break;
      }
      const uint64_t take = std::min<uint64_t>(buf_off_ + buf_.size() - pos_, n - out.size());
      out.append(buf_, pos_ - buf_off_, take);
      pos_ += take;
    }
    return out;
  }

 private:
  File* file_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string buf_;
  uint64_t buf_off_ = 0;
};

struct Entry {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
};

}  // namespace

// One immutable sorted table. Default profile: every read goes back to the
// file, as REF's does, and trusts its trailer. Fixed profile: the whole file
// is checked against its CRC when the index is loaded.
class SSTable {
 public:
  SSTable(Env* env, std::string path, uint64_t seq, bool fixed)
      : env_(env), path_(std::move(path)), seq_(seq), fixed_(fixed) {}

  const std::string& path() const { return path_; }
  uint64_t seq() const { return seq_; }
  uint64_t supersedes_below() const { return supersedes_below_; }
  const std::vector<std::pair<std::string, uint64_t>>& index() const { return index_; }

  void SetIndex(std::vector<std::pair<std::string, uint64_t>> index, uint64_t footer_start,
                uint64_t supersedes_below) {
    index_ = std::move(index);
    footer_start_ = footer_start;
    supersedes_below_ = supersedes_below;
  }

  // REF load_index (default) / checked load (fixed).
  [[nodiscard]] Status LoadIndex() {
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path_));
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path_, OpenMode::kRead));
    if (fixed_) return LoadFixed(f.get(), size);
    if (size < kTrailerSize) {
      return Status::Corruption(path_ + ": " + std::to_string(size) +
                                " bytes, shorter than its 12-byte trailer (REF: OSError EINVAL "
                                "at seek(-12, 2), H-M3)");
    }
    FileCursor cur(f.get(), size);
    cur.Seek(size - kTrailerSize);
    BLACKOUT_ASSIGN_OR_RETURN(std::string trailer, cur.Read(kTrailerSize));
    const uint64_t footer_start = GetU64BE(trailer.data());
    const uint32_t count = GetU32BE(trailer.data() + 8);
    cur.Seek(footer_start);
    std::vector<std::pair<std::string, uint64_t>> index;
    for (uint32_t i = 0; i < count; ++i) {
      BLACKOUT_ASSIGN_OR_RETURN(std::string klen, cur.Read(4));
      if (klen.size() < 4) return TornIndex(i);
      BLACKOUT_ASSIGN_OR_RETURN(std::string key, cur.Read(GetU32BE(klen.data())));
      if (!IsValidUtf8(key)) {
        return Status::Corruption(path_ + ": index key is not valid UTF-8 (H-M3)");
      }
      BLACKOUT_ASSIGN_OR_RETURN(std::string off, cur.Read(8));
      if (off.size() < 8) return TornIndex(i);
      index.emplace_back(std::move(key), GetU64BE(off.data()));
    }
    index_ = std::move(index);
    return f->Close();
  }

  struct Lookup {
    bool found = false;
    std::optional<std::string> value;
  };

  // REF SSTable.get: bisect the sparse index, scan one block.
  [[nodiscard]] Result<Lookup> Get(std::string_view key) {
    if (index_.empty()) return Lookup{};
    auto it = std::upper_bound(index_.begin(), index_.end(), key,
                               [](std::string_view k, const auto& e) { return k < e.first; });
    size_t idx = it == index_.begin() ? 0 : static_cast<size_t>(it - index_.begin()) - 1;
    const uint64_t start = index_[idx].second;
    uint64_t end;
    if (idx + 1 < index_.size()) {
      end = index_[idx + 1].second;
    } else {
      BLACKOUT_ASSIGN_OR_RETURN(end, FooterStart());
    }
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path_));
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path_, OpenMode::kRead));
    FileCursor cur(f.get(), size);
    cur.Seek(start);
    while (cur.Tell() < end) {
      BLACKOUT_ASSIGN_OR_RETURN(std::optional<Entry> e, ReadEntry(cur));
      if (!e) break;
      if (e->key == key) return Lookup{true, std::move(e->value)};
      if (e->key > key) break;
    }
    return Lookup{};
  }

  // REF SSTable.scan: entries with start <= key < end (no end: to the footer).
  [[nodiscard]] Status Scan(std::string_view start, std::optional<std::string_view> end,
                            std::vector<Entry>* out) {
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t footer, FooterStart());
    if (index_.empty()) {
      if (fixed_) return Status::OK();
      return Status::Corruption(path_ +
                                ": empty sparse index; REF range_scan raises IndexError "
                                "(H-M4)");
    }
    auto it = std::upper_bound(index_.begin(), index_.end(), start,
                               [](std::string_view k, const auto& e) { return k < e.first; });
    size_t idx = it == index_.begin() ? 0 : static_cast<size_t>(it - index_.begin()) - 1;
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path_));
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path_, OpenMode::kRead));
    FileCursor cur(f.get(), size);
    cur.Seek(index_[idx].second);
    while (cur.Tell() < footer) {
      BLACKOUT_ASSIGN_OR_RETURN(std::optional<Entry> e, ReadEntry(cur));
      if (!e) break;
      if (end && e->key >= *end) break;
      if (e->key >= start) out->push_back(std::move(*e));
    }
    return Status::OK();
  }

  // REF SSTable.scan_all. `stopped_at` (if given) receives the offset where
  // reading stopped, for Verify.
  [[nodiscard]] Status ScanAll(std::vector<Entry>* out, std::vector<uint64_t>* offsets = nullptr) {
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t footer, FooterStart());
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path_));
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path_, OpenMode::kRead));
    FileCursor cur(f.get(), size);
    while (cur.Tell() < footer) {
      const uint64_t at = cur.Tell();
      BLACKOUT_ASSIGN_OR_RETURN(std::optional<Entry> e, ReadEntry(cur));
      if (!e) break;
      if (offsets) offsets->push_back(at);
      out->push_back(std::move(*e));
    }
    if (offsets) offsets->push_back(cur.Tell());
    return Status::OK();
  }

  // REF _footer_start: re-reads the trailer every time (default profile).
  [[nodiscard]] Result<uint64_t> FooterStart() {
    if (fixed_) return footer_start_;
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path_));
    if (size < kTrailerSize) {
      return Status::Corruption(path_ + ": shorter than its 12-byte trailer (H-M3)");
    }
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path_, OpenMode::kRead));
    BLACKOUT_ASSIGN_OR_RETURN(std::string t, f->ReadAt(size - kTrailerSize, 8));
    if (t.size() < 8) return Status::Corruption(path_ + ": short trailer read");
    return GetU64BE(t.data());
  }

 private:
  Status TornIndex(uint32_t i) const {
    return Status::Corruption(path_ + ": sparse index entry " + std::to_string(i) +
                              " is torn (REF raises struct.error, H-M3)");
  }

  // REF _read_entry: nullopt on any short read.
  [[nodiscard]] Result<std::optional<Entry>> ReadEntry(FileCursor& cur) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string hdr, cur.Read(4));
    if (hdr.size() < 4) return std::optional<Entry>();
    const uint32_t klen = GetU32BE(hdr.data());
    BLACKOUT_ASSIGN_OR_RETURN(std::string key, cur.Read(klen));
    if (key.size() < klen) return std::optional<Entry>();
    BLACKOUT_ASSIGN_OR_RETURN(std::string vhdr, cur.Read(4));
    if (vhdr.size() < 4) return std::optional<Entry>();
    const uint32_t vlen = GetU32BE(vhdr.data());
    Entry e;
    if (fixed_ && vlen == kFixedTombstone) {
      e.key = std::move(key);
      return std::optional<Entry>(std::move(e));
    }
    BLACKOUT_ASSIGN_OR_RETURN(std::string value, cur.Read(vlen));
    if (value.size() < vlen) return std::optional<Entry>();
    if (!IsValidUtf8(key)) {
      return Status::Corruption(path_ + ": entry key is not valid UTF-8");
    }
    e.key = std::move(key);
    // Default: b"" is REF's TOMBSTONE.
    if (fixed_ || !value.empty()) e.value = std::move(value);
    return std::optional<Entry>(std::move(e));
  }

  [[nodiscard]] Status LoadFixed(File* f, uint64_t size) {
    if (size < kFixedTrailerSize) return Status::Corruption(path_ + ": shorter than its trailer");
    BLACKOUT_ASSIGN_OR_RETURN(std::string data, f->ReadAt(0, size));
    if (data.size() != size) return Status::Corruption(path_ + ": short read");
    const char* t = data.data() + size - kFixedTrailerSize;
    if (GetU32BE(t + 20) != kFixedMagic) return Status::Corruption(path_ + ": bad magic number");
    if (Crc32(std::string_view(data).substr(0, size - 4)) != GetU32BE(t + 24)) {
      return Status::Corruption(path_ + ": checksum mismatch");
    }
    const uint64_t footer_start = GetU64BE(t);
    const uint32_t count = GetU32BE(t + 8);
    const uint64_t index_end = size - kFixedTrailerSize;
    if (footer_start > index_end) return Status::Corruption(path_ + ": footer out of range");
    std::vector<std::pair<std::string, uint64_t>> index;
    uint64_t pos = footer_start;
    for (uint32_t i = 0; i < count; ++i) {
      if (index_end - pos < 4) return Status::Corruption(path_ + ": index overruns its footer");
      const uint32_t klen = GetU32BE(data.data() + pos);
      pos += 4;
      if (index_end - pos < uint64_t{klen} + 8) {
        return Status::Corruption(path_ + ": index overruns its footer");
      }
      std::string key = data.substr(pos, klen);
      pos += klen;
      index.emplace_back(std::move(key), GetU64BE(data.data() + pos));
      pos += 8;
    }
    if (pos != index_end) return Status::Corruption(path_ + ": index does not end at the trailer");
    SetIndex(std::move(index), footer_start, GetU64BE(t + 12));
    return f->Close();
  }

  Env* env_;
  std::string path_;
  uint64_t seq_;
  bool fixed_;
  std::vector<std::pair<std::string, uint64_t>> index_;
  uint64_t footer_start_ = 0;      // fixed: from the checked trailer
  uint64_t supersedes_below_ = 0;  // fixed: tables with a lower seq are obsolete
};

LsmTree::LsmTree(Env* env, std::string dir, Options options)
    : env_(env), dir_(std::move(dir)), options_(std::move(options)) {}

LsmTree::~LsmTree() = default;

std::string LsmTree::WalPath() const { return JoinPath(dir_, kWalName); }

Status LsmTree::SyncDirIfFixed() {
  if (!fixed()) return Status::OK();
  return env_->SyncDir(dir_);
}

std::vector<std::string> LsmTree::TablePaths() const {
  std::vector<std::string> paths;
  for (const auto& t : tables_) paths.push_back(t->path());
  return paths;
}

Result<std::unique_ptr<LsmTree>> LsmTree::Open(Env* env, const std::string& dir, Options options) {
  if (options.sparse_index_interval == 0) {
    return Status::InvalidArgument("lsm: sparse_index_interval must be at least 1");
  }
  std::unique_ptr<LsmTree> tree(new LsmTree(env, dir, std::move(options)));
  BLACKOUT_RETURN_IF_ERROR(tree->Recover());
  return tree;
}

Status LsmTree::Recover() {
  BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  if (fixed()) {
    BLACKOUT_ASSIGN_OR_RETURN(lock_, env_->LockDir(dir_));
    // A table being written when the process died never got its final name.
    BLACKOUT_ASSIGN_OR_RETURN(bool removed, RemoveLeftovers(*env_, dir_, {".sst.tmp"}));
    if (removed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  BLACKOUT_RETURN_IF_ERROR(LoadTables());
  BLACKOUT_RETURN_IF_ERROR(ReplayWal());
  // Fixed: REF leaves a replayed memtable past its threshold unflushed (H-M6).
  if (fixed() && memtable_.size() >= options_.memtable_threshold) return FlushMemtable();
  return Status::OK();
}

Status LsmTree::LoadTables() {
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<std::string> files;
  for (std::string& name : names) {
    if (EndsWith(name, ".sst")) files.push_back(std::move(name));
  }
  std::sort(files.begin(), files.end());
  for (const std::string& name : files) {
    std::optional<uint64_t> seq = ParseSeq(name);
    if (!seq) {
      // REF's int() raises and the tree cannot open; fixed never makes such names.
      if (fixed()) continue;
      return Status::Corruption("lsm: table name '" + name + "' has no sequence number");
    }
    auto table = std::make_unique<SSTable>(env_, JoinPath(dir_, name), *seq, fixed());
    BLACKOUT_RETURN_IF_ERROR(table->LoadIndex());
    tables_.push_back(std::move(table));
    if (*seq >= next_seq_) next_seq_ = *seq + 1;
  }
  std::stable_sort(tables_.begin(), tables_.end(),
                   [](const auto& a, const auto& b) { return a->seq() < b->seq(); });
  if (!fixed()) return Status::OK();
  // Fixed: a compaction output supersedes every older table; the ones whose
  // unlink did not survive the crash are removed now.
  uint64_t cutoff = 0;
  for (const auto& t : tables_) cutoff = std::max(cutoff, t->supersedes_below());
  if (cutoff == 0) return Status::OK();
  std::vector<std::unique_ptr<SSTable>> live;
  bool removed = false;
  for (auto& t : tables_) {
    if (t->seq() < cutoff) {
      BLACKOUT_RETURN_IF_ERROR(env_->Remove(t->path()));
      removed = true;
    } else {
      live.push_back(std::move(t));
    }
  }
  tables_ = std::move(live);
  if (removed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return Status::OK();
}

Status LsmTree::ReplayWal() {
  const std::string path = WalPath();
  if (!fixed()) {
    // REF: WAL(path) opens "ab" first, then replay reads the whole file.
    BLACKOUT_ASSIGN_OR_RETURN(wal_, BufferedFile::Open(env_, path, OpenMode::kAppend));
  }
  const bool existed = env_->Exists(path);
  std::string data;
  if (existed) {
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path));
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path, OpenMode::kRead));
    BLACKOUT_ASSIGN_OR_RETURN(data, f->ReadAt(0, size));
    BLACKOUT_RETURN_IF_ERROR(f->Close());
  }
  const std::string_view view(data);
  size_t pos = 0;
  if (!fixed()) {
    // REF WAL.replay: stops at the first short field; no checksum, so any
    // complete framing is believed (H-M2).
    while (pos < view.size()) {
      if (view.size() - pos < 4) break;
      const uint64_t klen = GetU32BE(view.data() + pos);
      pos += 4;
      if (klen > view.size() - pos) break;
      std::string key(view.substr(pos, klen));
      if (!IsValidUtf8(key)) {
        return Status::Corruption(path + " offset " + std::to_string(pos) +
                                  ": key is not valid UTF-8 (REF raises UnicodeDecodeError)");
      }
      pos += klen;
      if (view.size() - pos < 4) break;
      const uint64_t vlen = GetU32BE(view.data() + pos);
      pos += 4;
      if (vlen > view.size() - pos) break;
      std::string value(view.substr(pos, vlen));
      pos += vlen;
      if (value.empty()) {
        memtable_[std::move(key)] = std::nullopt;
      } else {
        memtable_[std::move(key)] = std::move(value);
      }
    }
    return Status::OK();
  }
  // Fixed: crc32 | klen | key | vlen | value, the CRC over everything after
  // it; the first record that is short or fails its CRC ends the log.
  while (pos < view.size()) {
    const size_t start = pos;
    if (view.size() - pos < 12) break;
    const uint32_t crc = GetU32BE(view.data() + pos);
    const uint64_t klen = GetU32BE(view.data() + pos + 4);
    if (klen > view.size() - pos - 8 - 4) break;
    const uint32_t raw_vlen = GetU32BE(view.data() + pos + 8 + klen);
    const uint64_t vlen = raw_vlen == kFixedTombstone ? 0 : raw_vlen;
    const uint64_t total = 12 + klen + vlen;
    if (total > view.size() - pos) break;
    if (Crc32(view.substr(pos + 4, total - 4)) != crc) break;
    std::string key(view.substr(pos + 8, klen));
    if (raw_vlen == kFixedTombstone) {
      memtable_[std::move(key)] = std::nullopt;
    } else {
      memtable_[std::move(key)] = std::string(view.substr(pos + 12 + klen, vlen));
    }
    pos = start + total;
  }
  if (pos < view.size()) {
    // Cut the torn tail off, durably, before anything is appended after it.
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path, OpenMode::kReadWrite));
    BLACKOUT_RETURN_IF_ERROR(f->Truncate(pos));
    BLACKOUT_RETURN_IF_ERROR(f->Sync());
    BLACKOUT_RETURN_IF_ERROR(f->Close());
  }
  BLACKOUT_ASSIGN_OR_RETURN(wal_, BufferedFile::Open(env_, path, OpenMode::kAppend));
  if (!existed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return Status::OK();
}

Status LsmTree::AppendWal(std::string_view key, const std::optional<std::string>& value) {
  if (!fixed()) {
    // REF WAL.append: four buffered writes, one flush, no fsync.
    const std::string_view v = value ? std::string_view(*value) : std::string_view();
    std::string klen, vlen;
    PutU32BE(&klen, static_cast<uint32_t>(key.size()));
    PutU32BE(&vlen, static_cast<uint32_t>(v.size()));
    BLACKOUT_RETURN_IF_ERROR(wal_->Append(klen));
    BLACKOUT_RETURN_IF_ERROR(wal_->Append(key));
    BLACKOUT_RETURN_IF_ERROR(wal_->Append(vlen));
    BLACKOUT_RETURN_IF_ERROR(wal_->Append(v));
    return wal_->Flush();
  }
  std::string body;
  PutU32BE(&body, static_cast<uint32_t>(key.size()));
  body.append(key);
  PutU32BE(&body, value ? static_cast<uint32_t>(value->size()) : kFixedTombstone);
  if (value) body.append(*value);
  std::string record;
  PutU32BE(&record, Crc32(body));
  record.append(body);
  BLACKOUT_RETURN_IF_ERROR(wal_->Append(record));
  return wal_->Sync();
}

Status LsmTree::Apply(std::string_view key, std::optional<std::string> value) {
  if (closed_) return Status::InvalidArgument("lsm: tree is closed");
  // Default: b"" is REF's TOMBSTONE, so a put of "" is a delete.
  if (!fixed() && value && value->empty()) value.reset();
  BLACKOUT_RETURN_IF_ERROR(AppendWal(key, value));
  memtable_[std::string(key)] = std::move(value);
  if (memtable_.size() >= options_.memtable_threshold) return FlushMemtable();
  return Status::OK();
}

Status LsmTree::Put(std::string_view key, std::string_view value) {
  return Apply(key, std::string(value));
}

Status LsmTree::Delete(std::string_view key) { return Apply(key, std::nullopt); }

Result<std::unique_ptr<SSTable>> LsmTree::WriteTable(
    uint64_t seq, const std::vector<std::pair<std::string, std::optional<std::string>>>& entries,
    uint64_t supersedes_below) {
  const std::string path = JoinPath(dir_, TableName(seq));
  const uint64_t interval = options_.sparse_index_interval;
  std::vector<std::pair<std::string, uint64_t>> index;
  if (!fixed()) {
    // REF SSTable.write: "wb", one f.write per field, closed (never fsynced).
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedFile> f,
                              BufferedFile::Open(env_, path, OpenMode::kWrite));
    auto put32 = [&](uint32_t v) {
      std::string s;
      PutU32BE(&s, v);
      return f->Append(s);
    };
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& [key, value] = entries[i];
      if (i % interval == 0) index.emplace_back(key, f->Tell());
      const std::string_view v = value ? std::string_view(*value) : std::string_view();
      BLACKOUT_RETURN_IF_ERROR(put32(static_cast<uint32_t>(key.size())));
      BLACKOUT_RETURN_IF_ERROR(f->Append(key));
      BLACKOUT_RETURN_IF_ERROR(put32(static_cast<uint32_t>(v.size())));
      BLACKOUT_RETURN_IF_ERROR(f->Append(v));
    }
    const uint64_t footer_start = f->Tell();
    for (const auto& [key, off] : index) {
      BLACKOUT_RETURN_IF_ERROR(put32(static_cast<uint32_t>(key.size())));
      BLACKOUT_RETURN_IF_ERROR(f->Append(key));
      std::string o;
      PutU64BE(&o, off);
      BLACKOUT_RETURN_IF_ERROR(f->Append(o));
    }
    std::string fs;
    PutU64BE(&fs, footer_start);
    BLACKOUT_RETURN_IF_ERROR(f->Append(fs));
    BLACKOUT_RETURN_IF_ERROR(put32(static_cast<uint32_t>(index.size())));
    BLACKOUT_RETURN_IF_ERROR(f->Close());
    auto table = std::make_unique<SSTable>(env_, path, seq, false);
    table->SetIndex(std::move(index), footer_start, 0);
    return table;
  }
  // Fixed: the whole table is built, written to a temporary name, fsynced,
  // renamed into place and the directory fsynced: a table that is visible
  // is complete, and durable before the caller resets the WAL.
  std::string data;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [key, value] = entries[i];
    if (i % interval == 0) index.emplace_back(key, data.size());
    PutU32BE(&data, static_cast<uint32_t>(key.size()));
    data.append(key);
    PutU32BE(&data, value ? static_cast<uint32_t>(value->size()) : kFixedTombstone);
    if (value) data.append(*value);
  }
  const uint64_t footer_start = data.size();
  for (const auto& [key, off] : index) {
    PutU32BE(&data, static_cast<uint32_t>(key.size()));
    data.append(key);
    PutU64BE(&data, off);
  }
  PutU64BE(&data, footer_start);
  PutU32BE(&data, static_cast<uint32_t>(index.size()));
  PutU64BE(&data, supersedes_below);
  PutU32BE(&data, kFixedMagic);
  PutU32BE(&data, Crc32(data));
  const std::string tmp = path + ".tmp";
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedFile> f,
                            BufferedFile::Open(env_, tmp, OpenMode::kWrite));
  BLACKOUT_RETURN_IF_ERROR(f->Append(data));
  BLACKOUT_RETURN_IF_ERROR(f->Sync());
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  BLACKOUT_RETURN_IF_ERROR(env_->Rename(tmp, path));
  BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  auto table = std::make_unique<SSTable>(env_, path, seq, true);
  table->SetIndex(std::move(index), footer_start, supersedes_below);
  return table;
}

Status LsmTree::ResetWal() {
  // REF WAL.truncate: close, open "wb", close, open "ab"; fixed adds an
  // fsync of the emptied log (the table it was flushed to is durable already).
  BLACKOUT_RETURN_IF_ERROR(wal_->Close());
  wal_.reset();
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedFile> f,
                            BufferedFile::Open(env_, WalPath(), OpenMode::kWrite));
  if (fixed()) BLACKOUT_RETURN_IF_ERROR(f->Sync());
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  BLACKOUT_ASSIGN_OR_RETURN(wal_, BufferedFile::Open(env_, WalPath(), OpenMode::kAppend));
  return Status::OK();
}

Status LsmTree::FlushMemtable() {
  if (memtable_.empty()) return Status::OK();
  std::vector<std::pair<std::string, std::optional<std::string>>> entries;
  entries.reserve(memtable_.size());
  if (!fixed()) {
    // REF: the memtable is emptied before the table is written (H-M1).
    for (auto& [k, v] : memtable_) entries.emplace_back(k, std::move(v));
    memtable_.clear();
  } else {
    for (const auto& [k, v] : memtable_) entries.emplace_back(k, v);
  }
  const uint64_t seq = next_seq_++;
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<SSTable> table, WriteTable(seq, entries, 0));
  tables_.push_back(std::move(table));
  BLACKOUT_RETURN_IF_ERROR(ResetWal());
  memtable_.clear();
  if (tables_.size() >= options_.compaction_threshold) return Compact();
  return Status::OK();
}

Status LsmTree::Compact() {
  if (closed_) return Status::InvalidArgument("lsm: tree is closed");
  if (tables_.size() < 2) return Status::OK();
  struct Item {
    std::string key;
    uint64_t seq;
    std::optional<std::string> value;
  };
  std::vector<Item> all;
  for (const auto& t : tables_) {
    std::vector<Entry> entries;
    BLACKOUT_RETURN_IF_ERROR(t->ScanAll(&entries));
    for (Entry& e : entries) all.push_back(Item{std::move(e.key), t->seq(), std::move(e.value)});
  }
  // REF: sort by (key, -seq), keep the first per key, drop tombstones.
  std::stable_sort(all.begin(), all.end(), [](const Item& a, const Item& b) {
    if (a.key != b.key) return a.key < b.key;
    return a.seq > b.seq;
  });
  std::vector<std::pair<std::string, std::optional<std::string>>> merged;
  const std::string* prev = nullptr;
  for (Item& it : all) {
    if (prev && *prev == it.key) continue;
    prev = &it.key;
    if (it.value) merged.emplace_back(it.key, std::move(it.value));
  }
  const uint64_t seq = next_seq_++;
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<SSTable> table,
                            WriteTable(seq, merged, fixed() ? seq : 0));
  std::vector<std::unique_ptr<SSTable>> old = std::move(tables_);
  tables_.clear();
  tables_.push_back(std::move(table));
  for (const auto& t : old) BLACKOUT_RETURN_IF_ERROR(env_->Remove(t->path()));
  return SyncDirIfFixed();
}

Result<std::optional<std::string>> LsmTree::Get(std::string_view key) {
  auto decode = [&](std::optional<std::string> v) -> Result<std::optional<std::string>> {
    if (v && !IsValidUtf8(*v)) {
      return Status::Corruption("lsm: value of '" + std::string(key) +
                                "' is not valid UTF-8 (REF raises UnicodeDecodeError)");
    }
    return v;
  };
  auto it = memtable_.find(std::string(key));
  if (it != memtable_.end()) return decode(it->second);
  for (auto t = tables_.rbegin(); t != tables_.rend(); ++t) {
    BLACKOUT_ASSIGN_OR_RETURN(SSTable::Lookup l, (*t)->Get(key));
    if (l.found) return decode(std::move(l.value));
  }
  return std::optional<std::string>();
}

Result<std::vector<std::pair<std::string, std::string>>> LsmTree::RangeScan(
    std::string_view start, std::optional<std::string_view> end) {
  std::map<std::string, std::optional<std::string>> merged;
  for (const auto& t : tables_) {
    std::vector<Entry> entries;
    BLACKOUT_RETURN_IF_ERROR(t->Scan(start, end, &entries));
    for (Entry& e : entries) merged[std::move(e.key)] = std::move(e.value);
  }
  for (auto it = memtable_.lower_bound(std::string(start));
       it != memtable_.end() && (!end || it->first < *end); ++it) {
    merged[it->first] = it->second;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, v] : merged) {
    if (!v) continue;
    if (!IsValidUtf8(*v)) {
      return Status::Corruption("lsm: value of '" + k +
                                "' is not valid UTF-8 (REF raises UnicodeDecodeError)");
    }
    out.emplace_back(k, std::move(*v));
  }
  return out;
}

Status LsmTree::Close() {
  if (closed_) return Status::OK();
  Status s = FlushMemtable();
  closed_ = true;
  if (wal_) {
    Status c = wal_->Close();
    if (s.ok()) s = c;
    wal_.reset();
  }
  lock_.reset();
  return s;
}

std::vector<std::string> LsmTree::Verify() {
  std::vector<std::string> problems;
  for (const auto& t : tables_) {
    const std::string name = t->path().substr(t->path().find_last_of('/') + 1);
    std::vector<Entry> entries;
    std::vector<uint64_t> offsets;
    Status s = t->ScanAll(&entries, &offsets);
    if (!s.ok()) {
      problems.push_back(name + ": " + s.ToString());
      continue;
    }
    Result<uint64_t> footer = t->FooterStart();
    if (footer.ok() && offsets.back() != *footer) {
      problems.push_back(name + ": entries end at offset " + std::to_string(offsets.back()) +
                         ", footer starts at " + std::to_string(*footer));
    }
    for (size_t i = 1; i < entries.size(); ++i) {
      if (!(entries[i - 1].key < entries[i].key)) {
        problems.push_back(name + ": key '" + entries[i].key + "' at offset " +
                           std::to_string(offsets[i]) + " is not greater than the one before");
        break;
      }
    }
    for (const auto& [key, off] : t->index()) {
      auto pos = std::find(offsets.begin(), offsets.end(), off);
      const size_t i = static_cast<size_t>(pos - offsets.begin());
      if (pos == offsets.end() || i >= entries.size() || entries[i].key != key) {
        problems.push_back(name + ": sparse index entry '" + key + "' -> offset " +
                           std::to_string(off) + " does not point at that key");
      }
    }
  }
  return problems;
}

}  // namespace blackout::engines::lsm
