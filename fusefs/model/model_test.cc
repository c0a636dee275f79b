// Unit tests of the filesystem model, one per rule of crash_model.md.
// Reproduce with: build/fusefs/model/model_test "<test name>"
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "fusefs/model/filesystem.h"

namespace fs = std::filesystem;
using namespace blackout::model;

namespace {

const Caller kWho{1000, 1000, 4242, 022};

// A model plus the few system-call-shaped helpers a test needs.
struct Disk {
  explicit Disk(BehaviourModel m = BehaviourModel::kPosixStrict) : fs(Options{m, 0, true}) {}
  Filesystem fs;

  Ino Resolve(const std::string& path) {
    Ino cur = kRootIno;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
      if (part.empty()) continue;
      auto a = fs.Lookup(cur, part);
      if (!a.ok()) return 0;
      cur = a->ino;
    }
    return cur;
  }
  Ino Parent(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? kRootIno : Resolve(path.substr(0, slash));
  }
  static std::string Base(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }
  Fh Create(const std::string& path, int flags = O_WRONLY | O_CREAT) {
    auto c = fs.Create(Parent(path), Base(path), 0644, flags, kWho);
    REQUIRE(c.ok());
    return c->fh;
  }
  void Write(Fh fh, uint64_t off, const std::string& data) {
    auto w = fs.Write(fh, off, data, kWho);
    REQUIRE(w.ok());
    REQUIRE(*w == data.size());
  }
  void Fsync(Fh fh, bool datasync = false) { REQUIRE(fs.Fsync(fh, datasync, kWho).ok()); }
  void FsyncDir(const std::string& path) {
    Ino d = path.empty() ? kRootIno : Resolve(path);
    REQUIRE(d != 0);
    auto fh = fs.OpenDir(d, kWho);
    REQUIRE(fh.ok());
    REQUIRE(fs.FsyncDir(*fh, false, kWho).ok());
    REQUIRE(fs.ReleaseDir(*fh).ok());
  }
  void Close(Fh fh) { REQUIRE(fs.Release(fh).ok()); }
  // Creates `path` with `data`, fsyncs it and its directory: a durable file.
  void Durable(const std::string& path, const std::string& data) {
    Fh fh = Create(path);
    Write(fh, 0, data);
    Fsync(fh);
    Close(fh);
    FsyncDir(path.rfind('/') == std::string::npos ? "" : path.substr(0, path.rfind('/')));
  }
  void Mkdir(const std::string& path) {
    REQUIRE(fs.Mkdir(Parent(path), Base(path), 0755, kWho).ok());
  }
  // Whole content, or nullopt when the path does not exist.
  std::optional<std::string> Read(const std::string& path) {
    Ino ino = Resolve(path);
    if (ino == 0) return std::nullopt;
    auto fh = fs.Open(ino, O_RDONLY, kWho);
    REQUIRE(fh.ok());
    std::string out;
    REQUIRE(fs.Read(*fh, 0, 1 << 24, out).ok());
    REQUIRE(fs.Release(*fh).ok());
    return out;
  }
  void Cut() { (void)fs.PowerCut(CrashStateKind::kDropAll); }
};

const std::string kData = "acknowledged record 1\n";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/blackout-model-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

// ---------------------------------------------------------------- the table

TEST_CASE("posix-strict: create + write without fsync leaves no file after a power cut") {
  Disk d;
  Fh fh = d.Create("f");
  d.Write(fh, 0, kData);
  d.Cut();
  CHECK_FALSE(d.Read("f"));
}

TEST_CASE("an O_APPEND write lands at the end of the file whatever offset it names") {
  // Without the kernel's writeback cache the file system places O_APPEND
  // writes; the write's bytes are copied before the model's lock, at the
  // named offset, and placed again at the end.
  Disk d;
  d.Durable("log", "12345");
  Fh fh = d.Create("log", O_WRONLY | O_APPEND);
  d.Write(fh, 0, "abc");     // names offset 0: appended at 5
  d.Write(fh, 100, "de");    // names offset 100: appended at 8
  d.Write(fh, 10, "fghij");  // names offset 10, the end: appended at 10
  d.Fsync(fh);
  d.Cut();
  CHECK(d.Read("log") == "12345abcdefghij");
}

TEST_CASE("ext4-ordered: create + write without fsync leaves no file or an empty one") {
  Disk d(BehaviourModel::kExt4Ordered);
  Fh fh = d.Create("f");
  d.Write(fh, 0, kData);
  d.Cut();
  auto got = d.Read("f");
  CHECK((!got || got->empty()));
}

TEST_CASE("posix-strict: fsync of a new file without fsync of its directory loses the file") {
  Disk d;
  Fh fh = d.Create("f");
  d.Write(fh, 0, kData);
  d.Fsync(fh);
  d.Cut();
  CHECK_FALSE(d.Read("f"));
}

TEST_CASE("ext4-ordered: fsync of a new file also commits its directory entry") {
  Disk d(BehaviourModel::kExt4Ordered);
  Fh fh = d.Create("f");
  d.Write(fh, 0, kData);
  d.Fsync(fh);
  d.Cut();
  CHECK(d.Read("f") == kData);
}

TEST_CASE("fsync of the file and of its directory keeps the file with full content") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("f", kData);
  d.Cut();
  CHECK(d.Read("f") == kData);
}

TEST_CASE("an overwrite of a durable file without fsync is undone by a power cut") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("f", "old old old old");
  auto fh = d.fs.Open(d.Resolve("f"), O_WRONLY, kWho);
  REQUIRE(fh.ok());
  d.Write(*fh, 4, "NEW");
  CHECK(d.Read("f") == "old NEW old old");
  d.Cut();
  CHECK(d.Read("f") == "old old old old");
}

TEST_CASE("a rename without fsync of the directory is undone by a power cut") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("a", kData);
  REQUIRE(d.fs.Rename(kRootIno, "a", kRootIno, "b", 0, kWho).ok());
  d.Cut();
  CHECK(d.Read("a") == kData);
  CHECK_FALSE(d.Read("b"));
}

TEST_CASE("an unlink without fsync of the directory is undone by a power cut") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("a", kData);
  REQUIRE(d.fs.Unlink(kRootIno, "a", kWho).ok());
  CHECK_FALSE(d.Read("a"));
  d.Cut();
  CHECK(d.Read("a") == kData);
}

TEST_CASE("writes on an O_DSYNC or O_SYNC handle survive a power cut") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  auto flag = GENERATE(O_DSYNC, O_SYNC);
  INFO("model " << Name(model) << " flag " << flag);
  Disk d(model);
  Fh fh = d.Create("log", O_WRONLY | O_CREAT | flag);
  d.FsyncDir("");
  d.Write(fh, 0, kData);
  d.Write(fh, kData.size(), kData);
  d.Cut();
  CHECK(d.Read("log") == kData + kData);
}

// ---------------------------------------------------------------- sync events

TEST_CASE("fdatasync makes data and size durable but not a mode change") {
  Disk d;
  d.Durable("f", "");
  Ino ino = d.Resolve("f");
  auto fh = d.fs.Open(ino, O_WRONLY, kWho);
  REQUIRE(fh.ok());
  d.Write(*fh, 0, kData);
  AttrChange ch;
  ch.mode = 0600;
  REQUIRE(d.fs.SetAttr(ino, ch, std::nullopt, kWho).ok());
  d.Fsync(*fh, /*datasync=*/true);
  d.Cut();
  CHECK(d.Read("f") == kData);
  CHECK((d.fs.GetAttr(d.Resolve("f"))->mode & 07777) == 0644);
}

