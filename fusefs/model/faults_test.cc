// Unit tests of injected errors, failed-fsync semantics and crash triggers
// (faults.h; crash_model.md, "Faults").
// Reproduce with: build/fusefs/model/faults_test "<test name>"
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <string>

#include "fusefs/model/filesystem.h"

using namespace blackout::model;

namespace {

const Caller kWho{1000, 1000, 4242, 022};

Fh MustCreate(Filesystem& fs, const std::string& name, int flags = O_RDWR | O_CREAT) {
  auto c = fs.Create(kRootIno, name, 0644, flags, kWho);
  REQUIRE(c.ok());
  return c->fh;
}

Ino InoOf(Filesystem& fs, const std::string& name) {
  auto a = fs.Lookup(kRootIno, name);
  REQUIRE(a.ok());
  fs.Forget(a->ino, 1);
  return a->ino;
}

std::string ReadAll(Filesystem& fs, const std::string& name) {
  auto a = fs.Lookup(kRootIno, name);
  if (!a.ok()) return "<missing>";
  auto fh = fs.Open(a->ino, O_RDONLY, kWho);
  REQUIRE(fh.ok());
  std::string out;
  REQUIRE(fs.Read(*fh, 0, 1 << 20, out).ok());
  REQUIRE(fs.Release(*fh).ok());
  fs.Forget(a->ino, 1);
  return out;
}

FaultRule Rule(FaultOp op, const std::string& glob, int err, uint64_t first = 1,
               uint64_t count = 0) {
  FaultRule r;
  r.op = op;
  r.path = glob;
  r.err = err;
  r.first = first;
  r.count = count;
  return r;
}

}  // namespace

TEST_CASE("fault names parse and unknown ones are refused") {
  CHECK(ParseFaultOp("fsyncdir").ok());
  CHECK(*ParseFaultOp("fallocate") == FaultOp::kFallocate);
  CHECK(ParseFaultOp("frobnicate").error() == EINVAL);
  CHECK(*ParseFaultErrno("EDQUOT") == EDQUOT);
  CHECK(ParseFaultErrno("EPERM").error() == EINVAL);
  CHECK(GlobProblem("*.log").empty());
  CHECK(GlobProblem("[ab].log").empty());
  CHECK_FALSE(GlobProblem("[ab.log").empty());
  CHECK_FALSE(GlobProblem("").empty());
}

TEST_CASE("a glob without a slash matches the file name in any directory") {
  CHECK(GlobMatches("*.log", "/a.log"));
  CHECK(GlobMatches("*.log", "/dir/a.log"));
  CHECK_FALSE(GlobMatches("*.log", "/dir/a.db"));
  CHECK(GlobMatches("/dir/*", "/dir/a.db"));
  CHECK_FALSE(GlobMatches("/other/*", "/dir/a.db"));
}

TEST_CASE("an injected write error fails only the matching writes and changes nothing") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  Fh db = MustCreate(fs, "a.db");
  REQUIRE(fs.AddFault(Rule(FaultOp::kWrite, "*.log", ENOSPC)).ok());
  CHECK(fs.Write(log, 0, "x", kWho).error() == ENOSPC);
  CHECK(fs.Write(db, 0, "y", kWho).ok());
  CHECK(ReadAll(fs, "a.log").empty());
  fs.ClearFaults();
  CHECK(fs.Write(log, 0, "x", kWho).ok());
  CHECK(ReadAll(fs, "a.log") == "x");
}

