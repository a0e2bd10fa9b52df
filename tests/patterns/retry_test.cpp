// Tests of troupe::patterns backoff, retry_state, safe_to_retry, retry_budget
// and hedging_policy: delay bounds and spread at large attempt numbers (fixed
// seeds), no retry past a deadline, the retry budget's bound under 100%
// failure in virtual time, and a multi-threaded budget that counts every
// token.

#include "troupe/patterns/retry.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <gtest/gtest.h>
#include <set>
#include <thread>
#include <vector>

#include "troupe/patterns/hedging.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

// ---------------------------------------------------------------------------
// safe_to_retry

struct get_user {
  static constexpr bool idempotent = true;
};
struct charge_card {
  static constexpr bool idempotent = false;
};
struct plain_message {};
struct specialised_message {};
}  // namespace

template <>
struct troupe::patterns::safe_to_retry<specialised_message> : std::true_type {};

namespace {

static_assert(safe_to_retry_v<get_user>);
static_assert(safe_to_retry_v<const get_user&>);
static_assert(!safe_to_retry_v<charge_card>);
static_assert(!safe_to_retry_v<plain_message>);
static_assert(safe_to_retry_v<specialised_message>);
static_assert(may_retry<plain_message>(retry_safety::safe));
static_assert(!may_retry<get_user>(retry_safety::unsafe));
static_assert(may_retry<get_user>());

// ---------------------------------------------------------------------------
// Backoff

struct stats {
  double min, max, mean, cv;
  std::size_t distinct;
};
stats summarise(const std::vector<double>& v) {
  double sum = 0, sq = 0;
  for (double x : v) sum += x;
  const double mean = sum / static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  const double sd = std::sqrt(sq / static_cast<double>(v.size() - 1));
  return {*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()), mean, sd / mean,
          std::set<double>(v.begin(), v.end()).size()};
}

// 10,000 delays of retry 30, each from its own request's backoff.
std::vector<double> delays_at_retry_30(jitter kind, clock::duration base, clock::duration cap) {
  std::vector<double> out;
  random_source rng(2024);
  for (int i = 0; i < 10000; ++i) {
    backoff b({.base = base, .cap = cap, .multiplier = 2, .kind = kind});
    clock::duration d{};
    for (int k = 0; k < 30; ++k) d = b.next(rng);
    EXPECT_EQ(b.retries(), 30u);
    out.push_back(std::chrono::duration<double>(d).count());
  }
  return out;
}

TEST(BackoffTest, CeilingGrowsExponentiallyToTheCap) {
  backoff b({.base = 10ms, .cap = 1s, .multiplier = 2, .kind = jitter::none});
  random_source rng(1);
  std::vector<clock::duration> got;
  for (int i = 0; i < 9; ++i) got.push_back(b.next(rng));
  EXPECT_EQ(got, (std::vector<clock::duration>{10ms, 20ms, 40ms, 80ms, 160ms, 320ms, 640ms, 1s, 1s}));
  EXPECT_EQ(b.ceiling(1000), 1s);  // no overflow far beyond the cap
  b.reset();
  EXPECT_EQ(b.next(rng), 10ms);
}

// Full jitter is uniform on [0, C) once capped: mean C/2, standard deviation
// C/sqrt(12), so the coefficient of variation is 1/sqrt(3) = 0.577. Over
// 10,000 samples the estimate's standard error is about 0.004 (delta method:
// relative errors 0.58% for the mean and 0.45% for the deviation), so +-0.02
// is five standard errors: a real change of distribution fails, noise does not.
TEST(BackoffTest, FullJitterAtAttempt30SpreadsOverZeroToCap) {
  const auto v = delays_at_retry_30(jitter::full, 10ms, 2s);
  const auto s = summarise(v);
  EXPECT_GE(s.min, 0.0);
  EXPECT_LE(s.max, 2.0);
  EXPECT_GT(s.distinct, 9900u);
  EXPECT_NEAR(s.cv, 1.0 / std::sqrt(3.0), 0.02);
  EXPECT_NEAR(s.mean, 1.0, 0.03);
}

// Equal jitter: uniform on [C/2, C): CV = (C/2)/sqrt(12) / (3C/4) = 0.192.
TEST(BackoffTest, EqualJitterAtAttempt30StaysInUpperHalf) {
  const auto s = summarise(delays_at_retry_30(jitter::equal, 10ms, 2s));
  EXPECT_GE(s.min, 1.0);
  EXPECT_LE(s.max, 2.0);
  EXPECT_GT(s.distinct, 9900u);
  EXPECT_NEAR(s.cv, 1.0 / (3.0 * std::sqrt(3.0)), 0.01);
}

