// report.html as a reader sees it: rendered by `blackout report` from a saved
// report.json, opened offline in headless Chromium (Debian's `chromium`,
// installed by scripts/deps.sh). No FUSE needed. Skipped (77) when chromium
// is not installed.
//
// Reproduce by hand:
//   build/blackout report REPORT.json -f html -o /tmp/r.html
//   chromium --headless --no-sandbox --screenshot=/tmp/r.png --window-size=1280,1400 /tmp/r.html
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string Bin() {
  return std::getenv("BLACKOUT_BIN") ? std::getenv("BLACKOUT_BIN") : "build/blackout";
}

std::string Chromium() {
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (access(c, X_OK) == 0) return c;
  return "";
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

struct Output {
  int code;
  std::string text;
};

Output Shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  UNSCOPED_INFO("$ " << cmd << "\n" << text.substr(0, 4000));
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

struct WorkDir {
  std::string path;
  WorkDir() {
    path = (fs::temp_directory_path() / ("report_html_test." + std::to_string(getpid()))).string();
    fs::create_directories(path);
  }
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A report as `blackout run` writes it: one scenario that lost acknowledged
// puts to a power cut (with its timeline), one clean, one unexpected.
json SampleReport() {
  json entries = json::array();
  uint64_t seq = 3;
  json acks = json::array();
  entries.push_back({{"seq", seq++},
                     {"op", "create"},
                     {"kind", "dir-op"},
                     {"path", "/store/wal.log"},
                     {"offset", 0},
                     {"length", 0},
                     {"detail", ""},
                     {"fate", "dropped"}});
  for (int i = 0; i < 12; ++i) {
    entries.push_back({{"seq", seq},
                       {"op", "write"},
                       {"kind", "write"},
                       {"path", "/store/wal.log"},
                       {"offset", i * 20},
                       {"length", 20},
                       {"detail", ""},
                       {"fate", i < 4 ? "durable" : "dropped"}});
    acks.push_back({{"seq", seq},
                    {"op", i + 1},
                    {"label", "put user" + std::to_string(i)},
                    {"synced", i < 4}});
    ++seq;
    if (i == 3)
      entries.push_back({{"seq", seq++},
                         {"op", "fsync"},
                         {"kind", "fsync"},
                         {"path", "/store/wal.log"},
                         {"offset", 0},
                         {"length", 0},
                         {"detail", ""},
                         {"fate", ""}});
  }
  entries.push_back({{"seq", seq},
                     {"op", "power-cut"},
                     {"kind", "crash"},
                     {"path", "/"},
                     {"offset", 0},
                     {"length", 0},
                     {"detail", "drop-all"},
                     {"fate", ""}});
  json timeline = {{"crash_seq", seq},
                   {"state", "drop-all"},
                   {"omitted", 2},
                   {"entries", entries},
                   {"acks", acks}};
  auto scenario = [](std::string name, std::string engine, std::string model, std::string kind,
                     std::string outcome, json violations, int lost) {
    return json{{"name", name},
                {"file", "scenarios/seed/" + name + ".json"},
                {"description", "The " + engine + " WAL flushes but never fsyncs."},
                {"engine", engine},
                {"config", json::object()},
                {"profile", "default"},
                {"model", model},
                {"crash_kind", kind},
                {"crash_at", "end"},
                {"outcome", outcome},
                {"error", ""},
                {"mismatch", outcome == "unexpected" ? "expected violations [], got [prefix]" : ""},
                {"contract", {{"process", "acked"}, {"power", "acked"}}},
                {"violations", violations},
                {"findings", json::array()},
                {"acked_writes", 12},
                {"lost_writes", lost},
                {"crash_states", json::array()},
                {"seconds", 0.4},
                {"reproduce", "blackout run scenarios/seed/" + name + ".json --seed 0"}};
  };
  json lsm = scenario("lsm-wal-missing-fsync-power", "lsm", "posix-strict", "power", "as-expected",
                      {"acked-durable"}, 8);
  lsm["findings"] = {"lsm-wal-missing-fsync"};
  lsm["crash_states"] = {
      {{"point", "end"},
       {"state", "drop-all"},
       {"recovered", true},
       {"acked_writes", 12},
       {"lost_writes", 8},
       {"promised_lost", 8},
       {"lost_examples", {"put user4", "put user5"}},
       {"violations",
        {{{"invariant", "acked-durable"}, {"message", "8 acknowledged puts are gone"}}}},
       {"pending_at_crash", {"wal.log: 160 bytes never fsynced"}},
       {"findings", {"lsm-wal-missing-fsync"}},
       {"diagnosis", "fsync of /store/wal.log after the write at trace #8"},
       {"timeline", timeline}}};
  json fixed =
      scenario("lsm-fixed-power", "lsm", "ext4-ordered", "power", "as-expected", json::array(), 0);
  fixed["profile"] = "fixed";
  json bad =
      scenario("wal-batch-process", "wal", "posix-strict", "process", "unexpected", {"prefix"}, 3);
  return {{"schema_version", 1},
          {"tool", "blackout"},
          {"generated_at", "2024-01-01T00:00:00Z"},
          {"seed", 0},
          {"shard", "1/1"},
          {"jobs", 1},
          {"duration_s", 2.5},
          {"summary",
           {{"scenarios", 3},
            {"as_expected", 2},
            {"unexpected", 1},
            {"errors", 0},
            {"lost_writes", 11}}},
          {"scenarios", {lsm, fixed, bad}}};
}

// The flags a sandboxed, offline, repeatable headless run needs.
std::string ChromiumCommand(const std::string& profile_dir) {
  return "timeout 180 " + Chromium() +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
         " --disable-background-networking --disable-component-update --disable-sync"
         " --hide-scrollbars --user-data-dir=" +
         profile_dir;
}

// Decodes an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) into
// RGB pixels. Returns false for anything else.
bool DecodePng(const std::string& png, int* w, int* h, std::vector<uint8_t>* rgb) {
  if (png.size() < 33 || png.compare(1, 3, "PNG") != 0) return false;
  auto be32 = [&](size_t p) {
    return (uint32_t(uint8_t(png[p])) << 24) | (uint32_t(uint8_t(png[p + 1])) << 16) |
           (uint32_t(uint8_t(png[p + 2])) << 8) | uint32_t(uint8_t(png[p + 3]));
  };
  std::string idat;
  int depth = 0, colour = 0, interlace = 0;
  for (size_t p = 8; p + 8 <= png.size();) {
    const uint32_t len = be32(p);
    const std::string type = png.substr(p + 4, 4);
    if (type == "IHDR") {
      *w = static_cast<int>(be32(p + 8));
      *h = static_cast<int>(be32(p + 12));
      depth = uint8_t(png[p + 16]);
      colour = uint8_t(png[p + 17]);
      interlace = uint8_t(png[p + 20]);
    } else if (type == "IDAT") {
      idat += png.substr(p + 8, len);
    }
    p += 12 + len;
  }
  if (depth != 8 || (colour != 2 && colour != 6) || interlace != 0) return false;
  const int bpp = colour == 6 ? 4 : 3;
  const size_t stride = size_t(*w) * bpp;
  std::vector<uint8_t> raw((stride + 1) * *h);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) !=
      Z_OK)
    return false;
  std::vector<uint8_t> cur(stride), prev(stride, 0);
  rgb->clear();
  for (int y = 0; y < *h; ++y) {
    const uint8_t* line = raw.data() + y * (stride + 1);
    const int filter = line[0];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= size_t(bpp) ? cur[x - bpp] : 0, b = prev[x],
                c = x >= size_t(bpp) ? prev[x - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          pred = 0;
      }
      cur[x] = uint8_t(line[1 + x] + pred);
    }
    for (int x = 0; x < *w; ++x)
      rgb->insert(rgb->end(), cur.begin() + x * bpp, cur.begin() + x * bpp + 3);
    prev = cur;
  }
  return true;
}

