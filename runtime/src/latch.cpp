#include "troupe/runtime/detail/latch.hpp"

#include <mutex>

#include "scheduler.hpp"

namespace troupe::detail {

void latch::add(std::size_t n) noexcept {
  // relaxed: only the owner adds, and it is the one that later waits; the
  // lock orders the reset of finished_ against a concurrent last count_down.
  if (pending_.fetch_add(n, std::memory_order_relaxed) == 0) {
    std::lock_guard g(lock_);
    finished_.store(false, std::memory_order_relaxed);
  }
}

void latch::count_down() noexcept {
  // acq_rel: the last counter must see every other counter's writes (their
  // results) so that its release of finished_ publishes all of them.
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard g(lock_);
    // Re-check under the lock: the owner may have added work meanwhile.
    if (pending_.load(std::memory_order_relaxed) == 0) {
      finished_.store(true, std::memory_order_release);
      waiters_.notify_all();
    }
  }
}

void latch::wait(const help_mark* mark) {
  while (!finished_.load(std::memory_order_acquire)) {
    if (mark && help_one(*mark)) continue;
    lock_.lock();
    if (finished_.load(std::memory_order_relaxed)) {
      lock_.unlock();
      break;
    }
    waiters_.wait(lock_, clock::time_point::max(), /*cancellable=*/false);
  }
  // The last count_down sets finished_ inside lock_; taking lock_ once more
  // guarantees it has left, so the owner may now destroy *this.
  lock_.lock();
  lock_.unlock();
}

bool help_one(const help_mark& mark) {
  worker* w = this_worker();
  if (!w || w != mark.worker || w->current->suspend_epoch != mark.fiber_epoch) return false;
  task_header* t = w->deque.pop_above(mark.bottom);
  if (!t) return false;
  if (is_fiber(t)) {
    // A resumable fiber cannot run inline on this stack; leave it queued.
    w->deque.push(t);
    return false;
  }
  worker_counters::bump(w->counters.tasks_run);
  t->invoke(t);
  return true;
}

help_mark push_spawned(scheduler& s, task_header* t) { return s.push_spawned(t); }

}  // namespace troupe::detail