TEST_CASE("--nth fails one matching operation, --from and --count a window of them") {
  Filesystem fs;
  Fh f = MustCreate(fs, "f");
  REQUIRE(fs.AddFault(Rule(FaultOp::kWrite, "*", EIO, 2, 1)).ok());  // nth 2
  CHECK(fs.Write(f, 0, "a", kWho).ok());
  CHECK(fs.Write(f, 1, "b", kWho).error() == EIO);
  CHECK(fs.Write(f, 1, "b", kWho).ok());
  fs.ClearFaults();
  REQUIRE(fs.AddFault(Rule(FaultOp::kWrite, "*", EDQUOT, 2, 2)).ok());  // from 2, count 2
  CHECK(fs.Write(f, 2, "c", kWho).ok());
  CHECK(fs.Write(f, 3, "d", kWho).error() == EDQUOT);
  CHECK(fs.Write(f, 3, "d", kWho).error() == EDQUOT);
  CHECK(fs.Write(f, 3, "d", kWho).ok());
  REQUIRE(fs.Faults().size() == 1);
  CHECK(fs.Faults()[0].fired == 2);
}

TEST_CASE("create, rename, unlink, truncate, fallocate and read faults leave the tree as it was") {
  Filesystem fs;
  Fh f = MustCreate(fs, "f");
  REQUIRE(fs.Write(f, 0, "data", kWho).ok());
  for (FaultOp op : {FaultOp::kCreate, FaultOp::kRename, FaultOp::kUnlink, FaultOp::kTruncate,
                     FaultOp::kFallocate, FaultOp::kRead}) {
    REQUIRE(fs.AddFault(Rule(op, "*", EROFS)).ok());
  }
  CHECK(fs.Create(kRootIno, "g", 0644, O_WRONLY | O_CREAT, kWho).error() == EROFS);
  CHECK(fs.Rename(kRootIno, "f", kRootIno, "h", 0, kWho).error() == EROFS);
  CHECK(fs.Unlink(kRootIno, "f", kWho).error() == EROFS);
  AttrChange trunc;
  trunc.size = 0;
  CHECK(fs.SetAttr(InoOf(fs, "f"), trunc, std::nullopt, kWho).error() == EROFS);
  CHECK(fs.Fallocate(f, 0, 0, 8192, kWho).error() == EROFS);
  std::string out;
  CHECK(fs.Read(f, 0, 10, out).error() == EROFS);
  fs.ClearFaults();
  CHECK(ReadAll(fs, "f") == "data");
  CHECK(fs.Lookup(kRootIno, "g").error() == ENOENT);
}

TEST_CASE("bad fault rules are refused") {
  Filesystem fs;
  CHECK(fs.AddFault(Rule(FaultOp::kWrite, "[x", EIO)).error() == EINVAL);
  CHECK(fs.AddFault(Rule(FaultOp::kWrite, "*", EPERM)).error() == EINVAL);
  CHECK(fs.AddFault(Rule(FaultOp::kWrite, "*", EIO, 0)).error() == EINVAL);
  CrashTrigger t;
  t.nth = 0;
  CHECK(fs.SetCrashTrigger(t).error() == EINVAL);
}

TEST_CASE("ext4: a program that retries fsync after EIO believes its data durable and loses it") {
  for (BehaviourModel m :
       {BehaviourModel::kExt4Ordered, BehaviourModel::kExt4Writeback, BehaviourModel::kXfs}) {
    CAPTURE(Name(m));
    Filesystem fs(Options{m, 0, true});
    Fh f = MustCreate(fs, "data");
    REQUIRE(fs.Fsync(f, false, kWho).ok());  // the empty file is durable
    REQUIRE(fs.Write(f, 0, "committed", kWho).ok());
    REQUIRE(fs.AddFault(Rule(FaultOp::kFsync, "/data", EIO, 1, 1)).ok());
    CHECK(fs.Fsync(f, false, kWho).error() == EIO);
    // The retry succeeds: the pages were marked clean, nothing is left to write.
    CHECK(fs.Fsync(f, false, kWho).ok());
    // The running system still shows the bytes...
    CHECK(ReadAll(fs, "data") == "committed");
    // ...nothing of the file is pending, and unsynced says what a cut loses...
    const Unsynced u = fs.ListUnsynced();
    CHECK(u.files.empty());
    REQUIRE(u.failed_writeback.size() == 1);
    CHECK(u.failed_writeback[0].path == "/data");
    CHECK(u.failed_writeback[0].since > 0);
    // ...and a power cut shows what the disk has.
    fs.PowerCut(CrashStateKind::kKeepAll);
    CHECK(ReadAll(fs, "data").empty());
    CHECK(fs.ListUnsynced().failed_writeback.empty());
  }
}

