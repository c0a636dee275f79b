// The spill file (crash_model.md, "Memory: the spill file"): versions of
// file pages that only a pending write holds move to a disk and every crash
// state, sync and saved crash point still sees them byte for byte.
// Reproduce with: build/fusefs/model/spill_test "<test name>"
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "fusefs/model/filesystem.h"
#include "fusefs/model/spill_file.h"

using namespace blackout::model;

namespace {

const Caller kWho{1000, 1000, 4242, 022};
constexpr size_t kPages = 4;
constexpr int kVersions = 6;

// Where the tests spill: where `blackout mount` does by default.
std::string SpillDir() { return SpillFile::DefaultDir(); }

// A spill file, or null when this machine's temporary directory cannot hold
// one (no direct I/O there): the test then says so and checks nothing.
std::shared_ptr<SpillFile> OpenSpill() {
  std::string error;
  std::shared_ptr<SpillFile> file = SpillFile::Open(SpillDir(), &error);
  if (!file) WARN("skipped: no spill file on this machine: " << error);
  return file;
}

// kPages whole pages of version `v`: every byte says which version and page.
std::string Version(int v) {
  std::string s;
  for (size_t p = 0; p < kPages; ++p)
    s += std::string(kPageSize, static_cast<char>('A' + v * 8 + p));
  return s;
}

// Writes the file `f` kVersions times over without a sync, with a partial
// write in between and an extension at the end. Returns the seq of each
// version's write.
std::vector<Seq> OverwriteWithoutSync(Filesystem& fs, Fh* fh_out = nullptr) {
  auto c = fs.Create(kRootIno, "f", 0644, O_RDWR | O_CREAT, kWho);
  REQUIRE(c.ok());
  fs.SyncAll();  // the file's entry is durable; its data is not
  std::vector<Seq> seqs;
  for (int v = 0; v < kVersions; ++v) {
    REQUIRE(fs.Write(c->fh, 0, Version(v), kWho).ok());
    seqs.push_back(fs.CurrentSeq());
    if (v == 2) REQUIRE(fs.Write(c->fh, 100, std::string(5000, 'x'), kWho).ok());
  }
  REQUIRE(fs.Write(c->fh, kPages * kPageSize, std::string(2 * kPageSize, 'z'), kWho).ok());
  if (fh_out != nullptr) *fh_out = c->fh;
  return seqs;
}

Options WithSpill(std::shared_ptr<SpillFile> file, uint64_t after) {
  Options o;
  o.spill = std::move(file);
  o.spill_after = after;
  return o;
}

std::string FileIn(const Filesystem& fs, const std::string& state) {
  auto files = fs.CrashStateFiles(state);
  REQUIRE(files.ok());
  for (const StateFile& f : *files) {
    if (f.path == "f") return f.data;
  }
  return "<missing>";
}

// Whether `done()` holds within 10 s: for what the spill thread does on its own.
bool Soon(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Whether Memory().spilled reaches `bytes` within 10 s.
bool SpilledSoon(const Filesystem& fs, uint64_t bytes) {
  return Soon([&] { return fs.Memory().spilled == bytes; });
}

// Checks that `a` and `b` give the same crash states for `generator`: the
// same ids, and trees with the same names, sizes and bytes.
void CheckSameStates(const Filesystem& a, const Filesystem& b, const std::string& generator) {
  INFO("generator " << generator);
  auto sa = a.CrashStates(generator);
  auto sb = b.CrashStates(generator);
  REQUIRE(sa.ok());
  REQUIRE(sb.ok());
  REQUIRE(sa->size() == sb->size());
  for (size_t i = 0; i < sa->size(); ++i) {
    CHECK((*sa)[i].id == (*sb)[i].id);
    CHECK((*sa)[i].tree_hash == (*sb)[i].tree_hash);
  }
}

}  // namespace

TEST_CASE("superseded page versions move to the spill file and every crash state keeps them") {
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  // Spilling is left to the explicit call: the thread waits for 1 GiB.
  Filesystem spilling(WithSpill(file, uint64_t{1} << 30));
  Filesystem in_memory;
  const std::vector<Seq> seqs = OverwriteWithoutSync(spilling);
  OverwriteWithoutSync(in_memory);

  const uint64_t before = spilling.Memory().pending_in_memory;
  // Every version but the last is superseded: no view shows it.
  const uint64_t superseded = (kVersions - 1) * kPages * kPageSize;
  CHECK(spilling.SpillSuperseded() == superseded);
  const MemoryUse use = spilling.Memory();
  CHECK(use.spilled == superseded);
  CHECK(use.pending_in_memory == before - superseded);
  CHECK(use.spill_dir == SpillDir());
  CHECK(spilling.SpillSuperseded() == 0);  // nothing left to move

  for (const char* generator : {"prefix", "reorder:1", "torn"}) {
    CheckSameStates(spilling, in_memory, generator);
  }
  // An old version, read back from the disk.
  std::string second = Version(1);
  CHECK(FileIn(spilling, "prefix:" + std::to_string(seqs[1])) == second);
  REQUIRE(spilling.PowerCutTo("prefix:" + std::to_string(seqs[1])).ok());
  // The cut dropped every pending write; their pages go on another thread.
  CHECK(SpilledSoon(spilling, 0));
}

TEST_CASE("an fsync after spilled versions makes the last one durable and empties the spill") {
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  Filesystem fs(WithSpill(file, uint64_t{1} << 30));
  Fh fh = 0;
  OverwriteWithoutSync(fs, &fh);
  REQUIRE(fs.SpillSuperseded() > 0);
  REQUIRE(fs.Fsync(fh, /*datasync=*/false, kWho).ok());
  CHECK(SpilledSoon(fs, 0));
  CHECK(fs.Memory().pending_in_memory == 0);
  fs.PowerCut();
  auto a = fs.Lookup(kRootIno, "f");
  REQUIRE(a.ok());
  auto h = fs.Open(a->ino, O_RDONLY, kWho);
  REQUIRE(h.ok());
  std::string got;
  REQUIRE(fs.Read(*h, 0, kPages * kPageSize, got).ok());
  CHECK(got == Version(kVersions - 1));
}

TEST_CASE("a sync reads back the spilled pages that no later whole write replaces") {
  // Each sync that applies every pending write of the file may skip a
  // spilled page a later whole-page write replaces, and must read the rest.
  const std::string sync = GENERATE("fdatasync", "ctl sync", "keep-all power cut");
  INFO(sync);
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  Filesystem fs(WithSpill(file, uint64_t{1} << 30));
  auto c = fs.Create(kRootIno, "g", 0644, O_RDWR | O_CREAT, kWho);
  REQUIRE(c.ok());
  fs.SyncAll();
  // Every page of the first write is superseded: page 0 by a 10-byte write
  // over it, pages 2 and 3 by a truncate, page 1 by a whole-page write (the
  // only one the fsync may leave on the disk).
  REQUIRE(fs.Write(c->fh, 0, Version(0), kWho).ok());
  REQUIRE(fs.Write(c->fh, 0, "0123456789", kWho).ok());
  AttrChange truncate;
  truncate.size = 2 * kPageSize;
  REQUIRE(fs.SetAttr(c->attr.ino, truncate, c->fh, kWho).ok());
  REQUIRE(fs.Write(c->fh, kPageSize, std::string(kPageSize, '#'), kWho).ok());
  REQUIRE(fs.SpillSuperseded() == 4 * kPageSize);
  if (sync == "fdatasync") {
    REQUIRE(fs.Fsync(c->fh, /*datasync=*/true, kWho).ok());
  } else if (sync == "ctl sync") {
    fs.SyncAll();
  }
  fs.PowerCut(sync == "keep-all power cut" ? CrashStateKind::kKeepAll : CrashStateKind::kDropAll);
  CHECK(SpilledSoon(fs, 0));
  auto a = fs.Lookup(kRootIno, "g");
  REQUIRE(a.ok());
  auto h = fs.Open(a->ino, O_RDONLY, kWho);
  REQUIRE(h.ok());
  std::string got;
  REQUIRE(fs.Read(*h, 0, 4 * kPageSize, got).ok());
  CHECK(got == "0123456789" + Version(0).substr(10, kPageSize - 10) + std::string(kPageSize, '#'));
}

TEST_CASE("a crash point saved with spilled versions explores like one that never spilled") {
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  Filesystem spilling(WithSpill(file, uint64_t{1} << 30));
  Filesystem in_memory;
  OverwriteWithoutSync(spilling);
  OverwriteWithoutSync(in_memory);
  REQUIRE(spilling.SpillSuperseded() > 0);
  Filesystem loaded;
  REQUIRE(loaded.LoadCrashPoint(spilling.SaveCrashPoint()).ok());
  CheckSameStates(loaded, in_memory, "prefix");
}

TEST_CASE("the spill thread moves versions once pending writes hold more than spill_after") {
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  const uint64_t after = 2 * kPages * kPageSize;
  Filesystem fs(WithSpill(file, after));
  OverwriteWithoutSync(fs);
  // The thread works on its own: wait for it, at most 10 s.
  Soon([&] { return fs.Memory().pending_in_memory <= after; });
  const MemoryUse use = fs.Memory();
  CHECK(use.pending_in_memory <= after);
  CHECK(use.spilled > 0);
  CHECK(use.spill_error.empty());
}

TEST_CASE("spilling stops short of the disk's last free bytes and status says why") {
  std::string error;
  // A file that must leave more free than any disk has: it may not grow.
  std::shared_ptr<SpillFile> file = SpillFile::Open(SpillDir(), &error, ~uint64_t{0} >> 2);
  if (!file) {
    WARN("skipped: no spill file on this machine: " << error);
    return;
  }
  Filesystem fs(WithSpill(file, uint64_t{1} << 30));
  OverwriteWithoutSync(fs);
  const uint64_t before = fs.Memory().pending_in_memory;
  CHECK(fs.SpillSuperseded() == 0);
  const MemoryUse use = fs.Memory();
  CHECK(use.pending_in_memory == before);
  CHECK(use.spilled == 0);
  CHECK(use.spill_error.find("the spill directory " + SpillDir() + " has ") != std::string::npos);
  CHECK(use.spill_error.find("left to other programs") != std::string::npos);
  // Nothing was lost: every version is still there.
  Filesystem in_memory;
  OverwriteWithoutSync(in_memory);
  CheckSameStates(fs, in_memory, "prefix");
}

TEST_CASE("a spill directory that is missing or has no direct I/O is refused, naming it") {
  std::string error;
  CHECK(SpillFile::Open("/nonexistent-spill-dir", &error) == nullptr);
  CHECK(error.find("/nonexistent-spill-dir") != std::string::npos);
  // /dev/shm is tmpfs: spilled pages would stay in memory.
  struct stat st {};
  if (stat("/dev/shm", &st) != 0) {
    WARN("skipped the tmpfs case: this machine has no /dev/shm");
    return;
  }
  error.clear();
  CHECK(SpillFile::Open("/dev/shm", &error) == nullptr);
  CHECK(error.find("/dev/shm") != std::string::npos);
  CHECK(error.find("tmpfs") != std::string::npos);
}

TEST_CASE("the pages of a deleted file whose writes are pending move to the spill file") {
  std::shared_ptr<SpillFile> file = OpenSpill();
  if (!file) return;
  Filesystem fs(WithSpill(file, 0));
  auto c = fs.Create(kRootIno, "f", 0644, O_RDWR | O_CREAT, kWho);
  REQUIRE(c.ok());
  fs.SyncAll();
  REQUIRE(fs.Write(c->fh, 0, Version(1), kWho).ok());
  const Seq write = fs.CurrentSeq();
  // The one version is in view: nothing to move.
  CHECK(fs.Memory().spilled == 0);
  REQUIRE(fs.Unlink(kRootIno, "f", kWho).ok());
  REQUIRE(fs.Release(c->fh).ok());
  fs.Forget(c->attr.ino, 1);
  // The file is gone from view, its pending write is not (a power cut may
  // bring the file back with it): the thread moves its pages on its own.
  // (Their chunk is on the disk a moment before they leave memory.)
  CHECK(Soon([&] { return fs.Memory().pending_in_memory == 0; }));
  CHECK(fs.Memory().spilled == kPages * kPageSize);
  CHECK(FileIn(fs, "prefix:" + std::to_string(write)) == Version(1));
}
