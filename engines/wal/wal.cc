#include "engines/wal/wal.h"

#include <algorithm>
#include <cstdio>

#include "engines/wal/wal_format.h"

namespace blackout::engines {

namespace wf = wal_format;

namespace {

std::string Basename(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Python's int() on the part of a segment name before the first '.'.
Result<int64_t> SegmentNumber(const std::string& name) {
  const std::string stem = name.substr(0, name.find('.'));
  if (stem.empty() || stem.size() > 18 ||
      !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Status::Corruption("invalid literal for int() with base 10: '" + stem +
                              "' (segment name " + name + ")");
  return std::stoll(stem);
}

Result<std::string> ReadWholeFile(Env* env, const std::string& path) {
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env->Open(path, OpenMode::kRead));
  BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, f->Size());
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, f->ReadAt(0, size));
  BLACKOUT_RETURN_IF_ERROR(f->Close());
  return data;
}

}  // namespace

WriteAheadLog::WriteAheadLog(Env* env, std::string dir, WalOptions options)
    : env_(env), dir_(std::move(dir)), options_(std::move(options)) {}

WriteAheadLog::~WriteAheadLog() = default;

Result<std::unique_ptr<WriteAheadLog>> WriteAheadLog::Open(Env* env, const std::string& dir,
                                                           const WalOptions& options) {
  if (options.fixed && options.sync_mode != "sync" && options.sync_mode != "batch" &&
      options.sync_mode != "none")
    return Status::InvalidArgument("sync_mode must be \"sync\", \"batch\" or \"none\", got \"" +
                                   options.sync_mode + "\"");
  if (options.fixed && (options.batch_sync_count < 1 || options.max_file_size < 1))
    return Status::InvalidArgument("max_file_size and batch_sync_count must be positive");
  std::unique_ptr<WriteAheadLog> wal(new WriteAheadLog(env, dir, options));
  if (options.fixed) {
    BLACKOUT_RETURN_IF_ERROR(wal->RecoverFixed());
  } else {
    BLACKOUT_RETURN_IF_ERROR(wal->RecoverDefault());
  }
  BLACKOUT_RETURN_IF_ERROR(wal->OpenLatest());
  return wal;
}

Result<std::vector<std::string>> WriteAheadLog::SegmentPaths() {
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<std::string> segments;
  for (const auto& n : names) {
    if (!EndsWith(n, ".wal")) continue;
    // The fixed profile only counts the names it creates; REF takes any *.wal.
    if (options_.fixed && !SegmentNumber(n).ok()) continue;
    segments.push_back(n);
  }
  std::sort(segments.begin(), segments.end());
  for (auto& s : segments) s = JoinPath(dir_, s);
  return segments;
}

// REF _recover_seq_num: per file, stop at a torn record or a CRC error and
// go on with the next file (H-W5); a misframed record raises out of the
// constructor, so the log cannot be opened (H-W4).
Status WriteAheadLog::RecoverDefault() {
  BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  BLACKOUT_ASSIGN_OR_RETURN(auto paths, SegmentPaths());
  uint64_t max_seq = 0;
  for (const auto& path : paths) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(env_, path));
    size_t pos = 0;
    for (;;) {
      wf::RefRead r = wf::ReadRef(data, &pos);
      if (r.outcome == wf::RefOutcome::kStructError)
        return Status::Corruption(Basename(path) + ": " + r.error);
      if (r.outcome != wf::RefOutcome::kRecord) break;
      max_seq = std::max(max_seq, r.seq);
    }
  }
  seq_ = max_seq;
  return Status::OK();
}

