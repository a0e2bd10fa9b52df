#pragma once
// One request's shared state, and the sink its completion reports to.
//
// Who ends a request: its completion (any thread) or the engine giving up at
// the deadline (the driving thread), whichever comes first. `ended` starts
// `pending`; each side tries one compare-and-swap from `pending`, and the
// single winner (RMW atomicity: exactly one CAS on a word can succeed from a
// given value) owns the ending. The loser does nothing but drop its
// reference: a completion that lost is counted as late (the engine had given
// up); an engine that lost leaves the request to the done list.
//
// A completion that wins stamps the time and outcome and pushes the state
// onto the sink's done list; the engine drains the list on the driving
// thread and does all the accounting there (one thread: no shared counters,
// one plain histogram per interval). The push publishes the stamped fields.
//
// Lifetime: two references, the completion's and the engine's (held through
// its FIFO of requests in send order). Whoever drops the last one deletes.
// The sink is shared (shared_ptr) by the engine and every state, so a
// completion that comes after the generator is gone still has somewhere to
// report to.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "troupe/load/outcome.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::load::detail {

struct request_state;

class completion_sink {
 public:
  explicit completion_sink(std::shared_ptr<troupe::clock> c) : clock_(std::move(c)) {}

  troupe::clock& clock() const noexcept { return *clock_; }

  // Pushes an ended request. Thread-safe (any completing thread).
  void push(request_state* s) noexcept;
  // Takes every pushed request (newest first, linked by next_done). Driving
  // thread only.
  request_state* take_all() noexcept {
    // acquire: pairs with the release half of every push's CAS (each push is
    // an RMW, so the list's later pushes continue the release sequence of
    // earlier ones): the stamped outcome and time of every taken state are
    // visible.
    return head_.exchange(nullptr, std::memory_order_acquire);
  }
  // relaxed: a hint for "is there anything to drain"; take_all synchronises.
  bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }

  // Blocks the driving thread until a push or until `until` (a steady-clock
  // time; time_point::max(): no limit). Returns at once if the list is not
  // empty. Driving thread only; real clocks only.
  void wait_for_push(troupe::clock::time_point until);

  // Completions that came after the engine had given up on their request.
  void count_late() noexcept {
    // relaxed: a statistic read at the end of the run; it orders nothing.
    late_.fetch_add(1, std::memory_order_relaxed);
  }
  // relaxed: a count, read when the run ends; it publishes nothing.
  std::uint64_t late() const noexcept { return late_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<troupe::clock> clock_;
  std::atomic<request_state*> head_{nullptr};
  // Set while the driving thread is about to block in wait_for_push.
  std::atomic<bool> waiting_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> late_{0};
};

enum : std::uint8_t { pending = 0, ended_by_completion = 1, given_up = 2 };

struct request_state {
  // Written by the engine before the target sees the request; read-only after.
  std::uint64_t id = 0;
  troupe::clock::time_point intended, sent, deadline;
  std::uint32_t worker = 0;  // closed loop: whose request it is
  std::shared_ptr<completion_sink> sink;

  std::atomic<std::uint8_t> ended{pending};
  // Written by the completion that won `ended`, before its push; read by the
  // engine after take_all (the push/take_all pair orders them).
  outcome result = outcome::ok;
  bool abandoned = false;
  troupe::clock::time_point finished;
  request_state* next_done = nullptr;

  std::atomic<std::uint32_t> refs{2};  // the completion's and the engine's

  // Engine (driving thread) only.
  bool accounted = false;
};

// Drops one reference; the last one deletes. Thread-safe.
inline void release(request_state* s) noexcept {
  // acq_rel: release, so this side's writes to *s happen before the delete
  // on the other side; acquire, so the side that deletes sees the other's.
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete s;
}

}  // namespace troupe::load::detail