size_t CountColour(const std::vector<uint8_t>& rgb, uint32_t colour, int tolerance = 6) {
  size_t n = 0;
  const int r = colour >> 16, g = (colour >> 8) & 255, b = colour & 255;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    n += std::abs(rgb[i] - r) <= tolerance && std::abs(rgb[i + 1] - g) <= tolerance &&
         std::abs(rgb[i + 2] - b) <= tolerance;
  return n;
}

}  // namespace

TEST_CASE("blackout report renders a saved report.json as HTML, Markdown and JUnit") {
  WorkDir w;
  std::ofstream(w.path + "/report.json") << SampleReport().dump(2);
  REQUIRE(
      Shell(Bin() + " report " + w.path + "/report.json --format html --out " + w.path + "/r.html")
          .code == 0);
  const std::string html = Read(w.path + "/r.html");
  CHECK(html.find("id=\"matrix\"") != std::string::npos);
  CHECK(html.find("class=\"timeline\"") != std::string::npos);
  CHECK(html.find("fsync of /store/wal.log after the write at trace #8") != std::string::npos);
  // Self-contained: nothing is fetched from anywhere.
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);

  const Output md = Shell(Bin() + " report " + w.path + "/report.json -f md");
  CHECK(md.code == 0);
  CHECK(md.text.find("## What changed") != std::string::npos);
  CHECK(md.text.find("[timeline](report.html#s-wal-batch-process)") != std::string::npos);
  CHECK(html.find("id=\"s-wal-batch-process\"") != std::string::npos);
  const Output junit = Shell(Bin() + " report " + w.path + "/report.json -f junit");
  CHECK(junit.text.find("<failure message=\"expected violations [], got [prefix]\">") !=
        std::string::npos);
}

