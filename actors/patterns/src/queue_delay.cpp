// See troupe/patterns/queue_delay.hpp.

#include "troupe/patterns/queue_delay.hpp"

#include <mutex>
#include <stdexcept>

#include "troupe/patterns/detail/time.hpp"

namespace troupe::patterns {

queue_delay_shedder::queue_delay_shedder(const queue_delay_config& cfg) : cfg_(cfg) {
  if (cfg_.target <= clock::duration::zero() || cfg_.interval <= clock::duration::zero())
    throw std::invalid_argument("queue_delay_shedder: target and interval must be > 0");
  for (double s : cfg_.target_scale)
    if (!(s > 0)) throw std::invalid_argument("queue_delay_shedder: target scales must be > 0");
}

bool queue_delay_shedder::should_shed(clock::time_point enqueued_at, clock::time_point now,
                                      priority p) noexcept {
  const clock::duration sojourn = now > enqueued_at ? now - enqueued_at : clock::duration::zero();
  std::lock_guard lk(lock_);
  if (!started_) {
    started_ = true;
    interval_end_ = detail::add_saturated(now, cfg_.interval);
  } else if (now >= interval_end_) {
    // The interval that just ended decides the next: overloaded if even its
    // shortest wait was a standing queue.
    overloaded_ = min_sojourn_ != clock::duration::max() && min_sojourn_ * 2 > cfg_.target;
    if (overloaded_) ++counters_.overloaded_intervals;
    min_sojourn_ = clock::duration::max();
    interval_end_ = detail::add_saturated(now, cfg_.interval);
  }
  min_sojourn_ = std::min(min_sojourn_, sojourn);
  const auto limit = std::chrono::duration_cast<clock::duration>(
      cfg_.target * cfg_.target_scale[static_cast<std::size_t>(p)]);
  const bool shed = overloaded_ && sojourn > limit;
  ++(shed ? counters_.shed : counters_.admitted);
  return shed;
}

bool queue_delay_shedder::overloaded() const noexcept {
  std::lock_guard lk(lock_);
  return overloaded_;
}

queue_delay_counters queue_delay_shedder::counters() const noexcept {
  std::lock_guard lk(lock_);
  return counters_;
}

}  // namespace troupe::patterns
