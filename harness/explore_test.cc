// Unit tests of the offline explorer's building blocks: crash points loaded
// from SaveCrashPoint bytes, the generators' states, dedup by tree hash, the
// diagnosis (with re-checks answered by the model itself), the minimizer's
// workload expansion and delta debugging.
#include "harness/explore.h"

#include <fcntl.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fusefs/model/filesystem.h"
#include "harness/diagnosis.h"
#include "harness/minimize.h"
#include "harness/timeline.h"
#include "harness/util.h"

namespace {

using namespace blackout;
using namespace blackout::model;
using nlohmann::json;
namespace fs = std::filesystem;

const Caller kWho{1000, 1000, 4242, 022};

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "explore-test-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

// A tiny driver of the model, as the FUSE adapter drives it.
struct Disk {
  explicit Disk(BehaviourModel m = BehaviourModel::kPosixStrict) : fs(Options{m, 0, true}) {}
  Filesystem fs;
  Ino Lookup(Ino dir, const std::string& name) {
    auto a = fs.Lookup(dir, name);
    return a.ok() ? a->ino : 0;
  }
  Ino Mkdir(const std::string& name) {
    auto a = fs.Mkdir(kRootIno, name, 0755, kWho);
    REQUIRE(a.ok());
    return a->ino;
  }
  Fh Create(Ino dir, const std::string& name) {
    auto c = fs.Create(dir, name, 0644, O_WRONLY | O_CREAT, kWho);
    REQUIRE(c.ok());
    return c->fh;
  }
  void Write(Fh fh, uint64_t off, const std::string& data) {
    auto w = fs.Write(fh, off, data, kWho);
    REQUIRE(w.ok());
  }
  void Fsync(Fh fh) { REQUIRE(fs.Fsync(fh, false, kWho).ok()); }
  void FsyncDir(Ino d) {
    auto fh = fs.OpenDir(d, kWho);
    REQUIRE(fh.ok());
    REQUIRE(fs.FsyncDir(*fh, false, kWho).ok());
    REQUIRE(fs.ReleaseDir(*fh).ok());
  }
  void SyncAll() { fs.SyncAll(); }
  // A new empty file in `dir` (a directory of the root), durable with its
  // entries; its handle stays open.
  Fh DurableFile(Ino dir, const std::string& name) {
    const Fh fh = Create(dir, name);
    Fsync(fh);
    FsyncDir(dir);
    FsyncDir(kRootIno);
    return fh;
  }
};

// The files of crash state `id` of `f`, "name=content" sorted, "" if none.
std::string Files(const Filesystem& f, const std::string& id, const std::string& sub = "db") {
  TempDir t;
  const fs::path root = t.path / "s";
  auto r = f.MaterializeCrashState(id, root.string());
  REQUIRE(r.ok());
  std::set<std::string> out;
  if (fs::exists(root / sub))
    for (const auto& e : fs::directory_iterator(root / sub))
      out.insert(e.path().filename().string() + "=" + Slurp(e.path()));
  std::string s;
  for (const auto& x : out) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::unique_ptr<Filesystem> Reload(const Filesystem& live,
                                   BehaviourModel m = BehaviourModel::kPosixStrict) {
  auto f = std::make_unique<Filesystem>(Options{m, 0, false});
  REQUIRE(f->LoadCrashPoint(live.SaveCrashPoint()).ok());
  return f;
}

TEST_CASE("an fsynced file whose directory entry is pending keeps its data in a loaded crash point") {
  // The 1,000-put bitcask bug: the data file was created (entry pending, no
  // directory fsync) and every put fsynced it. keep-all and the prefix that
  // keeps the create must show the data; only states without the create
  // lose the file.
  Disk d;
  const Ino db = d.Mkdir("db");
  d.SyncAll();
  const Fh fh = d.Create(db, "0.data");
  for (int i = 0; i < 1000; ++i) {
    d.Write(fh, i * 4, "p" + std::string(3, static_cast<char>('0' + i % 10)));
    d.Fsync(fh);
  }
  std::string want;
  for (int i = 0; i < 1000; ++i) want += "p" + std::string(3, static_cast<char>('0' + i % 10));
  CHECK(Files(d.fs, "keep-all") == "0.data=" + want);
  auto offline = Reload(d.fs);
  CHECK(Files(*offline, "keep-all") == "0.data=" + want);
  auto prefix = offline->CrashStates("prefix");
  REQUIRE(prefix.ok());
  REQUIRE(prefix->size() == 2);  // without and with the create
  CHECK(Files(*offline, (*prefix)[0].id).empty());
  CHECK(Files(*offline, (*prefix)[1].id) == "0.data=" + want);
}


json TraceJson(const Filesystem& f) {
  json entries = json::array();
  for (const TraceEntry& e : f.Trace())
    entries.push_back({{"seq", e.seq},
                       {"op", e.op},
                       {"ino", e.ino},
                       {"path", e.path},
                       {"offset", e.offset},
                       {"length", e.length},
                       {"detail", e.detail}});
  return {{"entries", entries}};
}

// db/ durable; then db/f created and written, nothing synced: two pending
// ops, create (seq c) and write (seq w).
struct TwoPending {
  Disk d;
  Ino db = 0;
  Seq create = 0, write = 0;
  explicit TwoPending(BehaviourModel m = BehaviourModel::kPosixStrict) : d(m) {
    db = d.Mkdir("db");
    d.SyncAll();
    const Fh fh = d.Create(db, "f");
    create = d.fs.CurrentSeq();
    d.Write(fh, 0, "hello");
    write = d.fs.CurrentSeq();
  }
};

TEST_CASE("a state with an earlier state's tree gets its outcome and its own description") {
  TwoPending t;
  const json entries = TraceJson(t.d.fs)["entries"];
  std::map<uint64_t, json> trace;
  for (const auto& e : entries) trace[e["seq"].get<uint64_t>()] = e;
  CrashStateInfo torn;  // the write torn at 0 bytes: the tree of "create only"
  torn.id = "torn:" + std::to_string(t.write) + ":0";
  torn.generator = "torn";
  torn.kept = {t.create, t.write};
  torn.torn = t.write;
  CrashStateInfo prefix;
  prefix.id = "prefix:" + std::to_string(t.create);
  prefix.generator = "prefix";
  prefix.kept = {t.create};
  prefix.dropped = {t.write};

  harness::CrashStateResult first;
  first.state = torn.id;
  first.check.lost_writes = 1;
  first.seconds = 2.5;
  first.exploration = harness::DescribeState(torn, trace);
  first.exploration["diagnosis"] = {{"found", false}};
  REQUIRE(first.exploration.contains("torn"));

  harness::CrashStateResult same = first;
  harness::SameTreeResult(prefix, torn, trace, &same);
  CHECK(same.state == prefix.id);
  CHECK(same.seconds == 0);
  CHECK(same.check.lost_writes == 1);  // the outcome is the first state's
  CHECK(same.exploration["diagnosis"] == first.exploration["diagnosis"]);
  CHECK(same.exploration["same_tree_as"] == torn.id);
  CHECK(same.exploration["id"] == prefix.id);
  CHECK(same.exploration["generator"] == "prefix");
  CHECK(same.exploration["dropped_ops"] == 1);
  CHECK_FALSE(same.exploration.contains("torn"));  // prefix tore nothing

  harness::CrashStateResult back = same;
  harness::SameTreeResult(torn, prefix, trace, &back);
  CHECK(back.exploration["torn"] == first.exploration["torn"]);
  CHECK(back.exploration["dropped_ops"] == 0);
}

TEST_CASE("generators list the states the crash model promises, each tree once") {
  TwoPending t;
  auto offline = Reload(t.d.fs);
  auto prefix = offline->CrashStates("prefix");
  REQUIRE(prefix.ok());
  std::vector<std::string> ids;
  for (const auto& s : *prefix) ids.push_back(s.id);
  CHECK(ids == std::vector<std::string>{"prefix:0", "prefix:" + std::to_string(t.create),
                                        "prefix:" + std::to_string(t.write)});
  CHECK(Files(*offline, ids[0]).empty());
  CHECK(Files(*offline, ids[1]) == "f=");
  CHECK(Files(*offline, ids[2]) == "f=hello");
  CHECK((*prefix)[1].kept == std::vector<Seq>{t.create});
  CHECK((*prefix)[1].dropped == std::vector<Seq>{t.write});

  // reorder:1 drops one op and keeps a later one: only "write without its
  // create", whose tree (the file unreachable) equals drop-all's.
  auto reorder = offline->CrashStates("reorder:1");
  REQUIRE(reorder.ok());
  REQUIRE(reorder->size() == 1);
  CHECK((*reorder)[0].dropped == std::vector<Seq>{t.create});
  CHECK((*reorder)[0].tree_hash == (*prefix)[0].tree_hash);  // dedup key of the explorer
  CHECK((*reorder)[0].tree_hash != (*prefix)[2].tree_hash);

  // Within one generator every listed tree is distinct.
  for (const char* g : {"prefix", "reorder:2", "random:16", "torn"}) {
    auto states = offline->CrashStates(g, 7);
    REQUIRE(states.ok());
    std::set<uint64_t> hashes;
    for (const auto& s : *states) CHECK(hashes.insert(s.tree_hash).second);
  }
}

// Runs the diagnosis of crash state `lost` of `f` (a loaded crash point,
// `trace` the recording's), re-checking with the
// model itself: a state passes when db/f holds "hello".
harness::Diagnosis DiagnoseLoss(const Filesystem& f, const json& trace,
                                const CrashStateInfo& lost, const std::string& model) {
  harness::DiagnosisInput in;
  in.trace = &trace;
  in.model = model;
  in.kept = lost.kept;
  in.dropped = lost.dropped;
  in.violated = {"acked-durable"};
  in.lost_writes = 1;
  in.recheck = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    TempDir t;
    REQUIRE(f.MaterializeCrashState(id, (t.path / "s").string()).ok());
    if (Slurp(t.path / "s" / "db" / "f") == "hello") return std::vector<std::string>{};
    return std::vector<std::string>{"acked-durable"};
  };
  return harness::Diagnose(in);
}

// Twelve files in db/, each fsynced, their entries pending: every prefix
// state loses the files created after it, and their diagnoses re-check the
// same candidate states (the one keeping every entry, bisection halves).
TEST_CASE("RecheckMemo: across the diagnoses each distinct tree is checked once") {
  Disk d;
  const Ino db = d.Mkdir("db");
  d.SyncAll();
  for (int i = 0; i < 12; ++i) {
    const Fh fh = d.Create(db, "f" + std::to_string(i));
    d.Write(fh, 0, "r");
    d.Fsync(fh);
  }
  const json trace = TraceJson(d.fs);
  auto offline = Reload(d.fs);
  auto states = offline->CrashStates("prefix");
  REQUIRE(states.ok());
  REQUIRE(states->size() == 13);
  // The check: every file there. Counts what it really checks, by tree.
  std::multiset<uint64_t> checked;
  auto check = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    auto h = offline->CrashStateHash(id);
    REQUIRE(h.ok());
    checked.insert(*h);
    const std::string files = Files(*offline, id);
    if (std::count(files.begin(), files.end(), '=') == 12) return std::vector<std::string>{};
    return std::vector<std::string>{"acked-durable"};
  };
  auto diagnose = [&](const CrashStateInfo& s, harness::DiagnosisInput::Recheck recheck) {
    harness::DiagnosisInput in;
    in.trace = &trace;
    in.kept = s.kept;
    in.dropped = s.dropped;
    in.violated = {"acked-durable"};
    in.lost_writes = 1;
    in.recheck = std::move(recheck);
    return harness::Diagnose(in);
  };

