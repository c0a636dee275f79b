#include "engines/common/mem_env.h"

#include <cerrno>

namespace blackout::engines {

namespace {

// Drops trailing slashes and doubled slashes so that "a//b/" and "a/b" name
// the same entry.
std::string Normalize(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool Writable(OpenMode m) { return m != OpenMode::kRead; }
bool Readable(OpenMode m) {
  return m == OpenMode::kRead || m == OpenMode::kReadWrite || m == OpenMode::kReadWriteCreate;
}

}  // namespace

class MemEnv::MemFile final : public File {
 public:
  MemFile(MemEnv* env, std::shared_ptr<Node> node, std::string path, OpenMode mode, uint64_t gen)
      : env_(env), node_(std::move(node)), path_(std::move(path)), mode_(mode), gen_(gen) {}

  Status Write(std::string_view data) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    BLACKOUT_RETURN_IF_ERROR(CheckWritable("write"));
    if (mode_ == OpenMode::kAppend) pos_ = node_->data.size();
    BLACKOUT_RETURN_IF_ERROR(CheckSize("write", pos_, data.size()));
    WriteLocked(pos_, data);
    pos_ += data.size();
    return Status::OK();
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    BLACKOUT_RETURN_IF_ERROR(CheckWritable("pwrite"));
    // Linux ignores pwrite's offset on an O_APPEND descriptor.
    if (mode_ == OpenMode::kAppend) offset = node_->data.size();
    BLACKOUT_RETURN_IF_ERROR(CheckSize("pwrite", offset, data.size()));
    WriteLocked(offset, data);
    return Status::OK();
  }

  Result<std::string> ReadAt(uint64_t offset, size_t n) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::IOError("pread " + path_ + ": handle from before a crash", EBADF);
    if (closed_) return Status::IOError("pread " + path_, EBADF);
    if (!Readable(mode_)) return Status::IOError("pread " + path_, EBADF);
    if (offset >= node_->data.size()) return std::string();
    return node_->data.substr(offset, n);
  }

  Status Seek(uint64_t offset) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    if (closed_) return Status::IOError("lseek " + path_, EBADF);
    pos_ = offset;
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (closed_) return Status::IOError("fstat " + path_, EBADF);
    return static_cast<uint64_t>(node_->data.size());
  }

  Status Sync() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    if (closed_) return Status::IOError("fsync " + path_, EBADF);
    node_->durable = node_->data;
    env_->LogLocked("fsync " + env_->Rel(path_));
    return Status::OK();
  }

  Status Truncate(uint64_t length) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    BLACKOUT_RETURN_IF_ERROR(CheckWritable("ftruncate"));
    BLACKOUT_RETURN_IF_ERROR(CheckSize("ftruncate", length, 0));
    node_->data.resize(length, '\0');
    env_->LogLocked("ftruncate " + env_->Rel(path_) + " " + std::to_string(length));
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (Inert()) return Status::OK();
    if (closed_) return Status::IOError("close " + path_ + ": already closed");
    closed_ = true;
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

 private:
  bool Inert() const { return gen_ != env_->generation_; }

  Status CheckWritable(const char* call) const {
    if (closed_ || !Writable(mode_)) return Status::IOError(std::string(call) + " " + path_, EBADF);
    return Status::OK();
  }

  // Files are held whole in memory, so a write far past the end (an offset
  // read from a damaged file, e.g. a B-tree page number) would allocate that
  // much: refuse it as a file-size limit does (EFBIG), instead of a sparse
  // file as on disk. Found by fuzz/recovery_fuzzer.cc (btree WAL replay).
  // 64 MiB: far above what any engine test writes, and small enough for a
  // fuzzer's memory limit.
  static constexpr uint64_t kMaxFileSize = uint64_t{1} << 26;
  Status CheckSize(const char* call, uint64_t offset, uint64_t n) const {
    if (offset > kMaxFileSize || n > kMaxFileSize - offset) {
      return Status::IOError(std::string(call) + " " + path_ + " past MemEnv's 64 MiB file limit",
                             EFBIG);
    }
    return Status::OK();
  }

  void WriteLocked(uint64_t offset, std::string_view data) {
    std::string& d = node_->data;
    if (d.size() < offset + data.size()) d.resize(offset + data.size(), '\0');
    d.replace(offset, data.size(), data);
    env_->LogWriteLocked(path_, data.size());
  }

  MemEnv* env_;
  std::shared_ptr<Node> node_;
  std::string path_;
  OpenMode mode_;
  uint64_t gen_;
  uint64_t pos_ = 0;
  bool closed_ = false;
};