TEST(BackoffTest, DecorrelatedJitterAtAttempt30StaysWithinBaseAndCap) {
  const auto s = summarise(delays_at_retry_30(jitter::decorrelated, 10ms, 2s));
  EXPECT_GE(s.min, 0.010);
  EXPECT_LE(s.max, 2.0);
  EXPECT_GT(s.distinct, 9900u);
  // Capped draws are uniform on [base, min(cap, 3 prev)), not stuck at cap.
  EXPECT_LT(s.mean, 1.5);
}

TEST(BackoffTest, NoJitterAtAttempt30IsExactlyTheCap) {
  const auto s = summarise(delays_at_retry_30(jitter::none, 10ms, 2s));
  EXPECT_EQ(s.min, 2.0);
  EXPECT_EQ(s.max, 2.0);
}

TEST(BackoffTest, EverySampleOfEveryKindWithinItsBounds) {
  for (jitter kind : {jitter::none, jitter::full, jitter::equal, jitter::decorrelated}) {
    backoff b({.base = 5ms, .cap = 300ms, .multiplier = 3, .kind = kind});
    random_source rng(7);
    for (std::uint32_t k = 1; k <= 200; ++k) {
      const clock::duration d = b.next(rng);
      const clock::duration c = b.ceiling(k);
      if (kind == jitter::decorrelated) {  // its own bounds: [base, cap]
        ASSERT_GE(d, 5ms);
        ASSERT_LE(d, 300ms);
        continue;
      }
      ASSERT_LE(d, c) << static_cast<int>(kind) << " retry " << k;
      if (kind == jitter::equal) {
        ASSERT_GE(d, c / 2);
      }
    }
  }
}

TEST(BackoffTest, SameSeedSameDelays) {
  auto run = [] {
    std::vector<clock::duration> v;
    backoff b({.kind = jitter::decorrelated});
    random_source rng(99);
    for (int i = 0; i < 50; ++i) v.push_back(b.next(rng));
    return v;
  };
  EXPECT_EQ(run(), run());
}

// ---------------------------------------------------------------------------
// Deadlines and the decision

TEST(RetryTest, NextAttemptMustStartStrictlyBeforeTheDeadline) {
  EXPECT_EQ(next_attempt_at(t0, 10ms, t0 + 11ms), t0 + 10ms);
  EXPECT_EQ(next_attempt_at(t0, 10ms, t0 + 10ms), std::nullopt);
  EXPECT_EQ(next_attempt_at(t0, 10ms, t0 + 15ms, 5ms), std::nullopt);
  EXPECT_EQ(next_attempt_at(t0, 10ms, t0 + 16ms, 5ms), t0 + 10ms);
  EXPECT_EQ(next_attempt_at(t0, 10ms, clock::time_point::max()), t0 + 10ms);
  EXPECT_EQ(next_attempt_at(clock::time_point::max() - 1ms, 1h, clock::time_point::max()), std::nullopt);
}

TEST(RetryTest, StopsForEachReason) {
  retry_config cfg{.max_attempts = 3, .backoff = {.base = 10ms, .cap = 100ms, .kind = jitter::none}};
  random_source rng(1);
  const auto far = t0 + 1h;
  {
    retry_state s(cfg, true);
    EXPECT_EQ(s.on_outcome(outcome::success, t0, far, rng).stop, retry_stop::succeeded);
    EXPECT_EQ(s.on_outcome(outcome::overloaded, t0, far, rng).stop, retry_stop::not_retryable);
    EXPECT_EQ(s.on_outcome(outcome::circuit_open, t0, far, rng).stop, retry_stop::not_retryable);
  }
  {
    retry_state s(cfg, false);
    EXPECT_EQ(s.on_outcome(outcome::failure, t0, far, rng).stop, retry_stop::unsafe);
  }
  {
    retry_state s(cfg, true);
    auto d = s.on_outcome(outcome::failure, t0, far, rng);
    ASSERT_TRUE(d);
    EXPECT_EQ(d.at, t0 + 10ms);
    d = s.on_outcome(outcome::timeout, t0 + 20ms, far, rng);
    ASSERT_TRUE(d);
    EXPECT_EQ(d.at, t0 + 40ms);
    EXPECT_EQ(s.attempts(), 3u);
    EXPECT_EQ(s.on_outcome(outcome::failure, t0 + 50ms, far, rng).stop, retry_stop::attempts_exhausted);
  }
  {
    retry_state s(cfg, true);
    EXPECT_EQ(s.on_outcome(outcome::failure, t0, t0 + 10ms, rng).stop, retry_stop::deadline);
    EXPECT_EQ(s.attempts(), 1u);
  }
}

