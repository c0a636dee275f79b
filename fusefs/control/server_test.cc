// The control protocol as tools and the harness rely on it, without FUSE:
// requests go to a ControlServer over a real Unix socket.
#include "fusefs/control/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
    h.invalidate = [this](const std::vector<std::pair<model::Ino, std::string>>&,
                          const std::vector<model::Ino>&) { invalidated_calls++; };
    return h;
  }
  model::Filesystem fs;
  std::string dir;
  std::string socket;
  int invalidated_calls = 0;
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