Status WriteAheadLog::RecoverFixed() {
  const bool created = !env_->Exists(dir_);
  BLACKOUT_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  if (created) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(ParentDir(dir_)));
  BLACKOUT_ASSIGN_OR_RETURN(lock_, env_->LockDir(dir_));
  // A leftover temp file is a truncate rewrite whose rename never happened:
  // the segment it was meant to replace is still whole.
  BLACKOUT_ASSIGN_OR_RETURN(bool dir_changed, RemoveLeftovers(*env_, dir_, {".wal.tmp"}));
  BLACKOUT_ASSIGN_OR_RETURN(auto paths, SegmentPaths());
  uint64_t max_seq = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const bool last = i + 1 == paths.size();
    BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(env_, path));
    wf::FixedSegment seg = wf::ParseFixed(data);
    if (!seg.header_ok) {
      // The header is fsynced before any record is written, so a last
      // segment without a valid header never held a record: a rotation or
      // first creation cut short by the crash.
      if (!last) return Status::Corruption(Basename(path) + ": " + seg.error);
      BLACKOUT_RETURN_IF_ERROR(env_->Remove(path));
      dir_changed = true;
      break;
    }
    max_seq = std::max(max_seq, seg.floor);
    size_t cut = seg.valid_end;
    if (!seg.error.empty() && !last) return Status::Corruption(Basename(path) + ": " + seg.error);
    uint64_t prev = seg.floor;
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t open_batch = kNone;  // offset of a BEGIN not yet committed
    for (const auto& rec : seg.records) {
      if (rec.seq <= prev)
        return Status::Corruption(Basename(path) + ": seq " + std::to_string(rec.seq) +
                                  " does not follow " + std::to_string(prev) + " at offset " +
                                  std::to_string(rec.offset));
      prev = rec.seq;
      if (rec.op == wf::kOpBegin) open_batch = rec.offset;
      if (rec.op == wf::kOpCommit) open_batch = kNone;
    }
    if (open_batch != kNone) {
      if (!last)
        return Status::Corruption(Basename(path) + ": batch at offset " +
                                  std::to_string(open_batch) + " has no COMMIT");
      cut = std::min(cut, open_batch);  // an unterminated batch is never applied
    }
    for (const auto& rec : seg.records)
      if (rec.end <= cut) max_seq = std::max(max_seq, rec.seq);
    if (cut < data.size()) {
      // Cut off the torn tail so that new records do not land behind it.
      BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->Open(path, OpenMode::kReadWrite));
      BLACKOUT_RETURN_IF_ERROR(f->Truncate(cut));
      BLACKOUT_RETURN_IF_ERROR(f->Sync());
      BLACKOUT_RETURN_IF_ERROR(f->Close());
    }
  }
  if (dir_changed) BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  seq_ = max_seq;
  return Status::OK();
}

// REF _open_latest: reuse the last segment if it is below the size limit
// (strict <), else rotate.
Status WriteAheadLog::OpenLatest() {
  BLACKOUT_ASSIGN_OR_RETURN(auto paths, SegmentPaths());
  if (!paths.empty()) {
    const std::string& last = paths.back();
    BLACKOUT_ASSIGN_OR_RETURN(uint64_t size, env_->FileSize(last));
    if (static_cast<int64_t>(size) < options_.max_file_size) {
      BLACKOUT_ASSIGN_OR_RETURN(fd_, BufferedFile::Open(env_, last, OpenMode::kAppend));
      current_file_ = last;
      return Status::OK();
    }
  }
  return Rotate();
}

// REF _rotate: flush + fsync + close the old segment, open the next one "ab".
// Default: no directory fsync (H-W3). Fixed: the new segment starts with a
// header holding the seq floor; header fsync, then directory fsync.
Status WriteAheadLog::Rotate() {
  if (fd_) {
    BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
    BLACKOUT_RETURN_IF_ERROR(fd_->Close());
    fd_.reset();
  }
  BLACKOUT_ASSIGN_OR_RETURN(auto paths, SegmentPaths());
  int64_t next = 1;
  if (!paths.empty()) {
    BLACKOUT_ASSIGN_OR_RETURN(int64_t last, SegmentNumber(Basename(paths.back())));
    next = last + 1;
  }
  char name[32];
  std::snprintf(name, sizeof(name), "%06lld.wal", static_cast<long long>(next));
  current_file_ = JoinPath(dir_, name);
  BLACKOUT_ASSIGN_OR_RETURN(fd_, BufferedFile::Open(env_, current_file_, OpenMode::kAppend));
  if (options_.fixed) {
    BLACKOUT_RETURN_IF_ERROR(fd_->Append(wf::EncodeHeader(seq_)));
    BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
    BLACKOUT_RETURN_IF_ERROR(env_->SyncDir(dir_));
  }
  return Status::OK();
}

