// See troupe/patterns/detail/sliding_window.hpp.

#include "troupe/patterns/detail/sliding_window.hpp"

#include <algorithm>
#include <limits>

namespace troupe::patterns::detail {

namespace {
constexpr std::uint8_t kFailure = 1, kSlow = 2, kUsed = 4;
constexpr std::int64_t kNoBucket = std::numeric_limits<std::int64_t>::min() / 2;

std::size_t slot_of(std::int64_t index, std::uint32_t n) {
  const std::int64_t m = static_cast<std::int64_t>(n);
  return static_cast<std::size_t>(((index % m) + m) % m);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
}  // namespace

sliding_window::sliding_window(const window_config& cfg) : cfg_(cfg) {
  cfg_.size = std::max<std::uint32_t>(cfg_.size, 1);
  if (cfg_.bucket_width <= clock::duration::zero()) cfg_.bucket_width = std::chrono::seconds(1);
  clear();
}

void sliding_window::clear() {
  totals_ = {};
  next_ = 0;
  calls_.clear();
  buckets_.clear();
  if (cfg_.type == window_config::kind::count_based) {
    calls_.assign(cfg_.size, 0);
  } else {
    buckets_.assign(cfg_.size, bucket{kNoBucket, 0, 0, 0});
    current_ = kNoBucket;
  }
}

void sliding_window::advance(clock::time_point now) {
  const std::int64_t k = floor_div(now.time_since_epoch().count(), cfg_.bucket_width.count());
  if (current_ == kNoBucket) {
    current_ = k;
  } else if (k <= current_) {
    return;  // same bucket, or a slightly older `now`
  } else if (k - current_ >= static_cast<std::int64_t>(cfg_.size)) {
    // A whole window or more has passed: every bucket is stale. Their stamps
    // say so, so nothing needs clearing now.
    totals_ = {};
    current_ = k;
  } else {
    for (std::int64_t i = current_ + 1; i <= k; ++i) {
      bucket& b = buckets_[slot_of(i, cfg_.size)];
      if (b.index == i - static_cast<std::int64_t>(cfg_.size)) {  // still counted: expire it
        totals_.calls -= b.calls;
        totals_.failures -= b.failures;
        totals_.slow -= b.slow;
      }
      b = bucket{kNoBucket, 0, 0, 0};
    }
    current_ = k;
  }
  bucket& cur = buckets_[slot_of(current_, cfg_.size)];
  if (cur.index != current_) cur = bucket{current_, 0, 0, 0};
}

void sliding_window::add(bool failure, bool slow, clock::time_point now) {
  if (cfg_.type == window_config::kind::count_based) {
    std::uint8_t& slot = calls_[next_];
    if (slot & kUsed) {
      --totals_.calls;
      totals_.failures -= (slot & kFailure) ? 1 : 0;
      totals_.slow -= (slot & kSlow) ? 1 : 0;
    }
    slot = static_cast<std::uint8_t>(kUsed | (failure ? kFailure : 0) | (slow ? kSlow : 0));
    next_ = next_ + 1 == cfg_.size ? 0 : next_ + 1;
  } else {
    advance(now);
    bucket& cur = buckets_[slot_of(current_, cfg_.size)];
    ++cur.calls;
    cur.failures += failure ? 1 : 0;
    cur.slow += slow ? 1 : 0;
  }
  ++totals_.calls;
  totals_.failures += failure ? 1 : 0;
  totals_.slow += slow ? 1 : 0;
}

window_totals sliding_window::totals(clock::time_point now) {
  if (cfg_.type == window_config::kind::time_based) advance(now);
  return totals_;
}

}  // namespace troupe::patterns::detail
