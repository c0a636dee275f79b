// End-to-end: LazyFS commands and injections on a real blackoutfs mount,
// driven the way a LazyFS user's shell script or Jepsen test drives them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string Bin() {
  const char* b = std::getenv("BLACKOUT_BIN");
  return b != nullptr ? b : "blackout";
}

int Run(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Mounted(const std::string& mnt) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + mnt + " ") != std::string::npos) return true;
  }
  return false;
}

// The log line of an injection armed from the FIFO ("[info] armed FIFO ...");
// the startup line "... 0 injection(s) armed)" must not count, or the test
// writes before the reader thread has armed anything.
constexpr const char* kArmedLine = "] armed ";

template <class F>
bool WaitFor(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A blackoutfs mount with the LazyFS interface in a fresh temporary
// directory D (D/mnt, D/faults.fifo), unmounted even when the test fails.
struct LazyfsMount {
  std::string dir, mnt, fifo;
  explicit LazyfsMount(const std::string& config_text = "") {
    if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
    char tmpl[] = "/tmp/blackout-lazyfs-XXXXXX";
    dir = mkdtemp(tmpl);
    mnt = dir + "/mnt";
    fifo = dir + "/faults.fifo";
    std::filesystem::create_directory(mnt);
    std::vector<std::string> argv = {Bin(), "mount", mnt, "--lazyfs-fifo", fifo};
    if (!config_text.empty()) {
      std::ofstream(dir + "/config.toml") << config_text;
      argv.insert(argv.end(), {"--lazyfs-config", dir + "/config.toml"});
    }
    REQUIRE(Run(argv) == 0);
  }
  ~LazyfsMount() {
    if (Mounted(mnt) && Run({Bin(), "umount", mnt}) != 0) Run({"fusermount3", "-u", "-z", mnt});
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string Log() const {
    std::ifstream in(mnt + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool Exists(const std::string& name) const {
    struct stat st {};
    return stat((mnt + "/" + name).c_str(), &st) == 0;
  }
};

int Sh(const std::string& script, const LazyfsMount& m) {
  return Run({"sh", "-c", "MNT='" + m.mnt + "' FIFO='" + m.fifo + "'; " + script});
}

// Writes `data` to MNT/name; with `sync`, fsyncs the file and the root.
void WriteFile(const LazyfsMount& m, const std::string& name, const std::string& data,
               bool sync) {
  const int fd = open((m.mnt + "/" + name).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  if (sync) {
    REQUIRE(fsync(fd) == 0);
    const int d = open(m.mnt.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fsync(d) == 0);
    close(d);
  }
  close(fd);
}

TEST_CASE("echo lazyfs::clear-cache into the FIFO loses what a script wrote without fsync") {
  LazyfsMount m;
  INFO("reproduce: blackout mount " << m.mnt << " --lazyfs-fifo " << m.fifo);
  WriteFile(m, "kept", "synced", /*sync=*/true);
  REQUIRE(Sh("cd \"$MNT\" && echo unsynced > lost && mkdir newdir && cat lost >/dev/null", m) ==
          0);
  REQUIRE(m.Exists("lost"));
  REQUIRE(Sh("echo lazyfs::clear-cache > \"$FIFO\"", m) == 0);
  CHECK(WaitFor([&] { return !m.Exists("lost"); }));
  // Unlike LazyFS, blackoutfs also drops directory entries never fsynced.
  // The FIFO command is asynchronous, and the kernel's cached entries are
  // invalidated one by one: wait for this one too.
  CHECK(WaitFor([&] { return !m.Exists("newdir"); }));
  std::ifstream kept(m.mnt + "/kept");
  std::string content;
  std::getline(kept, content);
  CHECK(content == "synced");
  CHECK(m.Log().find("lazyfs::clear-cache") != std::string::npos);
}

TEST_CASE("lazyfs::cache-checkpoint makes everything written so far survive clear-cache") {
  LazyfsMount m;
  REQUIRE(Sh("cd \"$MNT\" && echo data > f && echo lazyfs::cache-checkpoint > \"$FIFO\"", m) ==
          0);
  CHECK(WaitFor([&] { return m.Log().find("cache-checkpoint") != std::string::npos; }));
  REQUIRE(Sh("echo lazyfs::clear-cache > \"$FIFO\"", m) == 0);
  CHECK(WaitFor([&] { return m.Log().find("clear-cache") != std::string::npos; }));
  CHECK(m.Exists("f"));
}

TEST_CASE("A clear-cache [[injection]] cuts power right after the occurrence-th fsync") {
  LazyfsMount m(
      "[faults]\n[[injection]]\ntype=\"clear-cache\"\nfrom=\"a\"\ntiming=\"after\"\n"
      "op=\"fsync\"\noccurrence=2\ncrash=false\n");
  INFO("reproduce: blackout mount " << m.mnt << " --lazyfs-config " << m.dir << "/config.toml");
  WriteFile(m, "a", "1", /*sync=*/true);  // first fsync of /a: nothing happens
  WriteFile(m, "b", "unsynced", /*sync=*/false);
  REQUIRE(m.Exists("b"));
  WriteFile(m, "a", "2", /*sync=*/true);  // second fsync of /a: power cut after it
  CHECK(WaitFor([&] { return !m.Exists("b"); }));
  CHECK(m.Exists("a"));
  CHECK(Mounted(m.mnt));  // clear-cache keeps the mount up
}

TEST_CASE("A crash command cuts power and stops the daemon, saving the durable view") {
  LazyfsMount m;
  WriteFile(m, "base", "synced", /*sync=*/true);
  REQUIRE(Sh("echo 'lazyfs::crash::timing=before::op=write::from_rgx=wal' > \"$FIFO\"", m) == 0);
  REQUIRE(WaitFor([&] { return m.Log().find(kArmedLine) != std::string::npos; }));
  // The write to the matching file never happens: the power is out.
  const int fd = open((m.mnt + "/db.wal").c_str(), O_CREAT | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "x", 1) < 0);
  close(fd);
  CHECK(WaitFor([&] { return !Mounted(m.mnt); }));
  CHECK(std::filesystem::exists(m.mnt + ".crash-point"));
}

// Checks the durable view a crash saved (MNT.crash-point): `out` holds
// exactly `expected`. Runs the check through `blackout explore`, as a user would.
bool CrashPointHolds(const LazyfsMount& m, const std::string& expected) {
  const std::string want = m.dir + "/expected";
  std::ofstream(want, std::ios::binary) << expected;
  return Run({Bin(), "explore", m.mnt + ".crash-point", "--states", "drop-all", "--check",
              "cmp out '" + want + "'", "--out", m.dir + "/report"}) == 0;
}

void PwriteAll(int fd, const std::string& data, off_t at) {
  REQUIRE(pwrite(fd, data.data(), data.size(), at) == static_cast<ssize_t>(data.size()));
}

TEST_CASE("torn-op on the FIFO persists only the chosen parts of the nth write, then crashes") {
  LazyfsMount m;
  INFO("reproduce: blackout mount " << m.mnt << " --lazyfs-fifo " << m.fifo);
  WriteFile(m, "out", "", /*sync=*/true);
  REQUIRE(Sh("echo 'lazyfs::torn-op::file=" + m.mnt +
                 "/out::persist=1,3::parts=3::occurrence=2' > \"$FIFO\"",
             m) == 0);
  REQUIRE(WaitFor([&] { return m.Log().find(kArmedLine) != std::string::npos; }));
  const int fd = open((m.mnt + "/out").c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  PwriteAll(fd, "first", 0);       // the 1st write: never synced, lost
  PwriteAll(fd, "AAABBBCCC", 5);   // the 2nd: parts AAA and CCC reach the disk
  close(fd);
  CHECK(WaitFor([&] { return !Mounted(m.mnt); }));
  CHECK(CrashPointHolds(m, std::string("\0\0\0\0\0AAA\0\0\0CCC", 14)));
}

TEST_CASE("A torn-seq [[injection]] persists the chosen writes of the nth group, then crashes") {
  LazyfsMount m(
      "[faults]\n[[injection]]\ntype=\"torn-seq\"\nop=\"write\"\nfile=\"out\"\n"
      "persist=[2,3]\noccurrence=1\n");
  WriteFile(m, "out", "", /*sync=*/true);
  const int fd = open((m.mnt + "/out").c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  PwriteAll(fd, "w1", 0);
  PwriteAll(fd, "w2", 2);
  PwriteAll(fd, "w3", 4);  // power goes after it: w2 and w3 persisted, w1 lost
  close(fd);
  CHECK(WaitFor([&] { return !Mounted(m.mnt); }));
  CHECK(CrashPointHolds(m, std::string("\0\0w2w3", 6)));
}

TEST_CASE("Several [[injection]]s are armed together, each firing at its own operation") {
  LazyfsMount m(
      "[[injection]]\ntype=\"clear-cache\"\nfrom=\"a\"\ntiming=\"after\"\nop=\"fsync\"\n"
      "occurrence=1\n"
      "[[injection]]\ntype=\"crash\"\nfrom=\"w\"\ntiming=\"before\"\nop=\"write\"\n"
      "occurrence=1\n");
  WriteFile(m, "b", "unsynced", /*sync=*/false);
  WriteFile(m, "a", "1", /*sync=*/true);  // the clear-cache fires: b is lost, the mount stays
  CHECK(WaitFor([&] { return !m.Exists("b"); }));
  CHECK(Mounted(m.mnt));
  const int fd = open((m.mnt + "/w").c_str(), O_CREAT | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "x", 1) < 0);  // the crash fires before the write
  close(fd);
  CHECK(WaitFor([&] { return !Mounted(m.mnt); }));
  CHECK(std::filesystem::exists(m.mnt + ".crash-point"));
}

TEST_CASE("A bad LazyFS config fails the mount with exit 2 naming the key") {
  if (access("/dev/fuse", R_OK | W_OK) != 0) std::exit(77);
  char tmpl[] = "/tmp/blackout-lazyfs-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directory(dir + "/mnt");
  std::ofstream(dir + "/c.toml") << "[[injection]]\ntype=\"clear-cache\"\nop=\"fsync\"\n";
  CHECK(Run({Bin(), "mount", dir + "/mnt", "--lazyfs-config", dir + "/c.toml"}) == 2);
  CHECK_FALSE(Mounted(dir + "/mnt"));
  std::filesystem::remove_all(dir);
}

}  // namespace