  // As the explorer goes: every state checked, then the violating ones diagnosed.
  harness::RecheckMemo memo(*offline);
  std::vector<const CrashStateInfo*> violating;
  for (const auto& s : *states) {
    auto v = check(s.id);
    REQUIRE(v.has_value());
    memo.Put(s.tree_hash, *v);
    if (!v->empty()) violating.push_back(&s);
  }
  REQUIRE(violating.size() == 12);
  std::vector<harness::Diagnosis> with_memo;
  int known = 0;
  for (const CrashStateInfo* s : violating)
    with_memo.push_back(diagnose(*s, memo.Wrap(check, &known)));
  for (uint64_t h : checked) CHECK(checked.count(h) == 1);
  int rechecks = 0;
  for (const auto& dg : with_memo) rechecks += dg.rechecks;
  CHECK(known > 0);
  CHECK(static_cast<int>(checked.size()) == 13 + rechecks - known);

  // The same diagnoses as without the memo.
  for (size_t i = 0; i < with_memo.size(); ++i) {
    const auto plain = diagnose(*violating[i], check);
    CHECK(plain.found);
    CHECK(plain.text == with_memo[i].text);
    CHECK(plain.rechecks == with_memo[i].rechecks);
  }

  // A check that could not be made is not remembered: asked again, it runs.
  harness::RecheckMemo fresh(*offline);
  int runs = 0;
  int none = 0;
  auto failing = fresh.Wrap(
      [&](const std::string&) -> std::optional<std::vector<std::string>> {
        ++runs;
        return std::nullopt;
      },
      &none);
  CHECK_FALSE(failing("keep-all").has_value());
  CHECK_FALSE(failing("keep-all").has_value());
  CHECK(runs == 2);
  CHECK(none == 0);
}

