// Event store behaviour, recovery and the section 7 holes as default/fixed pairs, on MemEnv.
#include "engines/eventstore/eventstore.h"

#include <catch2/catch.hpp>
#include <regex>

#include "engines/common/mem_env.h"
#include "engines/eventstore/python_json.h"

namespace blackout::engines {
namespace {

const char kDir[] = "/mem/store";
const char kFile[] = "/mem/store/events.ndjson";

// Forwards to a MemEnv; fails the nth Open for appending from now on (1-based, 0 = never) with
// EIO, the way a full or failing disk would answer.
class FailingEnv final : public Env {
 public:
  explicit FailingEnv(MemEnv* mem) : mem_(mem) {}
  void FailAppendOpen(int n) {
    fail_at_ = n;
    opens_ = 0;
  }
  class FailingFile final : public File {
   public:
    // Registers itself in `live` and leaves it when destroyed, so that FailWrites only reaches
    // files that are still open (the store closes and reopens its file, e.g. on a failed write).
    FailingFile(std::unique_ptr<File> f, std::vector<FailingFile*>* live)
        : live_(live), f_(std::move(f)) {
      live_->push_back(this);
    }
    ~FailingFile() override { std::erase(*live_, this); }
    FailingFile(const FailingFile&) = delete;
    FailingFile& operator=(const FailingFile&) = delete;
    Status Write(std::string_view d) override {
      return fail_ ? Status::IOError("write " + f_->path(), EIO) : f_->Write(d);
    }
    Status WriteAt(uint64_t o, std::string_view d) override { return f_->WriteAt(o, d); }
    Result<std::string> ReadAt(uint64_t o, size_t n) override { return f_->ReadAt(o, n); }
    Status Seek(uint64_t o) override { return f_->Seek(o); }
    Result<uint64_t> Size() override { return f_->Size(); }
    Status Sync() override { return f_->Sync(); }
    Status Truncate(uint64_t l) override { return f_->Truncate(l); }
    Status Close() override { return f_->Close(); }
    const std::string& path() const override { return f_->path(); }
    bool fail_ = false;

   private:
    std::vector<FailingFile*>* live_;
    std::unique_ptr<File> f_;
  };
  // Fixed keeps one file open: make its writes fail from now on.
  void FailWrites() {
    for (FailingFile* f : files_) f->fail_ = true;
  }

  Result<std::unique_ptr<File>> Open(const std::string& p, OpenMode m) override {
    if (m == OpenMode::kAppend && fail_at_ != 0 && ++opens_ == fail_at_) {
      return Status::IOError("open " + p, EIO);
    }
    BLACKOUT_ASSIGN_OR_RETURN(auto f, mem_->Open(p, m));
    return std::unique_ptr<File>(std::make_unique<FailingFile>(std::move(f), &files_));
  }
  Status Rename(const std::string& a, const std::string& b) override { return mem_->Rename(a, b); }
  Status Remove(const std::string& p) override { return mem_->Remove(p); }
  Status CreateDirs(const std::string& p) override { return mem_->CreateDirs(p); }
  Status SyncDir(const std::string& p) override { return mem_->SyncDir(p); }
  Result<std::vector<std::string>> ListDir(const std::string& p) override {
    return mem_->ListDir(p);
  }
  bool Exists(const std::string& p) override { return mem_->Exists(p); }
  Result<uint64_t> FileSize(const std::string& p) override { return mem_->FileSize(p); }
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& d) override {
    return mem_->LockDir(d);
  }

 private:
  MemEnv* mem_;
  int fail_at_ = 0;
  int opens_ = 0;
  std::vector<FailingFile*> files_;  // the open files (owned by the store); they keep it current
};

EventStoreOptions Opts(bool fixed) {
  EventStoreOptions o;
  o.fixed = fixed;
  return o;
}

std::unique_ptr<EventStore> MustOpen(Env* env, bool fixed) {
  auto s = EventStore::Open(env, kDir, Opts(fixed));
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::vector<std::string> MustVerify(EventStore& s) {
  auto v = s.Verify();
  REQUIRE(v.ok());
  return *v;
}

}  // namespace

TEST_CASE("eventstore: json.dumps formatting matches Python byte for byte") {
  const auto v = nlohmann::json::parse(
      R"({"a": 1.0, "b": [1, 2.5, -0.0, 1e16, 1e15, 1e-05, 0.0001, 123456789.123],)"
      R"( "c": "h\u00e9\ud83d\ude00\n\"\\\u0001\u007f", "d": null, "e": true})");
  // Generated with python3: json.dumps of the same object.
  REQUIRE(PythonJsonDumps(v) ==
          R"({"a": 1.0, "b": [1, 2.5, -0.0, 1e+16, 1000000000000000.0, 1e-05, 0.0001, )"
          R"(123456789.123], "c": "h\u00e9\ud83d\ude00\n\"\\\u0001\u007f", "d": null, )"
          R"("e": true})");
  REQUIRE(PythonFloatRepr(0.1) == "0.1");
  REQUIRE(PythonFloatRepr(-2.0) == "-2.0");
}

