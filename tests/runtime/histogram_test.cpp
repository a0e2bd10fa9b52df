#include "troupe/runtime/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace {

TEST(HistogramTest, SlotsRoundTripWithinPrecision) {
  using h = troupe::latency_histogram;
  const std::uint64_t samples[] = {0, 1, 63, 64, 127, 128, 129, 1000, 123456789, h::max_value};
  for (std::uint64_t v : samples) {
    std::uint64_t low = h::value_of(h::index_of(v));
    EXPECT_LE(low, v);
    EXPECT_LE(v - low, std::max<std::uint64_t>(1, v / 64)) << v;
    EXPECT_LT(h::index_of(v), h::slots);
  }
  // Slots are monotonic in the value.
  std::size_t prev = 0;
  for (std::uint64_t v = 0; v < 1'000'000; v += 7) {
    EXPECT_GE(h::index_of(v), prev);
    prev = h::index_of(v);
  }
}

TEST(HistogramTest, PercentilesMatchASortedSampleWithinPrecision) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(10.0, 1.5);
  std::vector<std::uint64_t> values;
  troupe::latency_histogram a, b;
  for (int i = 0; i < 100'000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    (i % 2 ? a : b).record(v);
  }
  a.merge(b);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(a.count(), values.size());
  EXPECT_EQ(a.min(), values.front());
  EXPECT_EQ(a.max(), values.back());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto exact = values[static_cast<std::size_t>(p / 100.0 * values.size() + 0.5) - 1];
    auto got = a.value_at_percentile(p);
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(exact), exact / 50.0 + 1) << p;
  }
  EXPECT_EQ(a.value_at_percentile(100.0), values.back());
}

TEST(HistogramTest, EmptyAndClamped) {
  troupe::latency_histogram h;
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.record(~std::uint64_t{0});
  EXPECT_EQ(h.max(), troupe::latency_histogram::max_value);
  EXPECT_EQ(h.count(), 1u);
}

}  // namespace
