// SaveCrashPoint / LoadCrashPoint: the durable view and the pending
// operations as bytes, so crash states can be explored offline
// (crash_model.md, "Record once, explore offline").
//
// Format: "BLKCP2\n\0" u8 model (BehaviourModel), then the version 1 bytes
// (a version 1 point, from before the model was saved, has only those):
// u64 raw size, then in host byte order and zlib-compressed as a whole:
//   "BLKCP1\n\0" u64 seq u64 next_ino
//   u64 count, born:    ino attr str(target)
//   u64 count, nodes:   ino attr str(target) u64 n {str(name) u64 ino}
//                       u64 n {str(key) str(value)} u64 n {u64 idx, 4096 bytes}
//   u64 count, pending: u64 seq u8 kind u64 ino ts time u64 parent str(name)
//                       u64 new_parent str(new_name) u64 replaced u32 flags
//                       u64 offset u64 length opt32 mode,uid,gid optts atime,mtime
//                       str(value) str(data)
// attr = u64 ino u32 mode,nlink,uid,gid,rdev u64 size ts atime,mtime,ctime
//   u64 count, paths:   u64 seq str(path)   (optional: the pending ops'
//                       paths as traced when they happened)
// str = u64 length + bytes; ts = i64 sec i64 nsec; optX = u8 present + X
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "fusefs/model/filesystem_impl.h"