TEST_CASE("fsync makes a mode change durable") {
  Disk d;
  d.Durable("f", kData);
  Ino ino = d.Resolve("f");
  AttrChange ch;
  ch.mode = 0600;
  REQUIRE(d.fs.SetAttr(ino, ch, std::nullopt, kWho).ok());
  auto fh = d.fs.Open(ino, O_RDONLY, kWho);
  REQUIRE(fh.ok());
  d.Fsync(*fh);
  d.Cut();
  CHECK((d.fs.GetAttr(d.Resolve("f"))->mode & 07777) == 0600);
}

TEST_CASE("posix-strict: fsync of a directory makes each kind of entry operation durable") {
  // Each section: the operation is lost without the directory fsync and kept with it.
  auto sync_dir = GENERATE(false, true);
  INFO("fsync(dir) " << sync_dir);
  Disk d;
  d.Mkdir("dir");
  d.Mkdir("other");
  d.FsyncDir("");
  d.Durable("dir/old", kData);
  d.Durable("other/moving", kData);

  SECTION("create") {
    d.Close(d.Create("dir/new"));
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    CHECK(d.Read("dir/new").has_value() == sync_dir);
  }
  SECTION("unlink") {
    REQUIRE(d.fs.Unlink(d.Resolve("dir"), "old", kWho).ok());
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    CHECK(d.Read("dir/old").has_value() != sync_dir);
  }
  SECTION("rename out of the directory (fsync of the source directory)") {
    REQUIRE(d.fs.Rename(d.Resolve("dir"), "old", d.Resolve("other"), "out", 0, kWho).ok());
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    // A rename is atomic: it is durable in both directories or in neither.
    CHECK(d.Read("dir/old").has_value() != sync_dir);
    CHECK(d.Read("other/out").has_value() == sync_dir);
  }
  SECTION("rename into the directory (fsync of the target directory)") {
    REQUIRE(d.fs.Rename(d.Resolve("other"), "moving", d.Resolve("dir"), "in", 0, kWho).ok());
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    CHECK(d.Read("dir/in").has_value() == sync_dir);
    CHECK(d.Read("other/moving").has_value() != sync_dir);
    if (sync_dir) CHECK(d.Read("dir/in") == kData);
  }
  SECTION("mkdir") {
    d.Mkdir("dir/sub");
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    CHECK((d.Resolve("dir/sub") != 0) == sync_dir);
  }
  SECTION("symlink") {
    REQUIRE(d.fs.Symlink(d.Resolve("dir"), "ln", "old", kWho).ok());
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    Ino ln = d.Resolve("dir/ln");
    CHECK((ln != 0) == sync_dir);
    if (sync_dir) CHECK(*d.fs.Readlink(ln) == "old");
  }
  SECTION("link") {
    REQUIRE(d.fs.Link(d.Resolve("dir/old"), d.Resolve("dir"), "hard", kWho).ok());
    if (sync_dir) d.FsyncDir("dir");
    d.Cut();
    CHECK(d.Read("dir/hard").has_value() == sync_dir);
    CHECK(d.fs.GetAttr(d.Resolve("dir/old"))->nlink == (sync_dir ? 2u : 1u));
  }
}

TEST_CASE(
    "posix-strict: fsync of one directory does not make another directory's entries durable") {
  Disk d;
  d.Mkdir("a");
  d.Mkdir("b");
  d.FsyncDir("");
  d.Close(d.Create("a/x"));
  d.Close(d.Create("b/y"));
  d.FsyncDir("a");
  d.Cut();
  CHECK(d.Read("a/x"));
  CHECK_FALSE(d.Read("b/y"));
}

TEST_CASE(
    "posix-strict: an entry made durable before its inode's data shows the durable (empty) "
    "content") {
  Disk d;
  Fh fh = d.Create("f");
  d.Write(fh, 0, kData);
  d.FsyncDir("");
  d.Cut();
  CHECK(d.Read("f") == "");
}

TEST_CASE("posix-strict: rename over a file without fsync of the new file leaves it empty") {
  // The classic replace-via-rename bug; ext4's auto_da_alloc hides it.
  Disk d;
  d.Durable("config", "version 1");
  Fh fh = d.Create("config.tmp");
  d.Write(fh, 0, "version 2");
  d.Close(fh);
  REQUIRE(d.fs.Rename(kRootIno, "config.tmp", kRootIno, "config", 0, kWho).ok());
  d.FsyncDir("");
  d.Cut();
  CHECK(d.Read("config") == "");
}

TEST_CASE(
    "ext4-ordered: rename over an existing file carries the new file's data (auto_da_alloc)") {
  Disk d(BehaviourModel::kExt4Ordered);
  d.Durable("config", "version 1");
  Fh fh = d.Create("config.tmp");
  d.Write(fh, 0, "version 2");
  d.Close(fh);
  REQUIRE(d.fs.Rename(kRootIno, "config.tmp", kRootIno, "config", 0, kWho).ok());
  d.FsyncDir("");
  d.Cut();
  CHECK(d.Read("config") == "version 2");
  CHECK_FALSE(d.Read("config.tmp"));
}

TEST_CASE("ext4-ordered: any fsync commits other files' entries, never their unsynced data") {
  Disk d(BehaviourModel::kExt4Ordered);
  Fh other = d.Create("other");
  d.Write(other, 0, "not synced");
  Fh f = d.Create("f");
  d.Write(f, 0, kData);
  d.Fsync(f);
  d.Cut();
  CHECK(d.Read("f") == kData);
  CHECK(d.Read("other") == "");  // exposed by the journal, data not written: empty, not garbage
}

TEST_CASE("ext4-ordered: fsync of a clean file commits nothing else") {
  Disk d(BehaviourModel::kExt4Ordered);
  d.Durable("clean", kData);
  d.Close(d.Create("new"));
  auto fh = d.fs.Open(d.Resolve("clean"), O_RDONLY, kWho);
  REQUIRE(fh.ok());
  d.Fsync(*fh);
  d.Cut();
  CHECK_FALSE(d.Read("new"));
}

TEST_CASE("SyncAll makes everything durable") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  Disk d(model);
  d.Mkdir("d");
  Fh fh = d.Create("d/f");
  d.Write(fh, 0, kData);
  d.fs.SyncAll();
  d.Cut();
  CHECK(d.Read("d/f") == kData);
}

// ---------------------------------------------------------------- crash states

TEST_CASE("keep-all keeps every unsynced operation, as a process crash does") {
  Disk d;
  d.Mkdir("d");
  Fh fh = d.Create("d/f");
  d.Write(fh, 0, kData);
  d.Durable("gone", "x");
  REQUIRE(d.fs.Unlink(kRootIno, "gone", kWho).ok());
  auto r = d.fs.PowerCut(CrashStateKind::kKeepAll);
  CHECK(r.dropped_ops == 0);
  CHECK(d.Read("d/f") == kData);
  CHECK_FALSE(d.Read("gone"));
}

TEST_CASE("handles opened before a power cut answer EIO on every call but Release") {
  Disk d;
  d.Durable("f", kData);
  auto fh = d.fs.Open(d.Resolve("f"), O_RDWR, kWho);
  REQUIRE(fh.ok());
  auto dh = d.fs.OpenDir(kRootIno, kWho);
  REQUIRE(dh.ok());
  uint64_t epoch = d.fs.Epoch();
  auto r = d.fs.PowerCut();
  CHECK(r.epoch == epoch + 1);
  std::string out;
  CHECK(d.fs.Read(*fh, 0, 10, out).error() == EIO);
  CHECK(d.fs.Write(*fh, 0, "x", kWho).error() == EIO);
  CHECK(d.fs.Fsync(*fh, false, kWho).error() == EIO);
  CHECK(d.fs.Flush(*fh).error() == EIO);
  CHECK(d.fs.Fallocate(*fh, 0, 0, 10, kWho).error() == EIO);
  CHECK(d.fs.ReadDir(*dh, 0).error() == EIO);
  CHECK(d.fs.FsyncDir(*dh, false, kWho).error() == EIO);
  CHECK(d.fs.Release(*fh).ok());
  CHECK(d.fs.ReleaseDir(*dh).ok());
  CHECK(d.Read("f") == kData);  // new handles work
}

