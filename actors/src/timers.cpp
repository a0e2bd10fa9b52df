// Actor timers: one-shot and periodic messages on the runtime's timing
// wheels, delivered on the target's system lane (a full mailbox never drops
// them). Each live timer is on its system's list, so shutdown cancels them.

#include "timers.hpp"

#include <mutex>

#include "cell.hpp"
#include "mailbox.hpp"
#include "system.hpp"

namespace troupe {

namespace detail {

namespace {

void timer_fired(timer_entry* e) noexcept;

void finish(actor_timer* t) noexcept {
  t->cancelled.store(true, std::memory_order_release);  // not active any more
  t->target->sys->remove_timer(t);
  release_timer(t);  // the wheel's
}

void timer_fired(timer_entry* e) noexcept {
  auto* t = static_cast<actor_timer*>(e);
  const bool periodic = t->period > clock::duration::zero();
  // A periodic timer to a stopped actor just ends. A one-shot one still
  // posts: its message is then an actor_stopped dead letter, like any send
  // to a stopped actor, instead of vanishing.
  // acquire: a cancel's store is seen with what preceded it.
  if (t->cancelled.load(std::memory_order_acquire) || (periodic && cell_stopped(t->target))) {
    finish(t);
    return;
  }
  // A periodic tick that finds the previous one still queued is skipped, so
  // a slow actor never accumulates ticks. acq_rel: pairs with delivery_done.
  if (!periodic || !t->queued.exchange(true, std::memory_order_acq_rel)) {
    try {
      // Disposed of with its target, so that the dead letter is counted
      // against the actor and its system.
      sys_message* m = t->make_delivery();
      if (!post_sys(t->target, m)) m->fn(m, t->target, false);
    } catch (...) {
      t->queued.store(false, std::memory_order_relaxed);  // no memory: this tick is lost, the next may go
    }
  }
  if (!periodic) {
    finish(t);
    return;
  }
  // Re-arm for the next period (from the deadline, so ticks do not drift),
  // then look at `cancelled` again: a cancel that raced with this firing
  // either sees the entry pending (and cancels it) or we see its flag.
  const auto due = clock::time_point(std::chrono::nanoseconds(e->when));
  auto next = clock::after(due, t->period);
  if (const auto now = now_of(t->target->sys); next <= now) {
    // Time jumped over several periods (a virtual clock moved far, a worker
    // stalled): skip the missed ticks, keeping the phase. Re-arming one
    // period at a time would fire once per missed period, back to back (a
    // day at 1 ns is 8.64e13 firings).
    next = clock::after(due, t->period * ((now - due) / t->period + 1));
  }
  // Once re-armed, the entry is the wheel's again: a cancel may win it and
  // drop the last reference before we look at `cancelled`, so hold our own.
  retain_timer(t);
  arm_timer(*t->target->sys->sched, e, next);
  if (t->cancelled.load(std::memory_order_seq_cst) && cancel_timer(e)) finish(t);
  release_timer(t);
}

}  // namespace

actor_timer::actor_timer(actor_cell* c, clock::duration p) noexcept
    : timer_entry(&timer_fired), target(c), period(p) {
  add_ref(c);
}

actor_timer::~actor_timer() { release_cell(target); }

void retain_timer(actor_timer* t) noexcept {
  t->refs.fetch_add(1, std::memory_order_relaxed);
}  // relaxed: from a held ref

void release_timer(actor_timer* t) noexcept {
  // acq_rel: the last holder sees every other holder's writes.
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete t;
}

void delivery_done(actor_timer* t, bool delivered) noexcept {
  // release: pairs with the firing's exchange.
  t->queued.store(false, std::memory_order_release);
  if (!delivered && t->period > clock::duration::zero()) {
    // The target is gone: a periodic timer ends.
    t->cancelled.store(true, std::memory_order_seq_cst);
    if (cancel_timer(t)) finish(t);
  }
}

timer_handle start_timer(actor_timer* t, time_point first) {
  system_impl* s = t->target->sys;
  retain_timer(t);  // the wheel's, from here until it finishes
  if (!s->add_timer(t)) {
    t->cancelled.store(true, std::memory_order_relaxed);
    t->refs.store(1, std::memory_order_relaxed);  // only the handle's
    return timer_handle(t);
  }
  arm_timer(*s->sched, t, first);
  return timer_handle(t);
}

bool system_impl::add_timer(actor_timer* t) noexcept {
  std::lock_guard g(timers_lock);
  // seq_cst: against shutdown's exchange of `stopping` before cancel_timers.
  if (stopping.load(std::memory_order_seq_cst)) return false;
  t->listed = true;
  t->live_prev = nullptr;
  t->live_next = timers;
  if (timers) timers->live_prev = t;
  timers = t;
  return true;
}

void system_impl::remove_timer(actor_timer* t) noexcept {
  std::lock_guard g(timers_lock);
  if (!t->listed) return;  // cancel_timers took it off
  t->listed = false;
  if (t->live_prev)
    t->live_prev->live_next = t->live_next;
  else
    timers = t->live_next;
  if (t->live_next) t->live_next->live_prev = t->live_prev;
  t->live_prev = t->live_next = nullptr;
}

void system_impl::cancel_timers() noexcept {
  actor_timer* list;
  {
    std::lock_guard g(timers_lock);
    list = std::exchange(timers, nullptr);
    // Hold each while we cancel it: a firing may finish it meanwhile.
    for (actor_timer* t = list; t; t = t->live_next) {
      retain_timer(t);
      t->listed = false;  // its links are ours now: remove_timer leaves them alone
    }
  }
  while (actor_timer* t = list) {
    list = t->live_next;
    t->live_prev = t->live_next = nullptr;
    t->cancelled.store(true, std::memory_order_seq_cst);
    if (cancel_timer(t)) release_timer(t);  // the wheel's
    release_timer(t);                       // ours
  }
}

}  // namespace detail

bool timer_handle::cancel() noexcept {
  if (!t_) return false;
  if (t_->period == clock::duration::zero()) {
    // One-shot: only winning the wheel's claim stops it. Raising `cancelled`
    // first would let a firing that had already claimed the entry see the
    // flag and drop the message this call reports as still coming.
    if (!cancel_timer(t_)) return false;
    detail::finish(t_);
    return true;
  }
  // seq_cst: see timer_fired's re-arm.
  if (t_->cancelled.exchange(true, std::memory_order_seq_cst)) return false;
  if (cancel_timer(t_)) {
    detail::finish(t_);
    return true;
  }
  // It is firing now: it stops after this tick.
  return true;
}

bool timer_handle::active() const noexcept {
  // `cancelled` rises in finish(), after a firing has posted its message, so
  // a one-shot stays active until its message is in the mailbox.
  // acquire: whoever sees it inactive sees the post that preceded it.
  return t_ && !t_->cancelled.load(std::memory_order_acquire);
}

}  // namespace troupe
