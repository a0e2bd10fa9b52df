#pragma once
// Retries without storms: capped exponential backoff with jitter, a maximum
// number of attempts, retries only of requests that are safe to repeat, never
// past the request's deadline, and (optionally) only while the destination's
// retry_budget has a token.
//
// The wrapper keeps one retry_state per request and asks it after every
// failed attempt; the state says "retry at t" or why not.
//
// Backoff (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog,
// 2015), with c(k) = min(cap, base * multiplier^(k-1)) for the k-th retry:
//   none          c(k)
//   full          uniform in [0, c(k))
//   equal         c(k)/2 + uniform in [0, c(k)/2)
//   decorrelated  uniform in [base, min(cap, 3 * previous delay)), previous
//                 starting at base
// The jitter is drawn after the cap, so delays that reached the cap still
// spread (over [0, cap), [cap/2, cap) or [base, cap)) instead of all waiting
// exactly `cap` and retrying together.

#include <array>
#include <concepts>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::patterns {

class retry_budget;

// ---------------------------------------------------------------------------
// Which requests may be retried

// A message type M is safe to retry when it declares
//   static constexpr bool idempotent = true;
// or when the user specialises safe_to_retry<M> to std::true_type. Anything
// else is not retried: repeating a non-idempotent request (a payment) is the
// caller's decision, never a default.
template <class M>
concept declares_idempotent = requires {
  { M::idempotent } -> std::convertible_to<bool>;
};

template <class M>
struct safe_to_retry : std::false_type {};
template <declares_idempotent M>
struct safe_to_retry<M> : std::bool_constant<static_cast<bool>(M::idempotent)> {};

template <class M>
inline constexpr bool safe_to_retry_v = safe_to_retry<std::remove_cvref_t<M>>::value;

// A per-call override of the type's trait.
enum class retry_safety : std::uint8_t { by_type, safe, unsafe };

template <class M>
constexpr bool may_retry(retry_safety s = retry_safety::by_type) noexcept {
  return s == retry_safety::safe || (s == retry_safety::by_type && safe_to_retry_v<M>);
}

// ---------------------------------------------------------------------------
// Backoff

enum class jitter : std::uint8_t { none, full, equal, decorrelated };

struct backoff_config {
  clock::duration base = std::chrono::milliseconds(10);
  clock::duration cap = std::chrono::seconds(10);
  double multiplier = 2.0;  // >= 1; decorrelated ignores it (its growth is the 3x of the definition)
  jitter kind = jitter::full;
};

// The delays between the attempts of one request. Not thread-safe: one per
// request (it remembers the previous delay for decorrelated jitter).
class backoff {
 public:
  // Throws std::invalid_argument unless 0 < base <= cap and multiplier >= 1.
  explicit backoff(const backoff_config& cfg);

  // The delay before the next retry (the first call: before retry 1).
  clock::duration next(random_source& rng) noexcept;
  // c(k): the capped delay before retry k (>= 1), before jitter.
  clock::duration ceiling(std::uint32_t retry) const noexcept;
  // Retries whose delay next() has given so far.
  std::uint32_t retries() const noexcept { return retries_; }
  void reset() noexcept;
  const backoff_config& config() const noexcept { return cfg_; }

 private:
  backoff_config cfg_;
  std::uint32_t retries_ = 0;
  double previous_s_;  // decorrelated: the previous delay, in seconds
};

// ---------------------------------------------------------------------------
// The retry decision

struct retry_config {
  std::uint32_t max_attempts = 3;  // including the first; 1 = never retry
  backoff_config backoff{};
  // Outcomes worth another attempt. By default failure and timeout; not
  // overloaded (the callee asked for less traffic), circuit_open (a breaker
  // said no; its open period is longer than any backoff) or cancelled.
  std::array<bool, outcome_count> retry_on{false, true, true, false, false, false};
  // An attempt is only sent if at least this much time is left before the
  // deadline when it would start.
  clock::duration min_attempt_time = clock::duration::zero();
};

enum class retry_stop : std::uint8_t {
  none,                // retry
  succeeded,           // the outcome was not a failure to retry: success
  not_retryable,       // an outcome retry_on excludes
  unsafe,              // the request is not safe to retry
  attempts_exhausted,  // max_attempts reached
  deadline,            // the next attempt would not fit before the deadline
  budget_exhausted,    // the retry budget has no token
};
const char* to_string(retry_stop s) noexcept;

struct retry_decision {
  retry_stop stop = retry_stop::none;
  clock::time_point at{};  // when to send the next attempt (stop == none)
  explicit operator bool() const noexcept { return stop == retry_stop::none; }
};

// When the next attempt would start, if it fits: now + delay + min_attempt
// must fall strictly before the deadline. Any thread.
std::optional<clock::time_point> next_attempt_at(
    clock::time_point now, clock::duration delay, clock::time_point deadline,
    clock::duration min_attempt = clock::duration::zero()) noexcept;

// One request's retries. Not thread-safe: one per request, used by whoever
// drives that request.
class retry_state {
 public:
  // `safe`: may_retry<M>(per-call override) of the request's message.
  // `cfg` is not copied: it must outlive the state (it is usually the
  // wrapper's, shared by all its requests). Throws std::invalid_argument
  // for max_attempts 0 or an invalid backoff (see backoff).
  retry_state(const retry_config& cfg, bool safe);

  // Attempt number attempts() ended with `o` at `now`: retry, and when? On a
  // retry, attempts() grows by one and, when a budget is given, one token is
  // taken from it (checked last, so a retry that the deadline forbids costs
  // no token).
  retry_decision on_outcome(outcome o, clock::time_point now, clock::time_point deadline, random_source& rng,
                            retry_budget* budget = nullptr);

  std::uint32_t attempts() const noexcept { return attempts_; }

 private:
  const retry_config* cfg_;
  backoff backoff_;
  std::uint32_t attempts_ = 1;
  bool safe_;
};

}  // namespace troupe::patterns