TEST_CASE("a power cut reports as gone only names whose inode no longer exists either") {
  Disk d;
  d.Durable("a", "a-data");
  d.Durable("b", "b-data");
  d.Durable("c", "c-data");
  REQUIRE(d.fs.Rename(kRootIno, "a", kRootIno, "b", 0, kWho).ok());  // never synced
  REQUIRE(d.fs.Rename(kRootIno, "c", kRootIno, "moved", 0, kWho).ok());
  d.Close(d.Create("new"));
  auto r = d.fs.PowerCut();
  using Entry = std::pair<Ino, std::string>;
  auto stale = [&r](const Entry& e) {
    return std::find(r.stale_entries.begin(), r.stale_entries.end(), e) != r.stale_entries.end();
  };
  // "b" names its old inode again and "a" is back (the kernel may hold a
  // negative entry): both must go before the cut is answered.
  CHECK(stale({kRootIno, "b"}));
  CHECK(stale({kRootIno, "a"}));
  CHECK(stale({kRootIno, "new"}));
  // "moved" is gone but its inode is "c" again: it would still answer
  // through the kernel's old dentry, so that entry goes at once too.
  CHECK(stale({kRootIno, "moved"}));
  CHECK(r.gone_entries == std::vector<Entry>{{kRootIno, "new"}});
  CHECK(d.Read("a") == "a-data");
  CHECK(d.Read("b") == "b-data");
}

TEST_CASE("durable inodes keep their numbers across a power cut; lost ones are reported") {
  Disk d;
  d.Durable("kept", kData);
  Ino kept = d.Resolve("kept");
  d.Close(d.Create("lost"));
  Ino lost = d.Resolve("lost");
  auto r = d.fs.PowerCut();
  CHECK(d.Resolve("kept") == kept);
  CHECK(std::find(r.forgotten.begin(), r.forgotten.end(), lost) != r.forgotten.end());
  CHECK(std::find(r.stale_entries.begin(), r.stale_entries.end(),
                  std::pair<Ino, std::string>(kRootIno, "lost")) != r.stale_entries.end());
  // The name is gone, not replaced: the kernel may drop it after the cut.
  CHECK(r.gone_entries == std::vector<std::pair<Ino, std::string>>{{kRootIno, "lost"}});
  // ESTALE, not ENOENT: the kernel may still hold a dentry for it, and
  // ESTALE makes it walk the path again instead of failing the call.
  CHECK(d.fs.GetAttr(lost).error() == ESTALE);
}

// How long it takes is measured by scripts/bench (blackout-cutbench), not here.
TEST_CASE("a power cut with 1 GiB of pending data drops all of it") {
  Disk d;
  Fh fh = d.Create("big");
  std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 1024; ++i) d.Write(fh, uint64_t(i) << 20, chunk);
  auto r = d.fs.PowerCut();
  CHECK(r.dropped_ops == 1025);
  CHECK_FALSE(d.Read("big"));
}

// ---------------------------------------------------------------- POSIX behaviour

TEST_CASE("an unlinked file stays readable and writable until its last handle is released") {
  Disk d;
  Fh fh = d.fs.Create(kRootIno, "tmp", 0600, O_RDWR | O_CREAT, kWho)->fh;
  Ino ino = d.Resolve("tmp");
  d.Write(fh, 0, "abc");
  REQUIRE(d.fs.Unlink(kRootIno, "tmp", kWho).ok());
  CHECK_FALSE(d.Read("tmp"));
  d.Write(fh, 3, "def");
  std::string out;
  REQUIRE(d.fs.Read(fh, 0, 100, out).ok());
  CHECK(out == "abcdef");
  CHECK(d.fs.GetAttr(ino)->nlink == 0);
  d.Close(fh);
  d.fs.Forget(ino, 100);  // the kernel drops its references
  CHECK(d.fs.GetAttr(ino).error() == ESTALE);
}

TEST_CASE("rename flags and errors are those of Linux") {
  Disk d;
  d.Durable("a", "A");
  d.Durable("b", "B");
  d.Mkdir("dir");
  d.Mkdir("dir/sub");
  d.Mkdir("full");
  d.Close(d.Create("full/x"));
  Ino dir = d.Resolve("dir");

  CHECK(d.fs.Rename(kRootIno, "a", kRootIno, "b", RENAME_NOREPLACE, kWho).error() == EEXIST);
  CHECK(d.fs.Rename(kRootIno, "a", kRootIno, "none", RENAME_EXCHANGE, kWho).error() == ENOENT);
  CHECK(
      d.fs.Rename(kRootIno, "a", kRootIno, "b", RENAME_EXCHANGE | RENAME_NOREPLACE, kWho).error() ==
      EINVAL);
  CHECK(d.fs.Rename(kRootIno, "missing", kRootIno, "c", 0, kWho).error() == ENOENT);
  CHECK(d.fs.Rename(kRootIno, "dir", d.Resolve("dir/sub"), "x", 0, kWho).error() == EINVAL);
  CHECK(d.fs.Rename(kRootIno, "dir", kRootIno, "full", 0, kWho).error() == ENOTEMPTY);
  CHECK(d.fs.Rename(kRootIno, "a", kRootIno, "dir", 0, kWho).error() == EISDIR);
  CHECK(d.fs.Rename(kRootIno, "dir", kRootIno, "a", 0, kWho).error() == ENOTDIR);

  REQUIRE(d.fs.Rename(kRootIno, "a", kRootIno, "b", RENAME_EXCHANGE, kWho).ok());
  CHECK(d.Read("a") == "B");
  CHECK(d.Read("b") == "A");
  REQUIRE(d.fs.Rename(kRootIno, "a", kRootIno, "c", RENAME_NOREPLACE, kWho).ok());
  CHECK(d.Read("c") == "B");

  // A directory moves with its subtree; link counts of both parents follow.
  REQUIRE(d.fs.Rename(kRootIno, "dir", d.Resolve("full"), "moved", 0, kWho).ok());
  CHECK(d.Resolve("full/moved/sub") == d.fs.Lookup(dir, "sub")->ino);
  CHECK(d.fs.GetAttr(dir)->nlink == 3);
  CHECK(d.fs.GetAttr(d.Resolve("full"))->nlink == 3);
  CHECK(d.fs.GetAttr(kRootIno)->nlink == 3);  // ".", "..", full

  // Over an empty directory is allowed.
  d.Mkdir("empty");
  d.Mkdir("victim");
  REQUIRE(d.fs.Rename(kRootIno, "empty", kRootIno, "victim", 0, kWho).ok());
  CHECK(d.Resolve("empty") == 0);
}

TEST_CASE("namespace errors are those of Linux") {
  Disk d;
  d.Mkdir("dir");
  d.Close(d.Create("dir/f"));
  CHECK(d.fs.Mkdir(kRootIno, "dir", 0755, kWho).error() == EEXIST);
  CHECK(d.fs.Rmdir(kRootIno, "dir", kWho).error() == ENOTEMPTY);
  CHECK(d.fs.Unlink(kRootIno, "dir", kWho).error() == EISDIR);
  CHECK(d.fs.Rmdir(d.Resolve("dir"), "f", kWho).error() == ENOTDIR);
  CHECK(d.fs.Lookup(kRootIno, "nope").error() == ENOENT);
  CHECK(d.fs.Lookup(d.Resolve("dir/f"), "x").error() == ENOTDIR);
  CHECK(d.fs.Lookup(kRootIno, std::string(256, 'n')).error() == ENAMETOOLONG);
  CHECK(d.fs.Link(d.Resolve("dir"), kRootIno, "l", kWho).error() == EPERM);
  CHECK(d.fs.Create(kRootIno, "dir", 0644, O_CREAT | O_EXCL | O_WRONLY, kWho).error() == EEXIST);
  CHECK(d.fs.Readlink(d.Resolve("dir/f")).error() == EINVAL);
  auto ro = d.fs.Open(d.Resolve("dir/f"), O_RDONLY, kWho);
  REQUIRE(ro.ok());
  CHECK(d.fs.Write(*ro, 0, "x", kWho).error() == EBADF);
}