TEST_CASE("the diagnosis names the missing directory fsync and verifies it") {
  TwoPending t;
  const Fh fh = t.d.Create(t.db, "g");  // unrelated, so f's ops are not the only ones
  (void)fh;
  // f's data is fsynced; its directory entry is not.
  Disk& d = t.d;
  auto h = d.fs.Lookup(t.db, "f");
  REQUIRE(h.ok());
  auto open = d.fs.Open(h->ino, O_WRONLY, kWho);
  REQUIRE(open.ok());
  d.Fsync(*open);
  auto offline = Reload(d.fs);
  auto states = offline->CrashStates("drop-all");
  REQUIRE(states.ok());
  const auto dg = DiagnoseLoss(*offline, TraceJson(d.fs), (*states)[0], "posix-strict");
  REQUIRE(dg.found);
  REQUIRE(dg.fixes.size() == 1);
  CHECK(dg.fixes[0].directory);
  CHECK(dg.fixes[0].path == "db");
  CHECK(dg.fixes[0].after_seq == t.create);
  CHECK(dg.text == "fsync of directory db/ after trace #" + std::to_string(t.create) +
                       " (create db/f) would have prevented the loss of 1 acknowledged write");
}

TEST_CASE("the diagnosis re-checks a fix under the scenario's behaviour model") {
  // Both ops of f pending and lost. Under posix-strict an fsync of f makes
  // only its data durable, so the fix needs the directory too; under
  // ext4-ordered (and xfs) the fsync of f commits the journal, the create
  // with it: one file fsync suffices.
  TwoPending t;
  auto offline = Reload(t.d.fs);
  auto states = offline->CrashStates("drop-all");
  REQUIRE(states.ok());
  const auto strict = DiagnoseLoss(*offline, TraceJson(t.d.fs), (*states)[0], "posix-strict");
  REQUIRE(strict.found);
  CHECK(strict.fixes.size() == 2);
  for (const char* m : {"ext4-ordered", "xfs", "btrfs"}) {
    const auto dg = DiagnoseLoss(*offline, TraceJson(t.d.fs), (*states)[0], m);
    INFO(m << ": " << dg.text);
    REQUIRE(dg.found);
    REQUIRE(dg.fixes.size() == 1);
    CHECK_FALSE(dg.fixes[0].directory);
    CHECK(dg.fixes[0].path == "db/f");
    CHECK(dg.fixes[0].after_seq == t.write);
  }
}

