#pragma once
// Low-level scheduling entry points for layers built on the runtime (the
// actors layer schedules an actor by its embedded task_header). Not for
// applications: use spawn() and the primitives instead.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/detail/thread_slots.hpp"

namespace troupe {
class runtime;
}

namespace troupe::detail {

class scheduler;

// Makes `t` runnable. On one of s's workers it goes into that worker's LIFO
// slot, so a message's receiver runs next on a warm cache (the slot is
// capped and stealable, so two items waking each other cannot starve the
// rest). From any other thread it goes onto the global injection queue.
// Thread-safe, never throws, no allocation. After shutdown has completed the
// item is never run: callers must stop scheduling before the runtime dies.
void schedule(scheduler& s, task_header* t) noexcept;

// Like schedule(), but `t` goes behind the other ready work of the calling
// worker (for an item that used up its turn budget and must not hog the
// worker). From a foreign thread, same as schedule().
void schedule_yield(scheduler& s, task_header* t) noexcept;

// For a caller that may suspend (a blocking send, after it queued its
// message): on a one-worker runtime, once the calling slice has sent many
// messages and made something ready, yields so that runs before it sends
// more. Does nothing on other runtimes, off the workers, and inside timer
// callbacks. Inline: one decrement per send until a batch is full.
void yield_after_send_batch_slow(scheduler& s) noexcept;
inline void yield_after_send_batch(scheduler& s) noexcept {
  if (--this_thread_slots().sends_left == 0) [[unlikely]]
    yield_after_send_batch_slow(s);
}

// True on one of s's workers.
inline bool on_worker_of(const scheduler& s) noexcept { return this_thread_slots().sched == &s; }

// The calling worker's index in s (0 .. worker_count(s) - 1), or
// not_a_worker on any other thread: for state kept per worker by a layer
// above (the actors layer's per-class counters). A fiber may move to another
// worker at any suspension, so the answer holds until the caller next
// suspends. Thread-safe.
inline constexpr std::size_t not_a_worker = static_cast<std::size_t>(-1);
inline std::size_t worker_index(const scheduler& s) noexcept {
  const thread_slots& here = this_thread_slots();
  return here.sched == &s ? here.worker_index : not_a_worker;
}
std::size_t worker_count(const scheduler& s) noexcept;
// True until shutdown of s begins (runtime::stopping() is its negation).
// Callers on foreign threads refuse work once it is false: nothing may run
// it once shutdown is complete. The flag only ever goes from true to false;
// a hot path may keep its address and load it relaxed (a refusal "soon
// after" shutdown begins is all it promises). Valid until the scheduler is
// freed, which outlives the runtime object when a task destroyed it.
const std::atomic<bool>& accepting_external_flag(const scheduler& s) noexcept;

scheduler& scheduler_of(runtime& rt) noexcept;

// Keeps `p` alive until the runtime has shut down (every worker joined, every
// timer fired). For state that timers or late messages may still reach after
// its owner is gone, such as an actor system's. Thread-safe.
void retain_until_exit(scheduler& s, std::shared_ptr<void> p);

}  // namespace troupe::detail