class MemEnv::MemDirLock final : public DirLock {
 public:
  MemDirLock(MemEnv* env, std::string dir, uint64_t gen)
      : env_(env), dir_(std::move(dir)), gen_(gen) {}
  ~MemDirLock() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    auto it = env_->locks_.find(dir_);
    if (it != env_->locks_.end() && it->second == gen_) env_->locks_.erase(it);
  }

 private:
  MemEnv* env_;
  std::string dir_;
  uint64_t gen_;
};

MemEnv::MemEnv(std::string root) : root_(Normalize(root)) {
  for (std::string d = root_;; d = Parent(d)) {
    dirs_.insert(d);
    if (d == "/" || d == ".") break;
  }
  durable_dirs_ = dirs_;
}

MemEnv::~MemEnv() = default;

std::string MemEnv::Rel(const std::string& path) const {
  const std::string p = Normalize(path);
  if (p == root_) return ".";
  if (p.size() > root_.size() && p.compare(0, root_.size(), root_) == 0 && p[root_.size()] == '/')
    return p.substr(root_.size() + 1);
  return p;
}

void MemEnv::LogLocked(std::string line) {
  calls_.push_back(std::move(line));
  last_write_path_.clear();
}

void MemEnv::LogWriteLocked(const std::string& path, size_t n) {
  const std::string rel = Rel(path);
  if (!last_write_path_.empty() && last_write_path_ == rel && !calls_.empty()) {
    last_write_bytes_ += n;
    calls_.back() = "write " + rel + " " + std::to_string(last_write_bytes_);
    return;
  }
  calls_.push_back("write " + rel + " " + std::to_string(n));
  last_write_path_ = rel;
  last_write_bytes_ = n;
}

bool MemEnv::DirExistsLocked(const std::string& path) const { return dirs_.count(path) > 0; }

Result<std::unique_ptr<File>> MemEnv::Open(const std::string& raw, OpenMode mode) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (dirs_.count(path)) return Status::IOError("open " + path, EISDIR);
  if (!DirExistsLocked(Parent(path)))
    return Status::NotFound("open " + path + ": No such file or directory");
  auto it = files_.find(path);
  const bool creates =
      mode == OpenMode::kAppend || mode == OpenMode::kWrite || mode == OpenMode::kReadWriteCreate;
  if (it == files_.end()) {
    if (!creates) return Status::NotFound("open " + path + ": No such file or directory");
    it = files_.emplace(path, std::make_shared<Node>()).first;
  } else if (mode == OpenMode::kWrite || mode == OpenMode::kReadWriteCreate) {
    it->second->data.clear();  // O_TRUNC
  }
  if (Writable(mode)) LogLocked("open " + Rel(path) + " " + OpenModeFlags(mode));
  return std::unique_ptr<File>(
      std::make_unique<MemFile>(this, it->second, path, mode, generation_));
}

Status MemEnv::Rename(const std::string& raw_from, const std::string& raw_to) {
  const std::string from = Normalize(raw_from), to = Normalize(raw_to);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(from);
  if (it == files_.end())
    return Status::NotFound("rename " + from + " -> " + to + ": No such file or directory");
  if (!DirExistsLocked(Parent(to)))
    return Status::NotFound("rename " + from + " -> " + to + ": No such file or directory");
  if (dirs_.count(to)) return Status::IOError("rename " + from + " -> " + to, EISDIR);
  std::shared_ptr<Node> node = it->second;
  files_.erase(it);
  files_[to] = std::move(node);
  LogLocked("rename " + Rel(from) + " -> " + Rel(to));
  return Status::OK();
}

Status MemEnv::Remove(const std::string& raw) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (files_.erase(path) == 0)
    return Status::NotFound("unlink " + path + ": No such file or directory");
  LogLocked("unlink " + Rel(path));
  return Status::OK();
}

Status MemEnv::CreateDirs(const std::string& raw) {
  const std::string path = Normalize(raw);
  if (path.empty()) return Status::InvalidArgument("CreateDirs: empty path");
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> missing;
  for (std::string d = path; !dirs_.count(d); d = Parent(d)) {
    if (files_.count(d)) return Status::IOError("mkdir " + d, EEXIST);
    missing.push_back(d);
    if (d == "/" || d == ".") break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    dirs_.insert(*it);
    LogLocked("mkdir " + Rel(*it));
  }
  return Status::OK();
}

Status MemEnv::SyncDir(const std::string& raw) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (!DirExistsLocked(path))
    return Status::NotFound("open directory " + path + ": No such file or directory");
  for (auto it = durable_files_.begin(); it != durable_files_.end();) {
    it = Parent(it->first) == path ? durable_files_.erase(it) : std::next(it);
  }
  for (const auto& [name, node] : files_)
    if (Parent(name) == path) durable_files_[name] = node;
  for (auto it = durable_dirs_.begin(); it != durable_dirs_.end();) {
    it = (Parent(*it) == path && *it != path) ? durable_dirs_.erase(it) : std::next(it);
  }
  for (const auto& d : dirs_)
    if (Parent(d) == path && d != path) durable_dirs_.insert(d);
  LogLocked("fsync " + Rel(path));
  return Status::OK();
}

