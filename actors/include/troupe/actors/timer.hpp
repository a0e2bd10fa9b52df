#pragma once
// timer_handle: the handle of an actor timer (actor_ref::send_after and
// send_periodic). Timers live in the runtime's per-worker timing wheels and
// deliver their message on the target's system lane: a full mailbox never
// drops them, and a periodic timer never has more than one tick queued (a
// tick that finds the previous one still queued is skipped).

#include <atomic>
#include <cstdint>

#include "troupe/runtime/detail/timer.hpp"

namespace troupe {

namespace detail {
struct actor_timer;
void release_timer(actor_timer* t) noexcept;
void retain_timer(actor_timer* t) noexcept;
}  // namespace detail

// Copyable; the timer is not cancelled when the handle is dropped (actor
// timers end by themselves: one-shot after firing, periodic when the target
// stops, all at actor system shutdown).
class timer_handle {
 public:
  timer_handle() = default;
  timer_handle(const timer_handle& o) noexcept : t_(o.t_) {
    if (t_) detail::retain_timer(t_);
  }
  timer_handle(timer_handle&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
  timer_handle& operator=(timer_handle o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~timer_handle() {
    if (t_) detail::release_timer(t_);
  }

  // Stops the timer. One-shot: true exactly when its message will not be
  // sent (it had not fired yet). Periodic: true if it was still running; no
  // tick is sent after this returns, except one whose firing had already
  // begun. Thread-safe.
  bool cancel() noexcept;
  // True while it may still send a message. Thread-safe.
  bool active() const noexcept;

  // Internal: made by send_after / send_periodic (takes a reference).
  explicit timer_handle(detail::actor_timer* t) noexcept : t_(t) {}

 private:
  detail::actor_timer* t_ = nullptr;
};

}  // namespace troupe