TEST_CASE("attributes: owner from the caller, sizes, blocks, nlink and timestamps") {
  Disk d;
  d.Mkdir("dir");
  Fh fh = d.Create("dir/f");
  d.Write(fh, 10000, "z");
  Attr a = *d.fs.GetAttr(d.Resolve("dir/f"));
  CHECK(a.uid == kWho.uid);
  CHECK(a.gid == kWho.gid);
  CHECK(a.size == 10001);
  CHECK(a.blocks == 8);  // one 4 KiB page backs it; the rest is a hole
  CHECK(a.nlink == 1);
  CHECK(d.fs.GetAttr(d.Resolve("dir"))->nlink == 2);
  CHECK(d.fs.GetAttr(kRootIno)->nlink == 3);
  std::string out;
  auto rd = d.fs.Open(d.Resolve("dir/f"), O_RDONLY, kWho);
  REQUIRE(d.fs.Read(*rd, 9998, 10, out).ok());
  CHECK(out == std::string("\0\0z", 3));
  AttrChange trunc;
  trunc.size = 5;
  CHECK(d.fs.SetAttr(0, trunc, fh, kWho)->size == 5);
  CHECK(d.fs.GetAttr(d.Resolve("dir/f"))->blocks == 0);  // the page past the new end is gone
}

TEST_CASE("fallocate allocates, keeps size on KEEP_SIZE and punches holes") {
  Disk d;
  Fh fh = d.Create("f", O_RDWR | O_CREAT);
  REQUIRE(d.fs.Fallocate(fh, 0, 0, 8192, kWho).ok());
  Ino ino = d.Resolve("f");
  CHECK(d.fs.GetAttr(ino)->size == 8192);
  CHECK(d.fs.GetAttr(ino)->blocks == 16);
  REQUIRE(d.fs.Fallocate(fh, FALLOC_FL_KEEP_SIZE, 8192, 4096, kWho).ok());
  CHECK(d.fs.GetAttr(ino)->size == 8192);
  CHECK(d.fs.GetAttr(ino)->blocks == 24);
  d.Write(fh, 0, std::string(8192, 'a'));
  REQUIRE(d.fs.Fallocate(fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 4096 * 2, kWho).ok());
  CHECK(d.Read("f") == std::string(100, 'a') + std::string(8092, '\0'));
  CHECK(d.fs.GetAttr(ino)->blocks == 16);  // page 1 went entirely, page 0 kept its head
  CHECK(d.fs.Fallocate(fh, FALLOC_FL_PUNCH_HOLE, 0, 10, kWho).error() == EOPNOTSUPP);
}

TEST_CASE("extended attributes follow XATTR_CREATE/REPLACE and survive only with fsync") {
  Disk d;
  d.Durable("f", kData);
  Ino ino = d.Resolve("f");
  REQUIRE(d.fs.SetXattr(ino, "user.a", "1", XATTR_CREATE, kWho).ok());
  CHECK(d.fs.SetXattr(ino, "user.a", "2", XATTR_CREATE, kWho).error() == EEXIST);
  CHECK(d.fs.SetXattr(ino, "user.b", "2", XATTR_REPLACE, kWho).error() == ENODATA);
  CHECK(*d.fs.GetXattr(ino, "user.a") == "1");
  CHECK(d.fs.ListXattr(ino)->size() == 1);
  CHECK(d.fs.GetXattr(ino, "user.none").error() == ENODATA);
  SECTION("no fsync: lost") {
    d.Cut();
    CHECK(d.fs.GetXattr(ino, "user.a").error() == ENODATA);
  }
  SECTION("fsync: kept") {
    auto fh = d.fs.Open(ino, O_RDONLY, kWho);
    d.Fsync(*fh);
    d.Cut();
    CHECK(*d.fs.GetXattr(ino, "user.a") == "1");
    REQUIRE(d.fs.RemoveXattr(ino, "user.a", kWho).ok());
    CHECK(d.fs.RemoveXattr(ino, "user.a", kWho).error() == ENODATA);
  }
}

TEST_CASE("statfs reports the capacity, and writes beyond it fail with ENOSPC") {
  Filesystem fs(Options{BehaviourModel::kPosixStrict, 16 * kPageSize, true});
  auto c = fs.Create(kRootIno, "f", 0644, O_WRONLY | O_CREAT, kWho);
  REQUIRE(c.ok());
  REQUIRE(fs.Write(c->fh, 0, std::string(8 * kPageSize, 'a'), kWho).ok());
  auto st = fs.StatFs();
  REQUIRE(st.ok());
  CHECK(st->f_blocks == 16);
  CHECK(st->f_bfree == 8);
  CHECK(fs.Write(c->fh, 8 * kPageSize, std::string(9 * kPageSize, 'b'), kWho).error() == ENOSPC);
  CHECK(fs.Write(c->fh, 8 * kPageSize, std::string(8 * kPageSize, 'b'), kWho).ok());
}

TEST_CASE("readdir lists . and .. and every entry, in chunks from any offset") {
  Disk d;
  for (int i = 0; i < 1500; ++i) d.Close(d.Create("f" + std::to_string(i)));
  auto dh = d.fs.OpenDir(kRootIno, kWho);
  REQUIRE(dh.ok());
  size_t total = 0;
  uint64_t off = 0;
  for (;;) {
    auto got = d.fs.ReadDir(*dh, off);
    REQUIRE(got.ok());
    if (got->empty()) break;
    if (off == 0) {
      CHECK((*got)[0].name == ".");
      CHECK((*got)[1].name == "..");
    }
    total += got->size();
    off += got->size();
  }
  CHECK(total == 1502);
  CHECK(d.fs.ReleaseDir(*dh).ok());
}

// ---------------------------------------------------------------- reporting

TEST_CASE("Materialize writes the durable and the volatile view and refuses a non-empty target") {
  Disk d;
  d.Mkdir("db");
  d.FsyncDir("");
  d.Durable("db/data", "durable bytes");
  REQUIRE(d.fs.Symlink(d.Resolve("db"), "link", "data", kWho).ok());
  d.FsyncDir("db");
  Fh fh = d.Create("db/pending");
  d.Write(fh, 0, "volatile bytes");
  AttrChange ch;
  ch.mode = 0600;
  REQUIRE(d.fs.SetAttr(d.Resolve("db/data"), ch, std::nullopt, kWho).ok());

  TempDir tmp;
  REQUIRE(d.fs.Materialize(View::kDurable, (tmp.path / "durable").string()).ok());
  REQUIRE(d.fs.Materialize(View::kVolatile, (tmp.path / "volatile").string()).ok());
  CHECK(Slurp(tmp.path / "durable/db/data") == "durable bytes");
  CHECK_FALSE(fs::exists(tmp.path / "durable/db/pending"));
  CHECK(fs::read_symlink(tmp.path / "durable/db/link") == "data");
  CHECK((fs::status(tmp.path / "durable/db/data").permissions() & fs::perms::all) ==
        fs::perms(0644));
  CHECK(Slurp(tmp.path / "volatile/db/pending") == "volatile bytes");
  CHECK((fs::status(tmp.path / "volatile/db/data").permissions() & fs::perms::all) ==
        fs::perms(0600));
  CHECK(d.fs.Materialize(View::kVolatile, (tmp.path / "durable").string()).error() == ENOTEMPTY);
}