// Attempts that keep failing with random latencies and full jitter: every
// scheduled retry starts before the deadline, and so does every attempt.
TEST(RetryTest, NoRetryIsScheduledPastTheDeadline) {
  retry_config cfg{.max_attempts = 1000,
                   .backoff = {.base = 1ms, .cap = 200ms, .kind = jitter::full},
                   .min_attempt_time = 2ms};
  random_source rng(5);
  int deadline_stops = 0;
  for (int req = 0; req < 2000; ++req) {
    retry_state s(cfg, true);
    const clock::time_point start = t0 + req * 1s;
    const clock::time_point deadline =
        start + clock::duration(static_cast<clock::duration::rep>(rng.below(2'000'000'000)));
    clock::time_point now = start;
    for (;;) {
      now +=
          clock::duration(static_cast<clock::duration::rep>(rng.below(50'000'000)));  // the attempt's latency
      const auto d = s.on_outcome(outcome::timeout, now, deadline, rng);
      if (!d) {
        ASSERT_EQ(d.stop, retry_stop::deadline);
        ++deadline_stops;
        break;
      }
      ASSERT_LT(d.at + 2ms, deadline);
      ASSERT_GE(d.at, now);
      now = d.at;
    }
  }
  EXPECT_EQ(deadline_stops, 2000);
}

// ---------------------------------------------------------------------------
// Retry budget

// T seconds of 100% failure: every request is retried as often as the
// policy allows (4 attempts) unless the budget says no.
TEST(RetryBudgetTest, BoundHoldsUnderTotalFailure) {
  for (double ratio : {0.1, 0.2, 0.5}) {
    for (double floor : {0.0, 1.0, 10.0}) {
      SCOPED_TRACE(::testing::Message() << "ratio " << ratio << " floor " << floor);
      retry_budget budget({.ratio = ratio, .floor_per_second = floor, .max_tokens = 50}, t0);
      retry_config cfg{.max_attempts = 4, .backoff = {.base = 1ms, .cap = 50ms, .kind = jitter::full}};
      random_source rng(11);
      constexpr int kSeconds = 60;
      constexpr int kPerSecond = 200;
      std::uint64_t requests = 0, attempts = 0;
      for (int i = 0; i < kSeconds * kPerSecond; ++i) {
        clock::time_point now = t0 + i * (clock::duration(1s) / kPerSecond);
        retry_state s(cfg, true);
        budget.on_request(now);
        ++requests;
        ++attempts;
        for (;;) {
          now += 2ms;  // the attempt fails after 2 ms
          const auto d = s.on_outcome(outcome::failure, now, t0 + (kSeconds + 1) * 1s, rng, &budget);
          if (!d) break;
          ++attempts;
          now = d.at;
        }
      }
      const double bound = (1 + ratio) * static_cast<double>(requests) + floor * (kSeconds + 1);
      EXPECT_LE(static_cast<double>(attempts), bound);
      // The budget, not max_attempts, was the limit: well below 4 per request,
      // and close to the bound (all tokens but the capped rest were used).
      EXPECT_LT(attempts, 2 * requests);
      EXPECT_GE(static_cast<double>(attempts), bound - 60);
      EXPECT_EQ(budget.counters().withdrawn, attempts - requests);
    }
  }
}

TEST(RetryBudgetTest, FloorCreditsTimeExactlyAndCaps) {
  retry_budget budget({.ratio = 0, .floor_per_second = 2.5, .max_tokens = 10}, t0);
  EXPECT_DOUBLE_EQ(budget.balance(t0), 0.0);
  // Credited in many small steps, nothing is lost to rounding.
  for (int i = 1; i <= 1000; ++i) (void)budget.balance(t0 + i * 1ms);
  EXPECT_NEAR(budget.balance(t0 + 1s), 2.5, 1e-9);
  EXPECT_TRUE(budget.try_withdraw(t0 + 1s));
  EXPECT_TRUE(budget.try_withdraw(t0 + 1s));
  EXPECT_FALSE(budget.try_withdraw(t0 + 1s));
  EXPECT_NEAR(budget.balance(t0 + 1h), 10.0, 1e-9);
}

// Four threads deposit and withdraw as fast as they can while virtual time
// moves; every withdrawal is counted, and the total never exceeds the
// deposits.
TEST(RetryBudgetTest, ConcurrentWithdrawalsNeverExceedDeposits) {
  const retry_budget_config cfg{
      .ratio = 0.25, .floor_per_second = 100, .max_tokens = 1e6, .initial_tokens = 3};
  retry_budget budget(cfg, t0);
  std::atomic<std::int64_t> clock_ns{t0.time_since_epoch().count()};
  std::atomic<std::uint64_t> requests{0}, withdrawn{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      random_source rng(static_cast<std::uint64_t>(i));
      for (int k = 0; k < 100000; ++k) {
        // relaxed: a virtual clock that only moves forward.
        const clock::time_point now(
            clock::duration(clock_ns.fetch_add(100, std::memory_order_relaxed) + 100));
        if (rng.below(4) == 0) {
          budget.on_request(now);
          requests.fetch_add(1, std::memory_order_relaxed);
        } else if (budget.try_withdraw(now)) {
          withdrawn.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const clock::time_point end(clock::duration(clock_ns.load()));
  const double elapsed = std::chrono::duration<double>(end - t0).count();
  const double deposits =
      cfg.initial_tokens + cfg.ratio * static_cast<double>(requests.load()) + cfg.floor_per_second * elapsed;
  EXPECT_LE(static_cast<double>(withdrawn.load()), deposits);
  // Every token deposited and not withdrawn is still there (no cap reached).
  EXPECT_NEAR(budget.balance(end) + static_cast<double>(withdrawn.load()), deposits, 1e-6);
  EXPECT_EQ(budget.counters().withdrawn, withdrawn.load());
  EXPECT_EQ(budget.counters().requests, requests.load());
}

// ---------------------------------------------------------------------------
// Hedging

TEST(LatencyEstimatorTest, BucketsCoverEveryValueWithinAnEighth) {
  for (std::uint64_t ns :
       {0ull, 1ull, 7ull, 8ull, 9ull, 15ull, 16ull, 1000ull, 123456789ull, (1ull << 39) + 12345}) {
    const std::size_t b = latency_estimator::bucket_of(ns);
    ASSERT_LT(b, latency_estimator::kBuckets);
    const std::uint64_t up = latency_estimator::upper_edge(b);
    EXPECT_GE(up, ns);
    EXPECT_LE(static_cast<double>(up), static_cast<double>(ns) * 1.125 + 1) << ns;
    EXPECT_EQ(latency_estimator::bucket_of(up), b);
    EXPECT_EQ(latency_estimator::bucket_of(up + 1), b + 1);
  }
}

TEST(LatencyEstimatorTest, PercentileOfUniformLatencies) {
  latency_estimator e(0.95, 1000);
  random_source rng(3);
  for (int i = 0; i < 1000; ++i)
    e.record(clock::duration(static_cast<clock::duration::rep>(1'000'000 + rng.below(99'000'000))));
  // True p95 ~ 95 ms; the estimate is the bucket's upper edge: [95, 95 * 1.125].
  EXPECT_GE(e.value(), 93ms);
  EXPECT_LE(e.value(), 108ms);
  EXPECT_EQ(e.samples(), 1000u);
}

TEST(LatencyEstimatorTest, ForgetsOldGenerations) {
  latency_estimator e(0.5, 100);
  for (int i = 0; i < 100; ++i) e.record(100ms);
  EXPECT_GE(e.value(), 100ms);
  for (int i = 0; i < 250; ++i) e.record(1ms);
  EXPECT_LT(e.value(), 2ms);
  EXPECT_LE(e.samples(), 200u);
}

TEST(HedgingTest, HedgesAfterThePercentileChargedToTheBudget) {
  retry_budget budget({.ratio = 0, .floor_per_second = 0, .max_tokens = 2, .initial_tokens = 2}, t0);
  hedging_policy h({.percentile = 0.9, .window = 100, .min_samples = 10, .initial_delay = 50ms}, budget);
  EXPECT_EQ(h.delay(), 50ms);
  for (int i = 1; i <= 100; ++i) h.record(i * 1ms);
  EXPECT_GE(h.delay(), 90ms);
  EXPECT_LE(h.delay(), 102ms);
  const auto d = h.delay();
  EXPECT_EQ(h.should_hedge(t0, t0 + d - 1ns, t0 + 1s), hedge_decision::not_yet);
  EXPECT_EQ(h.should_hedge(t0, t0 + d, t0 + d), hedge_decision::deadline);
  EXPECT_EQ(h.should_hedge(t0, t0 + d, t0 + 1s), hedge_decision::hedge);
  EXPECT_EQ(h.should_hedge(t0, t0 + d, t0 + 1s), hedge_decision::hedge);
  EXPECT_EQ(h.should_hedge(t0, t0 + d, t0 + 1s), hedge_decision::budget_exhausted);
  EXPECT_EQ(budget.counters().withdrawn, 2u);
}

TEST(HedgingTest, ConcurrentRecordsAreAllCounted) {
  retry_budget budget({}, t0);
  hedging_policy h({.percentile = 0.5, .window = 1'000'000, .min_samples = 1}, budget);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20000; ++k) h.record((i + 1) * 1ms);
    });
  for (auto& t : threads) t.join();
  h.record(1ms);  // refreshes with everything in
  EXPECT_EQ(h.estimator().samples(), 80001u);
  EXPECT_GE(h.delay(), 2ms);
  EXPECT_LE(h.delay(), 3ms);
}

}  // namespace
