#pragma once
// A worker's LIFO slot: the one task its owner runs next, on a warm cache.
//
// Only the owner puts items in. The owner takes them out, and so may another
// worker, but only when the owner has run nothing for a while (stuck in a
// long task, which would strand the item; scheduler::steal_from). Such a
// steal is rare, yet an owner that took its item with a locked exchange paid
// for the possibility on every take: at two workers, a quarter of the cost
// of an actor message (decision 0022). So the owner takes with a plain load
// and store, and the rare thief does the heavy part:
//
//   owner take:  busy = 1; [order]; if (thieves == 0) { load; store }
//                else exchange; busy = 0
//   thief take:  thieves += 1; heavy_fence(); if (!busy) exchange; thieves -= 1
//
// heavy_fence() puts a full fence on every running thread of the process,
// the owner included, at some instruction boundary P of its program. If P
// falls before the owner's busy = 1, the owner's load of `thieves` comes
// after P and sees the thief's increment, so it exchanges as the thief does:
// one of the two gets the item. If P falls inside the owner's take, the
// thief sees busy = 1 and gives up (it looks again a stuck interval later).
// If P falls after the take, the thief sees the slot as the owner left it.
// [order] is a compiler barrier only: the hardware order between the owner's
// busy store and its loads is what P supplies.
//
// Where the kernel has no heavy fence (no membarrier), or for a worker
// without thieves, the mode says so: `locked` exchanges every take, `alone`
// loads and stores with nobody to race.

#include <atomic>
#include <cstdint>

#include "troupe/runtime/detail/task_header.hpp"

namespace troupe::detail {

// A full memory fence on every thread of this process that is running now
// (threads not running pass one when they are next switched in), and on the
// caller. Linux membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): interrupts the
// CPUs running the process's threads, a few microseconds. Any thread may
// call it, after heavy_fence_available() returned true.
void heavy_fence() noexcept;
// Any thread: whether heavy_fence() works here; registers the process with
// the kernel on the first call.
bool heavy_fence_available() noexcept;

enum class lifo_thieves {
  none,    // a one-worker runtime: only the owner touches the slot
  fenced,  // thieves exist; they pay a heavy fence, the owner none
  locked,  // thieves exist, no heavy fence: every take is an exchange
};

class lifo_slot {
 public:
  explicit lifo_slot(lifo_thieves mode) noexcept : mode_(mode) {}

  // Any thread: whether the slot holds an item (a guess for anyone but the
  // owner).
  bool occupied() const noexcept { return item_.load(std::memory_order_relaxed) != nullptr; }

  // Owner only, with the slot empty (occupied() false): only the owner puts
  // items in, so it stays empty until this store. release: publishes t's
  // contents to a thief that takes it.
  void fill(task_header* t) noexcept { item_.store(t, std::memory_order_release); }

  // Owner only: puts t (or null) in the slot and returns what was there.
  task_header* exchange(task_header* t) noexcept {
    if (mode_ == lifo_thieves::locked) return item_.exchange(t, std::memory_order_acq_rel);
    if (mode_ == lifo_thieves::none) return swap_plain(t);
    owner_busy_.store(true, std::memory_order_relaxed);
    // Compiler order only: the thief's heavy fence orders the store above
    // before the load below in hardware (see the top of this file).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    task_header* old;
    if (thieves_.load(std::memory_order_relaxed) == 0)
      old = swap_plain(t);
    else  // a thief may be taking: the two exchanges decide who gets the item
      old = item_.exchange(t, std::memory_order_acq_rel);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    owner_busy_.store(false, std::memory_order_relaxed);
    return old;
  }

  // A worker other than the owner, which has seen the owner run nothing for
  // a while: takes the item, or returns null (none, or the owner is taking
  // it right now).
  task_header* take_from_stuck_owner() noexcept {
    if (!occupied()) return nullptr;
    // acq_rel: acquire the item's contents from the owner's release (fill or
    // swap_plain); our null needs no release.
    if (mode_ != lifo_thieves::fenced) return item_.exchange(nullptr, std::memory_order_acq_rel);
    // seq_cst and the heavy fence: the owner's takes after the fence see
    // thieves_ != 0; the fence also makes the owner's busy flag current.
    thieves_.fetch_add(1, std::memory_order_seq_cst);
    heavy_fence();
    task_header* t = nullptr;
    if (!owner_busy_.load(std::memory_order_relaxed)) t = item_.exchange(nullptr, std::memory_order_acq_rel);
    // relaxed: the owner reading 0 a moment late only costs it one exchange.
    thieves_.fetch_sub(1, std::memory_order_relaxed);
    return t;
  }

 private:
  // The owner's take without a locked instruction. relaxed load: items in
  // the slot were put there by this thread. release store: as fill().
  task_header* swap_plain(task_header* t) noexcept {
    task_header* old = item_.load(std::memory_order_relaxed);
    item_.store(t, std::memory_order_release);
    return old;
  }

  const lifo_thieves mode_;
  std::atomic<task_header*> item_{nullptr};
  std::atomic<bool> owner_busy_{false};    // the owner is inside exchange()
  std::atomic<std::uint32_t> thieves_{0};  // thieves inside take_from_stuck_owner()
};

}  // namespace troupe::detail
