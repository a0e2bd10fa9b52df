#pragma once
// Hedged requests (Dean and Barroso, "The Tail at Scale", CACM 2013): when a
// request has not answered after the p-th percentile of recent latencies,
// send a second copy and take whichever answers first. Each hedge is charged
// to the destination's retry_budget, so hedging cannot multiply load on a
// service that is slow for everyone.
//
// The percentile comes from latency_estimator: a log-linear histogram (8
// sub-buckets per power of two, so a value is known within 12.5%) over the
// last `window` to 2 * `window` samples, in two generations that take turns.
// Recording is O(1); the percentile is recomputed every 32 samples (a scan
// of 320 counters) and read lock-free. The runtime's latency_histogram is
// not used so that this layer does not depend on an API being reworked.

#include <array>
#include <atomic>
#include <cstdint>

#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::patterns {

class retry_budget;

// A percentile of recent latencies. Thread-safe.
class latency_estimator {
 public:
  // `percentile` in (0, 1]; `window` >= 1 samples per generation.
  latency_estimator(double percentile, std::uint32_t window);

  // Adds one sample (negative counts as zero; above ~18 minutes counts as
  // ~18 minutes). Takes a short spinlock. Thread-safe.
  void record(clock::duration latency) noexcept;
  // The percentile as of the last refresh: the upper edge of the bucket it
  // falls in (never below the true sample percentile of the window).
  // Lock-free. Thread-safe.
  clock::duration value() const noexcept;
  // Samples in the window now (previous generation + current); value() may
  // lag it by up to 31 samples. Lock-free.
  std::uint64_t samples() const noexcept;

  static constexpr std::size_t kBuckets = 320;
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static std::uint64_t upper_edge(std::size_t bucket) noexcept;

 private:
  void refresh_locked() noexcept;

  const double percentile_;
  const std::uint32_t window_;
  mutable troupe::detail::spinlock lock_;
  std::array<std::array<std::uint32_t, kBuckets>, 2> counts_{};  // under lock_
  std::array<std::uint32_t, 2> n_{};                             // under lock_
  std::uint32_t current_ = 0;                                    // under lock_
  std::uint32_t since_refresh_ = 0;                              // under lock_
  // relaxed: each is a lone value, written under lock_ and read without it;
  // readers need no other memory to agree with them.
  std::atomic<clock::duration::rep> value_ns_{0};
  std::atomic<std::uint64_t> samples_{0};
};

struct hedging_config {
  double percentile = 0.95;
  std::uint32_t window = 1000;  // samples per generation of the estimator
  // Until this many samples are in, the delay is initial_delay.
  std::uint32_t min_samples = 20;
  clock::duration initial_delay = std::chrono::milliseconds(100);
  clock::duration min_delay = std::chrono::milliseconds(1);
  clock::duration max_delay = std::chrono::seconds(10);
  // A hedge is only sent with at least this much time left before the deadline.
  clock::duration min_attempt_time = clock::duration::zero();
};

enum class hedge_decision : std::uint8_t {
  hedge,             // send the second copy now (a budget token was taken)
  not_yet,           // the hedge delay has not passed since the first copy was sent
  deadline,          // no time left for another copy
  budget_exhausted,  // the retry budget has no token
};

// Thread-safe. The budget must outlive the policy.
class hedging_policy {
 public:
  hedging_policy(const hedging_config& cfg, retry_budget& budget);

  // The latency of a call that completed (the first answer of a hedged one).
  void record(clock::duration latency) noexcept;
  // How long to wait for the first copy before hedging.
  clock::duration delay() const noexcept;
  // A request first sent at `sent_at` has not answered at `now`: hedge?
  // Takes a budget token only when the answer is hedge_decision::hedge.
  hedge_decision should_hedge(clock::time_point sent_at, clock::time_point now,
                              clock::time_point deadline) noexcept;

  const latency_estimator& estimator() const noexcept { return estimator_; }

 private:
  hedging_config cfg_;
  retry_budget* budget_;
  latency_estimator estimator_;
};

}  // namespace troupe::patterns
