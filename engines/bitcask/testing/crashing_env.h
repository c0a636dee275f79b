// CrashingEnv (tests only): an Env over a MemEnv that crashes the process,
// cuts power, or fails one call, right before the Nth mutating call whose
// description starts with a given prefix. Used by the bitcask and lsm tests
// to stop an engine in the middle of an operation (e.g. between compaction's
// unlinks and its rename) and then recover from what the MemEnv kept; the
// crash model itself is MemEnv's (engines/common/mem_env.h).
//
// Descriptions, NAME being the base name: "open NAME", "write NAME",
// "sync NAME", "truncate NAME", "close NAME", "rename FROM TO",
// "remove NAME", "syncdir", "mkdir", "lock". After a crash every later
// call fails with IOError, as a dead process makes no more calls.
#ifndef BLACKOUT_ENGINES_BITCASK_TESTING_CRASHING_ENV_H_
#define BLACKOUT_ENGINES_BITCASK_TESTING_CRASHING_ENV_H_

#include <memory>
#include <string>
#include <vector>

#include "engines/common/env.h"
#include "engines/common/mem_env.h"

namespace blackout::engines::testing {

class CrashingEnv final : public Env {
 public:
  enum class Action { kCrashProcess, kCrashPower, kFail };

  explicit CrashingEnv(MemEnv* mem) : mem_(mem) {}

  // Before the `nth` (1-based) call whose description starts with `prefix`
  // ("" matches every mutating call), perform `action`.
  void Arm(std::string prefix, int nth, Action action) {
    prefix_ = std::move(prefix);
    remaining_ = nth;
    action_ = action;
  }
  bool fired() const { return fired_; }
  // Every mutating call seen so far (to enumerate crash points).
  const std::vector<std::string>& seen() const { return seen_; }

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    if (mode != OpenMode::kRead) BLACKOUT_RETURN_IF_ERROR(Hook("open " + Base(path)));
    if (dead_) return Dead();
    BLACKOUT_ASSIGN_OR_RETURN(std::unique_ptr<File> f, mem_->Open(path, mode));
    return std::unique_ptr<File>(std::make_unique<HookedFile>(this, std::move(f)));
  }
  Status Rename(const std::string& from, const std::string& to) override {
    BLACKOUT_RETURN_IF_ERROR(Hook("rename " + Base(from) + " " + Base(to)));
    return mem_->Rename(from, to);
  }
  Status Remove(const std::string& path) override {
    BLACKOUT_RETURN_IF_ERROR(Hook("remove " + Base(path)));
    return mem_->Remove(path);
  }
  Status CreateDirs(const std::string& path) override {
    BLACKOUT_RETURN_IF_ERROR(Hook("mkdir"));
    return mem_->CreateDirs(path);
  }
  Status SyncDir(const std::string& path) override {
    BLACKOUT_RETURN_IF_ERROR(Hook("syncdir"));
    return mem_->SyncDir(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    if (dead_) return Dead();
    return mem_->ListDir(path);
  }
  bool Exists(const std::string& path) override { return mem_->Exists(path); }
  Result<uint64_t> FileSize(const std::string& path) override {
    if (dead_) return Dead();
    return mem_->FileSize(path);
  }
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override {
    BLACKOUT_RETURN_IF_ERROR(Hook("lock"));
    return mem_->LockDir(dir);
  }

 private:
  class HookedFile final : public File {
   public:
    HookedFile(CrashingEnv* env, std::unique_ptr<File> f) : env_(env), f_(std::move(f)) {}
    Status Write(std::string_view d) override {
      BLACKOUT_RETURN_IF_ERROR(env_->Hook("write " + Base(path())));
      return f_->Write(d);
    }
    Status WriteAt(uint64_t o, std::string_view d) override {
      BLACKOUT_RETURN_IF_ERROR(env_->Hook("write " + Base(path())));
      return f_->WriteAt(o, d);
    }
    Result<std::string> ReadAt(uint64_t o, size_t n) override { return f_->ReadAt(o, n); }
    Status Seek(uint64_t o) override { return f_->Seek(o); }
    Result<uint64_t> Size() override { return f_->Size(); }
    Status Sync() override {
      BLACKOUT_RETURN_IF_ERROR(env_->Hook("sync " + Base(path())));
      return f_->Sync();
    }
    Status Truncate(uint64_t len) override {
      BLACKOUT_RETURN_IF_ERROR(env_->Hook("truncate " + Base(path())));
      return f_->Truncate(len);
    }
    Status Close() override {
      BLACKOUT_RETURN_IF_ERROR(env_->Hook("close " + Base(path())));
      return f_->Close();
    }
    const std::string& path() const override { return f_->path(); }

   private:
    CrashingEnv* env_;
    std::unique_ptr<File> f_;
  };

  static std::string Base(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }
  static Status Dead() { return Status::IOError("process crashed (CrashingEnv)"); }

  Status Hook(const std::string& what) {
    if (dead_) return Dead();
    seen_.push_back(what);
    if (remaining_ > 0 && what.rfind(prefix_, 0) == 0 && --remaining_ == 0) {
      fired_ = true;
      switch (action_) {
        case Action::kFail:
          return Status::IOError("injected failure before '" + what + "'", 5 /* EIO */);
        case Action::kCrashProcess:
          mem_->CrashProcess();
          break;
        case Action::kCrashPower:
          mem_->CrashPower();
          break;
      }
      dead_ = true;
      return Dead();
    }
    return Status::OK();
  }

  MemEnv* mem_;
  std::string prefix_;
  int remaining_ = 0;
  Action action_ = Action::kFail;
  bool fired_ = false;
  bool dead_ = false;
  std::vector<std::string> seen_;
};

}  // namespace blackout::engines::testing

#endif  // BLACKOUT_ENGINES_BITCASK_TESTING_CRASHING_ENV_H_
