#pragma once
// The part of a scheduler worker that fork-join's inline paths reach
// (latch.hpp: push_spawned, take_to_help), so that a spawn and a help need
// no call into the scheduler. Internal: the scheduler's worker
// (runtime/src/scheduler.hpp) derives from it; thread_slots::owner points
// at it.

#include <atomic>
#include <cstdint>

#include "troupe/runtime/detail/chase_lev_deque.hpp"
#include "troupe/runtime/detail/task_header.hpp"

namespace troupe::detail {

class scheduler;

// Adds n to a counter that only the calling thread writes: a relaxed load
// and store, not an RMW, as nobody else writes. Readers on other threads
// load it relaxed (metrics, the thieves' stuck test). Callers: the counter's
// owning worker. always_inline: GCC 12 -O2 left it a call on the yield path.
[[gnu::always_inline]] inline void owner_bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct worker_core {
  // `gate`: the scheduler's steal gate, or null where thieves cannot clear
  // a victim that takes nothing (no heavy fence): every take then fences.
  worker_core(scheduler& s, bool alone_worker, steal_gate* gate)
      : sched(s),
        alone(alone_worker),
        deque(256,
              alone_worker ? deque_thieves::none
              : gate       ? deque_thieves::gated
                           : deque_thieves::possible,
              gate) {}
  worker_core(const worker_core&) = delete;
  worker_core& operator=(const worker_core&) = delete;

  scheduler& sched;
  // A one-worker runtime: no other thread takes from this worker's deque
  // or LIFO slot, and a push wakes nobody.
  const bool alone;
  // Thief-free when alone; gated when the scheduler has a steal gate.
  chase_lev_deque<task_header*> deque;
  // Owner only: fiber suspensions (and yields) on this worker so far. A
  // help_mark stays valid while it is unchanged: the fiber that pushed has
  // not left, so nothing but its own nested work ran here since.
  std::uint64_t suspends = 0;
  // Tasks taken by take_to_help; part of the worker's tasks_run. owner_bump.
  std::atomic<std::uint64_t> tasks_helped{0};

  // Pushes t onto the deque (stealable now) and says whether to wake an
  // idle worker for it (scheduler::notify_work): only when the deque looked
  // empty before, and never when alone (decision 0021). An item pushed
  // behind others needs no wake-up of its own: whoever was woken or is
  // searching for the first finds it, this worker runs it otherwise, and a
  // parked worker looks every stuck_watch while this one is awake. Owner
  // only. Throws std::bad_alloc if the deque cannot grow.
  bool push_stealable(task_header* t) {
    // relaxed: a guess. A stale top_ only makes the deque look fuller, which
    // skips a wake-up that the watch above stands in for. Not looked at
    // when alone: a one-worker spawn pays no load for it.
    const bool was_empty = !alone && deque.empty_estimate();
    deque.push(t);
    return was_empty;
  }
};

}  // namespace troupe::detail
