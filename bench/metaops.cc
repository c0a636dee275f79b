// Metadata benchmark for scripts/bench: the pattern of a store that commits a
// small file atomically (create + write + fsync + rename + fsync of the
// directory), repeated for a fixed time. Prints one JSON object with ops/s.
//
//   blackout-metaops DIR SECONDS
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: blackout-metaops DIR SECONDS\n");
    return 2;
  }
  const std::string dir = argv[1];
  const double seconds = std::atof(argv[2]);
  const int dirfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dirfd < 0) {
    std::perror(dir.c_str());
    return 2;
  }
  const std::string payload(512, 'm');
  const auto start = std::chrono::steady_clock::now();
  long ops = 0;
  double elapsed = 0;
  while (elapsed < seconds) {
    const std::string tmp = dir + "/tmp." + std::to_string(ops);
    const std::string final_name = dir + "/file." + std::to_string(ops % 64);
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, payload.data(), payload.size()) != static_cast<ssize_t>(payload.size()) ||
        fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), final_name.c_str()) != 0 ||
        fsync(dirfd) != 0) {
      std::perror("metaops");
      return 1;
    }
    ++ops;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  close(dirfd);
  std::printf("{\"ops\": %ld, \"seconds\": %.3f, \"ops_per_s\": %.1f}\n", ops, elapsed, ops / elapsed);
  return 0;
}
