// Misconfigured patterns, tried on purpose: each test is one row of
// docs/misuse.md. A config that cannot be honoured is refused by the
// constructor with std::invalid_argument naming the field, never accepted
// and then misbehaving (a breaker that never trips, a retry loop that never
// ends, a budget that overflows).

#include <chrono>
#include <cmath>
#include <functional>
#include <gtest/gtest.h>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/patterns/consistent_hash.hpp"
#include "troupe/patterns/hedging.hpp"
#include "troupe/patterns/limits.hpp"
#include "troupe/patterns/queue_delay.hpp"
#include "troupe/patterns/retry.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace troupe::patterns {
namespace {

using namespace std::chrono_literals;

const double nan = std::nan("");

// The message of the std::invalid_argument `make` throws ("" if none).
std::string refusal(const std::function<void()>& make) {
  try {
    make();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(PatternsMisuse, EveryInvalidBreakerFieldIsRefusedByName) {
  struct bad_case {
    const char* field;
    std::function<void(circuit_breaker_config&)> spoil;
  };
  const bad_case cases[] = {
      {"failure_rate.threshold", [](auto& c) { c.failure_rate->threshold = 1.5; }},
      {"failure_rate.threshold", [](auto& c) { c.failure_rate->threshold = -0.1; }},
      {"failure_rate.threshold", [](auto& c) { c.failure_rate->threshold = nan; }},
      {"slow_calls.threshold", [](auto& c) { c.slow_calls = slow_call_trip{.threshold = 2}; }},
      {"consecutive_failures.threshold",
       [](auto& c) { c.consecutive_failures = consecutive_failures_trip{0}; }},
      {"half_open_probes", [](auto& c) { c.half_open_probes = 0; }},
      {"half_open_probes", [](auto& c) { c.half_open_probes = 65; }},
      {"window.size", [](auto& c) { c.window.size = 0; }},
      {"window.bucket_width",
       [](auto& c) {
         c.window.type = window_config::kind::time_based;
         c.window.bucket_width = 0s;
       }},
      {"open", [](auto& c) { c.open.base = 0s; }},
      {"open", [](auto& c) { c.open.base = -1s; }},
      {"open", [](auto& c) { c.open.cap = 1s, c.open.base = 2s; }},
      {"open.multiplier", [](auto& c) { c.open.multiplier = 0.5; }},
      {"open.multiplier", [](auto& c) { c.open.multiplier = nan; }},
      {"open.jitter", [](auto& c) { c.open.jitter = 1.5; }},
  };
  for (const bad_case& b : cases) {
    circuit_breaker_config c;
    b.spoil(c);
    const std::string why = refusal([&] { circuit_breaker cb(c); });
    EXPECT_NE(why.find(b.field), std::string::npos)
        << "expected a refusal naming " << b.field << ", got '" << why << "'";
  }
  EXPECT_EQ(refusal([] { circuit_breaker cb; }), "") << "the defaults are valid";
}

TEST(PatternsMisuse, InvalidBackoffAndRetryConfigsAreRefused) {
  const backoff_config bad_backoffs[] = {
      {.base = 0s}, {.base = -1ms}, {.base = 2s, .cap = 1s}, {.multiplier = 0.5}, {.multiplier = nan},
  };
  for (const backoff_config& b : bad_backoffs) {
    EXPECT_NE(refusal([&] { backoff x(b); }), "");
    const retry_config cfg{.backoff = b};
    EXPECT_NE(refusal([&] { retry_state s(cfg, true); }), "") << "a retry_state refuses its bad backoff";
  }
  // Zero attempts used to be taken as "never retry" silently; 1 says that.
  const retry_config zero{.max_attempts = 0};
  EXPECT_NE(refusal([&] { retry_state s(zero, true); }).find("max_attempts"), std::string::npos);
  const retry_config one{.max_attempts = 1};
  retry_state never(one, true);
  random_source rng(1);
  const auto now = clock::time_point{} + 1h;
  EXPECT_EQ(never.on_outcome(outcome::failure, now, now + 1h, rng).stop, retry_stop::attempts_exhausted);
}

TEST(PatternsMisuse, InvalidRetryBudgetsAreRefused) {
  const auto now = clock::time_point{};
  const retry_budget_config bad[] = {
      {.ratio = -0.1},    {.ratio = nan},        {.floor_per_second = -1},
      {.max_tokens = -1}, {.max_tokens = 1e300}, {.max_tokens = 10, .initial_tokens = 11},
  };
  for (const retry_budget_config& c : bad) EXPECT_NE(refusal([&] { retry_budget b(c, now); }), "");
}

TEST(PatternsMisuse, InvalidLimitsShedderHedgingAndHashConfigsAreRefused) {
  EXPECT_NE(refusal([] { aimd_limit l(aimd_config{.min = 0}); }), "");
  EXPECT_NE(refusal([] { aimd_limit l(aimd_config{.initial = 5, .min = 10}); }), "");
  EXPECT_NE(refusal([] { aimd_limit l(aimd_config{.initial = 20, .min = 1, .max = 10}); }), "");
  EXPECT_NE(refusal([] { aimd_limit l(aimd_config{.backoff_ratio = 1.0}); }), "");
  EXPECT_NE(refusal([] { gradient_limit l(gradient_config{.smoothing = 0}); }), "");
  EXPECT_NE(refusal([] { gradient_limit l(gradient_config{.baseline_window = 9}); }), "");
  EXPECT_NE(refusal([] { queue_delay_shedder q(queue_delay_config{.target = 0ms}); }), "");
  EXPECT_NE(refusal([] { latency_estimator e(0.0, 100); }), "");
  EXPECT_NE(refusal([] { latency_estimator e(1.5, 100); }), "");
  EXPECT_NE(refusal([] { latency_estimator e(0.9, 0); }), "");
  retry_budget budget(retry_budget_config{}, clock::time_point{});
  EXPECT_NE(refusal([&] { hedging_policy h(hedging_config{.min_delay = 2s, .max_delay = 1s}, budget); }), "");
  EXPECT_NE(refusal([] {
              consistent_hash_router<int> r(
                  consistent_hash_config{.virtual_nodes = 0, .bounded_load_epsilon = std::nullopt});
            }),
            "");
}

}  // namespace
}  // namespace troupe::patterns
