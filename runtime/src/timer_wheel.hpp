#pragma once
// A hierarchical timing wheel (Varghese and Lauck; the layout of Tokio's and
// Kafka's): 7 levels of 64 slots, level 0 slots one tick (2^16 ns, about
// 65.5 us) wide, each level 64 times coarser, covering about 9 years. An
// entry goes into the level whose slot granularity separates its deadline
// from the wheel's current time, so arming and cancelling are O(1) (link
// into or out of a list, set or clear one occupancy bit); when time reaches a
// coarse slot its entries cascade down. Deadlines are kept exactly: an entry
// fires only once the clock has passed its own deadline, so the tick sets
// the granularity of ordering (entries within one tick fire in arming
// order), not the precision of firing.
//
// One wheel per worker. Every operation takes the wheel's spinlock, held for
// a handful of pointer writes (or the cascade of one slot): the owner arms
// and fires, any thread cancels, and another worker may fire the overdue
// entries of an owner stuck in a long computation.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace troupe::detail {

class timer_wheel {
 public:
  static constexpr unsigned tick_shift = 16;  // ns per tick: 65,536
  static constexpr unsigned level_bits = 6;
  static constexpr unsigned slots_per_level = 1u << level_bits;
  static constexpr unsigned levels = 7;
  static constexpr std::uint16_t far_slot = levels * slots_per_level;  // beyond the top level
  static constexpr std::uint16_t no_slot = far_slot + 1;
  static constexpr std::uint64_t never = ~std::uint64_t{0};

  timer_wheel() noexcept;
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  // Puts `e` (state pending, `when` set) into the wheel. True if this
  // lowered the wheel's earliest-deadline hint (callers then make sure some
  // worker will wake in time). Any thread.
  bool insert(timer_entry* e) noexcept;
  // Unlinks `e` after cancel_timer() won its state; harmless if a firing
  // worker already unlinked it. Any thread.
  void remove(timer_entry* e) noexcept;

  // Claims every entry due at `now_ns` (state pending -> fired) and returns
  // them as a list linked through `next`, in deadline order across ticks and
  // arming order within one. Entries cancelled meanwhile are dropped. The
  // caller runs their on_fire. try_lock: give up if another thread holds
  // the lock (a helper must never stall the owner). Any thread.
  timer_entry* take_due(std::uint64_t now_ns, bool try_lock = false) noexcept;

  // When a worker must next poll this wheel (never when empty): a lower
  // bound of the earliest pending deadline, lowered by insert; after
  // take_due(now), later than now (the exact earliest deadline when it is
  // near, else the start of the earliest occupied coarse slot). Cancellation
  // leaves it low, which at worst wakes a worker early once. Relaxed: a
  // hint, any thread.
  std::uint64_t hint() const noexcept { return hint_.load(std::memory_order_relaxed); }

  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t keepalive() const noexcept { return keepalive_.load(std::memory_order_relaxed); }

 private:
  struct list {
    timer_entry* head = nullptr;
    timer_entry* tail = nullptr;
  };
  struct expiry {
    unsigned level;  // levels: the far list
    unsigned slot;
    std::uint64_t tick;
  };

  void place(timer_entry* e) noexcept;
  void link(std::uint16_t slot, timer_entry* e) noexcept;
  void unlink(timer_entry* e) noexcept;
  list take_list(std::uint16_t slot) noexcept;
  bool next_expiry(expiry& out) const noexcept;
  std::uint64_t next_poll_locked(std::uint64_t now_ns) const noexcept;  // after polling at now_ns
  void count(timer_entry* e, int delta) noexcept;

  spinlock lock_;
  std::uint64_t elapsed_ = 0;        // the wheel's time, in ticks: nothing pending is earlier
  std::uint64_t far_check_ = never;  // tick at which the far list is looked at again
  std::array<std::uint64_t, levels> occupied_{};
  std::array<list, far_slot + 1> slots_{};  // levels x 64, then the far list
  std::atomic<std::uint64_t> hint_{never};
  std::atomic<std::size_t> count_{0};      // written under lock_
  std::atomic<std::size_t> keepalive_{0};  // written under lock_
};

}  // namespace troupe::detail
