#pragma once
// Scheduler counters. Each worker keeps its own on a separate cache line and
// only it writes them (relaxed increments), so counting costs no sharing;
// runtime::metrics() sums a consistent-enough snapshot for monitoring.

#include <cstdint>
#include <vector>

namespace troupe {

struct worker_metrics {
  std::uint64_t tasks_run = 0;        // tasks and fiber resumptions executed
  std::uint64_t steals = 0;           // successful steals from another worker
  std::uint64_t failed_steals = 0;    // steal attempts that found nothing or lost a race
  std::uint64_t parks = 0;            // times the worker went to sleep
  std::uint64_t wakeups = 0;          // times it was woken (by work or a timer)
  std::uint64_t injection_pops = 0;   // items taken from the global injection queue
  std::uint64_t lifo_runs = 0;        // items run from the LIFO slot
  std::uint64_t fibers_created = 0;   // runner fibers created (pool misses)
  std::uint64_t timers_fired = 0;     // timers that fired on this worker (sleeps, deadlines, actor timers)
  std::uint64_t timers_pending = 0;   // timers armed on its wheel now (a gauge, not a counter)

  worker_metrics& operator+=(const worker_metrics& o) noexcept;
};

struct metrics_snapshot {
  std::vector<worker_metrics> workers;  // one per worker, by index
  std::uint64_t failed_detached_tasks = 0;  // exceptions from tasks nobody joined
  worker_metrics total() const noexcept;
};

}  // namespace troupe
