#include "engines/bitcask/bitcask.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "engines/common/coding.h"
#include "engines/common/crc32.h"
#include "engines/common/utf8.h"

namespace blackout::engines::bitcask {
namespace {

// REF HEADER_FORMAT "<dII": timestamp, key_size, value_size.
constexpr size_t kHeaderSize = 16;
// REF HINT_FORMAT "<IQId" followed by "<I" key_len.
constexpr size_t kHintHeaderSize = 24;
// Fixed profile: "<I" crc32 in front of the REF header, over everything after it.
constexpr size_t kFixedHeaderSize = 20;
// Fixed profile: value_size of a tombstone, so that "" stays a value (H-B7).
constexpr uint32_t kFixedTombstone = 0xFFFFFFFF;
// Fixed hint trailer: "<I" entry count, "<I" crc32 of every byte before it.
constexpr size_t kFixedHintTrailer = 8;

// Parses a decimal file id the way REF's int(name[:-5]) accepts the names it
// writes; anything else is not a file this store made.
std::optional<uint32_t> ParseId(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  uint32_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}

std::string EncodeDefaultRecord(double ts, std::string_view key, std::string_view value) {
  std::string r;
  r.reserve(kHeaderSize + key.size() + value.size());
  PutF64LE(&r, ts);
  PutU32LE(&r, static_cast<uint32_t>(key.size()));
  PutU32LE(&r, static_cast<uint32_t>(value.size()));
  r.append(key);
  r.append(value);
  return r;
}

std::string EncodeFixedRecord(double ts, std::string_view key,
                              std::optional<std::string_view> value) {
  std::string body;
  PutF64LE(&body, ts);
  PutU32LE(&body, static_cast<uint32_t>(key.size()));
  PutU32LE(&body, value ? static_cast<uint32_t>(value->size()) : kFixedTombstone);
  body.append(key);
  if (value) body.append(*value);
  std::string r;
  r.reserve(4 + body.size());
  PutU32LE(&r, Crc32(body));
  r.append(body);
  return r;
}

// One record of a fixed-profile data file, checked. nullopt when the bytes at
// `pos` are not a whole record with a matching CRC (a torn or corrupt tail).
struct FixedRecord {
  double ts;
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt: tombstone
  size_t size;
};
std::optional<FixedRecord> ParseFixedRecord(std::string_view data, size_t pos) {
  if (data.size() - pos < kFixedHeaderSize) return std::nullopt;
  const char* p = data.data() + pos;
  const uint32_t crc = GetU32LE(p);
  const double ts = GetF64LE(p + 4);
  const uint64_t key_size = GetU32LE(p + 12);
  const uint32_t raw_value_size = GetU32LE(p + 16);
  const uint64_t value_size = raw_value_size == kFixedTombstone ? 0 : raw_value_size;
  const uint64_t size = kFixedHeaderSize + key_size + value_size;
  if (size > data.size() - pos) return std::nullopt;
  if (Crc32(data.substr(pos + 4, size - 4)) != crc) return std::nullopt;
  FixedRecord rec;
  rec.ts = ts;
  rec.key = data.substr(pos + kFixedHeaderSize, key_size);
  if (raw_value_size != kFixedTombstone) {
    rec.value = data.substr(pos + kFixedHeaderSize + key_size, value_size);
  }
  rec.size = size;
  return rec;
}

// Python's bytes slicing: data[begin:end] clamped to the data.
std::string_view Slice(std::string_view data, uint64_t begin, uint64_t end) {
  begin = std::min<uint64_t>(begin, data.size());
  end = std::min<uint64_t>(std::max(end, begin), data.size());
  return data.substr(begin, end - begin);
}

// REF's dict keeps insertion order, and compaction writes keys in that order,
// so the merged files' sizes (and the trace) depend on it. pop + re-insert
// moves a key to the end, as in Python.
template <class V>
class InsertionOrderedMap {
 public:
  V* Find(const std::string& key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  void Set(const std::string& key, V value) {
    if (V* v = Find(key)) {
      *v = std::move(value);
      return;
    }
    index_[key] = items_.size();
    items_.emplace_back(key, std::move(value));
    alive_.push_back(true);
  }
  void Pop(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    alive_[it->second] = false;
    index_.erase(it);
  }
  template <class F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < items_.size(); ++i) {
      if (alive_[i]) f(items_[i].first, items_[i].second);
    }
  }