TEST_CASE("eventstore: an event is written as REF's NDJSON line") {
  MemEnv mem(kDir);
  auto s = MustOpen(&mem, false);
  REQUIRE(s->Append("s0", "Added", {{"n", 0}, {"who", ""}}).ok());
  const std::string line = mem.ReadFileForTest(kFile);
  const std::regex want(
      R"(\{"event_id": 1, "stream_id": "s0", "event_type": "Added", "data": \{"n": 0, "who": ""\}, )"
      R"("timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?", "metadata": null\}\n)");
  INFO(line);
  REQUIRE(std::regex_match(line, want));
}

TEST_CASE("eventstore: appends, batches, reads and version checks behave as REF") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    auto s = MustOpen(&mem, fixed);
    REQUIRE(s->Append("a", "T", 1)->event_id == 1);
    REQUIRE(s->Append("b", "T", 2)->event_id == 2);
    auto batch = s->AppendBatch("a", {{"X", nullptr}, {"Y", {{"k", {1, 2}}}}}, 1);
    REQUIRE(batch.ok());
    REQUIRE(batch->size() == 2);
    REQUIRE((*batch)[1].event_id == 4);
    REQUIRE(s->StreamVersion("a") == 3);
    // read_stream filters on the global event_id, not the stream position (REF's quirk).
    auto from3 = s->ReadStream("a", 3);
    REQUIRE(from3.size() == 2);
    REQUIRE(from3[0].event_type == "X");
    Result<StoredEvent> conflict = s->Append("a", "T", 0, nullptr, 1);
    REQUIRE(conflict.status().IsInvalidArgument());
    REQUIRE(conflict.status().message().rfind("ConcurrencyConflict", 0) == 0);
    REQUIRE(s->GlobalPosition() == 4);
    REQUIRE(s->AllStreamIds() == std::vector<std::string>{"a", "b"});
    REQUIRE(MustVerify(*s).empty());
  }
}

TEST_CASE("eventstore: events survive a clean close and reopen, and a process crash") {
  for (bool fixed : {false, true}) {
    for (bool crash : {false, true}) {
      INFO("fixed=" << fixed << " crash=" << crash);
      MemEnv mem(kDir);
      {
        auto s = MustOpen(&mem, fixed);
        for (int i = 0; i < 5; ++i) REQUIRE(s->Append("s", "T", {{"i", i}}).ok());
        REQUIRE(s->AppendBatch("s", {{"B", 1}, {"B", 2}}).ok());
        if (crash) {
          mem.CrashProcess();
        } else {
          REQUIRE(s->Close().ok());
        }
      }
      auto s = MustOpen(&mem, fixed);
      auto all = s->ReadAll();
      REQUIRE(all.size() == 7);
      REQUIRE(all[3].data == nlohmann::json{{"i", 3}});
      REQUIRE(all[6].event_id == 7);
      REQUIRE(s->Append("s", "T", 0)->event_id == 8);
      REQUIRE(MustVerify(*s).empty());
    }
  }
}

TEST_CASE("eventstore: default loses acknowledged events on a power cut; fixed keeps them") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    {
      auto s = MustOpen(&mem, fixed);
      for (int i = 0; i < 3; ++i) REQUIRE(s->Append("s", "T", i).ok());
      mem.CrashPower();
    }
    auto s = MustOpen(&mem, fixed);
    REQUIRE(s->GlobalPosition() == (fixed ? 3 : 0));
  }
}

TEST_CASE("eventstore H-E1: a torn last line makes default unopenable; fixed cuts it off") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    {
      auto s = MustOpen(&mem, fixed);
      for (int i = 0; i < 3; ++i) REQUIRE(s->Append("s", "T", i).ok());
    }
    std::string content = mem.ReadFileForTest(kFile);
    const size_t last_line = content.rfind('\n', content.size() - 2) + 1;
    mem.WriteFileForTest(kFile, content.substr(0, last_line + 20));  // torn third line
    auto reopened = EventStore::Open(&mem, kDir, Opts(fixed));
    if (!fixed) {
      REQUIRE(reopened.status().IsCorruption());
      // REF's next append (by a store opened before the damage was read) concatenates onto
      // the partial line, and the file stays unopenable.
      continue;
    }
    REQUIRE(reopened.ok());
    auto& s = *reopened;
    REQUIRE(s->GlobalPosition() == 2);
    REQUIRE(mem.ReadFileForTest(kFile) == content.substr(0, last_line));
    REQUIRE(s->Append("s", "T", 9)->event_id == 3);
    REQUIRE(s->Close().ok());
    auto again = MustOpen(&mem, fixed);
    REQUIRE(again->GlobalPosition() == 3);
    REQUIRE(MustVerify(*again).empty());
  }
}