TEST_CASE("the diagnosis finds the earliest working sync among hundreds of writes in a few re-checks") {
  Disk d;
  const Ino db = d.Mkdir("db");
  const Fh fh = d.DurableFile(db, "f");
  for (int i = 0; i < 300; ++i) d.Write(fh, i, "x");
  auto offline = Reload(d.fs);
  const json trace = TraceJson(d.fs);
  std::vector<uint64_t> writes;
  for (const auto& e : trace["entries"])
    if (e["op"] == "write") writes.push_back(e["seq"]);
  REQUIRE(writes.size() == 300);
  auto states = offline->CrashStates("drop-all");
  REQUIRE(states.ok());
  // The program acknowledged its 120th byte: a state passes when db/f holds
  // at least 120 bytes (read from the state in memory, as in-memory recovery does).
  harness::DiagnosisInput in = harness::DiagnosisFor(&trace, "posix-strict", (*states)[0]);
  in.violated = {"acked-durable"};
  in.lost_writes = 1;
  int rechecks = 0;
  in.recheck = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    ++rechecks;
    auto files = offline->CrashStateFiles(id);
    REQUIRE(files.ok());
    for (const auto& f : *files)
      if (f.path == "db/f" && f.data.size() >= 120) return std::vector<std::string>{};
    return std::vector<std::string>{"acked-durable"};
  };
  const auto dg = harness::Diagnose(in);
  REQUIRE(dg.found);
  REQUIRE(dg.fixes.size() == 1);
  CHECK(dg.fixes[0].path == "db/f");
  CHECK(dg.fixes[0].after_seq == writes[119]);
  CHECK(rechecks <= 12);  // bisection: 1 + about log2(300), not 120
}