 private:
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::pair<std::string, V>> items_;
  std::vector<bool> alive_;
};

}  // namespace

BitcaskStore::BitcaskStore(Env* env, std::string dir, Options options)
    : env_(env), dir_(std::move(dir)), options_(std::move(options)) {}

BitcaskStore::~BitcaskStore() = default;

std::string BitcaskStore::DataPath(uint32_t id) const {
  return JoinPath(dir_, std::to_string(id) + ".data");
}
std::string BitcaskStore::HintPath(uint32_t id) const {
  return JoinPath(dir_, std::to_string(id) + ".hint");
}

double BitcaskStore::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Status BitcaskStore::SyncDirIfFixed() {
  if (!fixed()) return Status::OK();
  return env_->SyncDir(dir_);
}

Result<std::unique_ptr<BitcaskStore>> BitcaskStore::Open(Env* env, const std::string& dir,
                                                         Options options) {
  std::unique_ptr<BitcaskStore> store(new BitcaskStore(env, dir, std::move(options)));
  BLACKOUT_RETURN_IF_ERROR(store->Recover());
  return store;
}

Result<std::vector<uint32_t>> BitcaskStore::FindFileIds() {
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<uint32_t> ids;
  for (const std::string& name : names) {
    if (!EndsWith(name, ".data")) continue;
    std::optional<uint32_t> id = ParseId(std::string_view(name).substr(0, name.size() - 5));
    if (!id) {
      // REF: int(name[:-5]) raises ValueError and the store cannot open.
      // The fixed profile only ever creates numeric names, so it skips others.
      if (fixed()) continue;
      return Status::Corruption("bitcask: data file name '" + name + "' is not a number");
    }
    ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status BitcaskStore::Recover() {
  BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  if (fixed()) {
    BLACKOUT_ASSIGN_OR_RETURN(lock_, env_->LockDir(dir_));
    // Leftovers of a compaction that crashed before its renames: never part
    // of the store (see CompactFixed).
    BLACKOUT_ASSIGN_OR_RETURN(bool removed,
                              RemoveLeftovers(*env_, dir_, {".data.tmp", ".hint.tmp"}));
    if (removed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, FindFileIds());
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool is_active = i + 1 == ids.size();
    bool loaded = false;
    // Fixed: the highest file is the active one and is always scanned, so a
    // stale hint can never hide later appends (H-B2).
    if (env_->Exists(HintPath(ids[i])) && !(fixed() && is_active)) {
      BLACKOUT_RETURN_IF_ERROR(LoadHintFile(ids[i], &loaded));
    }
    if (!loaded) BLACKOUT_RETURN_IF_ERROR(ScanDataFile(ids[i], is_active));
  }
  active_file_id_ = ids.empty() ? 0 : ids.back();
  return OpenActiveFile();
}

Status BitcaskStore::ScanDataFile(uint32_t file_id, bool is_active) {
  const std::string path = DataPath(file_id);
  BLACKOUT_ASSIGN_OR_RETURN(uint64_t file_size, env_->FileSize(path));
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadRange(file_id, 0, file_size));
  const std::string_view view(data);
  if (!fixed()) {
    // REF _scan_data_file: stops only on a short header; a short key or value
    // is indexed with its full size, past EOF (H-B3).
    uint64_t pos = 0;
    while (pos < view.size()) {
      const uint64_t offset = pos;
      if (view.size() - pos < kHeaderSize) break;
      const double ts = GetF64LE(view.data() + pos);
      const uint64_t key_size = GetU32LE(view.data() + pos + 8);
      const uint64_t value_size = GetU32LE(view.data() + pos + 12);
      pos += kHeaderSize;
      std::string_view key = Slice(view, pos, pos + key_size);
      pos = std::min<uint64_t>(pos + key_size + value_size, view.size());
      if (!IsValidUtf8(key)) {
        return Status::Corruption(path + " offset " + std::to_string(offset) +
                                  ": key is not valid UTF-8 (REF raises UnicodeDecodeError)");
      }
      if (value_size == 0) {
        keydir_.erase(std::string(key));
      } else {
        keydir_[std::string(key)] =
            KeyEntry{file_id, offset, kHeaderSize + key_size + value_size, ts};
      }
    }
    return Status::OK();
  }
  size_t pos = 0;
  while (pos < view.size()) {
    std::optional<FixedRecord> rec = ParseFixedRecord(view, pos);
    if (!rec) break;
    if (rec->value) {
      keydir_[std::string(rec->key)] = KeyEntry{file_id, pos, rec->size, rec->ts};
    } else {
      keydir_.erase(std::string(rec->key));
    }
    pos += rec->size;
  }
  if (pos < view.size() && is_active) {
    // A torn or corrupt tail: cut it off so that new appends are not framed
    // behind it (H-B3), and make the cut durable before anything follows it.
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path, OpenMode::kReadWrite));
    BLACKOUT_RETURN_IF_ERROR(f->Truncate(pos));
    BLACKOUT_RETURN_IF_ERROR(f->Sync());
    BLACKOUT_RETURN_IF_ERROR(f->Close());
  }
  return Status::OK();
}

