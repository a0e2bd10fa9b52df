#include <chrono>
#include <mutex>

#include "scheduler.hpp"
#include "troupe/runtime/error.hpp"
#include "waiter.hpp"

namespace troupe::detail {

std::binary_semaphore& thread_parker() {
  thread_local std::binary_semaphore parker{0};
  return parker;
}

namespace {

struct suspend_args {
  waiter* w;
  spinlock* lock;
};

// Runs on the fiber we switched to, once the waiting fiber's context is
// saved: only now may anyone see the waiter and resume it.
void publish_wait(worker&, void* p) {
  auto* a = static_cast<suspend_args*>(p);
  {
    std::lock_guard g(a->w->f->wait_lock);
    a->w->f->blocked_on = a->w;
  }
  a->lock->unlock();
}
void publish_wait_uncancellable(worker&, void* p) { static_cast<suspend_args*>(p)->lock->unlock(); }
}  // namespace

void wake(waiter& w) noexcept {
  if (w.f) w.sched->schedule(w.f);
  else w.parker->release();
}

bool cancel_waiter(waiter& w) noexcept {
  if (!w.claim(waiter_state::cancelled)) return false;
  wake(w);
  return true;
}

void wait_list::push_back(waiter* w) noexcept {
  w->prev = tail_;
  w->next = nullptr;
  if (tail_) tail_->next = w;
  else head_ = w;
  tail_ = w;
  w->linked = true;
}

void wait_list::unlink(waiter* w) noexcept {
  if (w->prev) w->prev->next = w->next;
  else head_ = w->next;
  if (w->next) w->next->prev = w->prev;
  else tail_ = w->prev;
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

wake_reason wait_list::wait(spinlock& lock, clock::time_point deadline, bool cancellable) {
  if (deadline != clock::time_point::max() && deadline <= clock::now()) {
    lock.unlock();
    return wake_reason::timeout;
  }
  waiter w;
  push_back(&w);
  worker* self = this_worker();
  if (self) {
    // Fiber: queue the timer on this worker (only this worker fires it, and
    // it is busy running us until we have switched away), then suspend.
    w.f = self->current;
    w.sched = &self->sched;
    if (deadline != clock::time_point::max()) {
      w.timer.deadline = deadline;
      w.timer.owner = &w;
      w.heap = &self->timers;
      w.heap->add(&w.timer);
    }
    suspend_args args{&w, &lock};
    self->sched.suspend(cancellable ? &publish_wait : &publish_wait_uncancellable, &args);
    if (cancellable) {
      std::lock_guard g(w.f->wait_lock);
      w.f->blocked_on = nullptr;
    }
    if (w.heap && w.state.load(std::memory_order_acquire) != waiter_state::timed_out) w.heap->remove(&w.timer);
  } else {
    w.parker = &thread_parker();
    lock.unlock();
    bool woken = deadline == clock::time_point::max() ? (w.parker->acquire(), true)
                                                      : w.parker->try_acquire_until(deadline);
    if (!woken && !w.claim(waiter_state::timed_out)) {
      // A notifier claimed us just as we timed out: take its post, so the
      // parker stays balanced for this thread's next wait.
      w.parker->acquire();
    }
  }
  const waiter_state why = w.state.load(std::memory_order_acquire);
  if (why != waiter_state::notified) {
    lock.lock();
    if (w.linked) unlink(&w);
    lock.unlock();
  }
  switch (why) {
    case waiter_state::notified: return wake_reason::notified;
    case waiter_state::cancelled: return wake_reason::cancelled;
    default: return wake_reason::timeout;
  }
}

}  // namespace troupe::detail
