#include "harness/timeline.h"

#include <algorithm>
#include <map>
#include <set>

#include "harness/fs_control.h"

namespace blackout::harness {
namespace {

using nlohmann::json;

std::string KindOf(const json& e) {
  const std::string op = e.value("op", "");
  if (op == "write" || op == "truncate" || op == "fallocate") return "write";
  if (op == "create" || op == "mkdir" || op == "rename" || op == "unlink" || op == "link" ||
      op == "symlink" || op == "rmdir")
    return "dir-op";
  if (op == "fsyncdir" || op == "fdatasyncdir") return "dir-sync";
  // blackoutfs records an fsync(2) on a directory handle as fsync with
  // detail "directory"; it makes entries durable, like fsyncdir.
  if (op == "fsync" || op == "fdatasync")
    return e.value("detail", "") == "directory" ? "dir-sync" : "fsync";
  if (op == "sync") return "sync";
  if (op == "power-cut") return "crash";
  return "other";
}

std::string Parent(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// "put user3", "delete k", "append_batch (3)"
std::string AckLabel(const json& request) {
  std::string label = request.value("op", "op");
  if (request.contains("key") && request["key"].is_string())
    label += " " + request["key"].get<std::string>();
  else if (request.contains("items") && request["items"].is_array())
    label += " (" + std::to_string(request["items"].size()) + ")";
  return label;
}

}  // namespace

json BuildTimeline(const TimelineInput& in) {
  json entries = in.trace ? in.trace->value("entries", json::array()) : json::array();
  uint64_t crash_seq = 0;
  for (const auto& e : entries) crash_seq = std::max(crash_seq, e.value("seq", uint64_t{0}));

  // What was still pending at the crash, by path: data of a file from its
  // `since`, entries of a directory from its `since`.
  std::map<std::string, uint64_t> file_since, dir_since;
  if (in.unsynced) {
    for (const auto& f : in.unsynced->value("files", json::array()))
      if (f.value("pending_bytes", uint64_t{0}) > 0)
        file_since[f.value("path", "")] = f.value("since", uint64_t{0});
    for (const auto& d : in.unsynced->value("dirs", json::array()))
      if (d.value("pending_entries", uint64_t{0}) > 0)
        dir_since[d.value("path", "")] = d.value("since", uint64_t{0});
  }
  // Only drop-all says for certain that every pending op is lost; keep-all
  // and a process crash keep them all; other states choose a subset.
  const std::string pending_fate = in.state == "drop-all"                            ? "dropped"
                                   : in.state == "keep-all" || in.state == "process" ? "kept"
                                                                                     : "pending";
  const size_t first = entries.size() > in.max_entries ? entries.size() - in.max_entries : 0;
  json out_entries = json::array();
  for (size_t i = first; i < entries.size(); ++i) {
    const json& e = entries[i];
    const std::string kind = KindOf(e);
    const uint64_t seq = e.value("seq", uint64_t{0});
    const std::string path = e.value("path", "");
    std::string fate;
    if (kind == "write" || kind == "other") {
      auto it = file_since.find(path);
      fate = it != file_since.end() && seq >= it->second ? pending_fate : "durable";
    } else if (kind == "dir-op") {
      auto it = dir_since.find(Parent(path));
      fate = it != dir_since.end() && seq >= it->second ? pending_fate : "durable";
    }
    // Without `unsynced` (a process crash) nothing is known to be pending:
    // a process crash keeps the page cache, so every write(2) is kept.
    if (!in.unsynced && (kind == "write" || kind == "dir-op" || kind == "other")) fate = "kept";
    out_entries.push_back({{"seq", seq},
                           {"op", e.value("op", "")},
                           {"kind", kind},
                           {"path", path},
                           {"offset", e.value("offset", uint64_t{0})},
                           {"length", e.value("length", uint64_t{0})},
                           {"detail", e.value("detail", "")},
                           {"fate", fate}});
  }
  const uint64_t window_start =
      out_entries.empty() ? 0 : out_entries.front().value("seq", uint64_t{0});
  json acks = json::array();
  if (in.acks)
    for (const auto& a : *in.acks)
      if (a.seq_after >= window_start)
        acks.push_back({{"seq", a.seq_after},
                        {"op", a.op_number},
                        {"label", AckLabel(a.request)},
                        {"synced", a.synced}});
  return {{"crash_seq", crash_seq},
          {"state", in.state},
          {"omitted", first},
          {"entries", out_entries},
          {"acks", acks}};
}

json ExploredTimeline(const json& trace, uint64_t point_seq, const std::vector<Ack>& acks,
                      const std::string& state_id, const std::vector<uint64_t>& kept,
                      const std::vector<uint64_t>& dropped, uint64_t torn, size_t max_entries) {
  const std::set<uint64_t> kept_set(kept.begin(), kept.end()),
      dropped_set(dropped.begin(), dropped.end());
  json upto = json::array();
  for (const auto& e : trace.value("entries", json::array()))
    if (e.value("seq", uint64_t{0}) <= point_seq) upto.push_back(e);
  // The cut gets a trace position of its own, the next one, as on a mount:
  // "after trace #N" names the op at N alone.
  const uint64_t cut_seq = point_seq + 1;
  upto.push_back({{"seq", cut_seq}, {"op", "power-cut"}, {"path", "/"}, {"detail", state_id}});
  TimelineInput in;
  const json wrapped = {{"entries", upto}};
  in.trace = &wrapped;
  in.acks = &acks;
  in.state = state_id;
  in.max_entries = max_entries;
  json tl = BuildTimeline(in);
  for (auto& e : tl["entries"]) {
    const std::string kind = e.value("kind", "");
    if (kind != "write" && kind != "dir-op" && kind != "other") continue;
    const uint64_t seq = e.value("seq", uint64_t{0});
    e["fate"] = seq == torn && torn != 0 ? "torn"
                : dropped_set.count(seq) ? "dropped"
                : kept_set.count(seq)    ? "kept"
                                         : "durable";
  }
  tl["crash_seq"] = cut_seq;
  return tl;
}

json CrashTimeline(FsControl& control, const json* unsynced, const std::vector<Ack>& acks,
                   const std::string& state) {
  auto trace = control.Trace();
  if (!trace.ok()) return json();
  TimelineInput in;
  in.trace = &*trace;
  in.unsynced = unsynced;
  in.acks = &acks;
  in.state = state;
  return BuildTimeline(in);
}

}  // namespace blackout::harness