Status BitcaskStore::LoadHintFile(uint32_t file_id, bool* loaded) {
  const std::string path = HintPath(file_id);
  BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(path));
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path, OpenMode::kRead));
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, f->ReadAt(0, size));
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  const std::string_view view(data);
  if (!fixed()) {
    // REF _load_hint_file: no bounds checks, every entry inserted as is.
    size_t pos = 0;
    while (pos < view.size()) {
      if (view.size() - pos < kHintHeaderSize + 4) {
        return Status::Corruption(path + " offset " + std::to_string(pos) +
                                  ": truncated hint entry (REF raises struct.error, H-B5)");
      }
      const char* p = view.data() + pos;
      KeyEntry e{GetU32LE(p), GetU64LE(p + 4), GetU32LE(p + 12), GetF64LE(p + 16)};
      const uint64_t key_size = GetU32LE(p + kHintHeaderSize);
      pos += kHintHeaderSize + 4;
      std::string_view key = Slice(view, pos, pos + key_size);
      if (!IsValidUtf8(key)) {
        return Status::Corruption(path + ": hint key is not valid UTF-8");
      }
      pos = std::min<uint64_t>(pos + key_size, view.size());
      keydir_[std::string(key)] = e;
    }
    *loaded = true;
    return Status::OK();
  }
  // Fixed: the whole hint must check out (trailer CRC, every entry inside the
  // data file); otherwise the data file is scanned instead (H-B5).
  if (view.size() < kFixedHintTrailer) return Status::OK();
  const size_t body = view.size() - kFixedHintTrailer;
  const uint32_t count = GetU32LE(view.data() + body);
  if (Crc32(view.substr(0, body)) != GetU32LE(view.data() + body + 4)) return Status::OK();
  BLACKOUT_ASSIGN_OR_RETURN(uint64_t data_size, env_->FileSize(DataPath(file_id)));
  std::vector<std::pair<std::string, KeyEntry>> entries;
  size_t pos = 0;
  while (pos < body) {
    if (body - pos < kHintHeaderSize + 4) return Status::OK();
    const char* p = view.data() + pos;
    KeyEntry e{GetU32LE(p), GetU64LE(p + 4), GetU32LE(p + 12), GetF64LE(p + 16)};
    const uint64_t key_size = GetU32LE(p + kHintHeaderSize);
    pos += kHintHeaderSize + 4;
    if (key_size > body - pos) return Status::OK();
    if (e.file_id != file_id || e.offset + e.size > data_size) return Status::OK();
    entries.emplace_back(std::string(view.substr(pos, key_size)), e);
    pos += key_size;
  }
  if (entries.size() != count) return Status::OK();
  for (auto& [key, e] : entries) keydir_[key] = e;
  *loaded = true;
  return Status::OK();
}

Status BitcaskStore::OpenActiveFile() {
  const std::string path = DataPath(active_file_id_);
  const bool existed = env_->Exists(path);
  BLACKOUT_ASSIGN_OR_RETURN(active_file_, BufferedFile::Open(env_, path, OpenMode::kAppend));
  // Fixed: a new data file's directory entry must be durable before a record
  // in it is acknowledged (H-B8).
  if (!existed) BLACKOUT_RETURN_IF_ERROR(SyncDirIfFixed());
  return Status::OK();
}