TEST_CASE("blackout report refuses what it cannot render with an error that says what to do") {
  WorkDir w;
  std::ofstream(w.path + "/not.json") << "{oops";
  Output o = Shell(Bin() + " report " + w.path + "/not.json");
  CHECK(o.code == 2);
  CHECK(o.text.find("is not JSON") != std::string::npos);
  json newer = SampleReport();
  newer["schema_version"] = 99;
  std::ofstream(w.path + "/newer.json") << newer.dump();
  o = Shell(Bin() + " report " + w.path + "/newer.json");
  CHECK(o.code == 2);
  CHECK(o.text.find("$.schema_version is 99") != std::string::npos);
  o = Shell(Bin() + " report " + w.path + "/missing.json");
  CHECK(o.code == 2);
  CHECK(o.text.find("blackout run") != std::string::npos);
  o = Shell(Bin() + " report " + w.path + "/newer.json --format pdf");
  CHECK(o.code == 2);
  // Where the output cannot go: exit 2 naming the path, before any rendering.
  std::ofstream(w.path + "/good.json") << SampleReport().dump();
  o = Shell(Bin() + " report " + w.path + "/good.json -f md -o " + w.path + "/no-such-dir/r.md");
  CHECK(o.code == 2);
  CHECK(o.text.find("--out " + w.path + "/no-such-dir/r.md: directory " + w.path +
                    "/no-such-dir does not exist") != std::string::npos);
  o = Shell(Bin() + " report " + w.path + "/good.json -f md -o " + w.path);
  CHECK(o.code == 2);
  CHECK(o.text.find("is a directory") != std::string::npos);
  o = Shell(Bin() + " report " + w.path + "/good.json -f md -o " + w.path + "/r.md");
  CHECK(o.code == 0);
  CHECK(Read(w.path + "/r.md").find("## What changed") != std::string::npos);
}

