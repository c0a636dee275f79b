// Small helpers the harness's runners share: a clock, the end of a log file
// for an error message, and a parallel loop for --jobs.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace blackout::harness {

// Seconds on the steady clock, for durations.
inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Whether byte `c` continues a UTF-8 sequence (10xxxxxx).
inline bool Utf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// `text` cut to at most `max` bytes with "..." after it, never inside a
// UTF-8 character (a report must stay valid UTF-8 when values are clipped).
inline std::string Clip(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max >= 3 ? max - 3 : 0;
  while (end > 0 && Utf8Continuation(text[end])) --end;
  return text.substr(0, end) + "...";
}

// The last `max` bytes of `file` (a child's log), trailing blanks dropped,
// "..." in front when cut (never inside a UTF-8 character).
inline std::string Tail(const std::string& file, size_t max = 600) {
  std::ifstream in(file);
  std::stringstream b;
  b << in.rdbuf();
  std::string s = b.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() <= max) return s;
  size_t start = s.size() - max;
  while (start < s.size() && Utf8Continuation(s[start])) ++start;
  return "..." + s.substr(start);
}

// `text` with every "ROOT/" written as a path relative to `root`: a
// recovery's messages name files of the crash state it opened, under a
// temporary directory (or the in-memory root) that means nothing once the run
// ended and differs from one run to the next; relative, they read the same in
// every run and with either recovery.
inline std::string RelativeTo(const std::string& root, std::string text) {
  const std::string prefix = root + "/";
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at)) {
    text.erase(at, prefix.size());
  }
  return text;
}

// Runs fn(i) for i in [0, n) on up to `jobs` threads, this one included.
inline void ParallelFor(int n, int jobs, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::min(jobs, n); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

}  // namespace blackout::harness
