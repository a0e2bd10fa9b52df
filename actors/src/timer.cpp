// Timers: one thread per actor system with a min-heap of deadlines. Actions
// only post messages (never wait), so one thread serves any number of
// timers. Started on first use.

#include <algorithm>

#include "system_impl.hpp"

namespace troupe {

bool timer_handle::cancel() noexcept {
  if (!s_) return false;
  // acq_rel: orders with the timer thread's `finished` store / cancelled load.
  return !s_->cancelled.exchange(true, std::memory_order_acq_rel) &&
         !s_->finished.load(std::memory_order_acquire);
}

bool timer_handle::active() const noexcept {
  return s_ && !s_->cancelled.load(std::memory_order_acquire) && !s_->finished.load(std::memory_order_acquire);
}

namespace detail {

timer_handle add_timer(system_impl* s, clock::time_point first, clock::duration period,
                       unique_function<bool()> action) {
  return s->timers.add(first, period, std::move(action), /*user=*/true);
}

timer_handle timer_service::add(clock::time_point first, clock::duration period, unique_function<bool()> action,
                                bool user) {
  auto st = std::make_shared<timer_handle::state>();
  std::unique_lock lk(m_);
  if (stop_ || (user && users_closed_)) {
    st->cancelled.store(true, std::memory_order_relaxed);
    return timer_handle(std::move(st));
  }
  auto it = std::make_unique<item>(item{first, seq_++, period, user, st, std::move(action)});
  heap_.push_back(std::move(it));
  std::push_heap(heap_.begin(), heap_.end(), later{});
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  lk.unlock();
  cv_.notify_one();
  return timer_handle(std::move(st));
}

void timer_service::cancel_user() {
  std::vector<std::unique_ptr<item>> dropped;
  {
    std::lock_guard lk(m_);
    users_closed_ = true;
    auto keep = std::partition(heap_.begin(), heap_.end(), [](const auto& i) { return !i->user; });
    for (auto i = keep; i != heap_.end(); ++i) {
      (*i)->st->cancelled.store(true, std::memory_order_release);
      dropped.push_back(std::move(*i));
    }
    heap_.erase(keep, heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), later{});
  }
  cv_.notify_one();
  // `dropped` (and the refs its actions hold) goes here, outside the lock.
}

void timer_service::stop() {
  std::vector<std::unique_ptr<item>> dropped;
  {
    std::lock_guard lk(m_);
    stop_ = true;
    dropped.swap(heap_);
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void timer_service::run() {
  std::unique_lock lk(m_);
  while (!stop_) {
    if (heap_.empty()) {
      cv_.wait(lk);
      continue;
    }
    const clock::time_point when = heap_.front()->when;
    if (when > clock::now()) {
      cv_.wait_until(lk, when);
      continue;
    }
    std::pop_heap(heap_.begin(), heap_.end(), later{});
    std::unique_ptr<item> it = std::move(heap_.back());
    heap_.pop_back();
    lk.unlock();
    bool again = false;
    if (!it->st->cancelled.load(std::memory_order_acquire)) {
      try {
        again = it->action() && it->period > clock::duration::zero();
      } catch (...) {
        again = false;
      }
    }
    lk.lock();
    if (again && !stop_ && !it->st->cancelled.load(std::memory_order_acquire) && !(it->user && users_closed_)) {
      it->when += it->period;
      const auto n = clock::now();
      if (it->when < n) it->when = n + it->period;  // fell behind: do not burst
      it->seq = seq_++;
      heap_.push_back(std::move(it));
      std::push_heap(heap_.begin(), heap_.end(), later{});
    } else {
      it->st->finished.store(true, std::memory_order_release);
      lk.unlock();
      it.reset();  // the action's captures go outside the lock
      lk.lock();
    }
  }
}

}  // namespace detail
}  // namespace troupe
