#include "troupe/runtime/clock.hpp"

#include <algorithm>

namespace troupe {

void clock::subscribe(detail::clock_listener* l) {
  std::lock_guard g(listeners_mutex_);
  listeners_.push_back(l);
}

void clock::unsubscribe(detail::clock_listener* l) noexcept {
  std::lock_guard g(listeners_mutex_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), l), listeners_.end());
}

void clock::notify_advanced() noexcept {
  // Under the mutex: a runtime unsubscribes (in its destructor) only after
  // the last notification that could reach it has returned.
  std::lock_guard g(listeners_mutex_);
  for (detail::clock_listener* l : listeners_) l->clock_advanced();
}

void manual_clock::set(time_point t) noexcept {
  const duration::rep want = t.time_since_epoch().count();
  duration::rep seen = now_ns_.load(std::memory_order_relaxed);
  // release: see now(). A CAS loop, so concurrent set() calls only ever move
  // time forward.
  while (seen < want &&
         !now_ns_.compare_exchange_weak(seen, want, std::memory_order_acq_rel, std::memory_order_relaxed)) {}
  if (seen < want) notify_advanced();
}

std::shared_ptr<clock> default_clock() {
  static const std::shared_ptr<clock> steady = std::make_shared<steady_time_source>();
  return steady;
}

}  // namespace troupe
