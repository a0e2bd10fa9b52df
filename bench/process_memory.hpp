#pragma once
// Process memory readings shared by the benchmarks of every system, so that
// troupe and its peers are measured the same way.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <string>
#include <unistd.h>

namespace troupe::bench {

// Resident set size in bytes, from /proc/self/statm (second field, pages).
inline std::int64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::int64_t>(resident) * ::sysconf(_SC_PAGESIZE) : -1;
}

// A "VmXXX:   N kB" line of /proc/self/status (e.g. "VmHWM"), in bytes.
inline std::int64_t status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, len, key) == 0 && line.size() > len && line[len] == ':')
      return std::stoll(line.substr(len + 1)) * 1024;
  }
  return -1;
}

// Hands freed heap memory back to the kernel so RSS baselines do not depend
// on what earlier work in the same process left in malloc's arenas.
inline void trim_heap() { ::malloc_trim(0); }

}  // namespace troupe::bench
