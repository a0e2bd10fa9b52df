#pragma once
// The tracer (tracer.cpp): bounded per-worker event buffers that the
// scheduler's hooks and the layers above (detail/trace.hpp) write into, and
// the Chrome trace event JSON writer. Internal; see troupe/runtime/trace.hpp.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::detail {

// A copy of `name` that lives as long as the process, one per distinct
// name (for names built at run time, e.g. a breaker's transition); null if
// out of memory. Thread-safe.
const char* intern_trace_name(std::string_view name) noexcept;

struct trace_event {
  std::uint64_t ts;   // steady-clock ns
  std::uint64_t arg;  // duration (complete events), id (flows)
  const char* name;   // static or interned: never freed while the process runs
  char phase;         // 'X' complete, 'i' instant, 's'/'f' flow start/end
};

// One writer at a time (a worker, or foreign threads under the mutex); the
// writer of trace() reads a prefix published by `used`.
class trace_buffer {
 public:
  explicit trace_buffer(std::size_t capacity) : events_(capacity) {}
  void add(const trace_event& e) noexcept {
    const std::size_t n = used_.load(std::memory_order_relaxed);  // relaxed: only this writer stores it
    if (n == events_.size()) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count read at the end
      return;
    }
    events_[n] = e;
    // release: a reader that sees the new count sees the event.
    used_.store(n + 1, std::memory_order_release);
  }
  std::size_t used() const noexcept { return used_.load(std::memory_order_acquire); }
  std::size_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  const trace_event& at(std::size_t i) const noexcept { return events_[i]; }

 private:
  std::vector<trace_event> events_;
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> dropped_{0};
};

class tracer {
 public:
  tracer(std::size_t workers, std::size_t capacity);
  trace_buffer& worker(std::size_t i) noexcept { return *workers_[i]; }
  // From a thread outside the runtime.
  void foreign(const trace_event& e) noexcept;
  std::size_t dropped() const noexcept;
  // Writes the events recorded so far as Chrome trace event JSON.
  std::size_t write(const std::string& path) const;

  static std::uint64_t now_ns() noexcept;

 private:
  std::uint64_t start_ns_;
  std::vector<std::unique_ptr<trace_buffer>> workers_;
  mutable std::mutex foreign_mutex_;
  trace_buffer foreign_;
};

}  // namespace troupe::detail
