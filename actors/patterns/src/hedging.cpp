// See troupe/patterns/hedging.hpp.

#include "troupe/patterns/hedging.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include "troupe/patterns/detail/time.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace troupe::patterns {

namespace {
constexpr std::uint32_t kSubBits = 3;  // 8 sub-buckets per power of two
constexpr std::uint32_t kRefreshEvery = 32;
constexpr std::uint64_t kMaxNs = (std::uint64_t{1} << 40) - 1;  // ~18.3 minutes
}  // namespace

std::size_t latency_estimator::bucket_of(std::uint64_t ns) noexcept {
  ns = std::min(ns, kMaxNs);
  if (ns < (1u << kSubBits)) return static_cast<std::size_t>(ns);
  const auto e = static_cast<std::uint32_t>(std::bit_width(ns) - 1);  // >= kSubBits
  const std::uint64_t sub = (ns >> (e - kSubBits)) & ((1u << kSubBits) - 1);
  return static_cast<std::size_t>(e - kSubBits + 1) * (std::size_t{1} << kSubBits) + sub;
}

std::uint64_t latency_estimator::upper_edge(std::size_t bucket) noexcept {
  if (bucket < (1u << kSubBits)) return bucket;
  const std::uint64_t e = bucket / (1u << kSubBits) + kSubBits - 1;
  const std::uint64_t sub = bucket % (1u << kSubBits);
  const std::uint64_t width = std::uint64_t{1} << (e - kSubBits);
  return ((std::uint64_t{1} << e) | (sub << (e - kSubBits))) + width - 1;
}

latency_estimator::latency_estimator(double percentile, std::uint32_t window)
    : percentile_(percentile), window_(window) {
  if (!(percentile > 0.0 && percentile <= 1.0))
    throw std::invalid_argument("latency_estimator: percentile in (0, 1]");
  if (window == 0) throw std::invalid_argument("latency_estimator: window must be > 0");
  static_assert(kBuckets > (40 - kSubBits + 1) * (1u << kSubBits) - 1, "room for the largest bucket");
}

void latency_estimator::record(clock::duration latency) noexcept {
  const auto ns = static_cast<std::uint64_t>(std::max<clock::duration::rep>(latency.count(), 0));
  const std::size_t b = bucket_of(ns);
  std::lock_guard lk(lock_);
  if (n_[current_] >= window_) {  // the current generation is full: the older one makes way
    current_ ^= 1;
    counts_[current_].fill(0);
    n_[current_] = 0;
  }
  ++counts_[current_][b];
  ++n_[current_];
  // relaxed: a lone value (see the member's comment).
  samples_.store(std::uint64_t{n_[0]} + n_[1], std::memory_order_relaxed);
  if (++since_refresh_ >= kRefreshEvery || n_[0] + n_[1] <= kRefreshEvery) refresh_locked();
}

void latency_estimator::refresh_locked() noexcept {
  since_refresh_ = 0;
  const std::uint64_t total = std::uint64_t{n_[0]} + n_[1];
  if (total == 0) return;
  const auto rank = static_cast<std::uint64_t>(std::ceil(percentile_ * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    seen += std::uint64_t{counts_[0][b]} + counts_[1][b];
    if (seen >= rank) {
      // relaxed: a lone value (see the member's comment).
      value_ns_.store(static_cast<clock::duration::rep>(upper_edge(b)), std::memory_order_relaxed);
      return;
    }
  }
}

clock::duration latency_estimator::value() const noexcept {
  return clock::duration(value_ns_.load(std::memory_order_relaxed));  // relaxed: a lone value
}

std::uint64_t latency_estimator::samples() const noexcept {
  return samples_.load(std::memory_order_relaxed);  // relaxed: a lone value
}

hedging_policy::hedging_policy(const hedging_config& cfg, retry_budget& budget)
    : cfg_(cfg), budget_(&budget), estimator_(cfg.percentile, cfg.window) {
  if (cfg_.min_delay > cfg_.max_delay) throw std::invalid_argument("hedging_policy: min_delay > max_delay");
}

void hedging_policy::record(clock::duration latency) noexcept { estimator_.record(latency); }

clock::duration hedging_policy::delay() const noexcept {
  const clock::duration d = estimator_.samples() < cfg_.min_samples ? cfg_.initial_delay : estimator_.value();
  return std::clamp(d, cfg_.min_delay, cfg_.max_delay);
}

hedge_decision hedging_policy::should_hedge(clock::time_point sent_at, clock::time_point now,
                                            clock::time_point deadline) noexcept {
  if (now < detail::add_saturated(sent_at, delay())) return hedge_decision::not_yet;
  if (detail::add_saturated(now, cfg_.min_attempt_time) >= deadline) return hedge_decision::deadline;
  if (!budget_->try_withdraw(now)) return hedge_decision::budget_exhausted;
  return hedge_decision::hedge;
}

}  // namespace troupe::patterns
