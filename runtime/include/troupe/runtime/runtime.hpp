#pragma once
// The runtime: one worker thread per core (by default), each running fibers
// from its own Chase-Lev deque and stealing from the others when idle.
//
// Shutdown (shutdown() or the destructor):
//  1. New work from threads outside the runtime is refused with
//     error(runtime_stopped). Work spawned by running tasks is still accepted.
//  2. Every queued task runs to completion, including what it spawns, and
//     sleeping fibers and timed waits wake at their deadlines as usual.
//  3. When nothing is runnable and no timer is pending, fibers still blocked
//     on a primitive nobody can signal any more are cancelled: their wait
//     throws error(cancelled), so their destructors run. A join or task
//     group wait is never cancelled (what it waits for always finishes).
//  4. Then the workers exit and are joined; every stack is freed.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/metrics.hpp"

namespace troupe {

namespace detail {
class scheduler;
}

struct runtime_options {
  // Worker threads. Unset: one per hardware thread. Zero is an error.
  std::optional<std::size_t> workers;
  // Pin worker i to CPU (i mod hardware threads).
  bool pin_workers = false;
  // Usable bytes per fiber stack (a guard page is added below it).
  std::size_t stack_size = 256 * 1024;
  // The only source of time of this runtime and of everything built on it.
  // Null: the steady clock. A manual_clock gives virtual time.
  std::shared_ptr<troupe::clock> clock;
};

class runtime {
 public:
  // Starts the workers. Throws error(invalid_argument) for zero workers or a
  // stack smaller than 16 KiB.
  runtime();
  explicit runtime(const runtime_options& options);
  // Calls shutdown() and joins. Must not be called from one of its workers.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Begins and completes shutdown (see the header comment). Thread-safe,
  // idempotent; from a worker of this runtime it only begins shutdown.
  void shutdown();
  bool stopping() const noexcept;

  std::size_t worker_count() const noexcept;
  // This runtime's clock. Thread-safe.
  troupe::clock& clock() const noexcept { return *clock_; }
  // clock().now(). Thread-safe.
  clock::time_point now() const noexcept { return clock_->now(); }
  // Thread-safe; counters may lag by a few increments.
  metrics_snapshot metrics() const;

  // The runtime whose worker is calling, or nullptr on a foreign thread.
  static runtime* current() noexcept;

  detail::scheduler& scheduler() noexcept { return *scheduler_; }

 private:
  std::shared_ptr<troupe::clock> clock_;
  std::unique_ptr<detail::scheduler> scheduler_;
};

}  // namespace troupe