Status BitcaskStore::MaybeRotate() {
  if (active_file_->Tell() < options_.max_file_size) return Status::OK();
  BLACKOUT_RETURN_IF_ERROR(active_file_->Close());
  active_file_.reset();
  ++active_file_id_;
  return OpenActiveFile();
}

Status BitcaskStore::WriteRecord(std::string_view key, std::optional<std::string_view> value,
                                 KeyEntry* entry) {
  if (closed_) return Status::InvalidArgument("bitcask: store is closed");
  const double ts = Now();
  std::string record = fixed() ? EncodeFixedRecord(ts, key, value)
                               : EncodeDefaultRecord(ts, key, value.value_or(""));
  const uint64_t offset = active_file_->Tell();
  BLACKOUT_RETURN_IF_ERROR(active_file_->Append(record));
  BLACKOUT_RETURN_IF_ERROR(active_file_->Flush());
  if (options_.sync_writes) BLACKOUT_RETURN_IF_ERROR(active_file_->Sync());
  *entry = KeyEntry{active_file_id_, offset, record.size(), ts};
  return Status::OK();
}

Status BitcaskStore::Put(std::string_view key, std::string_view value) {
  BLACKOUT_RETURN_IF_ERROR(MaybeRotate());
  KeyEntry entry;
  BLACKOUT_RETURN_IF_ERROR(WriteRecord(key, value, &entry));
  keydir_[std::string(key)] = entry;
  return Status::OK();
}

Status BitcaskStore::Delete(std::string_view key) {
  BLACKOUT_RETURN_IF_ERROR(MaybeRotate());
  KeyEntry entry;
  BLACKOUT_RETURN_IF_ERROR(WriteRecord(key, std::nullopt, &entry));
  keydir_.erase(std::string(key));
  return Status::OK();
}

Result<std::string> BitcaskStore::ReadRange(uint32_t file_id, uint64_t offset, size_t n) {
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                            env_->Open(DataPath(file_id), OpenMode::kRead));
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, f->ReadAt(offset, n));
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  return data;
}

Result<std::optional<std::string>> BitcaskStore::Get(std::string_view key) {
  auto it = keydir_.find(std::string(key));
  if (it == keydir_.end()) return std::optional<std::string>();
  const KeyEntry& e = it->second;
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadRange(e.file_id, e.offset, e.size));
  const std::string where = std::to_string(e.file_id) + ".data offset " + std::to_string(e.offset);
  if (fixed()) {
    std::optional<FixedRecord> rec = ParseFixedRecord(data, 0);
    if (!rec || rec->size != data.size() || !rec->value) {
      return Status::Corruption(where + ": record is torn or fails its CRC");
    }
    if (rec->key != key) return Status::Corruption(where + ": record holds another key");
    return std::optional<std::string>(std::string(*rec->value));
  }
  // REF _read_record + get: unpack (struct.error on a short header), decode
  // key and value (slices clamp at EOF: a torn value comes back truncated,
  // H-B3), assert the key, and "" means absent.
  if (data.size() < kHeaderSize) {
    return Status::Corruption(where + ": short record header (REF raises struct.error)");
  }
  const uint64_t key_size = GetU32LE(data.data() + 8);
  const uint64_t value_size = GetU32LE(data.data() + 12);
  std::string_view view(data);
  std::string_view read_key = Slice(view, kHeaderSize, kHeaderSize + key_size);
  std::string_view value = Slice(view, kHeaderSize + key_size, kHeaderSize + key_size + value_size);
  if (!IsValidUtf8(read_key) || !IsValidUtf8(value)) {
    return Status::Corruption(where +
                              ": record is not valid UTF-8 (REF raises UnicodeDecodeError)");
  }
  if (read_key != key) {
    return Status::Corruption(where + ": key mismatch, expected '" + std::string(key) +
                              "' (REF AssertionError)");
  }
  if (value.empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::string(value));
}

std::vector<std::string> BitcaskStore::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(keydir_.size());
  for (const auto& [k, e] : keydir_) keys.push_back(k);
  return keys;
}

