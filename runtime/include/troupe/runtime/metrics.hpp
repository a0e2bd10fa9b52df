#pragma once
// Scheduler counters. Each worker keeps its own on a separate cache line and
// only it writes them (relaxed increments), so counting costs no sharing;
// runtime::metrics() sums a consistent-enough snapshot for monitoring.
// Every field but timers_pending is a counter: it only grows over the
// runtime's life. Rendered as Prometheus metrics by the actors layer
// (troupe_worker_<field>_total{worker="i"}, docs/design/metrics.md).

#include <cstdint>
#include <vector>

namespace troupe {

struct worker_metrics {
  std::uint64_t tasks_run = 0;       // tasks and fiber resumptions executed (an actor's turn is one task)
  std::uint64_t steals = 0;          // successful steals from another worker
  std::uint64_t failed_steals = 0;   // steal attempts that found nothing or lost a race
  std::uint64_t parks = 0;           // times the worker went to sleep
  std::uint64_t wakeups = 0;         // times it was woken (by work or a timer)
  std::uint64_t injection_pops = 0;  // items taken from the global injection queue
  std::uint64_t lifo_runs = 0;       // items run from the LIFO slot
  std::uint64_t fibers_created = 0;  // runner fibers created (pool misses)
  std::uint64_t timers_fired = 0;    // timers of this worker's wheel that fired (sleeps, deadlines,
                                     // actor timers), counted by the worker that fired them
  std::uint64_t timers_pending = 0;  // timers armed on its wheel now (a gauge, not a counter)
  // Nanoseconds of real (steady-clock) time the worker thread was not
  // parked since it started: running tasks, looking for work and spinning
  // before a park. Measured at parks and wake-ups only (two clock reads per
  // park, none per task), so a worker that spins without parking counts as
  // busy. The real clock even under a virtual runtime clock: it measures
  // the machine, not the program's time. Grows while the worker runs, so
  // two snapshots give utilisation: delta busy_ns / delta wall time. A
  // driven runtime's worker is busy while run_until_idle() drives it.
  std::uint64_t busy_ns = 0;

  worker_metrics& operator+=(const worker_metrics& o) noexcept;
};

struct metrics_snapshot {
  std::vector<worker_metrics> workers;      // one per worker, by index
  std::uint64_t failed_detached_tasks = 0;  // exceptions from tasks nobody joined
  worker_metrics total() const noexcept;
};

}  // namespace troupe