TEST_CASE("ListUnsynced names files with pending bytes and directories with pending entries") {
  Disk d;
  d.Mkdir("db");
  Seq before = d.fs.CurrentSeq();
  Fh fh = d.Create("db/log");
  d.Write(fh, 0, "12345");
  d.Write(fh, 5, "678");
  Unsynced u = d.fs.ListUnsynced();
  REQUIRE(u.files.size() == 1);
  CHECK(u.files[0].path == "/db/log");
  CHECK(u.files[0].pending_bytes == 8);
  CHECK(u.files[0].since > before);
  REQUIRE(u.dirs.size() == 2);
  CHECK(u.dirs[0].path == "/");
  CHECK(u.dirs[1].path == "/db");
  CHECK(u.dirs[1].pending_entries == 1);
  d.Fsync(fh);
  d.FsyncDir("db");
  u = d.fs.ListUnsynced();
  CHECK(u.files.empty());
  REQUIRE(u.dirs.size() == 1);
  CHECK(u.dirs[0].path == "/");
}

TEST_CASE("every mutating operation and sync event gets the next trace sequence number") {
  Disk d;
  Seq s0 = d.fs.CurrentSeq();
  Fh fh = d.Create("f");
  d.Write(fh, 0, "hello");
  d.Fsync(fh);
  REQUIRE(d.fs.Rename(kRootIno, "f", kRootIno, "g", 0, kWho).ok());
  d.FsyncDir("");
  d.Cut();
  auto trace = d.fs.Trace();
  REQUIRE(trace.size() == 6);
  std::vector<std::string> ops;
  for (size_t i = 0; i < trace.size(); ++i) {
    CHECK(trace[i].seq == s0 + i + 1);
    ops.push_back(trace[i].op);
  }
  CHECK(ops ==
        std::vector<std::string>{"create", "write", "fsync", "rename", "fsyncdir", "power-cut"});
  CHECK(trace[0].path == "/f");
  CHECK(trace[0].pid == kWho.pid);
  CHECK(trace[1].length == 5);
  CHECK(trace[1].digest != 0);
  CHECK(trace[3].detail == "/g");
  CHECK(d.fs.CurrentSeq() == s0 + 6);
  // Reads are not mutations.
  (void)d.Read("g");
  CHECK(d.fs.CurrentSeq() == s0 + 6);
}

TEST_CASE("trace paths follow renames and power cuts: each entry names the path at its time") {
  Disk d;
  Fh fh = d.Create("a");
  d.Write(fh, 0, "1");
  d.Write(fh, 1, "2");
  REQUIRE(d.fs.Rename(kRootIno, "a", kRootIno, "b", 0, kWho).ok());
  d.Write(fh, 2, "3");
  d.Fsync(fh);
  d.FsyncDir("");
  REQUIRE(d.fs.Rename(kRootIno, "b", kRootIno, "c", 0, kWho).ok());
  d.Cut();  // the rename to "c" is lost: the file is "b" again
  auto again = d.fs.Open(d.Resolve("b"), O_WRONLY, kWho);
  REQUIRE(again.ok());
  d.Write(*again, 0, "4");
  std::vector<std::pair<std::string, std::string>> seen;
  for (const TraceEntry& e : d.fs.Trace()) {
    if (e.op == "write" || e.op == "rename") seen.emplace_back(e.op, e.path + ">" + e.detail);
  }
  CHECK(seen == std::vector<std::pair<std::string, std::string>>{{"write", "/a>"},
                                                                 {"write", "/a>"},
                                                                 {"rename", "/a>/b"},
                                                                 {"write", "/b>"},
                                                                 {"rename", "/b>/c"},
                                                                 {"write", "/b>"}});
}

TEST_CASE(
    "set-id bits: an unprivileged write, truncate or fallocate clears them, root's write keeps "
    "them") {
  Disk d;
  const Caller root{0, 0, 41, 022};
  const Caller user{2000, 2000, 42, 022};    // not in the files' group (1000)
  const Caller member{2000, 1000, 43, 022};  // in it
  auto mode = [&](const std::string& path) { return d.fs.GetAttr(d.Resolve(path))->mode & 07777; };
  auto change = [&](const std::string& path, const Caller& who, auto set) {
    AttrChange c;
    set(c);
    REQUIRE(d.fs.SetAttr(d.Resolve(path), c, std::nullopt, who).ok());
  };
  auto make = [&](const std::string& path, uint32_t m) {
    Fh fh = d.Create(path, O_RDWR | O_CREAT);
    change(path, kWho, [&](AttrChange& c) { c.mode = m; });
    return fh;
  };
  Fh w = make("w", 06755);
  REQUIRE(d.fs.Write(w, 0, "x", user).ok());
  CHECK(mode("w") == 0755);
  Fh g = make("g", 02744);  // setgid without group exec: kept for a member of the group
  REQUIRE(d.fs.Write(g, 0, "x", member).ok());
  CHECK(mode("g") == 02744);
  REQUIRE(d.fs.Write(g, 0, "x", user).ok());  // not in the group: cleared
  CHECK(mode("g") == 0744);
  (void)make("t", 04755);
  change("t", user, [](AttrChange& c) { c.size = 0; });
  CHECK(mode("t") == 0755);
  Fh fa = make("fa", 06755);
  REQUIRE(d.fs.Fallocate(fa, 0, 0, 8192, user).ok());
  CHECK(mode("fa") == 0755);
  Fh fr = make("fr", 06755);
  REQUIRE(d.fs.Fallocate(fr, 0, 0, 8192, root).ok());
  CHECK(mode("fr") == 06755);
  Fh r = make("r", 06755);
  REQUIRE(d.fs.Write(r, 0, "x", root).ok());
  CHECK(mode("r") == 06755);
  change("r", root, [](AttrChange& c) { c.uid = 7; });
  CHECK(mode("r") == 0755);  // chown clears them for anyone
}

TEST_CASE("a trace limit keeps the newest entries and counts the dropped ones") {
  Options options;
  options.trace_limit = 3;
  Filesystem fs(options);
  auto c = fs.Create(kRootIno, "f", 0644, O_WRONLY | O_CREAT, kWho);
  REQUIRE(c.ok());
  for (int i = 0; i < 4; ++i) REQUIRE(fs.Write(c->fh, i, "x", kWho).ok());
  const std::vector<TraceEntry> trace = fs.Trace();
  REQUIRE(trace.size() == 3);
  CHECK(fs.TraceDropped() == 2);  // the create and the first write
  CHECK(trace.front().op == "write");
  CHECK(trace.front().offset == 1);
  CHECK(trace.back().seq == fs.CurrentSeq());
}

TEST_CASE("with a trace limit, a stream of new file names does not grow the trace's memory") {
  Options options;
  options.trace_limit = 16;
  Filesystem fs(options);
  auto d = fs.Mkdir(kRootIno, "d", 0755, kWho);
  REQUIRE(d.ok());
  // Each create interns a new path; without compaction every one of them
  // would stay interned after its entry is dropped.
  constexpr int kFiles = 150000;
  for (int i = 0; i < kFiles; ++i) {
    auto c = fs.Create(d->ino, "file-" + std::to_string(i), 0644, O_WRONLY | O_CREAT, kWho);
    REQUIRE(c.ok());
    REQUIRE(fs.Write(c->fh, 0, "x", kWho).ok());
    REQUIRE(fs.Release(c->fh).ok());
  }
  INFO("strings interned: " << fs.TraceStrings());
  CHECK(fs.TraceStrings() < 70000);  // 3 per kept entry, twice over, plus the 65,536 slack
  // The kept entries still read back with their own paths.
  const std::vector<TraceEntry> trace = fs.Trace();
  REQUIRE(trace.size() == 16);
  CHECK(trace.back().op == "write");
  CHECK(trace.back().path == "/d/file-" + std::to_string(kFiles - 1));
  CHECK(trace.front().path.rfind("/d/file-", 0) == 0);
}

