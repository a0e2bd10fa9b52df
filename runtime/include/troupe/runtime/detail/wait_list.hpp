#pragma once
// A FIFO list of blocked waiters, the one blocking mechanism under every
// fiber-aware primitive (mutex, condition variable, semaphore, future, join,
// and the actors' full-mailbox wait). A waiter is either a fiber, which is
// suspended and later rescheduled, or a thread outside the runtime, which
// blocks on its own parker. Timed waits, notification and shutdown
// cancellation race through one atomic state per waiter, so each wait ends
// exactly once and for exactly one reason.

#include <chrono>
#include <cstddef>

#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::detail {

struct waiter;
class scheduler;

enum class wake_reason { notified, timeout, cancelled };

// False on a thread outside every runtime that drives a driven runtime: it
// is the only thread that runs that runtime's work, so a blocking wait
// there could never end. Callers that must undo something before a wait
// refuses (a queued record, a reply to abandon) check it first.
bool thread_may_block() noexcept;

class wait_list {
 public:
  wait_list() = default;
  wait_list(const wait_list&) = delete;
  wait_list& operator=(const wait_list&) = delete;

  // Blocks the caller until notify_one/notify_all picks it, the deadline
  // passes, or shutdown cancels it (only if `cancellable`; foreign threads
  // are never cancelled). `lock` guards this list and must be held on entry;
  // it is released once the caller is safely enqueued and is NOT held on
  // return. Fiber context: suspends the fiber; the deadline is on its
  // runtime's clock. Foreign thread: blocks the thread; the deadline is on
  // the clock of `time_source` if given (a virtual clock then ends the wait
  // through that runtime's timers), else on the steady clock. Pass
  // time_point::max() for no deadline; a deadline already past returns
  // timeout at once. Throws std::bad_alloc only before linking anything,
  // and error(would_deadlock), before linking anything, on a thread for
  // which thread_may_block() is false.
  wake_reason wait(spinlock& lock, troupe::clock::time_point deadline = troupe::clock::time_point::max(),
                   bool cancellable = true, scheduler* time_source = nullptr);

  // Wakes the oldest waiter; false if there was none. Caller holds the lock.
  bool notify_one() noexcept;
  // Wakes every waiter; returns how many. Caller holds the lock.
  std::size_t notify_all() noexcept;
  // Caller holds the lock.
  bool empty() const noexcept { return head_ == nullptr; }

 private:
  void push_back(waiter* w) noexcept;
  void unlink(waiter* w) noexcept;
  waiter* pop_front() noexcept;

  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

}  // namespace troupe::detail