TEST_CASE("eventstore: default appends onto a torn line and the store stays unopenable") {
  MemEnv mem(kDir);
  auto s = MustOpen(&mem, false);
  REQUIRE(s->Append("s", "T", 1).ok());
  mem.WriteFileForTest(kFile, mem.ReadFileForTest(kFile) + "{\"event_id\": 2, \"str");
  REQUIRE(s->Append("s", "T", 3).ok());  // REF writes right after the partial line
  REQUIRE(EventStore::Open(&mem, kDir, Opts(false)).status().IsCorruption());
}

TEST_CASE("eventstore: a batch cut short is partial by default; fixed drops it whole") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    {
      auto s = MustOpen(&mem, fixed);
      REQUIRE(s->Append("s", "T", 0).ok());
      REQUIRE(s->AppendBatch("s", {{"A", 1}, {"B", 2}, {"C", 3}}).ok());
    }
    // A crash during the batch's write: only the first of its lines reached the file.
    std::string content = mem.ReadFileForTest(kFile);
    size_t cut = content.find('\n');
    cut = content.find('\n', cut + 1) + 1;
    mem.WriteFileForTest(kFile, content.substr(0, cut));
    auto s = MustOpen(&mem, fixed);
    REQUIRE(s->GlobalPosition() == (fixed ? 1 : 2));
  }
}

TEST_CASE("eventstore H-E3: a failed write leaves default's memory ahead of disk; not fixed") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    FailingEnv env(&mem);
    auto s = MustOpen(&env, fixed);
    REQUIRE(s->Append("s", "T", 0).ok());
    env.FailAppendOpen(1);
    env.FailWrites();
    REQUIRE_FALSE(s->Append("s", "T", 1).ok());
    REQUIRE(s->GlobalPosition() == (fixed ? 1 : 2));
    REQUIRE(MustVerify(*s).empty() == fixed);
  }
}

TEST_CASE("eventstore H-E2: duplicated lines give duplicate ids by default; fixed refuses") {
  for (bool fixed : {false, true}) {
    INFO("fixed=" << fixed);
    MemEnv mem(kDir);
    {
      auto s = MustOpen(&mem, fixed);
      REQUIRE(s->Append("s", "T", 0).ok());
      REQUIRE(s->Append("s", "T", 1).ok());
      REQUIRE(s->Close().ok());
    }
    std::string content = mem.ReadFileForTest(kFile);
    mem.WriteFileForTest(kFile, content + content.substr(content.find('\n') + 1));
    auto reopened = EventStore::Open(&mem, kDir, Opts(fixed));
    if (fixed) {
      REQUIRE(reopened.status().IsCorruption());
      continue;
    }
    REQUIRE(reopened.ok());
    auto& s = *reopened;
    REQUIRE(s->Append("s", "T", 2)->event_id == 4);
    auto all = s->ReadAll();
    REQUIRE(all[1].event_id == 2);
    REQUIRE(all[2].event_id == 2);  // the duplicated line
    REQUIRE_FALSE(MustVerify(*s).empty());
  }
}

TEST_CASE("eventstore H-E4: fixed locks the directory against a second process") {
  MemEnv mem(kDir);
  auto first = MustOpen(&mem, true);
  REQUIRE(EventStore::Open(&mem, kDir, Opts(true)).status().IsBusy());
  auto d1 = MustOpen(&mem, false);
  auto d2 = MustOpen(&mem, false);  // REF: no lock at all
}

TEST_CASE("eventstore: fixed creates its file durably and fsyncs every append") {
  MemEnv mem(kDir);
  auto s = MustOpen(&mem, true);
  auto calls = mem.Calls();
  REQUIRE(std::find(calls.begin(), calls.end(), "fsync .") != calls.end());
  mem.ClearCalls();
  REQUIRE(s->AppendBatch("s", {{"A", 1}, {"B", 2}}).ok());
  calls = mem.Calls();
  REQUIRE(calls.size() == 2);
  REQUIRE(calls[0].rfind("write events.ndjson ", 0) == 0);
  REQUIRE(calls[1] == "fsync events.ndjson");
}

}  // namespace blackout::engines