TEST_CASE("ext4: a failed fsync is reported once to each other open file, not to later opens") {
  Filesystem fs(Options{BehaviourModel::kExt4Ordered, 0, true});
  Fh a = MustCreate(fs, "f");
  Ino ino = InoOf(fs, "f");
  auto b = fs.Open(ino, O_RDWR, kWho);
  REQUIRE(b.ok());
  REQUIRE(fs.Write(a, 0, "x", kWho).ok());
  REQUIRE(fs.AddFault(Rule(FaultOp::kFsync, "*", EIO, 1, 1)).ok());
  CHECK(fs.Fsync(a, false, kWho).error() == EIO);
  auto c = fs.Open(ino, O_RDWR, kWho);
  REQUIRE(c.ok());
  CHECK(fs.Fsync(*b, false, kWho).error() == EIO);
  CHECK(fs.Fsync(*b, false, kWho).ok());
  CHECK(fs.Fsync(*c, false, kWho).ok());
  CHECK(fs.Fsync(a, false, kWho).ok());
}

TEST_CASE("ext4: data written after a failed fsync becomes durable with the next fsync") {
  Filesystem fs(Options{BehaviourModel::kExt4Ordered, 0, true});
  Fh f = MustCreate(fs, "f");
  REQUIRE(fs.Fsync(f, false, kWho).ok());
  REQUIRE(fs.Write(f, 0, "lost", kWho).ok());
  REQUIRE(fs.AddFault(Rule(FaultOp::kFsync, "*", EIO, 1, 1)).ok());
  CHECK(fs.Fsync(f, false, kWho).error() == EIO);
  REQUIRE(fs.Write(f, 4, "kept", kWho).ok());
  REQUIRE(fs.Fsync(f, false, kWho).ok());
  fs.PowerCut(CrashStateKind::kDropAll);
  CHECK(ReadAll(fs, "f") == std::string(4, '\0') + "kept");
}

TEST_CASE("btrfs: after a failed fsync the file reverts to its last durable state at once") {
  Filesystem fs(Options{BehaviourModel::kBtrfs, 0, true});
  std::vector<std::pair<Ino, std::string>> dropped_entries;
  std::vector<Ino> dropped_inodes;
  fs.SetCacheDropListener([&](auto entries, auto inodes) {
    dropped_entries = std::move(entries);
    dropped_inodes = std::move(inodes);
  });
  Fh f = MustCreate(fs, "f");
  REQUIRE(fs.Write(f, 0, "old", kWho).ok());
  REQUIRE(fs.Fsync(f, false, kWho).ok());
  REQUIRE(fs.Write(f, 0, "newer bytes", kWho).ok());
  REQUIRE(fs.AddFault(Rule(FaultOp::kFsync, "*", EIO, 1, 1)).ok());
  CHECK(fs.Fsync(f, false, kWho).error() == EIO);
  CHECK(ReadAll(fs, "f") == "old");
  CHECK(dropped_inodes == std::vector<Ino>{InoOf(fs, "f")});
  fs.PowerCut(CrashStateKind::kKeepAll);
  CHECK(ReadAll(fs, "f") == "old");
}