TEST_CASE("behaviour model names parse and print") {
  CHECK(*ParseBehaviourModel("posix-strict") == BehaviourModel::kPosixStrict);
  CHECK(*ParseBehaviourModel("ext4-ordered") == BehaviourModel::kExt4Ordered);
  CHECK(ParseBehaviourModel("zfs").error() == EINVAL);
  CHECK(Name(BehaviourModel::kExt4Ordered) == "ext4-ordered");
}

TEST_CASE("pages shared by both views after a power cut are copied before a write") {
  Disk d;
  d.Durable("f", std::string(5000, 'o'));
  d.Cut();
  auto fh = d.fs.Open(d.Resolve("f"), O_WRONLY, kWho);
  REQUIRE(fh.ok());
  d.Write(*fh, 10, "NEW");
  TempDir tmp;
  REQUIRE(d.fs.Materialize(View::kDurable, (tmp.path / "d").string()).ok());
  CHECK(Slurp(tmp.path / "d/f") == std::string(5000, 'o'));
  d.Cut();
  CHECK(d.Read("f") == std::string(5000, 'o'));
}

TEST_CASE("ext4-ordered: a committed truncate carries the file's earlier data, never garbage") {
  Disk d(BehaviourModel::kExt4Ordered);
  d.Durable("wal", "");
  Ino wal = d.Resolve("wal");
  auto fh = d.fs.Open(wal, O_WRONLY, kWho);
  REQUIRE(fh.ok());
  d.Write(*fh, 0, "record1record2");
  AttrChange cut;
  cut.size = 7;
  REQUIRE(d.fs.SetAttr(wal, cut, std::nullopt, kWho).ok());
  Fh other = d.Create("sst");
  d.Fsync(other);  // commits the journal, and with it the truncate
  d.Cut();
  CHECK(d.Read("wal") == "record1");
}

// ---------------------------------------------------------------- generators

