// Schedules: intended start offsets of every plan, exactly for uniform
// arrivals, statistically (with a fixed seed, so still reproducibly) for
// Poisson ones.

#include "troupe/load/plan.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

#include "troupe/runtime/error.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::load::duration;
using troupe::load::plan;

std::vector<std::int64_t> offsets(const plan& p) {
  std::vector<std::int64_t> out;
  auto c = p.begin();
  while (auto o = c.next()) out.push_back(o->count());
  return out;
}

TEST(Plan, ConstantIsExact) {
  const auto o = offsets(plan::constant(1000, 1s));
  ASSERT_EQ(o.size(), 1000u);
  for (std::size_t k = 0; k < o.size(); ++k) EXPECT_EQ(o[k], static_cast<std::int64_t>(k) * 1'000'000) << k;
  EXPECT_EQ(plan::constant(1000, 1s).expected_requests(), 1000.0);
}

TEST(Plan, ConstantRoundsEachOffsetToTheNearestNanosecond) {
  // 3 req/s: 0, 333333333.3, 666666666.7 ns.
  EXPECT_EQ(offsets(plan::constant(3, 1s)), (std::vector<std::int64_t>{0, 333'333'333, 666'666'667}));
  // 0.5 req/s for 5 s: 0, 2 s, 4 s.
  EXPECT_EQ(offsets(plan::constant(0.5, 5s)), (std::vector<std::int64_t>{0, 2'000'000'000, 4'000'000'000}));
}