TEST_CASE("a diagnosis tries a file's sync before the truncate that emptied it") {
  // An LSM flush in miniature: the log is written, a new table is created
  // and written, then the log is truncated. A state passes when the log
  // still holds its record or the table holds it. One fsync of the log
  // before its truncate saves the state; after it, the truncate itself
  // would be durable. The table needs two (its directory and itself).
  Disk d;
  const Ino db = d.Mkdir("db");
  const Fh log = d.DurableFile(db, "log");
  d.Write(log, 0, "abc");
  const Fh table = d.Create(db, "table");
  d.Write(table, 0, "T");
  model::AttrChange empty;
  empty.size = 0;
  REQUIRE(d.fs.SetAttr(d.Lookup(db, "log"), empty, log, kWho).ok());
  auto offline = Reload(d.fs);
  const json trace = TraceJson(d.fs);
  uint64_t log_write = 0;
  for (const auto& e : trace["entries"])
    if (e["op"] == "write" && e["path"] == "/db/log") log_write = e["seq"];
  REQUIRE(log_write != 0);
  auto states = offline->CrashStates("drop-all");
  REQUIRE(states.ok());
  harness::DiagnosisInput in = harness::DiagnosisFor(&trace, "posix-strict", (*states)[0]);
  in.violated = {"acked-durable"};
  in.lost_writes = 1;
  in.recheck = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    auto files = offline->CrashStateFiles(id);
    REQUIRE(files.ok());
    for (const auto& f : *files)
      if ((f.path == "db/log" && f.data == "abc") || (f.path == "db/table" && f.data == "T"))
        return std::vector<std::string>{};
    return std::vector<std::string>{"acked-durable"};
  };
  const auto dg = harness::Diagnose(in);
  REQUIRE(dg.found);
  REQUIRE(dg.fixes.size() == 1);
  CHECK(dg.fixes[0].path == "db/log");
  CHECK_FALSE(dg.fixes[0].directory);
  CHECK(dg.fixes[0].after_seq == log_write);
}

// The diagnosis of drop-all after `n` new files in db/, none synced, under
// `model`, where a state passes only with every one of them whole.
harness::Diagnosis DiagnoseNewFiles(BehaviourModel model, const std::string& name, int n) {
  Disk d(model);
  const Ino db = d.Mkdir("db");
  d.SyncAll();
  for (int i = 0; i < n; ++i) d.Write(d.Create(db, "f" + std::to_string(i)), 0, "v");
  auto offline = Reload(d.fs, model);
  const json trace = TraceJson(d.fs);
  auto states = offline->CrashStates("drop-all");
  REQUIRE(states.ok());
  harness::DiagnosisInput in = harness::DiagnosisFor(&trace, name, (*states)[0]);
  in.violated = {"acked-durable"};
  in.lost_writes = n;
  in.recheck = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    auto files = offline->CrashStateFiles(id);
    REQUIRE(files.ok());
    int whole = 0;
    for (const auto& f : *files) whole += f.path.rfind("db/f", 0) == 0 && f.data == "v";
    if (whole == n) return std::vector<std::string>{};
    return std::vector<std::string>{"acked-durable"};
  };
  return harness::Diagnose(in);
}

