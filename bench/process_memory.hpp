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

// Sets the peak resident size (VmHWM) back to the current one (Linux 4.0+:
// "5" written to /proc/self/clear_refs), so a later VmHWM is the peak of
// what ran in between. False if the kernel refused.
inline bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool written = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && written;
}

// Hands freed heap memory back to the kernel so RSS baselines do not depend
// on what earlier work in the same process left in malloc's arenas.
inline void trim_heap() { ::malloc_trim(0); }

// The peak resident growth of a run, in MiB: call begin() before it and
// mib() after; -1 if the peak could not be reset.
struct peak_growth {
  std::int64_t base = -1;
  void begin() {
    trim_heap();
    base = reset_peak_rss() ? status_bytes("VmHWM") : -1;
  }
  double mib() const {
    if (base < 0) return -1;
    return static_cast<double>(status_bytes("VmHWM") - base) / (1024.0 * 1024.0);
  }
};

}  // namespace troupe::bench
