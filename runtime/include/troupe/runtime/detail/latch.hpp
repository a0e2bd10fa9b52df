#pragma once
// A count-down latch that fork-join waits on: join handles (count 1) and task
// groups (count n). The waiter first helps by running the tasks it spawned
// that are still queued on its own worker (no switch, no stack of its own),
// and only then blocks. Internal.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/runtime/detail/task_header.hpp"

namespace troupe::detail {

// Pops and runs one task pushed after `mark` on this worker. False if there
// is none or the caller has migrated or suspended since the mark.
struct help_mark;
bool help_one(const help_mark& mark);

// Where a task was pushed: lets the spawner pop and run it inline later if it
// is still at the bottom of the same worker's deque and the spawner has not
// migrated in between.
struct help_mark {
  void* worker = nullptr;         // null: pushed from outside any worker
  std::int64_t bottom = 0;        // deque bottom index before the push
  std::uint64_t fiber_epoch = 0;  // the spawning fiber's suspend count then
};

// One word holds the pending count and, in its top bit, whether the owner
// is blocked waiting; so counting down costs a single RMW, and only the last
// count_down of a blocked owner does more (it wakes the owner).
class latch {
 public:
  explicit latch(std::size_t initial = 0) noexcept : state_(initial) {}
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  // Owner only (the thread or fiber that will wait), before handing the
  // counted work to others.
  void add(std::size_t n) noexcept {
    // relaxed: the work is handed over later through a queue (release/
    // acquire), which orders this add before the workers' count_down.
    state_.fetch_add(n, std::memory_order_relaxed);
  }
  // Any thread. The caller must not touch *this afterwards unless it knows
  // the owner is still waiting.
  void count_down() noexcept {
    // acq_rel: releases this task's results to the owner (which acquires in
    // done()), and acquires the owner's registration below.
    if (state_.fetch_sub(1, std::memory_order_acq_rel) == (waiter_bit | 1)) wake_owner();
  }
  bool done() const noexcept { return (state_.load(std::memory_order_acquire) & ~waiter_bit) == 0; }
  // Waits until the count is zero, first helping via `mark` when given.
  // Not cancelled by shutdown: the counted tasks always finish.
  void wait(const help_mark* mark = nullptr) {
    while (!done()) {
      if (mark && help_one(*mark)) continue;
      block();
    }
  }

  // Internal: called by the blocking code once the owner can be resumed.
  bool register_owner(void* owner) noexcept;

 private:
  static constexpr std::uint64_t waiter_bit = std::uint64_t{1} << 63;
  void block();
  void wake_owner() noexcept;

  std::atomic<std::uint64_t> state_;
  void* owner_ = nullptr;  // the blocked owner; written before waiter_bit is set
};

// Pushes `t` onto the calling worker's deque (fork-join spawn), or onto the
// runtime's injection queue from a foreign thread. Returns the help mark.
// Throws error(runtime_stopped) after shutdown began.
class scheduler;
help_mark push_spawned(scheduler& s, task_header* t);

}  // namespace troupe::detail
