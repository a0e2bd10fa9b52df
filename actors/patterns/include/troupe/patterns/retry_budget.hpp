#pragma once
// A retry budget per destination (Finagle's RetryBudget, as a token bucket):
// every original request deposits `ratio` tokens, time deposits
// `floor_per_second` tokens a second, every retry or hedge withdraws one
// token and is refused when there is none. The balance never exceeds
// `max_tokens` (a burst allowance) and starts at `initial_tokens`.
//
// The bound: over any run of T seconds with R original requests,
//   retries <= initial_tokens + ratio * R + floor_per_second * T
// so attempts <= (1 + ratio) * R + floor_per_second * T + initial_tokens,
// whatever fails and however many threads race: deposits are exact integer
// amounts (pico-tokens), each stretch of time is credited exactly once, and a
// withdrawal succeeds only from a balance of at least one token. The cap only
// ever removes tokens, so it cannot break the bound.
//
// Thread-safe, lock-free, O(1): a withdrawal is one CAS loop on the balance,
// a deposit one fetch_add, the time credit one CAS on the last credit time.

#include <atomic>
#include <cstdint>

#include "troupe/runtime/clock.hpp"

namespace troupe::patterns {

struct retry_budget_config {
  double ratio = 0.2;              // tokens per original request (Finagle's percentCanRetry)
  double floor_per_second = 10.0;  // tokens per second, so low traffic can still retry
  double max_tokens = 100.0;       // the balance's cap
  double initial_tokens = 0.0;
};

struct retry_budget_counters {
  std::uint64_t requests = 0;   // deposits by on_request
  std::uint64_t withdrawn = 0;  // retries and hedges allowed
  std::uint64_t refused = 0;    // retries and hedges refused
};

class retry_budget {
 public:
  // Throws std::invalid_argument for negative amounts or a cap below the
  // initial balance. Amounts are kept in pico-tokens (1e-12 token): the
  // floor rate is exact to 0.001 token/s.
  retry_budget(const retry_budget_config& cfg, clock::time_point now);
  retry_budget(const retry_budget&) = delete;
  retry_budget& operator=(const retry_budget&) = delete;

  // An original request was sent. Thread-safe.
  void on_request(clock::time_point now) noexcept;
  // A retry or a hedge wants to go: takes one token if there is one.
  // Thread-safe.
  bool try_withdraw(clock::time_point now) noexcept;
  // The balance in tokens (after crediting time up to now). Thread-safe.
  double balance(clock::time_point now) noexcept;
  retry_budget_counters counters() const noexcept;

 private:
  static constexpr std::int64_t kToken = 1'000'000'000'000;  // pico-tokens per token
  void credit_time(clock::time_point now) noexcept;
  void deposit(std::int64_t amount) noexcept;

  const std::int64_t per_request_;              // pico-tokens
  const std::int64_t per_ns_;                   // pico-tokens per nanosecond of floor credit
  const std::int64_t max_;                      // pico-tokens
  std::atomic<std::int64_t> balance_;           // pico-tokens
  std::atomic<clock::duration::rep> credited_;  // time up to which the floor has been credited
  std::atomic<std::uint64_t> requests_{0}, withdrawn_{0}, refused_{0};
};

}  // namespace troupe::patterns