TEST_CASE("a crash trigger cuts power right after the nth matching fsync") {
  Filesystem fs(Options{BehaviourModel::kExt4Ordered, 0, true});
  int drops = 0;
  fs.SetCacheDropListener([&](auto, auto) { ++drops; });
  Fh log = MustCreate(fs, "a.log");
  Fh other = MustCreate(fs, "b.db");
  CrashTrigger t;
  t.op = FaultOp::kFsync;
  t.path = "*.log";
  t.nth = 2;
  REQUIRE(fs.SetCrashTrigger(t).ok());
  REQUIRE(fs.Write(log, 0, "one", kWho).ok());
  REQUIRE(fs.Fsync(log, false, kWho).ok());
  REQUIRE(fs.Fsync(other, false, kWho).ok());  // does not match
  REQUIRE(fs.Write(log, 3, "two", kWho).ok());
  CHECK(fs.Fsync(log, false, kWho).ok());  // completes, then the power goes
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(drops == 1);
  CHECK(fs.ArmedTriggers().empty());
  CHECK(fs.Write(log, 6, "three", kWho).error() == EIO);  // a handle of the old world
  CHECK(ReadAll(fs, "a.log") == "onetwo");
}

TEST_CASE("a crash trigger with --before cuts power and the operation never happens") {
  Filesystem fs(Options{BehaviourModel::kExt4Ordered, 0, true});
  Fh log = MustCreate(fs, "a.log");
  REQUIRE(fs.Fsync(log, false, kWho).ok());
  REQUIRE(fs.Write(log, 0, "one", kWho).ok());
  CrashTrigger t;
  t.op = FaultOp::kFsync;
  t.path = "*.log";
  t.before = true;
  REQUIRE(fs.SetCrashTrigger(t).ok());
  CHECK(fs.Fsync(log, false, kWho).error() == EIO);
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(ReadAll(fs, "a.log").empty());
}

namespace {

TornWrite Torn(TornWrite::Kind kind, uint64_t occurrence, std::vector<uint64_t> persist) {
  TornWrite t;
  t.kind = kind;
  t.path = "*.log";
  t.occurrence = occurrence;
  t.persist = std::move(persist);
  return t;
}

}  // namespace

TEST_CASE("torn-op: only the persisted parts of the nth write reach the disk, then power goes") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  Fh db = MustCreate(fs, "b.db");
  fs.SyncAll();
  TornWrite t = Torn(TornWrite::Kind::kOp, 2, {1, 3});
  t.parts = 3;
  REQUIRE(fs.AddTornWrite(t).ok());
  REQUIRE(fs.Write(db, 0, "db", kWho).ok());      // another file: not counted
  REQUIRE(fs.Write(log, 0, "AAAA", kWho).ok());   // 1st write: whole, still un-synced
  CHECK(fs.TriggeredCuts() == 0);
  REQUIRE(fs.Write(log, 4, "BBBCCCDDDD", kWho).ok());  // 2nd: parts BBB, CCC, DDDD
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(fs.Write(log, 14, "x", kWho).error() == EIO);
  CHECK(ReadAll(fs, "a.log") == std::string("\0\0\0\0BBB\0\0\0DDDD", 14));
  CHECK(ReadAll(fs, "b.db").empty());
}

TEST_CASE("torn-op: parts_bytes that do not add up to the write inject nothing, as in LazyFS") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  fs.SyncAll();
  TornWrite t = Torn(TornWrite::Kind::kOp, 1, {2});
  t.parts_bytes = {2, 2};
  REQUIRE(fs.AddTornWrite(t).ok());
  REQUIRE(fs.Write(log, 0, "abcde", kWho).ok());
  CHECK(fs.TriggeredCuts() == 0);
  REQUIRE(fs.Write(log, 5, "fghi", kWho).ok());  // the 2nd write is not the occurrence
  CHECK(fs.TriggeredCuts() == 0);
  CHECK(ReadAll(fs, "a.log") == "abcdefghi");
}