TEST_CASE("report.html shows the matrix and a timeline in a real browser, offline") {
  if (Chromium().empty()) {
    std::fprintf(stderr, "chromium is not installed (scripts/deps.sh installs it); skipped\n");
    std::exit(77);
  }
  WorkDir w;
  std::ofstream(w.path + "/report.json") << SampleReport().dump(2);
  REQUIRE(
      Shell(Bin() + " report " + w.path + "/report.json -f html -o " + w.path + "/r.html").code ==
      0);
  // A probe appended to a copy of the page records, after the page's own
  // script has run, whether the matrix and a timeline take up space on screen.
  std::string html = Read(w.path + "/r.html");
  const std::string probe =
      "<script>(function(){function vis(el){if(!el)return 'missing';var "
      "r=el.getBoundingClientRect();"
      "return "
      "r.width>50&&r.height>20&&getComputedStyle(el).visibility!=='hidden'?'visible':'hidden';}"
      "var d=document.createElement('div');d.id='probe';"
      "d.setAttribute('data-matrix',vis(document.getElementById('matrix')));"
      "d.setAttribute('data-timeline',vis(document.querySelector('svg.timeline')));"
      "d.setAttribute('data-dropped',document.querySelectorAll('svg.timeline "
      ".fate-dropped').length);"
      "d.setAttribute('data-acks',document.querySelectorAll('svg.timeline .ack').length);"
      // The filters, offline: pick an engine, then an outcome.
      "function shown(){return document.querySelectorAll('section.violation:not(.hidden)').length+"
      "'/'+document.querySelectorAll('#matrix tbody tr:not(.hidden)').length;}"
      "var e=document.getElementById('f-engine'),o=document.getElementById('f-outcome');"
      "d.setAttribute('data-all',shown());"
      "e.value='wal';e.dispatchEvent(new Event('change'));d.setAttribute('data-wal',shown());"
      "e.value='';o.value='violation';o.dispatchEvent(new Event('change'));"
      "d.setAttribute('data-violation',shown());"
      "document.body.appendChild(d);})();</script></body>";
  html.replace(html.rfind("</body>"), 7, probe);
  std::ofstream(w.path + "/probe.html") << html;
  const Output dom =
      Shell(ChromiumCommand(w.path + "/profile1") +
            " --virtual-time-budget=2000 --dump-dom file://" + w.path + "/probe.html");
  REQUIRE(dom.code == 0);
  CHECK(dom.text.find("data-matrix=\"visible\"") != std::string::npos);
  CHECK(dom.text.find("data-timeline=\"visible\"") != std::string::npos);
  CHECK(dom.text.find("data-dropped=\"9\"") != std::string::npos);  // create + 8 writes
  CHECK(dom.text.find("data-acks=\"12\"") != std::string::npos);
  // sections/matrix rows shown: all; engine wal; outcome "violation, as expected".
  CHECK(dom.text.find("data-all=\"2/3\"") != std::string::npos);
  CHECK(dom.text.find("data-wal=\"1/1\"") != std::string::npos);
  CHECK(dom.text.find("data-violation=\"1/1\"") != std::string::npos);

  // The screenshot: not blank, and it shows the matrix's colours and the
  // timeline's dropped writes and crash line.
  const std::string png = w.path + "/report.png";
  const Output shot = Shell(ChromiumCommand(w.path + "/profile2") + " --screenshot=" + png +
                            " --window-size=1280,1400 file://" + w.path + "/r.html");
  REQUIRE(shot.code == 0);
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  REQUIRE(DecodePng(Read(png), &width, &height, &rgb));
  CHECK(width == 1280);
  std::set<uint32_t> colours;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3 * 7)
    colours.insert((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2]);
  CHECK(colours.size() > 50);               // not a blank page
  CHECK(CountColour(rgb, 0xffd9b8) > 200);  // a matrix chip: violation, as expected
  CHECK(CountColour(rgb, 0xf7b9bc) > 200);  // a matrix chip: unexpected
  CHECK(CountColour(rgb, 0xd7263d) > 200);  // dropped writes and the crash line
  if (const char* keep = std::getenv("BLACKOUT_KEEP_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}