// REF _do_sync. Default: "sync" or forced: flush + fsync; "batch": count,
// flush + fsync on the Nth, a forced sync does not reset the count (H-W7);
// anything else: nothing, not even a flush. Fixed: every record reaches the
// kernel before it is acknowledged, and a forced sync resets the count.
Status WriteAheadLog::DoSync(bool force) {
  const std::string& mode = options_.sync_mode;
  if (mode == "sync" || force) {
    BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
    if (options_.fixed) write_count_ = 0;
    return Status::OK();
  }
  if (options_.fixed) BLACKOUT_RETURN_IF_ERROR(fd_->Flush());
  if (mode == "batch") {
    if (++write_count_ >= options_.batch_sync_count) {
      BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
      write_count_ = 0;
    }
  }
  return Status::OK();
}

// REF _maybe_rotate: after the write and the sync, so the limit is soft.
Status WriteAheadLog::MaybeRotate() {
  if (fd_ && static_cast<int64_t>(fd_->Tell()) >= options_.max_file_size) return Rotate();
  return Status::OK();
}

Status WriteAheadLog::CheckUsable() const {
  if (!broken_.ok()) return broken_;
  if (closed_ || !fd_) return Status::IOError("the WAL is closed");
  return Status::OK();
}

std::string WriteAheadLog::Encode(uint64_t seq, uint8_t op, const std::string& key,
                                  const std::string& value) const {
  return options_.fixed ? wf::EncodeFixed(seq, op, key, value) : wf::EncodeRef(seq, op, key, value);
}

// One write of `bytes`, the sync, the rotation check. In the fixed profile a
// failure here leaves the log unusable until reopened: the record may or may
// not be in the file, and recovery is what decides (H-W8: no seq reuse, no gap
// that recovery cannot see).
Status WriteAheadLog::WriteRecords(const std::string& bytes, bool force_sync) {
  Status s = fd_->Append(bytes);
  if (s.ok()) s = DoSync(force_sync);
  if (s.ok()) s = MaybeRotate();
  if (!s.ok() && options_.fixed) broken_ = s;
  return s;
}

Result<uint64_t> WriteAheadLog::Append(const std::string& op_type, const std::string& key,
                                       const std::string& value) {
  BLACKOUT_RETURN_IF_ERROR(CheckUsable());
  const uint8_t op = wf::OpByte(op_type, /*fixed=*/false);
  if (!options_.fixed) ++seq_;  // REF consumes the seq before anything can fail (H-W8)
  if (op == 0) return Status::InvalidArgument("unknown op type '" + op_type + "'");
  if (options_.fixed) ++seq_;
  const uint64_t seq = seq_;
  BLACKOUT_RETURN_IF_ERROR(WriteRecords(Encode(seq, op, key, value), /*force_sync=*/false));
  return seq;
}

Result<uint64_t> WriteAheadLog::AppendBatch(const std::vector<WalOperation>& operations) {
  BLACKOUT_RETURN_IF_ERROR(CheckUsable());
  std::string buf;
  if (options_.fixed) {
    for (const auto& o : operations) {
      const uint8_t op = wf::OpByte(o.op_type, false);
      if (op != wf::kOpPut && op != wf::kOpDelete)
        return Status::InvalidArgument("batch op type must be PUT or DELETE, got '" + o.op_type +
                                       "'");
    }
    buf += Encode(++seq_, wf::kOpBegin, "", "");
  }
  for (const auto& o : operations) {
    if (!options_.fixed) ++seq_;
    const uint8_t op = wf::OpByte(o.op_type, false);
    if (op == 0) return Status::InvalidArgument("unknown op type '" + o.op_type + "'");
    if (options_.fixed) ++seq_;
    buf += Encode(seq_, op, o.key, o.value);
  }
  const uint64_t commit_seq = ++seq_;
  buf += Encode(commit_seq, wf::kOpCommit, "", "");
  BLACKOUT_RETURN_IF_ERROR(WriteRecords(buf, /*force_sync=*/true));
  return commit_seq;
}

Result<uint64_t> WriteAheadLog::Checkpoint() {
  BLACKOUT_RETURN_IF_ERROR(CheckUsable());
  const uint64_t seq = ++seq_;
  BLACKOUT_RETURN_IF_ERROR(WriteRecords(Encode(seq, wf::kOpCheckpoint, "", ""), true));
  return seq;
}