TEST_CASE("a loss that only syncing everything removes is diagnosed so, past the search budget") {
  // No single sync or pair saves sixty new files, and the singles alone
  // use up the re-check budget.
  const auto dg = DiagnoseNewFiles(BehaviourModel::kPosixStrict, "posix-strict", 60);
  CHECK(dg.found);
  CHECK(dg.fixes.size() == 61);  // every file, and the directory
  CHECK(dg.text.find("would have prevented the loss of 60 acknowledged writes") !=
        std::string::npos);
}

TEST_CASE("a diagnosis that needs many syncs leaves out those it does not need") {
  // Under ext4-ordered a file's fsync commits the journal, the new entries
  // with it, so the three file fsyncs suffice: no directory fsync is named.
  const auto dg = DiagnoseNewFiles(BehaviourModel::kExt4Ordered, "ext4-ordered", 3);
  REQUIRE(dg.found);
  CHECK(dg.fixes.size() == 3);
  for (const auto& f : dg.fixes) CHECK_FALSE(f.directory);
}

TEST_CASE("an explored state's timeline gives the power cut a trace position of its own") {
  const json trace = json::parse(R"({"entries": [
      {"seq": 1, "op": "create", "path": "/db/log", "ino": 3},
      {"seq": 2, "op": "write", "path": "/db/log", "ino": 3, "offset": 0, "length": 3},
      {"seq": 3, "op": "write", "path": "/db/log", "ino": 3, "offset": 3, "length": 3}]})");
  const json tl = harness::ExploredTimeline(trace, 3, {}, "prefix:2", {2}, {3}, 0, 100);
  CHECK(tl["crash_seq"] == 4);
  std::set<uint64_t> seqs;
  bool cut = false;
  for (const auto& e : tl["entries"]) {
    CHECK(seqs.insert(e["seq"].get<uint64_t>()).second);  // no position named twice
    if (e["op"] == "power-cut") cut = e["seq"] == 4;
    if (e["seq"] == 3) CHECK(e["fate"] == "dropped");
    if (e["seq"] == 2) CHECK(e["fate"] == "kept");
  }
  CHECK(cut);
}

TEST_CASE("minimize expands repeat entries with {i} substituted everywhere") {
  const json w = json::parse(R"([{"step":"sync"},
      {"op":"put","key":"k{i}","value":"v{i}-{i}","repeat":3},
      {"op":"append_batch","items":[{"key":"b{i}","value":"x"}],"repeat":1}])");
  const auto e = harness::ExpandWorkload(w);
  REQUIRE(e.size() == 5);
  CHECK(e[0] == json{{"step", "sync"}});
  CHECK(e[3] == json{{"op", "put"}, {"key", "k2"}, {"value", "v2-2"}});
  CHECK(e[4]["items"][0]["key"] == "b0");
  CHECK_FALSE(e[4].contains("repeat"));
}

TEST_CASE("delta debugging finds the elements a failure needs, keeping pinned ones") {
  int asked = 0;
  auto needs_3_and_11 = [&](const std::vector<int>& xs) {
    ++asked;
    return std::count(xs.begin(), xs.end(), 3) && std::count(xs.begin(), xs.end(), 11);
  };
  auto r = harness::DeltaDebug(16, {}, needs_3_and_11, [] { return true; });
  CHECK(r == std::vector<int>{3, 11});
  r = harness::DeltaDebug(16, {7}, needs_3_and_11, [] { return true; });
  CHECK(r == std::vector<int>{3, 7, 11});
  // A budget stops it: what it returns still fails.
  asked = 0;
  r = harness::DeltaDebug(16, {}, needs_3_and_11, [&] { return asked < 2; });
  CHECK(needs_3_and_11(r));
  CHECK(r.size() > 2);
}

}  // namespace

TEST_CASE("recovery messages name a crash state's files relative to its root") {
  CHECK(harness::RelativeTo("/tmp/blackout-run-x/mnt",
                            "Corruption: /tmp/blackout-run-x/mnt/store/4.hint offset 30; see "
                            "/tmp/blackout-run-x/mnt/store/5.data") ==
        "Corruption: store/4.hint offset 30; see store/5.data");
  CHECK(harness::RelativeTo("/blackout-state", "no path here") == "no path here");
  // Only the root itself followed by a slash: a sibling keeps its name.
  CHECK(harness::RelativeTo("/tmp/a", "/tmp/ab/c and /tmp/a/c") == "/tmp/ab/c and c");
}
