#pragma once
// The circuit breaker's sliding window: the last N calls (count-based) or the
// calls of the last N buckets of time (time-based), as running totals of
// calls, failures and slow calls. O(1) per call: a count window replaces the
// oldest call's flags; a time window clears the buckets that time has moved
// past, each at most once per turn of the ring (and a jump of a whole window
// or more clears everything in O(1) by bucket stamps), as resilience4j's
// SlidingTimeWindowMetrics does.
//
// A plain value type: not thread-safe; circuit_breaker calls it under its
// lock. Tested on its own.

#include <cstdint>
#include <vector>

#include "troupe/runtime/clock.hpp"

namespace troupe::patterns {

struct window_config {
  enum class kind : std::uint8_t { count_based, time_based };
  kind type = kind::count_based;
  // count_based: the last `size` calls. time_based: `size` buckets of
  // `bucket_width` each, so the window spans size * bucket_width (the
  // current, partial bucket included). At least 1.
  std::uint32_t size = 100;
  clock::duration bucket_width = std::chrono::seconds(1);
};

namespace detail {

struct window_totals {
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::uint64_t slow = 0;
};

class sliding_window {
 public:
  explicit sliding_window(const window_config& cfg);

  // Adds one counted call at `now`. A `now` older than the newest bucket
  // (callers on other threads read the clock a little earlier) lands in the
  // newest bucket.
  void add(bool failure, bool slow, clock::time_point now);
  // The totals of the window ending at `now` (a time window first drops the
  // buckets that have expired by then).
  window_totals totals(clock::time_point now);
  void clear();

 private:
  struct bucket {
    std::int64_t index;  // which bucket of time this is; stale when outside the window
    std::uint32_t calls, failures, slow;
  };
  void advance(clock::time_point now);

  window_config cfg_;
  window_totals totals_;
  // count_based: one byte per call slot (bit 0 failure, bit 1 slow, bit 2 used)
  std::vector<std::uint8_t> calls_;
  std::uint32_t next_ = 0;
  // time_based
  std::vector<bucket> buckets_;
  std::int64_t current_ = 0;  // index of the newest bucket
};

}  // namespace detail
}  // namespace troupe::patterns
