// See troupe/patterns/retry.hpp.

#include "troupe/patterns/retry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "troupe/patterns/detail/time.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace troupe::patterns {

namespace {
using secs = std::chrono::duration<double>;
clock::duration from_seconds(double s) {
  // Durations here are bounded by the cap, which is a clock::duration.
  return std::chrono::duration_cast<clock::duration>(secs(std::max(0.0, s)));
}
}  // namespace

const char* to_string(retry_stop s) noexcept {
  switch (s) {
    case retry_stop::none:
      return "none";
    case retry_stop::succeeded:
      return "succeeded";
    case retry_stop::not_retryable:
      return "not_retryable";
    case retry_stop::unsafe:
      return "unsafe";
    case retry_stop::attempts_exhausted:
      return "attempts_exhausted";
    case retry_stop::deadline:
      return "deadline";
    case retry_stop::budget_exhausted:
      return "budget_exhausted";
  }
  return "unknown";
}

backoff::backoff(const backoff_config& cfg) : cfg_(cfg), previous_s_(secs(cfg.base).count()) {
  if (cfg_.base <= clock::duration::zero() || cfg_.cap < cfg_.base)
    throw std::invalid_argument("backoff: need 0 < base <= cap");
  if (!(cfg_.multiplier >= 1.0)) throw std::invalid_argument("backoff: multiplier must be >= 1");
}

clock::duration backoff::ceiling(std::uint32_t retry) const noexcept {
  const double base = secs(cfg_.base).count();
  const double cap = secs(cfg_.cap).count();
  const double grown =
      base * std::pow(cfg_.multiplier, static_cast<double>(std::max<std::uint32_t>(retry, 1) - 1));
  return std::min(cfg_.cap, from_seconds(std::min(cap, grown)));  // min(cap, inf) = cap
}

clock::duration backoff::next(random_source& rng) noexcept {
  ++retries_;
  switch (cfg_.kind) {
    case jitter::none:
      return ceiling(retries_);
    case jitter::full:
      return from_seconds(secs(ceiling(retries_)).count() * rng.uniform());
    case jitter::equal: {
      const double c = secs(ceiling(retries_)).count();
      return from_seconds(c / 2 + c / 2 * rng.uniform());
    }
    case jitter::decorrelated: {
      const double base = secs(cfg_.base).count();
      const double upper = std::min(secs(cfg_.cap).count(), previous_s_ * 3);
      previous_s_ = base + (upper - base) * rng.uniform();
      return std::clamp(from_seconds(previous_s_), cfg_.base, cfg_.cap);
    }
  }
  return cfg_.base;
}

void backoff::reset() noexcept {
  retries_ = 0;
  previous_s_ = secs(cfg_.base).count();
}

std::optional<clock::time_point> next_attempt_at(clock::time_point now, clock::duration delay,
                                                 clock::time_point deadline,
                                                 clock::duration min_attempt) noexcept {
  const clock::time_point at = detail::add_saturated(now, std::max(delay, clock::duration::zero()));
  if (detail::add_saturated(at, min_attempt) >= deadline) return std::nullopt;
  return at;
}

retry_state::retry_state(const retry_config& cfg, bool safe)
    : cfg_(&cfg), backoff_(cfg.backoff), safe_(safe) {
  // Zero attempts cannot be honoured (the first is already under way): a
  // config that asks for it is a mistake, not "never retry" (that is 1).
  if (cfg.max_attempts == 0)
    throw std::invalid_argument("retry_state: max_attempts must be >= 1 (1 = never retry)");
}

retry_decision retry_state::on_outcome(outcome o, clock::time_point now, clock::time_point deadline,
                                       random_source& rng, retry_budget* budget) {
  if (o == outcome::success) return {retry_stop::succeeded};
  if (!cfg_->retry_on[static_cast<std::size_t>(o)]) return {retry_stop::not_retryable};
  if (!safe_) return {retry_stop::unsafe};
  if (attempts_ >= cfg_->max_attempts) return {retry_stop::attempts_exhausted};
  const clock::duration delay = backoff_.next(rng);
  const auto at = next_attempt_at(now, delay, deadline, cfg_->min_attempt_time);
  if (!at) return {retry_stop::deadline};
  if (budget && !budget->try_withdraw(now)) return {retry_stop::budget_exhausted};
  ++attempts_;
  return {retry_stop::none, *at};
}

}  // namespace troupe::patterns