namespace {

// The LSM memtable flush of issue 6: a durable WAL, then (all pending) the
// SSTable is created and written and the WAL is unlinked, with no fsync.
void MemtableFlush(Disk& d) {
  d.Durable("wal", "put k1 v1\n");
  Fh sst = d.Create("sst");
  d.Write(sst, 0, "k1=v1");
  d.Close(sst);
  REQUIRE(d.fs.Unlink(kRootIno, "wal", kWho).ok());
}

std::string Show(Disk& d, const std::string& id) {
  TempDir tmp;
  auto r = d.fs.MaterializeCrashState(id, (tmp.path / "s").string());
  REQUIRE(r.ok());
  std::string out;
  for (const char* name : {"wal", "sst"}) {
    fs::path p = tmp.path / "s" / name;
    out += std::string(name) + "=" + (fs::exists(p) ? "[" + Slurp(p) + "]" : "absent") + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("prefix states apply each prefix of the pending operations, with stable ids") {
  Disk d;
  MemtableFlush(d);
  auto states = d.fs.CrashStates("prefix");
  REQUIRE(states.ok());
  // create, write, unlink pending: 4 prefixes, all different trees.
  REQUIRE(states->size() == 4);
  CHECK(states->front().kept.empty());
  CHECK(states->back().dropped.empty());
  CHECK(Show(d, (*states)[0].id) == "wal=[put k1 v1\n] sst=absent ");
  CHECK(Show(d, (*states)[1].id) == "wal=[put k1 v1\n] sst=[] ");
  CHECK(Show(d, (*states)[2].id) == "wal=[put k1 v1\n] sst=[k1=v1] ");
  CHECK(Show(d, (*states)[3].id) == "wal=absent sst=[k1=v1] ");
  auto again = d.fs.CrashStates("prefix");
  REQUIRE(again.ok());
  for (size_t i = 0; i < states->size(); ++i) CHECK((*again)[i].id == (*states)[i].id);
}

TEST_CASE(
    "posix-strict: reorder finds the state where the WAL's unlink landed and the SSTable did not") {
  Disk d;
  MemtableFlush(d);
  auto states = d.fs.CrashStates("reorder:2");
  REQUIRE(states.ok());
  bool lost_both = false;
  for (const auto& s : *states) lost_both |= Show(d, s.id) == "wal=absent sst=absent ";
  CHECK(lost_both);
  auto drop = d.fs.CrashStates("drop-all");
  REQUIRE(drop->size() == 1);
  CHECK(Show(d, (*drop)[0].id) == "wal=[put k1 v1\n] sst=absent ");
}

TEST_CASE(
    "ext4-ordered: reorder keeps the journal in order, so the SSTable entry precedes the unlink") {
  Disk d(BehaviourModel::kExt4Ordered);
  MemtableFlush(d);
  auto states = d.fs.CrashStates("reorder:2");
  REQUIRE(states.ok());
  REQUIRE_FALSE(states->empty());
  for (const auto& s : *states) {
    INFO("state " << s.id);
    CHECK(Show(d, s.id) != "wal=absent sst=absent ");
  }
  // The data may still be late: entry committed, delayed data lost.
  bool empty_sst = false;
  for (const auto& s : *states) empty_sst |= Show(d, s.id) == "wal=absent sst=[] ";
  CHECK(empty_sst);
}

TEST_CASE("torn states split a pending write at 512-byte sectors") {
  Disk d;
  d.Durable("f", std::string(2048, 'o'));
  auto fh = d.fs.Open(d.Resolve("f"), O_WRONLY, kWho);
  d.Write(*fh, 0, std::string(2048, 'n'));
  auto states = d.fs.CrashStates("torn");
  REQUIRE(states.ok());
  REQUIRE(states->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    const auto& s = (*states)[i];
    CHECK(s.torn_bytes == 512 * (i + 1));
    TempDir tmp;
    REQUIRE(d.fs.MaterializeCrashState(s.id, (tmp.path / "s").string()).ok());
    CHECK(Slurp(tmp.path / "s/f") ==
          std::string(s.torn_bytes, 'n') + std::string(2048 - s.torn_bytes, 'o'));
  }
  // A tear inside a sector is no state a disk leaves, as no generator lists it.
  const std::string seq = (*states)[0].id.substr(5, (*states)[0].id.rfind(':') - 5);
  TempDir tmp;
  CHECK(d.fs.MaterializeCrashState("torn:" + seq + ":1", (tmp.path / "x").string()).error() ==
        EINVAL);
  CHECK(d.fs.PowerCutTo("torn:" + seq + ":700").error() == EINVAL);
  CHECK(d.fs.PowerCutTo("torn:" + seq + ":1024").ok());
}

TEST_CASE("random states are deterministic for a seed and respect the model") {
  auto model = GENERATE(BehaviourModel::kPosixStrict, BehaviourModel::kExt4Ordered);
  INFO("model " << Name(model));
  Disk d(model);
  MemtableFlush(d);
  d.Mkdir("dir");
  d.Close(d.Create("dir/x"));
  auto a = d.fs.CrashStates("random:40", 7);
  auto b = d.fs.CrashStates("random:40", 7);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->size() == b->size());
  REQUIRE(a->size() > 1);
  for (size_t i = 0; i < a->size(); ++i) {
    CHECK((*a)[i].id == (*b)[i].id);
    CHECK((*a)[i].tree_hash == (*b)[i].tree_hash);
  }
  if (model == BehaviourModel::kExt4Ordered) {
    for (const auto& s : *a) CHECK(Show(d, s.id) != "wal=absent sst=absent ");
  }
}

TEST_CASE("identical crash states are listed once; CrashStateHash gives any id that hash") {
  Disk d;
  Fh fh = d.Create("f");
  d.Write(fh, 0, "a");
  d.Write(fh, 0, "a");  // the second write changes nothing
  auto states = d.fs.CrashStates("prefix");
  REQUIRE(states.ok());
  REQUIRE(states->size() == 3);  // none, create, create+write
  for (const auto& s : *states) {
    auto h = d.fs.CrashStateHash(s.id);
    REQUIRE(h.ok());
    CHECK(*h == s.tree_hash);
  }
  // The state with both writes is the one with the first: same tree, same
  // hash, though CrashStates listed only one of them.
  const Seq last = states->back().kept.back();
  auto both = d.fs.CrashStateHash("keep-all");
  auto first_only = d.fs.CrashStateHash("prefix:" + std::to_string(last));
  REQUIRE(both.ok());
  REQUIRE(first_only.ok());
  CHECK(*both == *first_only);
  CHECK(*both != (*states)[0].tree_hash);
  CHECK(d.fs.CrashStateHash("prefix:x").error() == EINVAL);
}

TEST_CASE("PowerCutTo leaves exactly the chosen crash state") {
  Disk d;
  MemtableFlush(d);
  auto states = d.fs.CrashStates("reorder:1");
  REQUIRE(states.ok());
  const CrashStateInfo* pick = nullptr;
  for (const auto& s : *states) {
    if (Show(d, s.id) == "wal=absent sst=[] ") pick = &s;
  }
  REQUIRE(pick != nullptr);
  auto r = d.fs.PowerCutTo(pick->id);
  REQUIRE(r.ok());
  CHECK(r->dropped_ops == 1);
  CHECK_FALSE(d.Read("wal"));
  CHECK(d.Read("sst") == "");
  CHECK(d.fs.PowerCutTo("prefix:x").error() == EINVAL);
  // A seq that is not a pending op names no prefix state (it used to keep all).
  CHECK(d.fs.PowerCutTo("prefix:" + std::to_string(d.fs.CurrentSeq() + 100)).error() == EINVAL);
  CHECK(d.fs.CrashStates("sideways").error() == EINVAL);
}

TEST_CASE("a saved crash point gives the same crash states offline, under its own model only") {
  Disk live;
  MemtableFlush(live);
  live.Mkdir("dir");
  REQUIRE(live.fs.SetXattr(live.Resolve("sst"), "user.k", "v", 0, kWho).ok());
  std::string saved = live.fs.SaveCrashPoint();
  auto want = live.fs.CrashStates("reorder:2");
  REQUIRE(want.ok());

  Disk offline;
  REQUIRE(offline.fs.LoadCrashPoint(saved).ok());
  auto got = offline.fs.CrashStates("reorder:2");
  REQUIRE(got.ok());
  REQUIRE(got->size() == want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    CHECK((*got)[i].id == (*want)[i].id);
    CHECK((*got)[i].tree_hash == (*want)[i].tree_hash);
  }
  // The volatile view is the saved one, and the durable one too.
  CHECK(offline.Read("sst") == "k1=v1");
  CHECK(*offline.fs.GetXattr(offline.Resolve("sst"), "user.k") == "v");
  CHECK(offline.fs.CurrentSeq() >= live.fs.CurrentSeq());
  offline.Cut();
  CHECK(offline.Read("wal") == "put k1 v1\n");
  CHECK_FALSE(offline.Read("sst"));

  // Which ops are pending is the saving model's: another model refuses it.
  REQUIRE(Filesystem::SavedModel(saved).ok());
  CHECK(*Filesystem::SavedModel(saved) == BehaviourModel::kPosixStrict);
  Disk ext4(BehaviourModel::kExt4Ordered);
  CHECK(ext4.fs.LoadCrashPoint(saved).error() == EXDEV);
  Disk ext4_live(BehaviourModel::kExt4Ordered);
  MemtableFlush(ext4_live);
  const std::string saved_ext4 = ext4_live.fs.SaveCrashPoint();
  CHECK(*Filesystem::SavedModel(saved_ext4) == BehaviourModel::kExt4Ordered);
  REQUIRE(ext4.fs.LoadCrashPoint(saved_ext4).ok());
  // A point from before points named their model (the bytes after the
  // 9-byte header) loads under any model, as it did.
  CHECK_FALSE(*Filesystem::SavedModel(saved.substr(9)));
  CHECK(ext4.fs.LoadCrashPoint(saved.substr(9)).ok());

  CHECK(offline.fs.LoadCrashPoint("not a crash point").error() == EINVAL);
  CHECK(offline.fs.LoadCrashPoint(saved.substr(0, saved.size() / 2)).error() == EINVAL);
}

TEST_CASE("a loaded crash point traces its pending ops as the live trace named them") {
  Disk live;
  MemtableFlush(live);
  live.Mkdir("dir");
  REQUIRE(live.fs.Rename(kRootIno, "sst", live.Resolve("dir"), "sst", 0, kWho).ok());
  std::map<Seq, TraceEntry> live_trace;
  for (const TraceEntry& e : live.fs.Trace()) live_trace[e.seq] = e;
  auto pending = live.fs.CrashStates("drop-all");
  REQUIRE(pending.ok());
  const std::vector<Seq> dropped = (*pending)[0].dropped;
  REQUIRE(dropped.size() >= 4);  // create, write, unlink, mkdir, rename

  Disk offline;
  REQUIRE(offline.fs.LoadCrashPoint(live.fs.SaveCrashPoint()).ok());
  std::map<Seq, TraceEntry> loaded;
  for (const TraceEntry& e : offline.fs.Trace()) {
    if (e.op != "power-cut") loaded[e.seq] = e;
  }
  REQUIRE(loaded.size() == dropped.size());
  for (Seq seq : dropped) {
    INFO("#" << seq);
    REQUIRE(loaded.count(seq) == 1);
    CHECK(loaded[seq].op == live_trace[seq].op);
    CHECK(loaded[seq].ino == live_trace[seq].ino);
    CHECK(loaded[seq].offset == live_trace[seq].offset);
    CHECK(loaded[seq].length == live_trace[seq].length);
    // Paths resolve in the loaded view: the file's create still names it
    // where it was created; the rename names both ends.
    CHECK(loaded[seq].path == live_trace[seq].path);
    CHECK(loaded[seq].detail == live_trace[seq].detail);
  }

  // A write to a file renamed since, the rename durable: named as written,
  // not by the name the loaded view gives its inode.
  Disk renamed;
  const Fh tmp = renamed.Create("data.tmp");
  renamed.Write(tmp, 0, "new");
  renamed.Close(tmp);
  REQUIRE(renamed.fs.Rename(kRootIno, "data.tmp", kRootIno, "data", 0, kWho).ok());
  renamed.FsyncDir("");
  Seq write = 0;
  for (const TraceEntry& e : renamed.fs.Trace())
    if (e.op == "write") write = e.seq;
  REQUIRE(write != 0);
  Disk reloaded;
  REQUIRE(reloaded.fs.LoadCrashPoint(renamed.fs.SaveCrashPoint()).ok());
  bool seen = false;
  for (const TraceEntry& e : reloaded.fs.Trace()) {
    if (e.seq != write) continue;
    seen = true;
    CHECK(e.op == "write");
    CHECK(e.path == "/data.tmp");
  }
  CHECK(seen);
}

TEST_CASE("concurrent writers, syncs and power cuts keep the model consistent") {
  Disk d;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      std::string name = "w" + std::to_string(t);
      for (int i = 0; i < 200; ++i) {
        auto c = d.fs.Create(kRootIno, name, 0644, O_WRONLY | O_CREAT, kWho);
        if (!c.ok()) continue;  // a cut may race with the lookup
        (void)d.fs.Write(c->fh, uint64_t(i) * 100, std::string(100, 'a' + t), kWho);
        if (i % 10 == 0) (void)d.fs.Fsync(c->fh, false, kWho);
        (void)d.fs.Release(c->fh);
      }
    });
  }
  std::thread cutter([&] {
    while (!stop) {
      (void)d.fs.PowerCut();
      d.fs.SyncAll();
      (void)d.fs.ListUnsynced();
    }
  });
  for (auto& w : writers) w.join();
  stop = true;
  cutter.join();
  d.fs.SyncAll();
  auto st = d.fs.StatFs();
  REQUIRE(st.ok());
  TempDir tmp;
  CHECK(d.fs.Materialize(View::kDurable, (tmp.path / "d").string()).ok());
}