Result<std::vector<std::string>> MemEnv::ListDir(const std::string& raw) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (!DirExistsLocked(path))
    return Status::NotFound("opendir " + path + ": No such file or directory");
  std::vector<std::string> names;
  auto base = [&](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
  for (const auto& [name, node] : files_)
    if (Parent(name) == path) names.push_back(base(name));
  for (const auto& d : dirs_)
    if (Parent(d) == path && d != path) names.push_back(base(d));
  return names;
}

bool MemEnv::Exists(const std::string& raw) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  return files_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<uint64_t> MemEnv::FileSize(const std::string& raw) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("stat " + path + ": No such file or directory");
  return static_cast<uint64_t>(it->second->data.size());
}

Result<std::unique_ptr<DirLock>> MemEnv::LockDir(const std::string& raw) {
  const std::string dir = Normalize(raw);
  const std::string lock_path = JoinPath(dir, "LOCK");
  std::lock_guard<std::mutex> l(mu_);
  if (!DirExistsLocked(dir))
    return Status::NotFound("open " + lock_path + ": No such file or directory");
  if (!files_.count(lock_path)) files_.emplace(lock_path, std::make_shared<Node>());
  LogLocked("open " + Rel(lock_path) + " O_CREAT|O_RDWR");
  auto it = locks_.find(dir);
  if (it != locks_.end() && it->second == generation_)
    return Status::Busy(dir + " is locked by another process (" + lock_path + ")");
  locks_[dir] = generation_;
  return std::unique_ptr<DirLock>(std::make_unique<MemDirLock>(this, dir, generation_));
}

std::vector<std::string> MemEnv::Calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

void MemEnv::ClearCalls() {
  std::lock_guard<std::mutex> l(mu_);
  calls_.clear();
  last_write_path_.clear();
}

void MemEnv::MarkAck() {
  std::lock_guard<std::mutex> l(mu_);
  if (!calls_.empty() && calls_.back() == "ack") return;
  LogLocked("ack");
}

void MemEnv::CrashProcess() {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;  // every handle and lock from before is now inert
  locks_.clear();
}

void MemEnv::CrashPower() {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  locks_.clear();
  // A directory survives only if every level above it survives.
  std::set<std::string> dirs;
  for (const auto& d : durable_dirs_) {
    bool alive = true;
    for (std::string p = d; p != "/" && p != "."; p = Parent(p)) {
      if (!durable_dirs_.count(p)) {
        alive = false;
        break;
      }
    }
    if (alive) dirs.insert(d);
  }
  dirs_ = dirs;
  durable_dirs_ = dirs;
  files_.clear();
  for (auto it = durable_files_.begin(); it != durable_files_.end();) {
    if (!dirs_.count(Parent(it->first))) {
      it = durable_files_.erase(it);
      continue;
    }
    // Fresh nodes: a handle that somehow outlived the crash cannot reach them.
    auto node = std::make_shared<Node>();
    node->data = it->second->durable;
    node->durable = it->second->durable;
    files_[it->first] = node;
    ++it;
  }
  // Two names for one node cannot arise (no hard links), so fresh nodes are fine.
  durable_files_ = files_;
}

void MemEnv::SyncAll() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [name, node] : files_) node->durable = node->data;
  durable_files_ = files_;
  durable_dirs_ = dirs_;
}

std::string MemEnv::ReadFileForTest(const std::string& raw) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(Normalize(raw));
  return it == files_.end() ? std::string() : it->second->data;
}

void MemEnv::WriteFileForTest(const std::string& path, std::string_view bytes) {
  PutFile(path, std::string(bytes));
}

void MemEnv::PutDirsLocked(const std::string& path) {
  for (std::string d = path; !dirs_.count(d); d = Parent(d)) {
    dirs_.insert(d);
    durable_dirs_.insert(d);
    if (d == "/" || d == ".") break;
  }
}

void MemEnv::PutDir(const std::string& raw) {
  std::lock_guard<std::mutex> l(mu_);
  PutDirsLocked(Normalize(raw));
}

void MemEnv::PutFile(const std::string& raw, std::string bytes) {
  const std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  PutDirsLocked(Parent(path));
  auto& node = files_[path];
  if (!node) node = std::make_shared<Node>();
  node->durable = bytes;
  node->data = std::move(bytes);
  durable_files_[path] = node;
}

}  // namespace blackout::engines
