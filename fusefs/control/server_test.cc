// The control protocol as tools and the harness rely on it, without FUSE:
// requests go to a ControlServer over a real Unix socket.
#include "fusefs/control/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fusefs/control/client.h"

namespace blackout::control {
namespace {

using nlohmann::json;

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "blackout-ctl-XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

struct ServedFilesystem {
  ServedFilesystem() : dir(TempDir()), socket(dir + "/mnt.ctl"), server(fs, Hooks()) {
    std::string error;
    REQUIRE(server.Listen(socket, &error));
    server.Start();
  }
  ~ServedFilesystem() {
    server.Stop();
    std::filesystem::remove_all(dir);
  }
  ServerHooks Hooks() {
    ServerHooks h;
    h.mountpoint = "/somewhere/mnt";
    h.invalidate = [this](const std::vector<std::pair<model::Ino, std::string>>& entries,
                          const std::vector<model::Ino>& inodes) {
      invalidated_calls++;
      invalidated_entries.insert(invalidated_entries.end(), entries.begin(), entries.end());
      invalidated_inodes.insert(invalidated_inodes.end(), inodes.begin(), inodes.end());
    };
    return h;
  }
  model::Filesystem fs;
  std::string dir;
  std::string socket;
  int invalidated_calls = 0;
  std::vector<std::pair<model::Ino, std::string>> invalidated_entries;
  std::vector<model::Ino> invalidated_inodes;
  ControlServer server;
};

json Call(const std::string& socket, const json& request) {
  Result<ControlClient> client = ControlClient::Connect(socket);
  REQUIRE(client.ok());
  Result<json> reply = client->Call(request, std::chrono::seconds(10));
  INFO(request.dump());
  REQUIRE(reply.ok());
  return *reply;
}

TEST_CASE("status reports model, trace position, epoch, mount point and the daemon's pid") {
  ServedFilesystem s;
  const json r = Call(s.socket, {{"cmd", "status"}});
  CHECK(r["ok"] == true);
  CHECK(r["model"] == "posix-strict");
  CHECK(r["mountpoint"] == "/somewhere/mnt");
  CHECK(r.contains("seq"));
  CHECK(r.contains("epoch"));
  CHECK(r.contains("pending_ops"));
  CHECK(r["pid"] == getpid());  // the server runs in this process here
}

TEST_CASE("status counts the files with un-synced data and the un-synced entries apart") {
  ServedFilesystem s;
  for (const char* name : {"a", "b"}) {
    auto c = s.fs.Create(model::kRootIno, name, 0644, O_WRONLY | O_CREAT, model::Caller{});
    REQUIRE(c.ok());
    REQUIRE(s.fs.Write(c->fh, 0, "abc", model::Caller{}).ok());
  }
  const json r = Call(s.socket, {{"cmd", "status"}});
  CHECK(r["pending_files"] == 2);    // a and b have data no sync has reached
  CHECK(r["pending_entries"] == 2);  // nor have their names
  CHECK(r["pending_ops"] == 4);      // the sum, as pending_ops always was
}

TEST_CASE("unsynced names each file by path and inode, a deleted one as deleted") {
  ServedFilesystem s;
  auto kept = s.fs.Create(model::kRootIno, "kept", 0644, O_WRONLY | O_CREAT, model::Caller{});
  auto gone = s.fs.Create(model::kRootIno, "gone", 0644, O_WRONLY | O_CREAT, model::Caller{});
  REQUIRE(kept.ok());
  REQUIRE(gone.ok());
  REQUIRE(s.fs.Write(kept->fh, 0, "abc", model::Caller{}).ok());
  REQUIRE(s.fs.Write(gone->fh, 0, "xyz", model::Caller{}).ok());
  REQUIRE(s.fs.Unlink(model::kRootIno, "gone", model::Caller{}).ok());  // still open
  const json r = Call(s.socket, {{"cmd", "unsynced"}});
  std::map<std::string, json> by_path;
  for (const json& f : r["files"]) by_path[f["path"]] = f;
  REQUIRE(by_path.count("/kept") == 1);
  CHECK(by_path["/kept"]["ino"] == kept->attr.ino);
  CHECK(by_path["/kept"]["pending_bytes"] == 3);
  CHECK(by_path.count("(deleted)") == 1);
  for (const auto& [path, f] : by_path) {
    INFO(path);
    CHECK(path.rfind("/(", 0) != 0);  // not a name in the root
    if (path != "/kept") {
      CHECK(path == "(deleted)");
      CHECK(f["ino"] == gone->attr.ino);
    }
  }
}

TEST_CASE("trace lists the operations and how many a trace limit dropped") {
  ServedFilesystem s;
  auto c = s.fs.Create(model::kRootIno, "f", 0644, O_WRONLY | O_CREAT, model::Caller{});
  REQUIRE(c.ok());
  REQUIRE(s.fs.Write(c->fh, 0, "abc", model::Caller{}).ok());
  const json r = Call(s.socket, {{"cmd", "trace"}});
  CHECK(r["ok"] == true);
  CHECK(r["dropped"] == 0);
  REQUIRE(r["entries"].size() == 2);
  CHECK(r["entries"][1]["op"] == "write");
  CHECK(r["entries"][1]["length"] == 3);
}

TEST_CASE("trace stop keeps operations out of the trace until trace start; seq runs on") {
  ServedFilesystem s;
  const model::Caller who{};
  auto c = s.fs.Create(model::kRootIno, "f", 0644, O_WRONLY | O_CREAT, who);
  REQUIRE(c.ok());
  const json stopped = Call(s.socket, {{"cmd", "trace"}, {"action", "stop"}});
  CHECK(stopped["ok"] == true);
  CHECK(stopped["tracing"] == false);
  CHECK(Call(s.socket, {{"cmd", "status"}})["tracing"] == false);
  REQUIRE(s.fs.Write(c->fh, 0, "unseen", who).ok());
  CHECK(Call(s.socket, {{"cmd", "trace"}, {"action", "start"}})["tracing"] == true);
  REQUIRE(s.fs.Write(c->fh, 6, "seen", who).ok());
  const json r = Call(s.socket, {{"cmd", "trace"}});
  CHECK(r["tracing"] == true);
  REQUIRE(r["entries"].size() == 2);  // the create, and the write after the start
  CHECK(r["entries"][0]["op"] == "create");
  CHECK(r["entries"][1]["op"] == "write");
  CHECK(r["entries"][1]["offset"] == 6);
  // The unseen write still took its sequence number: the gap shows it.
  CHECK(r["entries"][1]["seq"].get<uint64_t>() == r["entries"][0]["seq"].get<uint64_t>() + 2);
  // Every write is still pending, traced or not.
  CHECK(s.fs.ListUnsynced().files.at(0).pending_bytes == 10);
}

TEST_CASE("trace save writes what trace prints to a file outside the mount") {
  ServedFilesystem s;
  auto c = s.fs.Create(model::kRootIno, "f", 0644, O_WRONLY | O_CREAT, model::Caller{});
  REQUIRE(c.ok());
  const std::string dir = TempDir();
  const json r = Call(s.socket, {{"cmd", "trace"}, {"action", "save"}, {"path", dir + "/t.json"}});
  REQUIRE(r["ok"] == true);
  CHECK(r["entries"] == 1);
  std::ifstream in(dir + "/t.json");
  const json saved = json::parse(in);
  json printed = Call(s.socket, {{"cmd", "trace"}});
  CHECK(saved == printed);
  for (const auto& [request, message] : std::vector<std::pair<json, std::string>>{
           {{{"cmd", "trace"}, {"action", "save"}}, "give the absolute path"},
           {{{"cmd", "trace"}, {"action", "save"}, {"path", "rel.json"}}, "give the absolute path"},
           {{{"cmd", "trace"}, {"action", "save"}, {"path", dir + "/no/such/t.json"}},
            "cannot write " + dir + "/no/such/t.json"},
           {{{"cmd", "trace"}, {"action", "rewind"}}, "unknown action 'rewind'"},
           {{{"cmd", "trace"}, {"action", 1}}, "\"action\" must be a string"}}) {
    const json bad = Call(s.socket, request);
    INFO(bad.dump());
    CHECK(bad["ok"] == false);
    CHECK(std::string(bad["error"]).find(message) != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "load replaces the mount's state by a crash point's, tells the kernel what it may hold "
    "wrong, and refuses a bad file, state or model without changing anything") {
  // The point: kept.txt synced with its name, pending.txt not.
  model::Filesystem source;
  const model::Caller who{};
  auto k = source.Create(model::kRootIno, "kept.txt", 0644, O_WRONLY | O_CREAT, who);
  REQUIRE(k.ok());
  REQUIRE(source.Write(k->fh, 0, "kept", who).ok());
  REQUIRE(source.Fsync(k->fh, false, who).ok());
  auto root = source.OpenDir(model::kRootIno, who);
  REQUIRE(root.ok());
  REQUIRE(source.FsyncDir(*root, false, who).ok());
  auto p = source.Create(model::kRootIno, "pending.txt", 0644, O_WRONLY | O_CREAT, who);
  REQUIRE(p.ok());
  REQUIRE(source.Write(p->fh, 0, "lost", who).ok());
  const std::string dir = TempDir();
  const std::string point = dir + "/p.bin";
  std::ofstream(point, std::ios::binary) << source.SaveCrashPoint();
  std::ofstream(dir + "/junk") << "not a crash point";

  ServedFilesystem s;
  auto old = s.fs.Create(model::kRootIno, "old.txt", 0644, O_WRONLY | O_CREAT, who);
  REQUIRE(old.ok());
  REQUIRE(s.fs.Lookup(model::kRootIno, "old.txt").ok());  // the kernel knows it
  const model::Ino old_ino = old->attr.ino;
  const uint64_t epoch = s.fs.Epoch();
  auto names = [&s, &who] {
    std::vector<std::string> out;
    auto fh = s.fs.OpenDir(model::kRootIno, who);
    REQUIRE(fh.ok());
    auto list = s.fs.ReadDir(*fh, 0);
    REQUIRE(list.ok());
    for (const auto& e : *list)
      if (e.name != "." && e.name != "..") out.push_back(e.name);
    (void)s.fs.ReleaseDir(*fh);
    std::sort(out.begin(), out.end());
    return out;
  };
  for (const auto& [request, message] : std::vector<std::pair<json, std::string>>{
           {{{"cmd", "load"}}, "give the absolute path of a crash point"},
           {{{"cmd", "load"}, {"path", "p.bin"}}, "give the absolute path"},
           {{{"cmd", "load"}, {"path", dir + "/none"}}, "cannot read " + dir + "/none"},
           {{{"cmd", "load"}, {"path", dir + "/junk"}}, dir + "/junk is not a saved crash point"},
           {{{"cmd", "load"}, {"path", point}, {"state", "prefix:999"}},
            "has no crash state 'prefix:999'"},
           {{{"cmd", "load"}, {"path", point}, {"state", 3}}, "\"state\" must be a string"}}) {
    const json bad = Call(s.socket, request);
    INFO(bad.dump());
    CHECK(bad["ok"] == false);
    CHECK(bad["usage"] == true);
    CHECK(std::string(bad["error"]).find(message) != std::string::npos);
  }
  CHECK(names() == std::vector<std::string>{"old.txt"});
  CHECK(s.fs.Epoch() == epoch);
  CHECK(s.invalidated_calls == 0);

  const json r = Call(s.socket, {{"cmd", "load"}, {"path", point}});
  REQUIRE(r["ok"] == true);
  CHECK(r["pending_ops"] == 2);  // pending.txt's data and its name
  CHECK(r["epoch"].get<uint64_t>() > epoch);
  CHECK(names() == std::vector<std::string>{"kept.txt", "pending.txt"});
  // The old file's entry and inode go; the new names may be negative entries.
  auto listed = [&s](model::Ino parent, const std::string& name) {
    return std::find(s.invalidated_entries.begin(), s.invalidated_entries.end(),
                     std::make_pair(parent, name)) != s.invalidated_entries.end();
  };
  CHECK(listed(model::kRootIno, "old.txt"));
  CHECK(listed(model::kRootIno, "kept.txt"));
  CHECK(listed(model::kRootIno, "pending.txt"));
  CHECK(std::count(s.invalidated_inodes.begin(), s.invalidated_inodes.end(), old_ino) == 1);
  CHECK(std::count(s.invalidated_inodes.begin(), s.invalidated_inodes.end(), model::kRootIno) == 1);
  // An open handle of the old world answers EIO, as after a power cut, and
  // its inode is gone: the point's files got numbers no old inode had, so
  // nothing the kernel still holds by number (a working directory, a
  // mapping) names one of them.
  CHECK(s.fs.Write(old->fh, 0, "x", who).error() == EIO);
  CHECK_FALSE(s.fs.GetAttr(old_ino).ok());
  auto kept = s.fs.Lookup(model::kRootIno, "kept.txt");
  REQUIRE(kept.ok());
  CHECK(kept->ino > old_ino);
  // The trace starts again: the point's pending ops, then the load.
  const json trace = Call(s.socket, {{"cmd", "trace"}});
  REQUIRE(trace["entries"].size() == 3);
  CHECK(trace["entries"][0]["op"] == "create");
  CHECK(trace["entries"][0]["path"] == "/pending.txt");
  CHECK(trace["entries"][1]["op"] == "write");
  CHECK(trace["entries"][2]["op"] == "load");
  CHECK(trace["dropped"].get<uint64_t>() >= 1);  // old.txt's create
  CHECK(trace["entries"][2]["seq"].get<uint64_t>() > trace["entries"][1]["seq"].get<uint64_t>());
  // The loaded point's crash states, as on the mount that saved it.
  CHECK(Call(s.socket, {{"cmd", "power-cut"}})["ok"] == true);
  CHECK(names() == std::vector<std::string>{"kept.txt"});

  const json cut = Call(s.socket, {{"cmd", "load"}, {"path", point}, {"state", "keep-all"}});
  REQUIRE(cut["ok"] == true);
  CHECK(cut["state"] == "keep-all");
  CHECK(cut["pending_ops"] == 0);
  CHECK(names() == std::vector<std::string>{"kept.txt", "pending.txt"});

  model::Options xfs;
  xfs.model = model::BehaviourModel::kXfs;
  model::Filesystem other(xfs);
  std::ofstream(dir + "/xfs.bin", std::ios::binary) << other.SaveCrashPoint();
  const json refused = Call(s.socket, {{"cmd", "load"}, {"path", dir + "/xfs.bin"}});
  CHECK(refused["ok"] == false);
  CHECK(std::string(refused["error"]).find("was saved under xfs, the mount runs posix-strict") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an unknown command gets ok:false and an error listing the commands") {
  ServedFilesystem s;
  const json r = Call(s.socket, {{"cmd", "reboot"}});
  CHECK(r["ok"] == false);
  const std::string error = r["error"];
  CHECK(error.find("unknown command 'reboot'") != std::string::npos);
  CHECK(error.find("power-cut") != std::string::npos);
}

TEST_CASE("a request that is not JSON gets an error reply and the connection stays usable") {
  ServedFilesystem s;
  bool shutdown = false;
  const json bad = s.server.HandleLine("not json", &shutdown);
  CHECK(bad["ok"] == false);
  CHECK_FALSE(shutdown);
  Result<ControlClient> client = ControlClient::Connect(s.socket);
  REQUIRE(client.ok());
  REQUIRE(client->Call({{"nocmd", 1}}).ok());
  Result<json> seq = client->Call({{"cmd", "seq"}});
  REQUIRE(seq.ok());
  CHECK((*seq)["ok"] == true);
}

TEST_CASE("power-cut rejects an unknown state and names the valid ones") {
  ServedFilesystem s;
  const json r = Call(s.socket, {{"cmd", "power-cut"}, {"state", "random:3"}});
  CHECK(r["ok"] == false);
  CHECK(std::string(r["error"]).find("drop-all, keep-all") != std::string::npos);
  CHECK(s.invalidated_calls == 0);
  // An id its generator does not give now: the reply lists some it does.
  auto fh = s.fs.Create(model::kRootIno, "f", 0644, O_WRONLY | O_CREAT, {});
  REQUIRE(fh.ok());
  const json stale = Call(s.socket, {{"cmd", "power-cut"}, {"state", "prefix:99"}});
  CHECK(stale["ok"] == false);
  const std::string error = stale["error"];
  const size_t listed = error.find("; generator prefix gives 2 now: ");
  REQUIRE(listed != std::string::npos);
  const std::string example = error.substr(error.rfind(' ') + 1);
  CHECK(Call(s.socket, {{"cmd", "power-cut"}, {"state", example}})["ok"] == true);
}

TEST_CASE("power-cut invalidates the kernel caches and reports the new epoch") {
  ServedFilesystem s;
  const uint64_t before = Call(s.socket, {{"cmd", "status"}})["epoch"];
  const json r = Call(s.socket, {{"cmd", "power-cut"}});
  CHECK(r["ok"] == true);
  CHECK(r["epoch"].get<uint64_t>() > before);
  CHECK(r.contains("dropped_ops"));
  CHECK(s.invalidated_calls == 1);
}

TEST_CASE("snapshot without an absolute dir says what to give") {
  ServedFilesystem s;
  CHECK(Call(s.socket, {{"cmd", "snapshot"}})["ok"] == false);
  const json r = Call(s.socket, {{"cmd", "snapshot"}, {"dir", "relative/dir"}});
  CHECK(r["ok"] == false);
  CHECK(std::string(r["error"]).find("absolute path") != std::string::npos);
  CHECK(Call(s.socket, {{"cmd", "snapshot"}, {"dir", "/x"}, {"view", "dirty"}})["ok"] == false);
}

TEST_CASE("crash-point saves the durable view and pending ops for offline exploration") {
  ServedFilesystem s;
  CHECK(Call(s.socket, {{"cmd", "crash-point"}})["ok"] == false);
  const json rel = Call(s.socket, {{"cmd", "crash-point"}, {"path", "rel/file"}});
  CHECK(std::string(rel["error"]).find("absolute path") != std::string::npos);
  const std::string dir = TempDir();
  const json r = Call(s.socket, {{"cmd", "crash-point"}, {"path", dir + "/cp.bin"}});
  REQUIRE(r["ok"] == true);
  std::ifstream in(dir + "/cp.bin", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  CHECK(bytes.str().size() == r["bytes"].get<size_t>());
  model::Filesystem offline;
  CHECK(offline.LoadCrashPoint(bytes.str()).ok());
  const json missing = Call(s.socket, {{"cmd", "crash-point"}, {"path", dir + "/no/such/f"}});
  CHECK(missing["ok"] == false);
  CHECK(std::string(missing["error"]).find(dir + "/no/such/f") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("crash-after with save captures the point at the operation and saved-points writes it") {
  ServedFilesystem s;
  const json armed = Call(s.socket, {{"cmd", "crash-after"},
                                     {"op", "fsync"},
                                     {"path", "*.log"},
                                     {"before", true},
                                     {"save", true}});
  REQUIRE(armed["ok"] == true);
  CHECK(armed.contains("id"));
  CHECK(Call(s.socket, {{"cmd", "faults"}})["trigger"]["save"] == true);
  const model::Caller who{1000, 1000, 1, 022};
  auto c = s.fs.Create(model::kRootIno, "a.log", 0644, O_WRONLY | O_CREAT, who);
  REQUIRE(c.ok());
  REQUIRE(s.fs.Write(c->fh, 0, "data", who).ok());
  const uint64_t at = s.fs.CurrentSeq();
  CHECK(s.fs.Fsync(c->fh, false, who).ok());  // not cut
  CHECK(s.fs.Write(c->fh, 4, "more", who).ok());
  CHECK(Call(s.socket, {{"cmd", "faults"}})["triggered_cuts"] == 0);

  CHECK(Call(s.socket, {{"cmd", "saved-points"}})["ok"] == false);
  const std::string dir = TempDir();
  const json r = Call(s.socket, {{"cmd", "saved-points"}, {"dir", dir}});
  REQUIRE(r["ok"] == true);
  REQUIRE(r["points"].size() == 1);
  const json& p = r["points"][0];
  CHECK(p["op"] == "fsync");
  CHECK(p["path"] == "/a.log");
  CHECK(p["before"] == true);
  CHECK(p["seq"] == at);
  CHECK(p["nth"] == 1);
  std::ifstream in(p["file"].get<std::string>(), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  CHECK(bytes.str().size() == p["bytes"].get<size_t>());
  // The point is the one before the fsync: the data is still pending there.
  model::Filesystem offline;
  REQUIRE(offline.LoadCrashPoint(bytes.str()).ok());
  CHECK(offline.CurrentSeq() == at);
  CHECK(offline.ListUnsynced().files.size() == 1);
  // Handed over once.
  CHECK(Call(s.socket, {{"cmd", "saved-points"}, {"dir", dir}})["points"].empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("the control socket is private to its owner (mode 0600)") {
  ServedFilesystem s;
  struct stat st {};
  REQUIRE(lstat(s.socket.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("Stop removes the socket, and connecting to a stale socket fails with a clear message") {
  std::string dir = TempDir();
  const std::string path = dir + "/stale.ctl";
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    close(fd);  // bound, never listening: what a killed daemon leaves
  }
  Result<ControlClient> c = ControlClient::Connect(path);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find(path) != std::string::npos);
  CHECK(c.error().find("nobody listens") != std::string::npos);
  {
    model::Filesystem fs;
    ControlServer server(fs, ServerHooks{});
    const std::string live = dir + "/live.ctl";
    std::string error;
    REQUIRE(server.Listen(live, &error));
    server.Start();
    server.Stop();
    CHECK_FALSE(std::filesystem::exists(live));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("shutdown is acknowledged and then calls the shutdown hook") {
  model::Filesystem fs;
  bool called = false;
  ServerHooks hooks;
  hooks.shutdown = [&called] { called = true; };
  std::string dir = TempDir();
  {
    ControlServer server(fs, hooks);
    std::string error;
    REQUIRE(server.Listen(dir + "/s.ctl", &error));
    server.Start();
    CHECK(Call(dir + "/s.ctl", {{"cmd", "shutdown"}})["ok"] == true);
    server.Stop();
  }
  CHECK(called);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace blackout::control