Status WriteAheadLog::Truncate(int64_t up_to) {
  if (!broken_.ok()) return broken_;
  if (closed_) return Status::IOError("the WAL is closed");
  return options_.fixed ? TruncateFixed(up_to) : TruncateDefault(up_to);
}

// REF truncate: each segment is read up to its first torn or bad record
// (everything after a bad CRC is dropped even with seq > up_to), then
// removed if nothing is kept, else zeroed in place with "wb" and rewritten.
Status WriteAheadLog::TruncateDefault(int64_t up_to) {
  if (fd_) {
    BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
    Status closed = fd_->Close();
    fd_.reset();
    BLACKOUT_RETURN_IF_ERROR(closed);
  }
  // From here on REF has no open segment: an exception leaves it unusable.
  auto fail = [this](Status s) {
    broken_ = s;
    return s;
  };
  auto paths = SegmentPaths();
  if (!paths.ok()) return fail(paths.status());
  for (const auto& path : *paths) {
    auto data = ReadWholeFile(env_, path);
    if (!data.ok()) return fail(data.status());
    std::vector<wf::RefRead> kept;
    size_t pos = 0;
    for (;;) {
      wf::RefRead r = wf::ReadRef(*data, &pos);
      if (r.outcome == wf::RefOutcome::kStructError)
        return fail(Status::Corruption(Basename(path) + ": " + r.error));
      if (r.outcome != wf::RefOutcome::kRecord) break;
      if (static_cast<int64_t>(r.seq) > up_to) kept.push_back(std::move(r));
    }
    if (kept.empty()) {
      Status s = env_->Remove(path);
      if (!s.ok()) return fail(s);
      continue;
    }
    auto f = BufferedFile::Open(env_, path, OpenMode::kWrite);  // zeroes the file now
    if (!f.ok()) return fail(f.status());
    Status s;
    for (const auto& r : kept) {
      if (wf::OpName(r.op, false) == "UNKNOWN") {
        // REF: KeyError in OP_BYTES; the with-block closes (and flushes) the file.
        (void)(*f)->Close();
        return fail(Status::Corruption(Basename(path) + ": KeyError 'UNKNOWN' re-encoding seq " +
                                       std::to_string(r.seq)));
      }
      s = (*f)->Append(wf::EncodeRef(r.seq, r.op, r.key, r.value));
      if (!s.ok()) return fail(s);
    }
    s = (*f)->Sync();
    if (s.ok()) s = (*f)->Close();
    if (!s.ok()) return fail(s);
  }
  Status s = OpenLatest();
  if (!s.ok()) return fail(s);
  return Status::OK();
}

// Fixed truncate: a segment that loses records is rewritten to NAME.tmp,
// fsynced and renamed over NAME; emptied segments are unlinked, except the
// last one, which keeps a header whose floor is the current seq, so seq
// numbers stay durable (H-W2) and segment names never go back. One
// directory fsync makes the renames and unlinks durable before returning.
Status WriteAheadLog::TruncateFixed(int64_t up_to) {
  if (fd_) {
    BLACKOUT_RETURN_IF_ERROR(fd_->Sync());
    Status closed = fd_->Close();
    fd_.reset();
    BLACKOUT_RETURN_IF_ERROR(closed);
  }
  auto fail = [this](Status s) {
    broken_ = s;
    return s;
  };
  auto paths = SegmentPaths();
  if (!paths.ok()) return fail(paths.status());
  bool dir_changed = false;
  for (size_t i = 0; i < paths->size(); ++i) {
    const std::string& path = (*paths)[i];
    const bool last = i + 1 == paths->size();
    auto data = ReadWholeFile(env_, path);
    if (!data.ok()) return fail(data.status());
    wf::FixedSegment seg = wf::ParseFixed(*data);
    if (!seg.header_ok || !seg.error.empty())
      return fail(Status::Corruption(Basename(path) + ": " + seg.error));
    std::string kept;
    size_t dropped = 0;
    for (const auto& r : seg.records) {
      if (static_cast<int64_t>(r.seq) > up_to) {
        kept.append(*data, r.offset, r.end - r.offset);
      } else {
        ++dropped;
      }
    }
    if (dropped == 0) continue;
    if (kept.empty() && !last) {
      Status s = env_->Remove(path);
      if (!s.ok()) return fail(s);
      dir_changed = true;
      continue;
    }
    const std::string tmp = path + ".tmp";
    auto f = BufferedFile::Open(env_, tmp, OpenMode::kWrite);
    if (!f.ok()) return fail(f.status());
    // Records must stay above the floor, so only an emptied last segment takes the current seq.
    const uint64_t floor = (last && kept.empty()) ? seq_ : seg.floor;
    Status s = (*f)->Append(wf::EncodeHeader(floor) + kept);
    if (s.ok()) s = (*f)->Sync();
    if (s.ok()) s = (*f)->Close();
    if (s.ok()) s = env_->Rename(tmp, path);
    if (!s.ok()) return fail(s);
    dir_changed = true;
  }
  if (dir_changed) {
    Status s = env_->SyncDir(dir_);
    if (!s.ok()) return fail(s);
  }
  Status s = OpenLatest();
  if (!s.ok()) return fail(s);
  return Status::OK();
}

