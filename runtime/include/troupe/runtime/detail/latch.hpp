#pragma once
// A count-down latch that fork-join waits on: join handles (count 1) and task
// groups (count n). The waiter first helps by running the tasks it spawned
// that are still queued on its own worker (no switch, no stack of its own),
// and only then blocks. Internal.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/detail/thread_slots.hpp"
#include "troupe/runtime/detail/worker_core.hpp"

namespace troupe::detail {

// Where a task was pushed: lets the spawner pop and run it inline later if it
// is still at the bottom of the same worker's deque and the spawner has not
// migrated or suspended in between.
struct help_mark {
  const worker_core* worker = nullptr;  // null: pushed from outside any worker
  std::int64_t bottom = 0;              // deque bottom index before the push
  std::uint64_t suspends = 0;           // the worker's suspension count then
};

// A resumable fiber cannot run inline on the waiter's stack: it goes back on
// the deque. Out of line and cold, to keep take_to_help a leaf.
[[gnu::noinline, gnu::cold]] inline task_header* requeue_fiber(worker_core& w, task_header* t) {
  w.deque.push(t);
  return nullptr;
}

// Pops one task pushed after `mark` on this worker, for the waiter to run
// inline; null if there is none or the caller has migrated or suspended
// since the mark. Only the waiter that got the mark from push_spawned calls
// it (a join, a group's wait). The waiter calls the task itself: this
// function then calls nothing on its hot path and saves one register where
// a version that ran the task saved four. GCC keeps it out of line; forcing
// it inline grew fib's frame (decision 0025).
inline task_header* take_to_help(const help_mark& mark) {
  worker_core* w = this_thread_slots().owner;
  if (!w || w != mark.worker || w->suspends != mark.suspends) return nullptr;
  task_header* t = w->deque.pop_above(mark.bottom);
  if (!t) return nullptr;
  if (t->invoke == nullptr) [[unlikely]]
    return requeue_fiber(*w, t);
  owner_bump(w->tasks_helped);
  return t;
}

// Runs one task take_to_help gives; false if there was none. Always inlined
// into the wait loops, so that the task is called from the waiter's frame.
[[gnu::always_inline]] inline bool help_one(const help_mark& mark) {
  task_header* t = take_to_help(mark);
  if (!t) return false;
  t->invoke(t);
  return true;
}

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

// The latch of a task group. Most of a group's tasks are run by its owner
// itself, inline on the owner's fiber while it waits (help_one), so those
// count with plain arithmetic on the owner's own count; only a task added or
// finished on another fiber (stolen, or run while the owner is blocked) pays
// an RMW on the shared word. What is left is 2 * outstanding_ + state_
// (mod 2^64): state_ holds minus twice the shared count-downs plus twice the
// shared additions, and its bit 0 says the owner is blocked. Blocking moves
// the owner's count into the word, so the last shared count_down sees the
// word reach exactly "nothing left, owner blocked".
class group_latch {
 public:
  // On the owner: the fiber (or foreign thread) that will wait.
  group_latch() noexcept : owner_fiber_(this_thread_slots().running_fiber) {}
  group_latch(const group_latch&) = delete;
  group_latch& operator=(const group_latch&) = delete;

  // `on_owner` below is on_owner_fiber(), read once by the caller: each read
  // of the thread's slots is a compiler barrier, and a spawn or a task's end
  // would otherwise read them twice with no switch in between.

  // Before handing a task over: by the owner, or by a task of the group.
  void add(bool on_owner) noexcept {
    if (on_owner) {
      ++outstanding_;
    } else {
      // relaxed: the task is handed over later through a queue (release/
      // acquire), which orders this before its count_down.
      state_.fetch_add(2, std::memory_order_relaxed);
    }
  }
  // When a task ends, on whatever fiber ran it. The caller must not touch
  // *this afterwards (the owner may have returned) unless on the owner.
  void count_down(bool on_owner) noexcept {
    if (on_owner) {
      --outstanding_;
      return;
    }
    // acq_rel: releases this task's results to the owner (which acquires in
    // done()), and acquires the owner's registration (owner_, and its count
    // moved into the word).
    if (state_.fetch_sub(2, std::memory_order_acq_rel) == (2 | waiter_bit)) wake_owner();
  }
  // Owner only.
  bool done() const noexcept { return 2 * outstanding_ + state_.load(std::memory_order_acquire) == 0; }
  // Owner only: waits until nothing is left, first helping via `mark`.
  void wait(const help_mark* mark = nullptr) {
    while (!done()) {
      if (mark && help_one(*mark)) continue;
      block();
    }
  }

  // True when called on the owner's fiber; never for a foreign-thread owner.
  bool on_owner_fiber() const noexcept { return on_owner_fiber(this_thread_slots()); }
  // `here`: this_thread_slots(), read by the caller with no switch since.
  bool on_owner_fiber(const thread_slots& here) const noexcept {
    return here.running_fiber != nullptr && here.running_fiber == owner_fiber_;
  }

  // Internal: called by the blocking code once the owner can be resumed.
  bool register_owner(void* owner) noexcept;

 private:
  static constexpr std::uint64_t waiter_bit = 1;
  void block();
  void wake_owner() noexcept;

  std::atomic<std::uint64_t> state_{0};
  std::uint64_t outstanding_ = 0;  // the owner's part of the count
  const void* const owner_fiber_;  // null: a foreign thread owns it
  void* owner_ = nullptr;          // the blocked owner; written before waiter_bit is set
};

// Out of line, for push_spawned: from a foreign thread (or a worker of
// another runtime), onto s's injection queue; and a push's wake-up of an
// idle worker (scheduler::notify_work).
void push_spawned_from_outside(scheduler& s, task_header* t);
void notify_spawned(scheduler& s) noexcept;

// Pushes `t` onto the calling worker's deque (fork-join spawn), or onto the
// runtime's injection queue from a foreign thread. Any thread (spawn,
// task_group::spawn). Writes the help mark into *mark unless it is null:
// field by field, in place. A mark returned by value and then copied was
// copied by clang with one 16-byte load of two fresh 8-byte stores, which
// the store buffer cannot forward (a third of clang's fib time).
// Throws error(runtime_stopped) after shutdown began (from a foreign thread).
// `here`: this_thread_slots(), read by the caller with no switch since.
inline void push_spawned(scheduler& s, task_header* t, const thread_slots& here, help_mark* mark) {
  worker_core* w = here.owner;
  if (w && &w->sched == &s) [[likely]] {
    if (mark) {
      mark->worker = w;
      mark->bottom = w->deque.bottom_index();
      mark->suspends = w->suspends;
    }
    if (w->push_stealable(t)) notify_spawned(s);
    return;
  }
  push_spawned_from_outside(s, t);
  if (mark) *mark = help_mark{};  // no mark: the task is not on the caller's deque
}

}  // namespace troupe::detail