TEST(Plan, ConstantDoesNotDriftOverALongRun) {
  // 7 req/s for 1000 s: offset k is k * 1e9 / 7 rounded half up, computed
  // here exactly in integers; adding a rounded period 6,999 times would be
  // off by up to 3.5 µs at the end.
  const auto o = offsets(plan::constant(7, 1000s));
  ASSERT_EQ(o.size(), 7000u);
  for (std::int64_t k = 0; k < 7000; ++k) {
    const std::int64_t exact = (2 * k * 1'000'000'000 + 7) / 14;
    ASSERT_EQ(o[static_cast<std::size_t>(k)], exact) << k;
  }
}

TEST(Plan, StepsRestartTheirScheduleAtEachStage) {
  const auto p = plan::steps({{2, 1s}, {4, 1s}});
  EXPECT_EQ(offsets(p), (std::vector<std::int64_t>{0, 500'000'000, 1'000'000'000, 1'250'000'000,
                                                   1'500'000'000, 1'750'000'000}));
  EXPECT_EQ(p.kind(), "step");
  EXPECT_EQ(p.length(), 2s);
  EXPECT_EQ(p.rate_at(999ms), 2);
  EXPECT_EQ(p.rate_at(1s), 4);
  EXPECT_EQ(p.rate_at(2s), 0);
  EXPECT_EQ(p.expected_requests(), 6.0);
}

TEST(Plan, AZeroRateStageIsAPause) {
  EXPECT_EQ(offsets(plan::steps({{0, 1s}, {2, 1s}, {0, 1s}})),
            (std::vector<std::int64_t>{1'000'000'000, 1'500'000'000}));
}

TEST(Plan, SpikeGoesUpAndBackExactly) {
  // 100 -> 100,000 -> 100 req/s, one second each.
  const auto p = plan::spike(100, 100'000, 1s, 1s, 1s);
  const auto o = offsets(p);
  ASSERT_EQ(o.size(), 100u + 100'000u + 100u);
  EXPECT_EQ(p.expected_requests(), static_cast<double>(o.size()));
  for (std::size_t k = 0; k < 100; ++k) ASSERT_EQ(o[k], static_cast<std::int64_t>(k) * 10'000'000);
  for (std::size_t k = 0; k < 100'000; ++k)
    ASSERT_EQ(o[100 + k], 1'000'000'000 + static_cast<std::int64_t>(k) * 10'000);
  for (std::size_t k = 0; k < 100; ++k)
    ASSERT_EQ(o[100'100 + k], 2'000'000'000 + static_cast<std::int64_t>(k) * 10'000'000);
  EXPECT_EQ(p.rate_at(1500ms), 100'000);
  EXPECT_EQ(p.kind(), "spike");
  // A spike at the very start has no "before" stage.
  EXPECT_EQ(plan::spike(1, 10, 0s, 1s, 1s).stages().size(), 2u);
}

// Poisson: with rate r over T, the count N is Poisson(rT) (sd sqrt(rT)) and
// the gaps are exponential (mean 1/r, coefficient of variation 1, P(gap >
// mean) = 1/e). Tolerances are 5 standard errors of each statistic, so a
// correct generator fails with probability below 1e-6 per seed; the seed is
// fixed, so the test is also exactly reproducible.
TEST(Plan, PoissonHasTheMeanRateAndExponentialGaps) {
  const double rate = 10'000;
  const auto p = plan::poisson(rate, 10s, 42);
  const auto o = offsets(p);
  const double expected = rate * 10;
  EXPECT_NEAR(static_cast<double>(o.size()), expected, 5 * std::sqrt(expected));
  EXPECT_EQ(p.expected_requests(), expected);

  std::vector<double> gaps;
  for (std::size_t i = 1; i < o.size(); ++i) {
    ASSERT_LE(o[i - 1], o[i]) << "offsets must not go back";
    gaps.push_back(static_cast<double>(o[i] - o[i - 1]));
  }
  ASSERT_LT(o.back(), 10'000'000'000);
  double sum = 0, sq = 0;
  for (double g : gaps) sum += g;
  const double mean = sum / static_cast<double>(gaps.size());
  for (double g : gaps) sq += (g - mean) * (g - mean);
  const double cv = std::sqrt(sq / static_cast<double>(gaps.size())) / mean;
  const double n = static_cast<double>(gaps.size());
  // The mean gap's standard error is mean/sqrt(n); the CV's about sqrt(2/n)
  // for an exponential (fourth moment 9 sigma^4).
  EXPECT_NEAR(mean, 1e9 / rate, 5 * (1e9 / rate) / std::sqrt(n));
  EXPECT_NEAR(cv, 1.0, 5 * std::sqrt(2.0 / n));
  std::size_t above = 0;
  for (double g : gaps) above += g > 1e9 / rate;
  const double pe = std::exp(-1.0);
  EXPECT_NEAR(static_cast<double>(above) / n, pe, 5 * std::sqrt(pe * (1 - pe) / n));
}

TEST(Plan, PoissonIsReproducibleFromItsSeed) {
  const auto a = offsets(plan::poisson(1000, 2s, 7));
  const auto b = offsets(plan::poisson(1000, 2s, 7));
  const auto c = offsets(plan::poisson(1000, 2s, 8));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Two cursors of one plan walk the same times.
  const auto p = plan::poisson(1000, 2s, 7);
  auto c1 = p.begin(), c2 = p.begin();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c1.next(), c2.next());
}

TEST(Plan, PoissonFollowsEachStagesRate) {
  // 1,000 then 20,000 req/s, 5 s each: each stage's count within 5 sd.
  const auto o = offsets(plan::steps({{1000, 5s}, {20'000, 5s}}).with_poisson_arrivals(3));
  std::size_t first = 0;
  for (auto x : o) first += x < 5'000'000'000;
  const std::size_t second = o.size() - first;
  EXPECT_NEAR(static_cast<double>(first), 5000, 5 * std::sqrt(5000.0));
  EXPECT_NEAR(static_cast<double>(second), 100'000, 5 * std::sqrt(100'000.0));
}

TEST(Plan, RejectsBadStages) {
  EXPECT_THROW(plan::constant(-1, 1s), troupe::error);
  EXPECT_THROW(plan::constant(NAN, 1s), troupe::error);
  EXPECT_THROW(plan::constant(1, 0s), troupe::error);
  EXPECT_THROW(plan::steps({}), troupe::error);
  EXPECT_THROW(plan::spike(1, 2, -1s, 1s, 1s), troupe::error);
}

}  // namespace
