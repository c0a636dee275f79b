// blackout-freshmem [GIB]: how fast this machine hands out memory a process
// never used before. Writes GIB (default 12) GiB of new anonymous memory in
// 128 KiB copies, one GiB at a time, and prints MiB/s per GiB as one JSON
// object. On a virtual machine the first touch of a guest page the host
// never backed costs a host fault on top of the guest's zero fill; the GiB
// where the rate drops is where that starts. blackoutfs pays this price for
// every pending byte (BENCHMARKS.md, "Every job on a fresh mount").
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  const size_t gib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 12;
  if (argc > 2 || gib == 0) {
    std::fprintf(stderr, "usage: blackout-freshmem [GIB]  (a positive number of GiB)\n");
    return 2;
  }
  constexpr size_t kGiB = size_t{1} << 30;
  constexpr size_t kChunk = 128 << 10;
  void* map = mmap(nullptr, gib * kGiB, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    std::perror("blackout-freshmem: mmap");
    return 1;
  }
  char* mem = static_cast<char*>(map);
  std::vector<char> src(kChunk, 7);
  std::printf("{\"mib_s_per_gib\": [");
  for (size_t g = 0; g < gib; ++g) {
    const auto t0 = Clock::now();
    for (size_t off = 0; off < kGiB; off += kChunk)
      std::memcpy(mem + g * kGiB + off, src.data(), kChunk);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("%s%.0f", g ? ", " : "", 1024 / s);
    std::fflush(stdout);
  }
  std::printf("]}\n");
  munmap(map, gib * kGiB);
  return 0;
}
