// Tests of troupe::patterns::random_source and shared_random_source: range
// and uniformity of uniform() and below(), determinism for a seed, and a
// stress test in which threads share one source and every draw is counted:
// together they must draw exactly the values one thread would have, each
// once.

#include "troupe/patterns/random.hpp"

#include <algorithm>
#include <array>
#include <gtest/gtest.h>
#include <random>
#include <thread>
#include <vector>

namespace {

using namespace troupe::patterns;

static_assert(std::uniform_random_bit_generator<random_source>);
static_assert(std::uniform_random_bit_generator<shared_random_source>);

TEST(RandomSourceTest, SameSeedSameSequenceDifferentSeedDifferent) {
  random_source a(42), b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a(), b());
  random_source d(42), e(43);
  int equal = 0;
  for (int i = 0; i < 1000; ++i) equal += d() == e();
  EXPECT_EQ(equal, 0);
}

TEST(RandomSourceTest, UniformIsInUnitIntervalAndUniform) {
  random_source r(1);
  std::array<int, 10> bins{};
  double sum = 0;
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ++bins[static_cast<std::size_t>(u * 10)];
    sum += u;
  }
  for (int b : bins) EXPECT_NEAR(b, kN / 10, 700);  // ~5 sigma of binomial(2e5, 0.1)
  EXPECT_NEAR(sum / kN, 0.5, 0.005);
}

TEST(RandomSourceTest, BelowStaysBelowAndCoversEveryValue) {
  random_source r(2);
  EXPECT_EQ(r.below(0), 0u);
  EXPECT_EQ(r.below(1), 0u);
  std::array<int, 7> seen{};
  for (int i = 0; i < 70000; ++i) {
    const auto x = r.below(7);
    ASSERT_LT(x, 7u);
    ++seen[x];
  }
  for (int s : seen) EXPECT_NEAR(s, 10000, 500);
  // Works with <random>'s distributions.
  std::uniform_int_distribution<int> dist(1, 6);
  for (int i = 0; i < 100; ++i) {
    const int v = dist(r);
    ASSERT_GE(v, 1);
    ASSERT_LE(v, 6);
  }
}

TEST(RandomSourceTest, SharedAndOwnedSourcesGiveTheSameSequence) {
  random_source a(9);
  shared_random_source b(9);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a(), b());
  random_source s1 = random_source(5).split(), s2 = random_source(5).split();
  EXPECT_EQ(s1(), s2());
}

// Four threads draw 50,000 values each from one shared source. SplitMix64's
// output is a bijection of its counter, so the draws must be exactly the
// first 200,000 values of the single-threaded sequence: none lost, none
// repeated.
TEST(SharedRandomSourceTest, ConcurrentDrawsAreExactlyTheSequence) {
  constexpr int kThreads = 4, kDraws = 50000;
  shared_random_source shared(77);
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      got[static_cast<std::size_t>(t)].reserve(kDraws);
      for (int i = 0; i < kDraws; ++i) got[static_cast<std::size_t>(t)].push_back(shared());
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::uint64_t> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  random_source reference(77);
  std::vector<std::uint64_t> want(kThreads * kDraws);
  for (auto& w : want) w = reference();
  std::sort(all.begin(), all.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

}  // namespace
