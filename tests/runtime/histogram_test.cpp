// troupe::histogram: HdrHistogram's layout, the error bound of every
// reported figure against exact figures of a million values, merging,
// clamping and reset. (Recorder: histogram_recorder_test.cpp; encodings, log
// and JSON: histogram_log_test.cpp; HdrHistogram's Java reader:
// hdr_reader/.)

#include "troupe/runtime/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "troupe/runtime/error.hpp"

namespace {

using u64 = std::uint64_t;

TEST(HistogramTest, LayoutIsHdrHistogramsFor1nsTo1hAt3Digits) {
  // HdrHistogram's own example: 1 ns .. 1 h, 3 digits: 2048 sub-buckets,
  // 32 buckets, (32 + 1) * 1024 slots.
  troupe::histogram_layout l(1, 3'600'000'000'000, 3);
  EXPECT_EQ(l.sub_bucket_count(), 2048u);
  EXPECT_EQ(l.bucket_count(), 32);
  EXPECT_EQ(l.counts_length(), 33u * 1024u);
  EXPECT_EQ(l.unit_magnitude(), 0);
  // Bucket 0 is exact up to 2047; bucket 1 counts pairs, bucket 2 quads.
  EXPECT_EQ(l.index_of(2047), 2047u);
  EXPECT_EQ(l.index_of(2048), 2048u);
  EXPECT_EQ(l.index_of(2049), 2048u);
  EXPECT_EQ(l.index_of(4096), 3072u);
  EXPECT_EQ(l.lowest_equivalent(4099), 4096u);
  EXPECT_EQ(l.highest_equivalent(4096), 4099u);
  EXPECT_EQ(l.median_equivalent(4096), 4098u);
  EXPECT_EQ(l.size_of_equivalent_range(10'000'000), 8192u);
  // A unit above 1: the lowest discernible value rounds down to 2^u.
  troupe::histogram_layout us(1000, 3'600'000'000'000, 3);
  EXPECT_EQ(us.unit_magnitude(), 9);
  EXPECT_EQ(us.lowest_equivalent(1023), 512u);
}

TEST(HistogramTest, EverySlotRoundTripsWithinTheErrorBound) {
  for (int digits = 0; digits <= 5; ++digits) {
    for (u64 lowest : {u64{1}, u64{1000}}) {
      troupe::histogram_layout l(lowest, u64{1} << 40, digits);
      const double precision = std::pow(10.0, -digits);
      const u64 unit = u64{1} << l.unit_magnitude();
      std::size_t prev = 0;
      for (std::size_t i = 0; i < l.counts_length(); i += 1 + i / 97) {
        const u64 lo = l.value_from_index(i);
        if (lo > l.highest_trackable_value()) break;
        ASSERT_EQ(l.index_of(lo), i) << digits;
        const u64 hi = l.highest_equivalent(lo);
        ASSERT_EQ(l.index_of(hi), i);
        // Every value of the slot is within the bound of every other.
        const double bound = std::max(static_cast<double>(lo) * precision, static_cast<double>(unit - 1));
        if (digits > 0) {
          ASSERT_LE(static_cast<double>(hi - lo), bound) << "digits " << digits << " slot " << i;
        }
        ASSERT_GE(i, prev);
        prev = i;
      }
    }
  }
}

TEST(HistogramTest, InvalidParametersThrow) {
  auto bad = [](u64 lo, u64 hi, int d) {
    try {
      troupe::histogram h(lo, hi, d);
    } catch (const troupe::error& e) {
      return e.code() == troupe::errc::invalid_argument;
    }
    return false;
  };
  EXPECT_TRUE(bad(0, 100, 3));
  EXPECT_TRUE(bad(10, 19, 3));
  EXPECT_TRUE(bad(1, 100, 6));
  EXPECT_TRUE(bad(1, 100, -1));
  EXPECT_TRUE(bad(1, u64{1} << 63, 3));             // above 2^63 - 1
  EXPECT_TRUE(bad(u64{1} << 50, u64{1} << 62, 5));  // 2^50 units x 2^18 sub-buckets > 2^62
  EXPECT_FALSE(bad(1, std::numeric_limits<std::int64_t>::max(), 5));
}

TEST(HistogramTest, SmallExactPercentilesFollowHdrHistogram) {
  troupe::histogram h(1, 1'000'000, 3);
  for (u64 v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.value_at_percentile(50.0), 500u);
  EXPECT_EQ(h.value_at_percentile(90.0), 900u);
  EXPECT_EQ(h.value_at_percentile(99.9), 999u);  // 99.9 * 1000 / 100 is a hair above 999
  EXPECT_EQ(h.value_at_percentile(0.0), 1u);
  EXPECT_EQ(h.value_at_percentile(100.0), 1000u);
  EXPECT_EQ(h.value_at_percentile(0.01), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
  EXPECT_NEAR(h.stddev(), std::sqrt((1000.0 * 1000.0 - 1.0) / 12.0), 1e-9);
  EXPECT_DOUBLE_EQ(h.percentile_at_or_below(250), 25.0);
  EXPECT_EQ(h.count_at_value(7), 1u);
}

// ---------------------------------------------------------------------------
// A million values per distribution against exact figures from sorting.

struct sample {
  std::string name;
  std::vector<u64> values;  // in recording order
  std::vector<u64> sorted;
};

std::vector<sample> make_samples() {
  constexpr std::size_t n = 1'000'000;
  std::vector<sample> out;
  auto make = [&](std::string name, auto gen) {
    std::mt19937_64 rng(0x7e57 + out.size());
    sample s{std::move(name), {}, {}};
    s.values.reserve(n);
    for (std::size_t i = 0; i < n; ++i) s.values.push_back(gen(rng));
    s.sorted = s.values;
    std::sort(s.sorted.begin(), s.sorted.end());
    out.push_back(std::move(s));
  };
  auto to_u64 = [](double x) { return x <= 0 ? u64{0} : static_cast<u64>(x); };
  make("uniform", [](std::mt19937_64& r) { return std::uniform_int_distribution<u64>(0, 1'000'000'000)(r); });
  make("exponential",
       [&](std::mt19937_64& r) { return to_u64(std::exponential_distribution<double>(1e-5)(r)); });
  make("lognormal",
       [&](std::mt19937_64& r) { return to_u64(std::lognormal_distribution<double>(10.0, 2.0)(r)); });
  make("bimodal", [&](std::mt19937_64& r) {
    const bool slow = std::bernoulli_distribution(0.1)(r);
    return to_u64(slow ? std::normal_distribution<double>(1e7, 1e6)(r)
                       : std::normal_distribution<double>(1e4, 1e3)(r));
  });
  return out;
}

const std::vector<sample>& samples() {
  static const std::vector<sample> s = make_samples();
  return s;
}

// Percentiles as k / 1000 %, so the exact rank ceil(p N / 100) is integer
// arithmetic: every 2.5 % and a tail.
std::vector<u64> percentile_millis() {
  std::vector<u64> k;
  for (u64 m = 2500; m < 100'000; m += 2500) k.push_back(m);
  for (u64 m : {1, 10, 100, 1000, 99'000, 99'500, 99'900, 99'990, 99'999}) k.push_back(m);
  return k;
}

struct accuracy_case {
  u64 lowest;
  u64 highest;
  int digits;
  // gtest prints parameters in test names (CTest's too): readable, and no
  // padding bytes.
  friend void PrintTo(const accuracy_case& c, std::ostream* os) {
    *os << "(" << c.lowest << ", " << c.highest << ", " << c.digits << " digits)";
  }
};

class HistogramAccuracyTest : public ::testing::TestWithParam<accuracy_case> {};

TEST_P(HistogramAccuracyTest, EveryFigureWithinTheConfiguredRelativeError) {
  const accuracy_case c = GetParam();
  const double precision = std::pow(10.0, -c.digits);
  for (const sample& s : samples()) {
    SCOPED_TRACE(s.name);
    troupe::histogram h(c.lowest, c.highest, c.digits);
    for (u64 v : s.values) h.record(v);
    const std::size_t n = s.sorted.size();
    const u64 unit = u64{1} << h.layout().unit_magnitude();
    auto bound = [&](u64 exact) {
      return std::max(static_cast<double>(exact) * precision, static_cast<double>(unit - 1));
    };

    ASSERT_EQ(h.count(), n);
    ASSERT_EQ(h.clamped(), 0u);
    EXPECT_EQ(h.min(), s.sorted.front());
    EXPECT_EQ(h.max(), s.sorted.back());
    for (u64 k : percentile_millis()) {
      const double p = static_cast<double>(k) / 1000.0;
      const u64 rank = std::max<u64>(1, (k * n + 99'999) / 100'000);
      const u64 exact = s.sorted[rank - 1];
      const u64 got = h.value_at_percentile(p);
      // The contract: never below the exact value, above it by at most the
      // configured relative error (or the unit, below it).
      ASSERT_GE(got, exact) << "p" << p;
      ASSERT_LE(static_cast<double>(got - exact), bound(exact)) << "p" << p << " exact " << exact;
      // Sharper: exactly HdrHistogram's answer, the top of the exact value's slot.
      ASSERT_EQ(got, std::min(h.layout().highest_equivalent(exact), s.sorted.back())) << "p" << p;
    }
    // Mean: every value moves by at most half its slot, so by at most
    // value * 10^-d / 2. Stddev: by Minkowski's inequality it moves by at
    // most the RMS of those moves, <= 10^-d / 2 * sqrt(mean(v^2)).
    double sum = 0, sum_sq = 0;
    for (u64 v : s.values) {
      sum += static_cast<double>(v);
      sum_sq += static_cast<double>(v) * static_cast<double>(v);
    }
    const double mean = sum / static_cast<double>(n);
    const double var = std::max(0.0, sum_sq / static_cast<double>(n) - mean * mean);
    const double unit_slack = static_cast<double>(unit);
    EXPECT_NEAR(h.mean(), mean, mean * precision / 2 + unit_slack + 1e-6 * mean);
    EXPECT_NEAR(
        h.stddev(), std::sqrt(var),
        precision / 2 * std::sqrt(sum_sq / static_cast<double>(n)) + unit_slack + 1e-6 * std::sqrt(var));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Digits, HistogramAccuracyTest,
    ::testing::Values(accuracy_case{1, 10'000'000'000, 1}, accuracy_case{1, 10'000'000'000, 2},
                      accuracy_case{1, 10'000'000'000, 3}, accuracy_case{1, 10'000'000'000, 4},
                      accuracy_case{1, 10'000'000'000, 5}, accuracy_case{1000, 3'600'000'000'000, 3}),
    [](const auto& info) {
      return "lowest" + std::to_string(info.param.lowest) + "_digits" + std::to_string(info.param.digits);
    });

// ---------------------------------------------------------------------------

TEST(HistogramTest, MergeEqualsRecordingIntoOne) {
  const sample& s = samples()[2];  // log-normal
  troupe::histogram one(1, 10'000'000'000, 3);
  std::vector<troupe::histogram> parts(4, troupe::histogram(1, 10'000'000'000, 3));
  std::mt19937_64 rng(99);
  for (u64 v : s.values) {
    one.record(v);
    parts[rng() % parts.size()].record(v);
  }
  one.record(20'000'000'000);  // one clamped value, into one part too
  parts[1].record(20'000'000'000);
  troupe::histogram merged(1, 10'000'000'000, 3);
  for (const auto& p : parts) merged.add(p);
  EXPECT_TRUE(merged == one);  // slot by slot, and count, clamped, min, max
  for (std::size_t i = 0; i < one.counts_length(); ++i)
    ASSERT_EQ(merged.count_at_index(i), one.count_at_index(i)) << i;
  EXPECT_EQ(merged.clamped(), 1u);
  EXPECT_EQ(merged.value_at_percentile(99.0), one.value_at_percentile(99.0));
  EXPECT_EQ(merged.mean(), one.mean());
}

TEST(HistogramTest, MergeAcrossLayoutsKeepsEveryCount) {
  const sample& s = samples()[1];  // exponential
  troupe::histogram fine(1, 10'000'000'000, 4);
  for (u64 v : s.values) fine.record(v);
  fine.record(50'000'000'000);                // clamped at 1e10 in `fine`
  troupe::histogram coarse(1, 1'000'000, 2);  // narrower: fine's large values clamp again
  coarse.add(fine);
  EXPECT_EQ(coarse.count(), fine.count());
  u64 above = 0;
  for (u64 v : s.values) above += v > 1'000'000;
  EXPECT_EQ(coarse.clamped(), fine.clamped() + above + 1);  // +1: the 1e10 already clamped in fine
  EXPECT_EQ(coarse.max(), 1'000'000u);
  // Below the narrower range, each percentile is within both precisions.
  const u64 a = fine.value_at_percentile(50.0), b = coarse.value_at_percentile(50.0);
  EXPECT_LE(std::abs(static_cast<double>(a) - static_cast<double>(b)), static_cast<double>(a) * 0.011 + 1);
}

TEST(HistogramTest, MergeAcrossLayoutsNeverReportsAPercentileBelowMin) {
  // One digit: 1000 shares its slot with values down to 960. Landed here at
  // the slot's lowest value, p50 read 960 below min() 1000 (found by
  // fuzz/histogram_fuzz.cpp): the values of a slot are never below the
  // histogram's own min, so they land at max(slot's lowest, min) instead.
  troupe::histogram coarse(1, 1'000'000, 1);
  coarse.record(1000);
  ASSERT_LT(coarse.layout().lowest_equivalent(1000), 1000u);
  troupe::histogram fine(1, 1'000'000, 3);  // exact up to 2048
  fine.add(coarse);
  EXPECT_EQ(fine.min(), 1000u);
  EXPECT_EQ(fine.value_at_percentile(0.0), 1000u);
  EXPECT_EQ(fine.value_at_percentile(50.0), 1000u);
  EXPECT_EQ(fine.value_at_percentile(100.0), 1000u);
  EXPECT_EQ(fine.count_at_value(1000), 1u);
}

TEST(HistogramTest, OutOfRangeValuesAreClampedAndCounted) {
  troupe::histogram h(1, 1'000'000, 3);
  h.record(5);
  h.record(1'000'001);
  h.record(std::numeric_limits<u64>::max(), 5);
  h.record(7, 0);  // a zero count records nothing
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.clamped(), 6u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.min(), 5u);
  EXPECT_EQ(h.count_at_value(1'000'000), 6u);
  EXPECT_EQ(h.count_at_value(7), 0u);
  EXPECT_EQ(h.value_at_percentile(99.0), 1'000'000u);
}

TEST(HistogramTest, ResetEmptiesEverythingAndKeepsTheLayout) {
  troupe::histogram h(1, 1'000'000, 2);
  for (u64 v = 0; v < 10'000; ++v) h.record(v * 37);
  h.reset();
  EXPECT_TRUE(h == troupe::histogram(1, 1'000'000, 2));
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stddev(), 0.0);
  EXPECT_EQ(h.value_at_percentile(99.0), 0u);
  EXPECT_EQ(h.clamped(), 0u);
  h.record(42);
  EXPECT_EQ(h.value_at_percentile(50.0), 42u);
  EXPECT_EQ(h.min(), 42u);
}

TEST(HistogramTest, ForEachRecordedVisitsNonEmptySlotsInOrder) {
  troupe::histogram h(1, 1'000'000, 2);
  h.record(3);
  h.record(3);
  h.record(1000);
  h.record(999'999);
  std::vector<troupe::histogram_bucket> seen;
  h.for_each_recorded([&](const troupe::histogram_bucket& b) { seen.push_back(b); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].lowest, 3u);
  EXPECT_EQ(seen[0].count, 2u);
  EXPECT_LE(seen[1].lowest, 1000u);
  EXPECT_GE(seen[1].highest, 1000u);
  EXPECT_LT(seen[1].index, seen[2].index);
}

TEST(HistogramTest, LatencyHistogramKeepsItsDefaults) {
  troupe::latency_histogram h;
  EXPECT_EQ(h.highest_trackable_value(), troupe::latency_histogram::max_value);
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.record(~u64{0});
  EXPECT_EQ(h.max(), troupe::latency_histogram::max_value);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.clamped(), 1u);
  troupe::latency_histogram other;
  other.record(123'456);
  h.merge(other);
  EXPECT_EQ(h.count(), 2u);
  // 1 % precision (the old layout kept 1/64).
  EXPECT_LE(h.value_at_percentile(50.0) - 123'456, 123'456 / 100);
}

}  // namespace
