#pragma once
// Built-in targets, for troupe-load's demonstrations, the benchmark and the
// tests.

#include <memory>

#include "troupe/load/request.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::load {

// Completes every request at once, inline (on the driving thread), with
// outcome::ok. Thread-safe. What load.overhead drives: every nanosecond of a run against
// it is the generator's own.
target noop_target();

// A synchronous service with a stall: each call takes `service_time`, except
// that a call made during the stall window [stall_begin, stall_end) first
// waits until the window ends -- a stop-the-world pause, a lock held too
// long. Run it through sync_target (sync_target.hpp) with enough threads.
// Time comes from `clock`, which must be a real one (the service sleeps).
struct stall_config {
  duration service_time{};  // per call, after any stall
  bool spin = false;        // spend service_time computing (spinning) instead of sleeping
  troupe::clock::time_point stall_begin;
  troupe::clock::time_point stall_end;  // <= stall_begin: no stall
};

class stall_service {
 public:
  // Throws troupe::error (invalid_argument) if the clock is virtual. A null
  // clock is the steady clock. Thread-safe.
  stall_service(std::shared_ptr<troupe::clock> clock, stall_config cfg);
  // A window `stall_at` after now, `stall_length` long.
  static stall_service starting_now(std::shared_ptr<troupe::clock> clock, duration service_time,
                                    duration stall_at, duration stall_length, bool spin = false);

  // Serves one request: blocks the calling thread, returns outcome::ok.
  // Thread-safe.
  outcome operator()(const request& r) const;

  const stall_config& config() const noexcept { return cfg_; }

 private:
  std::shared_ptr<troupe::clock> clock_;
  stall_config cfg_;
};

}  // namespace troupe::load
