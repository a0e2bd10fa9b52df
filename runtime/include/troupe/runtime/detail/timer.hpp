#pragma once
// The runtime's one timer service: an intrusive timer entry and the calls
// that arm and cancel it. Entries live in per-worker hierarchical timing
// wheels (runtime/src/timer_wheel.hpp, docs/design/timers.md): arming and
// cancelling are O(1) from any thread, each wheel has its own lock (there is
// no global one), and a worker stuck in a long computation has its overdue
// timers fired by another worker. Internal: the actors layer embeds entries
// in asks, timers and coroutine sleeps; applications use the APIs built on it.
//
// Who fires an entry and who cancels it is decided by one CAS on its state,
// made by the firing worker under the wheel's lock and by cancel_timer()
// anywhere: exactly one of them wins. The loser never runs on_fire (cancel
// won) or is told the timer already fired (fire won).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace troupe::detail {

class scheduler;
class timer_wheel;

enum class timer_state : std::uint8_t {
  idle,       // never armed, or done with: may be armed
  pending,    // in a wheel, waiting for its deadline
  fired,      // claimed by a firing worker: on_fire runs (or ran) once
  cancelled,  // cancel_timer() won: on_fire never runs for this arming
};

struct timer_entry {
  using fire_fn = void (*)(timer_entry*) noexcept;

  explicit timer_entry(fire_fn f = nullptr) noexcept : on_fire(f) {}
  timer_entry(const timer_entry&) = delete;
  timer_entry& operator=(const timer_entry&) = delete;

  // Runs once per arming that fires, on the firing worker, after the wheel's
  // lock is released. Must not block. It may re-arm the entry (periodic
  // timers) or free it (the wheel never touches it after calling on_fire).
  fire_fn on_fire;
  // Runtime shutdown waits for pending entries that keep it alive (sleeping
  // fibers); the others (ask deadlines, actor timers) fire early, at exit.
  bool keeps_alive = false;

  // --- the wheel's; read state() only ---
  std::atomic<timer_state> state{timer_state::idle};
  std::uint16_t slot = 0;       // which list of the wheel holds it (no_slot: none)
  std::uint64_t when = 0;       // deadline, in clock nanoseconds
  timer_entry* prev = nullptr;  // links in that list, guarded by the wheel's lock
  timer_entry* next = nullptr;
  timer_wheel* wheel = nullptr;  // where it was last armed

  timer_state current_state() const noexcept { return state.load(std::memory_order_acquire); }
};

// Arms `e` (which must not be pending) to fire at `deadline`, on the wheel of
// the calling worker, or from a thread outside the runtime on one chosen by
// the thread. A deadline already past fires at the next poll. Thread-safe,
// O(1), never blocks on anything but the wheel's short spinlock.
void arm_timer(scheduler& s, timer_entry* e, std::chrono::steady_clock::time_point deadline) noexcept;

// Stops `e`. True if it was pending: its on_fire will not run for this
// arming. False if it fired (on_fire may be running right now on another
// thread), was already cancelled, or was never armed. Thread-safe, O(1),
// never waits for a running on_fire.
bool cancel_timer(timer_entry* e) noexcept;

}  // namespace troupe::detail
