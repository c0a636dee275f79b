#include "engines/common/buffered_file.h"

namespace blackout::engines {

Result<std::unique_ptr<BufferedFile>> BufferedFile::Open(Env* env, const std::string& path,
                                                         OpenMode mode, size_t buffer_size) {
  BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->Open(path, mode));
  uint64_t pos = 0;
  if (mode == OpenMode::kAppend) {
    BLACKOUT_ASSIGN_OR_RETURN(pos, file->Size());
  }
  if (buffer_size == 0) {
    buffer_size = file->BlockSize();
    if (buffer_size <= 1) buffer_size = kDefaultBufferSize;
  }
  return std::make_unique<BufferedFile>(std::move(file), mode, pos, buffer_size);
}

BufferedFile::BufferedFile(std::unique_ptr<File> file, OpenMode mode, uint64_t position,
                           size_t buffer_size)
    : file_(std::move(file)), mode_(mode), buffer_size_(buffer_size), raw_pos_(position) {
  buffer_.reserve(buffer_size_);
}

BufferedFile::~BufferedFile() = default;

Status BufferedFile::CheckOpen(const char* what) const {
  if (closed_)
    return Status::IOError(std::string(what) + " " + path() + ": I/O operation on closed file");
  return Status::OK();
}

Status BufferedFile::RawWrite(std::string_view data) {
  if (fd_pos_stale_ && mode_ != OpenMode::kAppend) {
    BLACKOUT_RETURN_IF_ERROR(file_->Seek(raw_pos_));
  }
  fd_pos_stale_ = false;
  BLACKOUT_RETURN_IF_ERROR(file_->Write(data));
  raw_pos_ += data.size();
  return Status::OK();
}

Status BufferedFile::Append(std::string_view data) {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen("write"));
  if (mode_ == OpenMode::kRead)
    return Status::IOError("write " + path() + ": file not open for writing");
  if (data.size() <= buffer_size_ - buffer_.size()) {
    buffer_.append(data);
    return Status::OK();
  }
  BLACKOUT_RETURN_IF_ERROR(Flush());
  // CPython writes directly only while more than a whole buffer remains; the
  // raw write of a regular file takes everything at once.
  if (data.size() > buffer_size_) return RawWrite(data);
  buffer_.assign(data);
  return Status::OK();
}

Status BufferedFile::Flush() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen("flush"));
  if (buffer_.empty()) return Status::OK();
  // On failure the bytes stay buffered, as CPython keeps them for a retry.
  BLACKOUT_RETURN_IF_ERROR(RawWrite(buffer_));
  buffer_.clear();
  return Status::OK();
}

Status BufferedFile::Sync() {
  BLACKOUT_RETURN_IF_ERROR(Flush());
  return file_->Sync();
}

Status BufferedFile::Close() {
  BLACKOUT_RETURN_IF_ERROR(CheckOpen("close"));
  Status flushed = Flush();
  closed_ = true;
  buffer_.clear();
  Status closed = file_->Close();
  return flushed.ok() ? closed : flushed;
}

Status BufferedFile::Seek(uint64_t pos) {
  BLACKOUT_RETURN_IF_ERROR(Flush());
  BLACKOUT_RETURN_IF_ERROR(file_->Seek(pos));
  raw_pos_ = pos;
  fd_pos_stale_ = false;
  return Status::OK();
}

Status BufferedFile::Truncate(uint64_t length) {
  BLACKOUT_RETURN_IF_ERROR(Flush());
  return file_->Truncate(length);
}

Result<std::string> BufferedFile::Read(size_t n) {
  BLACKOUT_RETURN_IF_ERROR(Flush());
  BLACKOUT_ASSIGN_OR_RETURN(std::string data, file_->ReadAt(raw_pos_, n));
  raw_pos_ += data.size();
  fd_pos_stale_ = true;
  return data;
}

Result<std::string> BufferedFile::ReadAt(uint64_t offset, size_t n) {
  BLACKOUT_RETURN_IF_ERROR(Flush());
  return file_->ReadAt(offset, n);
}

}  // namespace blackout::engines