Status BitcaskStore::WriteHintFile(const std::string& path,
                                   const std::vector<std::pair<std::string, KeyEntry>>& entries) {
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedFile> f,
                            BufferedFile::Open(env_, path, OpenMode::kWrite));
  std::string all;  // fixed: the trailer's CRC covers every entry byte
  for (const auto& [key, e] : entries) {
    // REF writes each entry as three f.write calls into the 8 KiB buffer.
    std::string head;
    PutU32LE(&head, e.file_id);
    PutU64LE(&head, e.offset);
    PutU32LE(&head, static_cast<uint32_t>(e.size));
    PutF64LE(&head, e.timestamp);
    std::string len;
    PutU32LE(&len, static_cast<uint32_t>(key.size()));
    BLACKOUT_RETURN_IF_ERROR(f->Append(head));
    BLACKOUT_RETURN_IF_ERROR(f->Append(len));
    BLACKOUT_RETURN_IF_ERROR(f->Append(key));
    if (fixed()) all += head + len + key;
  }
  if (fixed()) {
    std::string trailer;
    PutU32LE(&trailer, static_cast<uint32_t>(entries.size()));
    PutU32LE(&trailer, Crc32(all));
    BLACKOUT_RETURN_IF_ERROR(f->Append(trailer));
    BLACKOUT_RETURN_IF_ERROR(f->Sync());
  }
  return f->Close();
}

Status BitcaskStore::Compact() {
  if (closed_) return Status::InvalidArgument("bitcask: store is closed");
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<uint32_t> all_ids, FindFileIds());
  std::vector<uint32_t> immutable_ids;
  for (uint32_t id : all_ids) {
    if (id != active_file_id_) immutable_ids.push_back(id);
  }
  if (immutable_ids.empty()) return Status::OK();
  return fixed() ? CompactFixed(immutable_ids) : CompactDefault(immutable_ids);
}

Status BitcaskStore::CompactDefault(const std::vector<uint32_t>& immutable_ids) {
  // 1. The latest record per key in the immutable files, by timestamp with a
  //    strict '>' (H-B6); a tombstone pops the key.
  struct Latest {
    uint32_t file_id;
    uint64_t offset;
    uint64_t size;
    double ts;
  };
  InsertionOrderedMap<Latest> latest;
  for (uint32_t fid : immutable_ids) {
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t file_size, env_->FileSize(DataPath(fid)));
    BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadRange(fid, 0, file_size));
    const std::string_view view(data);
    uint64_t pos = 0;
    while (pos < view.size()) {
      const uint64_t offset = pos;
      if (view.size() - pos < kHeaderSize) break;
      const double ts = GetF64LE(view.data() + pos);
      const uint64_t key_size = GetU32LE(view.data() + pos + 8);
      const uint64_t value_size = GetU32LE(view.data() + pos + 12);
      pos += kHeaderSize;
      const std::string key(Slice(view, pos, pos + key_size));
      pos = std::min<uint64_t>(pos + key_size + value_size, view.size());
      if (!IsValidUtf8(key)) {
        return Status::Corruption(DataPath(fid) + ": key is not valid UTF-8");
      }
      if (value_size == 0) {
        latest.Pop(key);
      } else if (Latest* l = latest.Find(key); l == nullptr || ts > l->ts) {
        latest.Set(key, Latest{fid, offset, kHeaderSize + key_size + value_size, ts});
      }
    }
  }
  // 2. Only keys whose keydir entry points into an immutable file.
  const std::set<uint32_t> immutable(immutable_ids.begin(), immutable_ids.end());
  std::vector<std::pair<std::string, Latest>> to_compact;
  latest.ForEach([&](const std::string& key, const Latest& l) {
    auto it = keydir_.find(key);
    if (it != keydir_.end() && immutable.count(it->second.file_id)) to_compact.emplace_back(key, l);
  });

  // 3. Merged files from active+1 upward, each closed (never fsynced) and
  //    given a hint file when full.
  uint32_t merged_id = active_file_id_ + 1;
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedFile> merged,
                            BufferedFile::Open(env_, DataPath(merged_id), OpenMode::kAppend));
  std::vector<std::pair<std::string, KeyEntry>> hint_entries;
  for (const auto& [key, l] : to_compact) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string old, ReadRange(l.file_id, l.offset, l.size));
    if (old.size() < kHeaderSize) {
      return Status::Corruption(DataPath(l.file_id) + ": short record during compaction");
    }
    const uint64_t key_size = GetU32LE(old.data() + 8);
    // REF: value = record_data[HEADER_SIZE + key_size:], whatever is there.
    const std::string value(Slice(old, kHeaderSize + key_size, old.size()));
    if (!IsValidUtf8(value)) {
      return Status::Corruption(DataPath(l.file_id) + ": value is not valid UTF-8");
    }
    if (merged->Tell() >= options_.max_file_size) {
      BLACKOUT_RETURN_IF_ERROR(merged->Close());
      BLACKOUT_RETURN_IF_ERROR(WriteHintFile(HintPath(merged_id), hint_entries));
      hint_entries.clear();
      ++merged_id;
      BLACKOUT_ASSIGN_OR_RETURN(merged,
                                BufferedFile::Open(env_, DataPath(merged_id), OpenMode::kAppend));
    }
    const std::string record = EncodeDefaultRecord(l.ts, key, value);
    const KeyEntry entry{merged_id, merged->Tell(), record.size(), l.ts};
    BLACKOUT_RETURN_IF_ERROR(merged->Append(record));
    keydir_[key] = entry;
    hint_entries.emplace_back(key, entry);
  }
  BLACKOUT_RETURN_IF_ERROR(merged->Close());
  BLACKOUT_RETURN_IF_ERROR(WriteHintFile(HintPath(merged_id), hint_entries));

  // 4. Delete the old files, THEN rename the active one (H-B1, H-B2).
  for (uint32_t fid : immutable_ids) {
    if (env_->Exists(DataPath(fid))) BLACKOUT_RETURN_IF_ERROR(env_->Remove(DataPath(fid)));
    if (env_->Exists(HintPath(fid))) BLACKOUT_RETURN_IF_ERROR(env_->Remove(HintPath(fid)));
  }
  BLACKOUT_RETURN_IF_ERROR(active_file_->Close());
  active_file_.reset();
  const uint32_t old_active = active_file_id_;
  active_file_id_ = merged_id + 1;
  BLACKOUT_RETURN_IF_ERROR(env_->Rename(DataPath(old_active), DataPath(active_file_id_)));
  for (auto& [k, e] : keydir_) {
    if (e.file_id == old_active) e.file_id = active_file_id_;
  }
  return OpenActiveFile();
}

