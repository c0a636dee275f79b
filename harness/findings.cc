#include "harness/findings.h"

#include <algorithm>
#include <functional>

namespace blackout::harness {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Base(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool HasFileGap(const FindingContext& c, const std::function<bool(const std::string&)>& name) {
  for (const auto& g : c.gaps)
    if (g.kind == Gap::Kind::kFileData && g.pending > 0 && name(Base(g.path))) return true;
  return false;
}

bool HasDirGap(const FindingContext& c) {
  for (const auto& g : c.gaps)
    if (g.kind == Gap::Kind::kDirEntries && g.pending > 0) return true;
  return false;
}

struct Rule {
  const char* name;
  const char* engine;  // nullptr: any
  std::function<bool(const FindingContext&)> matches;
  bool process_too = false;  // also explains losses of a process crash
};

// The seed's findings (seed/000_7a30dfbd98dd09de.txt, ENGINES.md section 7.1).
// Most are power-loss gaps: a process crash keeps the kernel's page cache.
const std::vector<Rule>& Rules() {
  static const std::vector<Rule> rules = {
      // lsm.py:26: the WAL is flushed on every put and never fsynced.
      {"lsm-wal-missing-fsync", "lsm",
       [](const FindingContext& c) {
         return c.lost_writes > 0 &&
                HasFileGap(c, [](const std::string& f) { return f == "wal.log"; });
       }},
      // No engine fsyncs a directory after creating a file: a new segment,
      // table or data file whose contents were fsynced is lost with its entry.
      {"no-directory-fsync-anywhere", nullptr,
       [](const FindingContext& c) { return c.lost_writes > 0 && HasDirGap(c); }},
      // wal.py:124-134: batch mode fsyncs every Nth record; append_batch and
      // checkpoint force an fsync. Between those, records are not even
      // flushed: they wait in the userspace buffer, so a process crash loses
      // them as well as a power cut does.
      {"wal-batch-sync-force-override", "wal",
       [](const FindingContext& c) {
         return c.lost_writes > 0 && c.scenario->config.value("sync_mode", "sync") == "batch";
       },
       true},
      // bitcask.py:82-88: flush always, fsync only with sync_writes (on by
      // default). With it on, an un-fsynced .data file is another gap (a
      // compaction's merged file, H-B1), not this one.
      {"bitcask-flush-always-fsync-conditional", "bitcask",
       [](const FindingContext& c) {
         const nlohmann::json& sync_writes = c.scenario->config.contains("sync_writes")
                                                 ? c.scenario->config["sync_writes"]
                                                 : nlohmann::json(true);
         return c.lost_writes > 0 && sync_writes == false &&
                HasFileGap(c, [](const std::string& f) { return EndsWith(f, ".data"); });
       }},
      // event_store.py:130-137: one open/write/close per event, never fsynced.
      {"eventstore-no-flush-no-fsync", "eventstore",
       [](const FindingContext& c) {
         return c.lost_writes > 0 && HasFileGap(c, [](const std::string&) { return true; });
       }},
  };
  return rules;
}

}  // namespace

std::vector<Gap> GapsInStore(const nlohmann::json& unsynced, const std::string& store) {
  std::vector<Gap> gaps;
  auto inside = [&](const std::string& p, std::string* rel) {
    if (p == store) {
      *rel = ".";
      return true;
    }
    if (p.rfind(store + "/", 0) == 0) {
      *rel = p.substr(store.size() + 1);
      return true;
    }
    return false;
  };
  std::string rel;
  for (const auto& f : unsynced.value("files", nlohmann::json::array()))
    if (f.is_object() && inside(f.value("path", ""), &rel))
      gaps.push_back({Gap::Kind::kFileData, rel, f.value("pending_bytes", uint64_t{0}),
                      f.value("since", uint64_t{0})});
  for (const auto& d : unsynced.value("dirs", nlohmann::json::array()))
    if (d.is_object() && inside(d.value("path", ""), &rel))
      gaps.push_back({Gap::Kind::kDirEntries, rel, d.value("pending_entries", uint64_t{0}),
                      d.value("since", uint64_t{0})});
  return gaps;
}

const std::vector<std::string>& KnownFindings() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = {kExecFileNotFsynced, kExecDirectoryNotFsynced,
                                  kExecDataLostAfterFsyncError, kLsmFlushMissingDirFsync};
    for (const Rule& r : Rules()) n.push_back(r.name);
    std::sort(n.begin(), n.end());
    return n;
  }();
  return names;
}

std::vector<std::string> DiagnoseFindings(const FindingContext& ctx) {
  std::vector<std::string> found;
  for (const auto& r : Rules()) {
    if (r.engine && ctx.scenario->engine != r.engine) continue;
    if (ctx.kind == CrashKind::kProcess && !r.process_too) continue;
    if (r.matches(ctx)) found.push_back(r.name);
  }
  return found;
}

std::string DescribeGap(const Gap& g, const std::string& under) {
  // An exec workload's paths are relative to the mount: its top directory is "".
  const std::string path = g.path.empty() || g.path == "."
                               ? (under.empty() ? "." : under)
                               : (under.empty() ? g.path : under + "/" + g.path);
  if (g.kind == Gap::Kind::kFileData)
    return "file " + path + ": " + std::to_string(g.pending) + " bytes not fsynced (since trace #" +
           std::to_string(g.since) + ")";
  return "directory " + path + ": " + std::to_string(g.pending) +
         " entries not made durable by a directory fsync (since trace #" + std::to_string(g.since) +
         ")";
}

}  // namespace blackout::harness