TEST_CASE("torn-seq: in the nth group of writes only the persisted ones reach the disk") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  fs.SyncAll();
  REQUIRE(fs.AddTornWrite(Torn(TornWrite::Kind::kSeq, 2, {1, 3})).ok());
  // Group 1: two writes, ended by an fsync (durable).
  REQUIRE(fs.Write(log, 0, "g1a", kWho).ok());
  REQUIRE(fs.Write(log, 3, "g1b", kWho).ok());
  REQUIRE(fs.Fsync(log, false, kWho).ok());
  // Group 2: the 1st and 3rd writes persist; power goes after the 3rd.
  REQUIRE(fs.Write(log, 6, "w1", kWho).ok());
  REQUIRE(fs.Write(log, 8, "w2", kWho).ok());
  CHECK(fs.TriggeredCuts() == 0);
  REQUIRE(fs.Write(log, 10, "w3", kWho).ok());
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(ReadAll(fs, "a.log") == std::string("g1ag1bw1\0\0w3", 12));
}

TEST_CASE("torn-seq: persisting only the 1st write cuts power after the 2nd, which is lost") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  fs.SyncAll();
  REQUIRE(fs.AddTornWrite(Torn(TornWrite::Kind::kSeq, 1, {1})).ok());
  REQUIRE(fs.Write(log, 0, "first", kWho).ok());
  CHECK(fs.TriggeredCuts() == 0);
  REQUIRE(fs.Write(log, 5, "second", kWho).ok());
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(ReadAll(fs, "a.log") == "first");
}

TEST_CASE("torn writes with no part, a part out of range or both part forms are refused") {
  Filesystem fs;
  TornWrite none = Torn(TornWrite::Kind::kOp, 1, {});
  none.parts = 2;
  CHECK(fs.AddTornWrite(none).error() == EINVAL);
  TornWrite out_of_range = Torn(TornWrite::Kind::kOp, 1, {3});
  out_of_range.parts = 2;
  CHECK(TornWriteProblem(out_of_range).find("part 3 of 2") != std::string::npos);
  TornWrite both = Torn(TornWrite::Kind::kOp, 1, {1});
  both.parts = 2;
  both.parts_bytes = {1, 1};
  CHECK_FALSE(TornWriteProblem(both).empty());
  CHECK_FALSE(TornWriteProblem(Torn(TornWrite::Kind::kSeq, 0, {1})).empty());
  CHECK(TornWriteProblem(Torn(TornWrite::Kind::kSeq, 1, {2, 4})).empty());
}

TEST_CASE("several armed triggers each fire once, in the order their operations come") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  Fh db = MustCreate(fs, "b.db");
  fs.SyncAll();
  CrashTrigger on_db;
  on_db.op = FaultOp::kFsync;
  on_db.path = "*.db";
  CrashTrigger on_log = on_db;
  on_log.path = "*.log";
  on_log.nth = 2;
  auto db_id = fs.AddCrashTrigger(on_db);
  auto log_id = fs.AddCrashTrigger(on_log);
  auto torn_id = fs.AddTornWrite(Torn(TornWrite::Kind::kSeq, 1, {1}));
  REQUIRE((db_id.ok() && log_id.ok() && torn_id.ok()));
  CHECK(fs.ArmedTriggers().size() == 2);
  REQUIRE(fs.Fsync(log, false, kWho).ok());  // 1st fsync of a.log: counted only
  REQUIRE(fs.Fsync(db, false, kWho).ok());   // fires on_db
  CHECK(fs.TakeFiredTriggers() == std::vector<uint64_t>{*db_id});
  CHECK(fs.TakeFiredTriggers().empty());
  Fh log2 = *fs.Open(InoOf(fs, "a.log"), O_RDWR, kWho);
  REQUIRE(fs.Write(log2, 0, "one", kWho).ok());
  REQUIRE(fs.Write(log2, 3, "two", kWho).ok());  // fires the torn write: "one" kept
  REQUIRE(fs.Fsync(*fs.Open(InoOf(fs, "a.log"), O_RDWR, kWho), false, kWho).ok());  // fires on_log
  CHECK(fs.TakeFiredTriggers() == std::vector<uint64_t>{*torn_id, *log_id});
  CHECK(fs.TriggeredCuts() == 3);
  CHECK(fs.ArmedTriggers().empty());
  CHECK(ReadAll(fs, "a.log") == "one");
}

