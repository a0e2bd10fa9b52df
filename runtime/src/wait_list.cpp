#include <cstddef>
#include <mutex>

#include "scheduler.hpp"
#include "waiter.hpp"

#include "troupe/runtime/detail/time.hpp"
#include "troupe/runtime/error.hpp"

namespace troupe::detail {

namespace {

struct suspend_args {
  waiter* w;
  spinlock* lock;
  troupe::clock::time_point deadline;
  bool cancellable;
};

// Runs on the fiber we switched to, once the waiting fiber's context is
// saved: only now may anyone see the waiter and resume it. The timer is armed
// here too, not before the switch: another worker may fire an overdue timer,
// and it must not resume a fiber that is still running.
// The timer is armed before shutdown can see (and cancel) the waiter, so a
// cancelled waiter always finds its timer armed and disarms it.
// Once the timer is armed it may fire at once on another worker and resume
// the fiber: so everything is read from the fiber's frame (`p`) before, and
// afterwards only the waiter is touched, which lives until the fiber takes
// `lock`, held here until the end. The fiber clears blocked_on under
// wait_lock when it resumes: arming under that lock too keeps our store
// from landing after its clearing (a dangling blocked_on).
void publish_wait(worker& wk, void* p) {
  const suspend_args a = *static_cast<suspend_args*>(p);
  const bool timed = a.deadline != troupe::clock::time_point::max();
  if (a.cancellable) {
    std::lock_guard g(a.w->f->wait_lock);
    if (timed) wk.sched.arm(&a.w->timer, a.deadline);
    a.w->f->blocked_on = a.w;
  } else if (timed) {
    wk.sched.arm(&a.w->timer, a.deadline);
  }
  a.lock->unlock();
}

// on_fire of a waiter's timer.
void timed_out(timer_entry* e) noexcept {
  auto* w = reinterpret_cast<waiter*>(reinterpret_cast<char*>(e) - offsetof(waiter, timer));
  if (w->claim(waiter_state::timed_out)) {
    // Won: the waiter stays blocked until wake(), and nothing else touches
    // it. Timed-out fibers go to the FIFO injection queue, so timers that
    // fire together wake their fibers in deadline order.
    if (w->f) {
      fiber* f = w->f;
      scheduler* s = w->sched;
      s->inject(f);
    } else {
      w->thread->unpark();
    }
    return;
  }
  // Lost to a notifier: the waiter is waking and waits for this flag before
  // it leaves. release: our reads of it happen before its stack is reused.
  w->timer_done.store(true, std::memory_order_release);
}

}  // namespace

waiter::waiter() noexcept : timer(&timed_out) { timer.keeps_alive = true; }

void waiter::disarm_timer() noexcept {
  if (timer.current_state() == timer_state::idle) return;  // never armed
  if (cancel_timer(&timer)) return;
  // It fired, and lost the claim to whoever ended the wait: wait (briefly:
  // on_fire is a CAS and a store) until it is done with us. acquire: see
  // timed_out().
  while (!timer_done.load(std::memory_order_acquire)) cpu_relax();
}

void wake(waiter& w) noexcept {
  if (w.f)
    w.sched->schedule(w.f);
  else
    w.thread->unpark();
}

bool cancel_waiter(waiter& w) noexcept {
  if (!w.claim(waiter_state::cancelled)) return false;
  wake(w);
  return true;
}

void wait_list::push_back(waiter* w) noexcept {
  w->prev = tail_;
  w->next = nullptr;
  if (tail_)
    tail_->next = w;
  else
    head_ = w;
  tail_ = w;
  w->linked = true;
}

void wait_list::unlink(waiter* w) noexcept {
  if (w->prev)
    w->prev->next = w->next;
  else
    head_ = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    tail_ = w->prev;
  w->prev = w->next = nullptr;
  w->linked = false;
}

waiter* wait_list::pop_front() noexcept {
  waiter* w = head_;
  if (w) unlink(w);
  return w;
}

bool wait_list::notify_one() noexcept {
  while (waiter* w = pop_front()) {
    // A waiter that lost the claim is timing out or being cancelled; it
    // finds itself unlinked. Try the next one.
    if (w->claim(waiter_state::notified)) {
      wake(*w);
      return true;
    }
  }
  return false;
}

std::size_t wait_list::notify_all() noexcept {
  std::size_t n = 0;
  while (notify_one()) ++n;
  return n;
}

wake_reason wait_list::wait(spinlock& lock, troupe::clock::time_point deadline, bool cancellable,
                            scheduler* time_source) {
  worker* self = this_worker();
  scheduler* timer_owner = self ? &self->sched : time_source;
  const bool timed = deadline != troupe::clock::time_point::max();
  if (timed && deadline <= clock_of(timer_owner).now()) {
    lock.unlock();
    return wake_reason::timeout;
  }
  if (!self) {
    try {
      check_thread_may_block();
    } catch (...) {
      lock.unlock();
      throw;
    }
  }
  // Nothing below allocates or throws: the waiter lives on this stack.
  waiter w;
  push_back(&w);
  if (self) {
    w.f = self->current;
    w.sched = &self->sched;
    suspend_args args{&w, &lock, deadline, cancellable};
    w.f->note_wait(fiber_state::blocked, deadline);
    self->sched.suspend(&publish_wait, &args);
    w.f->note_running();
    if (cancellable) {
      std::lock_guard g(w.f->wait_lock);
      w.f->blocked_on = nullptr;
    }
  } else {
    w.thread = &thread_parker();
    if (timed && timer_owner && timer_owner->clock.is_virtual()) {
      // Virtual time cannot be slept on: the runtime's timer ends the wait.
      timer_owner->arm(&w.timer, deadline);
      lock.unlock();
      w.thread->park();
    } else {
      lock.unlock();
      const bool woken = timed ? w.thread->park_until(deadline) : (w.thread->park(), true);
      // A notifier that claimed us just as we timed out posts a token: take
      // it, so the parker stays balanced for this thread's next wait.
      if (!woken && !w.claim(waiter_state::timed_out)) w.thread->park();
    }
  }
  const waiter_state why = w.state.load(std::memory_order_acquire);
  if (why != waiter_state::timed_out) w.disarm_timer();
  if (why != waiter_state::notified) {
    std::lock_guard g(lock);
    if (w.linked) unlink(&w);
  }
  switch (why) {
    case waiter_state::notified:
      return wake_reason::notified;
    case waiter_state::cancelled:
      return wake_reason::cancelled;
    default:
      return wake_reason::timeout;
  }
}

}  // namespace troupe::detail