Result<std::vector<WalRecord>> WriteAheadLog::ReadAll() {
  if (fd_) BLACKOUT_RETURN_IF_ERROR(fd_->Flush());  // REF flushes, never fsyncs (H-W9)
  BLACKOUT_ASSIGN_OR_RETURN(auto paths, SegmentPaths());
  std::vector<WalRecord> out;
  for (const auto& path : paths) {
    BLACKOUT_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(env_, path));
    if (options_.fixed) {
      wf::FixedSegment seg = wf::ParseFixed(data);
      for (auto& r : seg.records)
        out.push_back({r.seq, wf::OpName(r.op, true), std::move(r.key), std::move(r.value), r.crc});
      if (!seg.error.empty()) {
        if (path == paths.back()) break;  // a tail torn since open: not acknowledged data
        return Status::Corruption(Basename(path) + ": " + seg.error);
      }
      continue;
    }
    size_t pos = 0;
    for (;;) {
      wf::RefRead r = wf::ReadRef(data, &pos);
      if (r.outcome == wf::RefOutcome::kStructError)
        return Status::Corruption(Basename(path) + ": " + r.error);
      if (r.outcome == wf::RefOutcome::kValueError) return out;  // stops every file (H-W5)
      if (r.outcome == wf::RefOutcome::kEnd) break;
      out.push_back({r.seq, wf::OpName(r.op, false), std::move(r.key), std::move(r.value), r.crc});
    }
  }
  return out;
}

Result<std::vector<WalRecord>> WriteAheadLog::Iterate() {
  if (!broken_.ok()) return broken_;
  return ReadAll();
}

Result<std::vector<WalRecord>> WriteAheadLog::Replay(int64_t after_seq) {
  if (!broken_.ok()) return broken_;
  BLACKOUT_ASSIGN_OR_RETURN(std::vector<WalRecord> all, ReadAll());
  return Replayed(std::move(all), after_seq);
}

std::vector<WalRecord> WriteAheadLog::Replayed(std::vector<WalRecord> all,
                                               int64_t after_seq) const {
  std::vector<WalRecord> out;
  auto wanted = [after_seq](const WalRecord& r) {
    return static_cast<int64_t>(r.seq) > after_seq && (r.op_type == "PUT" || r.op_type == "DELETE");
  };
  if (!options_.fixed) {
    // REF ignores COMMIT: records of an incomplete batch are replayed (H-W1).
    for (auto& r : all)
      if (wanted(r)) out.push_back(std::move(r));
    return out;
  }
  std::vector<WalRecord> batch;
  bool in_batch = false;
  for (auto& r : all) {
    if (r.op_type == "BEGIN") {
      batch.clear();  // a BEGIN without COMMIT before it is dropped
      in_batch = true;
    } else if (r.op_type == "COMMIT") {
      if (in_batch)
        for (auto& b : batch)
          if (wanted(b)) out.push_back(std::move(b));
      batch.clear();
      in_batch = false;
    } else if (in_batch) {
      batch.push_back(std::move(r));
    } else if (wanted(r)) {
      out.push_back(std::move(r));
    }
  }
  return out;
}

Status WriteAheadLog::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status s;
  if (fd_) {
    s = fd_->Sync();
    Status c = fd_->Close();
    if (s.ok()) s = c;
    fd_.reset();
  }
  lock_.reset();
  return s;
}

}  // namespace blackout::engines