TEST_CASE("open, link and symlink can fail by injection and trigger a crash") {
  Filesystem fs;
  Fh f = MustCreate(fs, "a.log");
  REQUIRE(fs.Release(f).ok());
  fs.SyncAll();
  const Ino ino = InoOf(fs, "a.log");
  REQUIRE(fs.AddFault(Rule(FaultOp::kOpen, "*.log", EIO, 1, 1)).ok());
  CHECK(fs.Open(ino, O_RDONLY, kWho).error() == EIO);
  REQUIRE(fs.Open(ino, O_RDONLY, kWho).ok());  // the window was one open
  REQUIRE(fs.AddFault(Rule(FaultOp::kSymlink, "/s*", EROFS)).ok());
  CHECK(fs.Symlink(kRootIno, "s", "a.log", kWho).error() == EROFS);
  CHECK(ReadAll(fs, "s") == "<missing>");
  CrashTrigger t;
  t.op = FaultOp::kLink;
  t.path = "/b.log";  // the new name
  REQUIRE(fs.AddCrashTrigger(t).ok());
  REQUIRE(fs.Link(ino, kRootIno, "b.log", kWho).ok());  // completes, then the power goes
  CHECK(fs.TriggeredCuts() == 1);
  CHECK(ReadAll(fs, "b.log") == "<missing>");  // the new name was never synced
  CHECK(ParseFaultOp("symlink").ok());
}

namespace {

// The file's bytes in crash state `id` of `fs`, "<missing>" when absent.
std::string StateFileData(const Filesystem& fs, const std::string& id, const std::string& path) {
  auto files = fs.CrashStateFiles(id);
  REQUIRE(files.ok());
  for (const StateFile& f : *files)
    if (f.path == path) return f.data;
  return "<missing>";
}

}  // namespace

TEST_CASE("a saving trigger captures the crash point inside a rewrite and cuts nothing") {
  // The WAL truncate of the reference engine: open "wb" (O_TRUNC), rewrite
  // the records it keeps, fsync. A crash point right before that fsync has
  // the truncate and the rewrite pending; a saving trigger captures exactly
  // that, and the program goes on as if nothing were armed.
  Filesystem fs(Options{BehaviourModel::kPosixStrict, 0, true});
  Fh log = MustCreate(fs, "a.log");
  REQUIRE(fs.Write(log, 0, "old-records", kWho).ok());
  REQUIRE(fs.Fsync(log, false, kWho).ok());
  fs.SyncAll();  // the directory entry too: only the rewrite is pending below
  CrashTrigger before_fsync;
  before_fsync.op = FaultOp::kFsync;
  before_fsync.path = "*.log";
  before_fsync.before = true;
  before_fsync.save = true;
  CrashTrigger after_write = before_fsync;
  after_write.op = FaultOp::kWrite;
  after_write.before = false;
  auto fsync_id = fs.AddCrashTrigger(before_fsync);
  auto write_id = fs.AddCrashTrigger(after_write);
  REQUIRE((fsync_id.ok() && write_id.ok()));
  auto rewrite = fs.Open(InoOf(fs, "a.log"), O_WRONLY | O_TRUNC, kWho);
  REQUIRE(rewrite.ok());
  REQUIRE(fs.Write(*rewrite, 0, "kept", kWho).ok());
  const Seq at_write = fs.CurrentSeq();
  CHECK(fs.Fsync(*rewrite, false, kWho).ok());  // happens: nothing was cut
  CHECK(fs.TriggeredCuts() == 0);
  CHECK(fs.TakeFiredTriggers().empty());
  CHECK(fs.ArmedTriggers().empty());        // each fired once
  CHECK(fs.Write(log, 4, "+", kWho).ok());  // old handles still work
  std::vector<SavedCrashPoint> saved = fs.TakeSavedCrashPoints();
  REQUIRE(saved.size() == 2);
  CHECK(fs.TakeSavedCrashPoints().empty());
  // Both captured with the same pending ops (truncate, write): after the
  // write and before the fsync are one trace position.
  CHECK(saved[0].trigger == *write_id);
  CHECK(saved[1].trigger == *fsync_id);
  for (const SavedCrashPoint& sp : saved) {
    CHECK(sp.seq == at_write);
    CHECK(sp.path == "/a.log");
    Filesystem offline(Options{BehaviourModel::kPosixStrict, 0, false});
    REQUIRE(offline.LoadCrashPoint(sp.bytes).ok());
    // drop-all keeps the old records, keep-all the rewrite; a prefix keeps
    // the O_TRUNC without the rewrite: the file is empty, the loss the WAL
    // scenario shows.
    CHECK(StateFileData(offline, "drop-all", "a.log") == "old-records");
    CHECK(StateFileData(offline, "keep-all", "a.log") == "kept");
    auto prefixes = offline.CrashStates("prefix");
    REQUIRE(prefixes.ok());
    bool emptied = false;
    for (const CrashStateInfo& st : *prefixes)
      emptied |= st.kept.size() == 1 && StateFileData(offline, st.id, "a.log").empty();
    CHECK(emptied);
  }
  CHECK(saved[0].op == FaultOp::kWrite);
  CHECK_FALSE(saved[0].before);
  CHECK(saved[1].op == FaultOp::kFsync);
  CHECK(saved[1].before);
}

