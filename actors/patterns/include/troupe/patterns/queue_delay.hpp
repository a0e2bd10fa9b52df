#pragma once
// Shedding by queueing delay, CoDel-style (Nichols and Jacobson, "Controlling
// Queue Delay", ACM Queue 2012), in the variant Facebook uses for RPC queues
// (wangle's Codel; Maurer, "Fail at Scale", ACM Queue 2015): instead of
// dropping at a rising rate, once the queue is overloaded it sheds every
// request that waited too long.
//
// The queue counts as overloaded for an interval when, over the previous
// interval, even the shortest wait (sojourn) exceeded half the target: a
// standing queue, not a burst. While overloaded, a request is shed at
// dequeue if its sojourn exceeds the target (scaled by its priority), so
// admitted requests wait at most the target. Measuring overload at half the
// target keeps the decision stable: the requests served while shedding wait
// just under the target, which still reads as overloaded, so shedding does
// not switch itself off after one interval and let the queue grow back.
// Critical requests get 4x the target and best-effort ones half, by default.
//
// The caller passes the enqueue time and now; the shedder keeps no clock.
// Thread-safe: one short spinlock per decision (a mailbox has one consumer,
// so it is uncontended there). O(1).

#include <array>
#include <cstdint>

#include "troupe/patterns/limits.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::patterns {

struct queue_delay_config {
  clock::duration target = std::chrono::milliseconds(5);
  clock::duration interval = std::chrono::milliseconds(100);
  // Multipliers of the target: critical, normal, best effort.
  std::array<double, priority_count> target_scale{4.0, 1.0, 0.5};
};

struct queue_delay_counters {
  std::uint64_t admitted = 0;
  std::uint64_t shed = 0;
  std::uint64_t overloaded_intervals = 0;
};

class queue_delay_shedder {
 public:
  explicit queue_delay_shedder(const queue_delay_config& cfg = {});

  // A request enqueued at `enqueued_at` is dequeued at `now`: shed it?
  // Thread-safe.
  bool should_shed(clock::time_point enqueued_at, clock::time_point now,
                   priority p = priority::normal) noexcept;
  // Whether the current interval sheds. Thread-safe.
  bool overloaded() const noexcept;
  queue_delay_counters counters() const noexcept;

 private:
  queue_delay_config cfg_;
  mutable troupe::detail::spinlock lock_;
  // under lock_:
  clock::time_point interval_end_{};
  clock::duration min_sojourn_ = clock::duration::max();
  bool started_ = false;
  bool overloaded_ = false;
  queue_delay_counters counters_;
};

}  // namespace troupe::patterns
