#pragma once
// One blocked fiber or foreign thread, living on its own stack for the
// duration of a wait. Its atomic state decides, exactly once, why the wait
// ends: notified by a wait_list, timed out by its timer, or cancelled by
// shutdown. Whoever wins the state change wakes the waiter.

#include <atomic>

#include "parker.hpp"

#include "troupe/runtime/detail/timer.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe::detail {

class scheduler;
struct fiber;

enum class waiter_state : int { waiting, notified, timed_out, cancelled };

struct waiter {
  waiter() noexcept;

  std::atomic<waiter_state> state{waiter_state::waiting};
  fiber* f = nullptr;          // the blocked fiber, or null for a thread
  scheduler* sched = nullptr;  // where to reschedule f
  parker* thread = nullptr;    // the blocked thread's parker
  // Links in the wait_list, guarded by the list's lock.
  waiter* prev = nullptr;
  waiter* next = nullptr;
  bool linked = false;
  // The deadline, when the wait has one and a timer ends it.
  timer_entry timer;
  // Set by the timer's on_fire when it has finished touching this waiter
  // after losing the claim; the waiter must not leave before then.
  std::atomic<bool> timer_done{false};

  // Moves the state from waiting to `to`; true if this call won.
  bool claim(waiter_state to) noexcept {
    waiter_state expected = waiter_state::waiting;
    // acq_rel: the winner's later wake-up must carry everything the claimer
    // wrote before (acquire for the loser is harmless).
    return state.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }
  // After the wait ended for another reason: make sure the timer neither
  // fires nor is still touching this waiter. Owner only.
  void disarm_timer() noexcept;
};

// Wakes the waiter after a successful claim (reschedules the fiber or unparks
// the thread). The waiter may be gone once this returns.
void wake(waiter& w) noexcept;
// Shutdown: cancels a blocked fiber's wait; true if it was still waiting.
bool cancel_waiter(waiter& w) noexcept;

}  // namespace troupe::detail
