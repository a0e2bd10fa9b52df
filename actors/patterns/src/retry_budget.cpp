// See troupe/patterns/retry_budget.hpp.

#include "troupe/patterns/retry_budget.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace troupe::patterns {

namespace {
std::int64_t to_pico(double tokens, std::int64_t scale) {
  const double v = std::round(tokens * static_cast<double>(scale));
  if (!(v >= 0) || v > 9.0e18)
    throw std::invalid_argument("retry_budget: amounts must be in [0, 9e6] tokens");
  return static_cast<std::int64_t>(v);
}
}  // namespace

retry_budget::retry_budget(const retry_budget_config& cfg, clock::time_point now)
    : per_request_(to_pico(cfg.ratio, kToken)),
      per_ns_(to_pico(cfg.floor_per_second, kToken / 1'000'000'000)),
      max_(to_pico(cfg.max_tokens, kToken)),
      balance_(to_pico(cfg.initial_tokens, kToken)),
      credited_(now.time_since_epoch().count()) {
  if (cfg.initial_tokens > cfg.max_tokens)
    throw std::invalid_argument("retry_budget: initial_tokens > max_tokens");
}

void retry_budget::deposit(std::int64_t amount) noexcept {
  if (amount <= 0) return;
  // relaxed: the balance is a lone counter; no other data is published with
  // it. Atomicity alone makes every deposit and withdrawal count once.
  const std::int64_t after = balance_.fetch_add(amount, std::memory_order_relaxed) + amount;
  if (after <= max_) return;
  // Over the cap: take the excess back. Only ever lowers the balance, so a
  // race here can only make the budget stricter, never looser.
  std::int64_t b = balance_.load(std::memory_order_relaxed);
  while (b > max_ && !balance_.compare_exchange_weak(b, max_, std::memory_order_relaxed)) {}
}

void retry_budget::credit_time(clock::time_point now) noexcept {
  if (per_ns_ == 0) return;
  const clock::duration::rep t = now.time_since_epoch().count();
  clock::duration::rep from = credited_.load(std::memory_order_relaxed);
  // relaxed: the CAS only has to hand each stretch [from, t) to exactly one
  // caller, which atomicity does; the credit it deposits is a lone counter.
  while (t > from) {
    if (credited_.compare_exchange_weak(from, t, std::memory_order_relaxed)) {
      const std::int64_t span = t - from;
      // A long quiet spell fills the bucket; cap the product before it overflows.
      const std::int64_t fill = max_ / per_ns_ + 1;
      deposit(span >= fill ? max_ : span * per_ns_);
      return;
    }
  }
}

void retry_budget::on_request(clock::time_point now) noexcept {
  requests_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  credit_time(now);
  deposit(per_request_);
}

bool retry_budget::try_withdraw(clock::time_point now) noexcept {
  credit_time(now);
  // relaxed: see deposit(); the CAS makes a withdrawal succeed only from a
  // balance that still holds a whole token.
  std::int64_t b = balance_.load(std::memory_order_relaxed);
  while (b >= kToken) {
    if (balance_.compare_exchange_weak(b, b - kToken, std::memory_order_relaxed)) {
      withdrawn_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      return true;
    }
  }
  refused_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return false;
}

double retry_budget::balance(clock::time_point now) noexcept {
  credit_time(now);
  return static_cast<double>(balance_.load(std::memory_order_relaxed)) / static_cast<double>(kToken);
}

retry_budget_counters retry_budget::counters() const noexcept {
  // relaxed: independent statistics.
  return {requests_.load(std::memory_order_relaxed), withdrawn_.load(std::memory_order_relaxed),
          refused_.load(std::memory_order_relaxed)};
}

}  // namespace troupe::patterns