// ---------------------------------------------------------------- more models

TEST_CASE("every model keeps fsynced file + fsynced directory and loses unsynced overwrites") {
  auto model =
      GENERATE(BehaviourModel::kExt4Writeback, BehaviourModel::kBtrfs, BehaviourModel::kXfs);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("f", "old old");
  auto fh = d.fs.Open(d.Resolve("f"), O_WRONLY, kWho);
  d.Write(*fh, 0, "NEW");
  d.Close(*fh);
  d.Cut();
  CHECK(d.Read("f") == "old old");
  CHECK(*ParseBehaviourModel(Name(model)) == model);
}

TEST_CASE("fsync of a new file makes its entry durable under ext4-writeback, btrfs and xfs") {
  auto model =
      GENERATE(BehaviourModel::kExt4Writeback, BehaviourModel::kBtrfs, BehaviourModel::kXfs);
  INFO("model " << Name(model));
  Disk d(model);
  d.Mkdir("newdir");
  Fh fh = d.Create("newdir/f");
  d.Write(fh, 0, kData);
  d.Fsync(fh);
  d.Cut();
  CHECK(d.Read("newdir/f") == kData);
}

TEST_CASE("an fsync commits other files' entries under ext4 and xfs, not under btrfs") {
  auto model =
      GENERATE(BehaviourModel::kExt4Writeback, BehaviourModel::kBtrfs, BehaviourModel::kXfs);
  INFO("model " << Name(model));
  Disk d(model);
  Fh other = d.Create("other");
  d.Write(other, 0, "unsynced");
  Fh f = d.Create("f");
  d.Write(f, 0, kData);
  d.Fsync(f);
  d.Cut();
  auto got = d.Read("other");
  if (model == BehaviourModel::kBtrfs) {
    CHECK_FALSE(got);  // the log tree holds only the fsynced inode
  } else if (model == BehaviourModel::kXfs) {
    CHECK(got == "");  // size moves only with the data
  } else {
    // data=writeback: the size is committed, the data is not: no real content.
    CHECK(got == std::string(8, '\0'));
  }
}

TEST_CASE(
    "rename over a file without fsync: btrfs flushes the data, xfs and ext4-writeback do not") {
  auto model =
      GENERATE(BehaviourModel::kExt4Writeback, BehaviourModel::kBtrfs, BehaviourModel::kXfs);
  INFO("model " << Name(model));
  Disk d(model);
  d.Durable("config", "version 1");
  Fh fh = d.Create("config.tmp");
  d.Write(fh, 0, "version 2");
  d.Close(fh);
  REQUIRE(d.fs.Rename(kRootIno, "config.tmp", kRootIno, "config", 0, kWho).ok());
  d.FsyncDir("");
  d.Cut();
  auto got = d.Read("config");
  REQUIRE(got);
  if (model == BehaviourModel::kBtrfs) {
    CHECK(*got == "version 2");
  } else {
    CHECK(*got != "version 2");
    CHECK(*got != "version 1");
  }
}

TEST_CASE("btrfs crash states are prefixes only, never torn") {
  Disk d(BehaviourModel::kBtrfs);
  MemtableFlush(d);
  auto reorder = d.fs.CrashStates("reorder:2");
  REQUIRE(reorder.ok());
  CHECK(reorder->empty());
  auto torn = d.fs.CrashStates("torn");
  REQUIRE(torn.ok());
  CHECK(torn->empty());
  auto random = d.fs.CrashStates("random:30", 3);
  REQUIRE(random.ok());
  for (const auto& s : *random) CHECK(Show(d, s.id) != "wal=absent sst=absent ");
  CHECK(d.fs.CrashStates("prefix")->size() == 4);
}

TEST_CASE(
    "a crash-state id names a state only if the model's generators could give it: the same ops "
    "as another model's id are refused where the model never leaves them") {
  Disk strict;
  MemtableFlush(strict);
  auto ids = strict.fs.CrashStates("reorder:2");
  REQUIRE(ids.ok());
  REQUIRE_FALSE(ids->empty());
  Disk btrfs(BehaviourModel::kBtrfs);
  MemtableFlush(btrfs);
  auto prefixes = btrfs.fs.CrashStates("prefix");
  REQUIRE(prefixes.ok());
  for (const auto& p : *prefixes) CHECK(btrfs.fs.IsCrashState(p.id));
  // A reordered state of posix-strict drops an op and keeps a later one:
  // btrfs commits whole transactions, in order.
  for (const auto& s : *ids) {
    INFO(s.id);
    CHECK(strict.fs.IsCrashState(s.id));
    CHECK_FALSE(btrfs.fs.IsCrashState(s.id));
  }
  CHECK(btrfs.fs.PowerCutTo(ids->front().id).error() == EINVAL);
  auto torn = strict.fs.CrashStates("torn");
  REQUIRE(torn.ok());
  for (const auto& s : *torn) CHECK_FALSE(btrfs.fs.IsCrashState(s.id));
  // Ids as the generator writes them: seqs ascending, each once.
  const std::string canonical = ids->front().id;
  const std::string list = canonical.substr(canonical.rfind(':') + 1);
  CHECK(strict.fs.IsCrashState("reorder:2:" + list));
  CHECK_FALSE(strict.fs.IsCrashState("reorder:2:" + list + ","));
  const std::string first = list.substr(0, list.find(','));
  CHECK_FALSE(strict.fs.IsCrashState("reorder:2:" + first + "," + first));
}

TEST_CASE("xfs and ext4-writeback journals order entry operations in crash states") {
  auto model = GENERATE(BehaviourModel::kExt4Writeback, BehaviourModel::kXfs);
  INFO("model " << Name(model));
  Disk d(model);
  MemtableFlush(d);
  auto states = d.fs.CrashStates("reorder:2");
  REQUIRE(states.ok());
  REQUIRE_FALSE(states->empty());
  for (const auto& s : *states) CHECK(Show(d, s.id) != "wal=absent sst=absent ");
}

TEST_CASE("RegularFiles: each regular file's first name and size in the volatile view") {
  Disk d;
  d.Mkdir("dir");
  d.FsyncDir("");
  d.Durable("dir/f", "12345");
  Fh g = d.Create("g");
  d.Write(g, 0, "ab");
  const Ino f = d.Resolve("dir/f");
  const Ino g_ino = d.Resolve("g");
  REQUIRE(d.fs.Link(f, kRootIno, "also-f", kWho).ok());
  const Ino dir = d.Resolve("dir");
  const Ino unknown = 9999;
  std::vector<FileSize> files = d.fs.RegularFiles({g_ino, dir, unknown, f});
  REQUIRE(files.size() == 2);  // the directory and the unknown inode left out
  CHECK(files[0].ino == g_ino);
  CHECK(files[0].path == "/g");
  CHECK(files[0].size == 2);
  CHECK(files[1].ino == f);
  CHECK(files[1].path == "/dir/f");
  CHECK(files[1].size == 5);
  // A power cut takes g away (never synced): it is left out too.
  d.Close(g);
  d.Cut();
  files = d.fs.RegularFiles({g_ino, f});
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "/dir/f");
}