Status BitcaskStore::CompactFixed(const std::vector<uint32_t>& immutable_ids) {
  // The live records are exactly the keydir entries in immutable files: the
  // keydir follows file and offset order, the same rule recovery uses, so
  // timestamps never decide (H-B6).
  const std::set<uint32_t> immutable(immutable_ids.begin(), immutable_ids.end());
  std::vector<std::pair<std::string, KeyEntry>> live;
  for (const auto& [k, e] : keydir_) {
    if (immutable.count(e.file_id)) live.emplace_back(k, e);
  }
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.file_id, a.second.offset, a.first) <
           std::tie(b.second.file_id, b.second.offset, b.first);
  });

  // 1. Merged files under temporary names, each fsynced with its hint. A
  //    crash here leaves only *.tmp files, which recovery deletes.
  struct Merged {
    uint32_t id;
    std::vector<std::pair<std::string, KeyEntry>> entries;
  };
  std::vector<Merged> outputs;
  uint32_t merged_id = active_file_id_ + 1;
  std::unique_ptr<BufferedFile> out;
  uint64_t out_size = 0;
  auto finish = [&]() -> Status {
    BLACKOUT_RETURN_IF_ERROR(out->Sync());
    BLACKOUT_RETURN_IF_ERROR(out->Close());
    out.reset();
    return WriteHintFile(HintPath(outputs.back().id) + ".tmp", outputs.back().entries);
  };
  auto start = [&]() -> Status {
    BLACKOUT_ASSIGN_OR_RETURN(
        out, BufferedFile::Open(env_, DataPath(merged_id) + ".tmp", OpenMode::kWrite));
    out_size = 0;
    outputs.push_back(Merged{merged_id, {}});
    return Status::OK();
  };
  BLACKOUT_RETURN_IF_ERROR(start());
  for (const auto& [key, e] : live) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string record, ReadRange(e.file_id, e.offset, e.size));
    std::optional<FixedRecord> rec = ParseFixedRecord(record, 0);
    if (!rec || rec->size != record.size() || rec->key != key || !rec->value) {
      return Status::Corruption(DataPath(e.file_id) + " offset " + std::to_string(e.offset) +
                                ": record fails its CRC; compaction stopped, nothing changed");
    }
    if (out_size >= options_.max_file_size) {
      BLACKOUT_RETURN_IF_ERROR(finish());
      ++merged_id;
      BLACKOUT_RETURN_IF_ERROR(start());
    }
    BLACKOUT_RETURN_IF_ERROR(out->Append(record));
    outputs.back().entries.emplace_back(key,
                                        KeyEntry{merged_id, out_size, record.size(), e.timestamp});
    out_size += record.size();
  }
  BLACKOUT_RETURN_IF_ERROR(finish());

  // 2. The active file moves above the merged ids first, durably: from here
  //    on, recovery orders old files < merged files < active file.
  BLACKOUT_RETURN_IF_ERROR(active_file_->Sync());
  BLACKOUT_RETURN_IF_ERROR(active_file_->Close());
  active_file_.reset();
  const uint32_t old_active = active_file_id_;
  const uint32_t new_active = merged_id + 1;
  BLACKOUT_RETURN_IF_ERROR(env_->Rename(DataPath(old_active), DataPath(new_active)));
  BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  active_file_id_ = new_active;
  for (auto& [k, e] : keydir_) {
    if (e.file_id == old_active) e.file_id = new_active;
  }
  BLACKOUT_RETURN_IF_ERROR(OpenActiveFile());

  // 3. Publish the merged files. They repeat what the old files hold, so any
  //    subset of them being visible after a crash recovers the same contents.
  for (const Merged& m : outputs) {
    BLACKOUT_RETURN_IF_ERROR(env_->Rename(DataPath(m.id) + ".tmp", DataPath(m.id)));
    BLACKOUT_RETURN_IF_ERROR(env_->Rename(HintPath(m.id) + ".tmp", HintPath(m.id)));
  }
  BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  for (const Merged& m : outputs) {
    for (const auto& [key, e] : m.entries) keydir_[key] = e;
  }

  // 4. Delete the old files oldest first, each unlink made durable before the
  //    next: the survivors are always a suffix of the old files, and a suffix
  //    never resurrects a key whose tombstone was dropped by the merge.
  for (uint32_t fid : immutable_ids) {
    if (env_->Exists(DataPath(fid))) BLACKOUT_RETURN_IF_ERROR(env_->Remove(DataPath(fid)));
    if (env_->Exists(HintPath(fid))) BLACKOUT_RETURN_IF_ERROR(env_->Remove(HintPath(fid)));
    BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  return Status::OK();
}