TEST_CASE("a saving trigger and a cutting one on the same operation both fire, the save first") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  fs.SyncAll();
  REQUIRE(fs.Write(log, 0, "one", kWho).ok());
  CrashTrigger cut;
  cut.op = FaultOp::kFsync;
  cut.path = "*.log";
  CrashTrigger save = cut;
  save.save = true;
  REQUIRE(fs.AddCrashTrigger(save).ok());
  REQUIRE(fs.AddCrashTrigger(cut).ok());
  CHECK(fs.Fsync(log, false, kWho).ok());
  CHECK(fs.TriggeredCuts() == 1);
  std::vector<SavedCrashPoint> saved = fs.TakeSavedCrashPoints();
  REQUIRE(saved.size() == 1);
  Filesystem offline;
  REQUIRE(offline.LoadCrashPoint(saved[0].bytes).ok());
  // Saved after the fsync, before the cut: the data is durable in it.
  CHECK(StateFileData(offline, "drop-all", "a.log") == "one");
}

TEST_CASE("a saving trigger with every saves before each matching fsync from the nth on") {
  Filesystem fs;
  Fh log = MustCreate(fs, "a.log");
  fs.SyncAll();
  CrashTrigger t;
  t.op = FaultOp::kFsync;
  t.path = "*.log";
  t.nth = 2;
  t.before = true;
  t.every = true;
  CHECK(fs.AddCrashTrigger(t).error() == EINVAL);  // every saves, never cuts
  t.save = true;
  REQUIRE(fs.AddCrashTrigger(t).ok());
  std::vector<Seq> before_fsync;
  for (const char* data : {"one", "two", "three"}) {
    REQUIRE(fs.Write(log, 0, data, kWho).ok());
    before_fsync.push_back(fs.CurrentSeq());
    REQUIRE(fs.Fsync(log, false, kWho).ok());
  }
  CHECK(fs.ArmedTriggers().size() == 1);  // still armed
  std::vector<SavedCrashPoint> saved = fs.TakeSavedCrashPoints();
  REQUIRE(saved.size() == 2);
  CHECK(saved[0].nth == 2);
  CHECK(saved[1].nth == 3);
  CHECK(saved[0].seq == before_fsync[1]);
  CHECK(saved[1].seq == before_fsync[2]);
  Filesystem offline;
  REQUIRE(offline.LoadCrashPoint(saved[1].bytes).ok());
  CHECK(StateFileData(offline, "drop-all", "a.log") == "two");
  CHECK(StateFileData(offline, "keep-all", "a.log") == "three");
}
