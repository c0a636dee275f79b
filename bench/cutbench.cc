// blackout-cutbench SIZE_MIB CHUNK_BYTES: the model's side of a power cut,
// without FUSE. Writes SIZE_MIB of data to one file in CHUNK_BYTES writes
// (no fsync), then times Filesystem::PowerCut(drop-all). Prints one JSON
// object. scripts/bench runs it beside the end-to-end power-cut job, whose
// time also holds the kernel dropping its page cache of the file.
#include <fcntl.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fusefs/model/filesystem.h"

int main(int argc, char** argv) {
  using namespace blackout::model;
  using Clock = std::chrono::steady_clock;
  if (argc != 3) {
    std::fprintf(stderr, "usage: blackout-cutbench SIZE_MIB CHUNK_BYTES\n");
    return 2;
  }
  const uint64_t size = std::strtoull(argv[1], nullptr, 10) << 20;
  const size_t chunk = std::strtoull(argv[2], nullptr, 10);
  if (size == 0 || chunk == 0) {
    std::fprintf(stderr, "blackout-cutbench: SIZE_MIB and CHUNK_BYTES must be positive\n");
    return 2;
  }
  Filesystem fs(Options{});
  Result<Created> c = fs.Create(kRootIno, "f", 0644, O_RDWR, Caller{});
  if (!c.ok()) return 1;
  const std::string data(chunk, 'x');
  const auto t0 = Clock::now();
  for (uint64_t off = 0; off < size; off += chunk) {
    if (!fs.Write(c->fh, off, data, Caller{}).ok()) return 1;
  }
  const auto t1 = Clock::now();
  const PowerCutResult r = fs.PowerCut(CrashStateKind::kDropAll);
  const auto t2 = Clock::now();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"pending_mib\": %.0f, \"chunk\": %zu, \"write_ms\": %.1f, \"cut_ms\": %.3f, "
      "\"dropped_ops\": %llu, \"peak_rss_mib\": %.1f}\n",
      static_cast<double>(size) / (1 << 20), chunk,
      std::chrono::duration<double, std::milli>(t1 - t0).count(),
      std::chrono::duration<double, std::milli>(t2 - t1).count(),
      static_cast<unsigned long long>(r.dropped_ops), ru.ru_maxrss / 1024.0);
  return 0;
}