Status BitcaskStore::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status s;
  if (active_file_) {
    // Fixed: a clean shutdown leaves everything durable (H-B4).
    if (fixed()) s = active_file_->Sync();
    Status c = active_file_->Close();
    if (s.ok()) s = c;
    active_file_.reset();
  }
  lock_.reset();
  return s;
}

std::vector<std::string> BitcaskStore::Verify() {
  std::vector<std::string> problems;
  std::map<std::string, KeyEntry> sorted(keydir_.begin(), keydir_.end());
  std::map<uint32_t, uint64_t> sizes;
  for (const auto& [key, e] : sorted) {
    const std::string name = std::to_string(e.file_id) + ".data";
    if (!sizes.count(e.file_id)) {
      Result<uint64_t> size = env_->FileSize(DataPath(e.file_id));
      sizes[e.file_id] = size.ok() ? *size : UINT64_MAX;
    }
    const uint64_t size = sizes[e.file_id];
    if (size == UINT64_MAX) {
      problems.push_back("key '" + key + "': " + name + " is missing");
      continue;
    }
    if (e.offset + e.size > size) {
      problems.push_back("key '" + key + "': record at " + name + " offset " +
                         std::to_string(e.offset) + " size " + std::to_string(e.size) +
                         " runs past the end of the file (" + std::to_string(size) + " bytes)");
      continue;
    }
    Result<std::optional<std::string>> value = Get(key);
    if (!value.ok()) problems.push_back("key '" + key + "': " + value.status().ToString());
  }
  return problems;
}

Result<std::map<std::string, std::string>> BitcaskStore::ReadAll() {
  std::map<std::string, std::string> out;
  std::vector<std::string> keys = Keys();
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    BLACKOUT_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
    if (value) out.emplace(key, std::move(*value));
  }
  return out;
}

}  // namespace blackout::engines::bitcask