namespace blackout::model {

namespace {

constexpr char kMagic[8] = {'B', 'L', 'K', 'C', 'P', '1', '\n', '\0'};
// Uncompressed in front of the version 1 bytes. Read as their u64 raw size it
// is far beyond the size limit, so a reader of version 1 refuses it.
constexpr char kModelMagic[8] = {'B', 'L', 'K', 'C', 'P', '2', '\n', '\0'};
constexpr uint8_t kLastModel = static_cast<uint8_t>(BehaviourModel::kXfs);

bool HasModelHeader(std::string_view saved) {
  return saved.size() > sizeof kModelMagic &&
         std::memcmp(saved.data(), kModelMagic, sizeof kModelMagic) == 0;
}

struct Out {
  std::string b;
  template <class T>
  void Pod(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void Str(std::string_view s) {
    Pod<uint64_t>(s.size());
    b.append(s);
  }
  void Ts(const timespec& t) {
    Pod<int64_t>(t.tv_sec);
    Pod<int64_t>(t.tv_nsec);
  }
  void At(const Attr& a) {
    Pod(a.ino);
    Pod(a.mode);
    Pod(a.nlink);
    Pod(a.uid);
    Pod(a.gid);
    Pod(a.rdev);
    Pod(a.size);
    Ts(a.atime);
    Ts(a.mtime);
    Ts(a.ctime);
  }
};

struct In {
  std::string_view b;
  bool ok = true;
  template <class T>
  T Pod() {
    T v{};
    if (b.size() < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, b.data(), sizeof v);
    b.remove_prefix(sizeof v);
    return v;
  }
  std::string Str() {
    uint64_t n = Pod<uint64_t>();
    if (!ok || b.size() < n) {
      ok = false;
      return {};
    }
    std::string s(b.substr(0, n));
    b.remove_prefix(n);
    return s;
  }
  timespec Ts() {
    timespec t{};
    t.tv_sec = Pod<int64_t>();
    t.tv_nsec = Pod<int64_t>();
    return t;
  }
  Attr At() {
    Attr a;
    a.ino = Pod<Ino>();
    a.mode = Pod<uint32_t>();
    a.nlink = Pod<uint32_t>();
    a.uid = Pod<uint32_t>();
    a.gid = Pod<uint32_t>();
    a.rdev = Pod<uint32_t>();
    a.size = Pod<uint64_t>();
    a.atime = Ts();
    a.mtime = Ts();
    a.ctime = Ts();
    return a;
  }
  // A count that cannot exceed what is left (each item takes >= 8 bytes).
  uint64_t Count() {
    uint64_t n = Pod<uint64_t>();
    if (n > b.size()) ok = false;
    return ok ? n : 0;
  }
};

template <class T>
void PutOpt(Out& o, const std::optional<T>& v) {
  o.Pod<uint8_t>(v.has_value());
  if (v) o.Pod(*v);
}
void PutOptTs(Out& o, const std::optional<timespec>& v) {
  o.Pod<uint8_t>(v.has_value());
  if (v) o.Ts(*v);
}

}  // namespace

std::string Filesystem::SaveCrashPoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->SaveLocked();
}

std::string Filesystem::Impl::SaveLocked() const {
  const Impl& m = *this;
  Out o;
  o.b.append(kMagic, sizeof kMagic);
  o.Pod<uint64_t>(m.seq);
  o.Pod<uint64_t>(m.next_ino);
  o.Pod<uint64_t>(m.born.size());
  for (const auto& [ino, b] : m.born) {
    o.Pod(ino);
    o.At(b.attr);
    o.Str(b.target);
  }
  o.Pod<uint64_t>(m.dur.nodes.size());
  for (const auto& [ino, n] : m.dur.nodes) {
    o.Pod(ino);
    o.At(n->attr);
    o.Str(n->target);
    o.Pod<uint64_t>(n->entries.size());
    for (const auto& [name, child] : n->entries) {
      o.Str(name);
      o.Pod(child);
    }
    o.Pod<uint64_t>(n->xattrs.size());
    for (const auto& [k, v] : n->xattrs) {
      o.Str(k);
      o.Str(v);
    }
    o.Pod<uint64_t>(n->pages.size());
    for (const auto& [idx, page] : n->pages) {
      o.Pod(idx);
      o.b.append(page->bytes, kPageSize);
    }
  }
  o.Pod<uint64_t>(m.pending.size());
  for (const auto& [s, op] : m.pending) {
    o.Pod(op.seq);
    o.Pod(static_cast<uint8_t>(op.kind));
    o.Pod(op.ino);
    o.Ts(op.time);
    o.Pod(op.parent);
    o.Str(op.name);
    o.Pod(op.new_parent);
    o.Str(op.new_name);
    o.Pod(op.replaced);
    o.Pod(op.flags);
    o.Pod(op.offset);
    o.Pod(op.length);
    PutOpt(o, op.mode);
    PutOpt(o, op.uid);
    PutOpt(o, op.gid);
    PutOptTs(o, op.atime);
    PutOptTs(o, op.mtime);
    o.Str(op.value);
    o.Str(op.data.ToString());
  }
  // The pending ops' paths as the trace gave them when they happened (a
  // file written as data.tmp, renamed to data since): loaded, the ops would
  // be named by the paths of the point's own view. Only ops still in the
  // trace; a reader before this section refuses the point.
  std::vector<std::pair<Seq, std::string_view>> paths;
  for (const auto& [s, op] : m.pending) {
    auto it = std::lower_bound(m.trace.begin(), m.trace.end(), s,
                               [](const TraceRecord& r, Seq seq) { return r.seq < seq; });
    if (it != m.trace.end() && it->seq == s) paths.emplace_back(s, m.trace_strings[it->path]);
  }
  o.Pod<uint64_t>(paths.size());
  for (const auto& [s, path] : paths) {
    o.Pod(s);
    o.Str(path);
  }
  // The model header, then the version 1 bytes: u64 raw size and zlib.
  constexpr size_t kHeader = sizeof kModelMagic + 1;
  uLongf zlen = compressBound(o.b.size());
  std::string z(kHeader + sizeof(uint64_t) + zlen, '\0');
  std::memcpy(z.data(), kModelMagic, sizeof kModelMagic);
  z[sizeof kModelMagic] = static_cast<char>(m.options.model);
  uint64_t raw = o.b.size();
  std::memcpy(z.data() + kHeader, &raw, sizeof raw);
  compress2(reinterpret_cast<Bytef*>(z.data() + kHeader + sizeof raw), &zlen,
            reinterpret_cast<const Bytef*>(o.b.data()), o.b.size(), 1);
  z.resize(kHeader + sizeof raw + zlen);
  return z;
}

Result<std::optional<BehaviourModel>> Filesystem::SavedModel(std::string_view saved) {
  if (!HasModelHeader(saved)) return std::optional<BehaviourModel>();
  const auto model = static_cast<uint8_t>(saved[sizeof kModelMagic]);
  if (model > kLastModel) return Errno{EINVAL};
  return std::optional<BehaviourModel>(static_cast<BehaviourModel>(model));
}

Result<PowerCutResult> Filesystem::LoadCrashPoint(std::string_view saved) {
  Result<std::optional<BehaviourModel>> model = SavedModel(saved);
  if (!model.ok()) return Errno{EINVAL};
  if (*model && **model != impl_->options.model) return Errno{EXDEV};
  if (HasModelHeader(saved)) saved.remove_prefix(sizeof kModelMagic + 1);
  uint64_t raw = 0;
  if (saved.size() < sizeof raw) return Errno{EINVAL};
  std::memcpy(&raw, saved.data(), sizeof raw);
  if (raw > (uint64_t{1} << 40)) return Errno{EINVAL};
  std::string buf(raw, '\0');
  uLongf len = raw;
  if (uncompress(reinterpret_cast<Bytef*>(buf.data()), &len,
                 reinterpret_cast<const Bytef*>(saved.data() + sizeof raw),
                 saved.size() - sizeof raw) != Z_OK ||
      len != raw) {
    return Errno{EINVAL};
  }
  In in{buf};
  if (buf.size() < sizeof kMagic || std::memcmp(buf.data(), kMagic, sizeof kMagic) != 0) {
    return Errno{EINVAL};
  }
  in.b.remove_prefix(sizeof kMagic);
  Seq seq = in.Pod<uint64_t>();
  Ino next_ino = in.Pod<uint64_t>();
  std::unordered_map<Ino, Born> born;
  for (uint64_t i = 0, n = in.Count(); i < n && in.ok; ++i) {
    Ino ino = in.Pod<Ino>();
    Born b;
    b.attr = in.At();
    b.target = in.Str();
    born[ino] = std::move(b);
  }
  Tree dur;
  for (uint64_t i = 0, n = in.Count(); i < n && in.ok; ++i) {
    Ino ino = in.Pod<Ino>();
    auto node = std::make_shared<Node>();
    node->attr = in.At();
    node->target = in.Str();
    for (uint64_t j = 0, c = in.Count(); j < c && in.ok; ++j) {
      std::string name = in.Str();
      node->entries[name] = in.Pod<Ino>();
    }
    for (uint64_t j = 0, c = in.Count(); j < c && in.ok; ++j) {
      std::string k = in.Str();
      node->xattrs[k] = in.Str();
    }
    for (uint64_t j = 0, c = in.Count(); j < c && in.ok; ++j) {
      uint64_t idx = in.Pod<uint64_t>();
      if (in.b.size() < kPageSize) {
        in.ok = false;
        break;
      }
      PageRef page = std::make_shared_for_overwrite<Page>();
      std::memcpy(page->bytes, in.b.data(), kPageSize);
      in.b.remove_prefix(kPageSize);
      node->pages.emplace(idx, std::move(page));
    }
    dur.page_count += node->pages.size();
    dur.nodes[ino] = std::move(node);
  }
  std::vector<PendingOp> ops;
  for (uint64_t i = 0, n = in.Count(); i < n && in.ok; ++i) {
    PendingOp op;
    op.seq = in.Pod<Seq>();
    uint8_t kind = in.Pod<uint8_t>();
    if (kind > static_cast<uint8_t>(OpKind::kRemoveXattr)) in.ok = false;
    op.kind = static_cast<OpKind>(kind);
    op.ino = in.Pod<Ino>();
    op.time = in.Ts();
    op.parent = in.Pod<Ino>();
    op.name = in.Str();
    op.new_parent = in.Pod<Ino>();
    op.new_name = in.Str();
    op.replaced = in.Pod<Ino>();
    op.flags = in.Pod<uint32_t>();
    op.offset = in.Pod<uint64_t>();
    op.length = in.Pod<uint64_t>();
    if (in.Pod<uint8_t>()) op.mode = in.Pod<uint32_t>();
    if (in.Pod<uint8_t>()) op.uid = in.Pod<uint32_t>();
    if (in.Pod<uint8_t>()) op.gid = in.Pod<uint32_t>();
    if (in.Pod<uint8_t>()) op.atime = in.Ts();
    if (in.Pod<uint8_t>()) op.mtime = in.Ts();
    op.value = in.Str();
    op.data = WriteData(op.offset, in.Str());
    ops.push_back(std::move(op));
  }
  // Optional (points saved before it end here): the ops' paths as traced.
  std::unordered_map<Seq, std::string> traced_paths;
  if (in.ok && !in.b.empty()) {
    for (uint64_t i = 0, n = in.Count(); i < n && in.ok; ++i) {
      const Seq s = in.Pod<Seq>();
      traced_paths[s] = in.Str();
    }
  }
  if (!in.ok || !in.b.empty() || dur.Find(kRootIno) == nullptr || !dur.Find(kRootIno)->IsDir()) {
    return Errno{EINVAL};
  }

  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  m.JoinReaper();
  // On a mount already in use (`ctl load`), the kernel may still hold inodes
  // of the old world by number: a working directory, a mapping, a handle. The
  // point's inodes get numbers no old inode had, so that those answer ESTALE
  // or EIO as after a power cut instead of naming a loaded file. On a fresh
  // filesystem the numbers stay as saved.
  const Ino base = m.next_ino - (kRootIno + 1);
  // Anything before (inodes, trace records): a load on a live mount.
  const bool live = base != 0 || !m.trace.empty();
  if (base != 0) {
    auto shift = [base](Ino ino) { return ino == 0 || ino == kRootIno ? ino : ino + base; };
    std::unordered_map<Ino, Born> shifted_born;
    for (auto& [ino, b] : born) {
      b.attr.ino = shift(b.attr.ino);
      shifted_born.emplace(shift(ino), std::move(b));
    }
    born = std::move(shifted_born);
    std::unordered_map<Ino, NodeRef> shifted_nodes;
    for (auto& [ino, node] : dur.nodes) {
      node->attr.ino = shift(node->attr.ino);
      for (auto& [name, child] : node->entries) child = shift(child);
      shifted_nodes.emplace(shift(ino), std::move(node));
    }
    dur.nodes = std::move(shifted_nodes);
    for (PendingOp& op : ops) {
      op.ino = shift(op.ino);
      op.parent = shift(op.parent);
      op.new_parent = shift(op.new_parent);
      op.replaced = shift(op.replaced);
    }
    next_ino = shift(next_ino);
  }
  // Through FinishCut with an empty pending list: the old world is dropped
  // (handles EIO, kernel caches reported) and the saved durable view is up.
  // FinishCut repairs the durable view as fsck would, dropping inodes no
  // durable entry names. But a pending entry op may name one: a file fsynced
  // while its create is still pending (a data file of a store whose
  // directory is never fsynced) has its data only in such an inode. Keep the
  // view as saved, and give the volatile view those inodes before the
  // pending ops link them, as the saving filesystem had them.
  Tree saved_dur = dur;
  m.dur = std::move(dur);
  // What the kernel may hold of the old world is measured against the
  // loaded volatile view, pending ops applied, once it stands (below); the
  // kernel's lookup counts of inodes that view has stay, for its FORGETs.
  const Tree before = m.vol;
  const std::unordered_map<Ino, uint64_t> kernel_lookups = m.lookups;
  const PowerCutResult cut = m.FinishCut({}, "load", /*record=*/false);
  // The trace starts again with the point's pending ops, which keep the
  // saved sequence numbers (crash-state ids name them): the old world's
  // records, numbered alike, would read as their history. They count as
  // dropped.
  m.trace_dropped += m.trace.size();
  m.trace.clear();
  for (const auto& [ino, node] : saved_dur.nodes) {
    if (m.vol.nodes.emplace(ino, node).second) m.vol.page_count += node->pages.size();
  }
  m.dur = std::move(saved_dur);
  // FinishCut keeps the born records of live inodes only; the pending ops
  // need those of the inodes they create, saved with them.
  m.born = std::move(born);
  m.seq = std::max(m.seq, seq);
  m.next_ino = std::max(m.next_ino, next_ino);
  // The trace gets the pending ops, described as the saving filesystem's
  // trace described them (paths resolved in the loaded view), so that what
  // explores a crash point offline can name what each state lost.
  for (auto& op : ops) {
    ApplyOp(m.vol, op, m.born);
    m.Index(op);
    m.Relink(op);
    if (m.tracing.load(std::memory_order_relaxed)) {
      Impl::TraceRecord r = m.TraceOf(op, 0, 0);
      if (auto it = traced_paths.find(op.seq); it != traced_paths.end())
        r.path = m.Intern(it->second);
      m.PushTrace(r);
    }
    m.AddPending(std::move(op));
  }
  // After them, the load itself; a fresh filesystem (mount --load, explore)
  // starts at the point's own position instead.
  if (live) m.Record("load", kRootIno, 0, 0, 0, 0, 0, "");
  for (const auto& [ino, count] : kernel_lookups) {
    if (m.vol.nodes.count(ino) != 0) m.lookups[ino] = count;
  }
  PowerCutResult result;
  result.dropped_ops = cut.dropped_ops;
  result.epoch = cut.epoch;
  m.KernelCacheDiff(before, m.vol, result);
  return result;
}

}  // namespace blackout::model
