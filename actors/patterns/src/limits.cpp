// See troupe/patterns/limits.hpp.

#include "troupe/patterns/limits.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

namespace troupe::patterns {

const char* to_string(priority p) noexcept {
  switch (p) {
    case priority::critical:
      return "critical";
    case priority::normal:
      return "normal";
    case priority::best_effort:
      return "best_effort";
  }
  return "unknown";
}

namespace {
void check_bounds(std::uint32_t initial, std::uint32_t min, std::uint32_t max, const char* who) {
  if (min == 0 || min > max || initial < min || initial > max)
    throw std::invalid_argument(std::string(who) + ": need 0 < min <= initial <= max");
}
}  // namespace

aimd_limit::aimd_limit(const aimd_config& cfg)
    : cfg_(cfg), limit_(cfg.initial), decreased_at_(std::numeric_limits<clock::duration::rep>::min()) {
  check_bounds(cfg.initial, cfg.min, cfg.max, "aimd_limit");
  if (!(cfg.backoff_ratio > 0 && cfg.backoff_ratio < 1))
    throw std::invalid_argument("aimd_limit: backoff_ratio in (0, 1)");
}

void aimd_limit::on_sample(const limit_sample& s) noexcept {
  const bool drop = s.dropped || s.rtt > cfg_.timeout;
  // relaxed: see decreased_at_.
  if (drop && s.start.time_since_epoch().count() < decreased_at_.load(std::memory_order_relaxed)) return;
  // relaxed: the limit is a lone value; the CAS makes each sample act on the
  // value it read, so concurrent samples compose instead of overwriting.
  std::uint32_t cur = limit_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint32_t next = cur;
    if (drop) {
      next = std::max(cfg_.min, static_cast<std::uint32_t>(std::floor(cur * cfg_.backoff_ratio)));
    } else if (s.in_flight * 2 >= cur) {
      next = std::min(cfg_.max, cur + 1);
    }
    if (next == cur) return;
    if (limit_.compare_exchange_weak(cur, next, std::memory_order_relaxed)) {
      if (drop) decreased_at_.store((s.start + s.rtt).time_since_epoch().count(), std::memory_order_relaxed);
      return;
    }
  }
}

gradient_limit::gradient_limit(const gradient_config& cfg)
    : cfg_(cfg), estimate_(cfg.initial), limit_(cfg.initial) {
  check_bounds(cfg.initial, cfg.min, cfg.max, "gradient_limit");
  if (!(cfg.smoothing > 0 && cfg.smoothing <= 1))
    throw std::invalid_argument("gradient_limit: smoothing in (0, 1]");
  if (cfg.baseline_window < kBuckets)
    throw std::invalid_argument("gradient_limit: baseline_window must be >= 10");
  minima_.fill(std::numeric_limits<double>::infinity());
}

double gradient_limit::baseline_locked() const noexcept {
  double m = std::numeric_limits<double>::infinity();
  for (double x : minima_) m = std::min(m, x);
  return m;
}

void gradient_limit::on_sample(const limit_sample& s) noexcept {
  const double rtt = std::max(1.0, static_cast<double>(s.rtt.count()));
  std::lock_guard lk(lock_);
  if (!s.dropped) {  // a dropped request's time says nothing about the service's
    minima_[bucket_] = std::min(minima_[bucket_], rtt);
    if (++in_bucket_ >= cfg_.baseline_window / kBuckets) {
      bucket_ = (bucket_ + 1) % kBuckets;
      minima_[bucket_] = std::numeric_limits<double>::infinity();
      in_bucket_ = 0;
    }
  }
  if (s.in_flight < estimate_ / 2) return;  // application-limited: nothing learnt
  const double baseline = baseline_locked();
  if (!std::isfinite(baseline)) return;
  const double gradient = s.dropped ? 0.5 : std::clamp(cfg_.rtt_tolerance * baseline / rtt, 0.5, 1.0);
  const double next = estimate_ * gradient + cfg_.queue_size;
  estimate_ = std::clamp(estimate_ * (1 - cfg_.smoothing) + next * cfg_.smoothing,
                         static_cast<double>(cfg_.min), static_cast<double>(cfg_.max));
  // relaxed: a lone value, read lock-free by admissions.
  limit_.store(static_cast<std::uint32_t>(estimate_), std::memory_order_relaxed);
}

clock::duration gradient_limit::baseline_rtt() const noexcept {
  std::lock_guard lk(lock_);
  const double b = baseline_locked();
  return std::isfinite(b) ? clock::duration(static_cast<clock::duration::rep>(b)) : clock::duration::zero();
}

}  // namespace troupe::patterns
