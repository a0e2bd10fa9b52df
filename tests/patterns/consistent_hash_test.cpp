// Tests of troupe::patterns::hash_ring and consistent_hash_router: balance
// with virtual nodes, bounded loads, and which keys move when a routee joins
// or leaves (only 1/(n+1) of them, and only onto or off that routee).

#include "troupe/patterns/consistent_hash.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <gtest/gtest.h>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace {

using namespace troupe::patterns;

constexpr std::size_t kRoutees = 100;
constexpr std::uint32_t kVirtualNodes = 1000;
constexpr std::uint64_t kKeys = 1'000'000;

std::vector<std::uint64_t> ids_from(std::uint64_t first, std::size_t n) {
  std::vector<std::uint64_t> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

// The owner id of every key 0..kKeys-1 on a ring over `ids` (sorted).
std::vector<std::uint64_t> owners(const std::vector<std::uint64_t>& ids) {
  hash_ring ring(ids, kVirtualNodes);
  std::vector<std::uint64_t> out(kKeys);
  for (std::uint64_t k = 0; k < kKeys; ++k) out[k] = ids[ring.lookup(hash_key(k))];
  return out;
}

TEST(HashRingTest, LookupIsTheFirstPointClockwise) {
  // The bucket table is a shortcut; check it against the definition, a
  // binary search for the first point at or after the key (wrapping).
  for (std::uint32_t vnodes : {1u, 13u, 1000u}) {
    const auto ids = ids_from(1000, 7);
    hash_ring ring(ids, vnodes);
    ASSERT_EQ(ring.points(), 7u * vnodes);
    std::vector<std::uint64_t> pts;
    for (std::size_t i = 0; i < ring.points(); ++i) pts.push_back(ring.point_at(i));
    ASSERT_TRUE(std::is_sorted(pts.begin(), pts.end()));
    random_source rng(5);
    for (int i = 0; i < 200000; ++i) {
      const std::uint64_t h =
          i < 100 ? pts[static_cast<std::size_t>(i) % pts.size()] + static_cast<std::uint64_t>(i % 3) - 1
                  : rng();
      auto it = std::lower_bound(pts.begin(), pts.end(), h & ~std::uint64_t{0xFFFF});
      const std::size_t want = it == pts.end() ? 0 : static_cast<std::size_t>(it - pts.begin());
      ASSERT_EQ(ring.position(h), want) << h;
      ASSERT_EQ(ring.lookup(h), static_cast<std::uint32_t>(pts[want] & 0xFFFF));
    }
    EXPECT_EQ(ring.position(0), 0u);
    EXPECT_EQ(ring.position(std::numeric_limits<std::uint64_t>::max()), 0u);  // past the last point: wraps
  }
}

TEST(HashRingTest, VirtualNodesBalanceTheLoad) {
  const auto ids = ids_from(1, kRoutees);
  const auto own = owners(ids);
  std::vector<double> load(kRoutees);
  for (auto o : own) load[o - 1] += 1;
  const double mean = static_cast<double>(kKeys) / kRoutees;
  double sq = 0;
  for (double l : load) sq += (l - mean) * (l - mean);
  const double sd = std::sqrt(sq / kRoutees);
  RecordProperty("load_sd_percent_of_mean", std::to_string(100 * sd / mean));
  std::printf("load sd %.2f%% of the mean\n", 100 * sd / mean);
  EXPECT_LE(sd, 0.035 * mean) << "sd " << sd << " mean " << mean;
  EXPECT_GT(*std::min_element(load.begin(), load.end()), 0.85 * mean);
  EXPECT_LT(*std::max_element(load.begin(), load.end()), 1.15 * mean);
}

TEST(HashRingTest, AddingOneRouteeMovesOnlyItsShareAndOnlyOntoIt) {
  auto ids = ids_from(1, kRoutees);
  const auto before = owners(ids);
  ids.push_back(777777);  // sorted: larger than every other id
  const auto after = owners(ids);
  std::uint64_t moved = 0;
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    if (before[k] != after[k]) {
      ++moved;
      ASSERT_EQ(after[k], 777777u) << "key " << k << " moved between old routees";
    }
  }
  const double expected = static_cast<double>(kKeys) / (kRoutees + 1);
  EXPECT_NEAR(static_cast<double>(moved), expected, 0.1 * expected);
}

TEST(HashRingTest, RemovingOneRouteeMovesOnlyItsKeys) {
  const auto ids = ids_from(1, kRoutees + 1);
  const auto before = owners(ids);
  auto fewer = ids;
  fewer.erase(fewer.begin() + 42);  // id 43
  const auto after = owners(fewer);
  std::uint64_t moved = 0;
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    if (before[k] != after[k]) {
      ++moved;
      ASSERT_EQ(before[k], 43u) << "key " << k << " moved though its routee stayed";
    } else {
      ASSERT_NE(before[k], 43u);
    }
  }
  const double expected = static_cast<double>(kKeys) / (kRoutees + 1);
  EXPECT_NEAR(static_cast<double>(moved), expected, 0.1 * expected);
}

TEST(HashRingTest, PositionsDoNotDependOnInsertionOrder) {
  std::vector<std::uint64_t> a = {5, 9, 2, 7};
  std::vector<std::uint64_t> b = {2, 5, 7, 9};
  hash_ring ra(a, 100), rb(b, 100);
  for (std::uint64_t k = 0; k < 10000; ++k) ASSERT_EQ(a[ra.lookup(hash_key(k))], b[rb.lookup(hash_key(k))]);
}

TEST(HashRingTest, RejectsDuplicatesAndTooManyMembers) {
  std::vector<std::uint64_t> dup = {1, 2, 2};
  EXPECT_THROW(hash_ring(dup, 10), std::invalid_argument);
  EXPECT_THROW(hash_ring(ids_from(0, hash_ring::kMaxMembers + 1), 1), std::invalid_argument);
}

TEST(HashKeyTest, StableAcrossKeyForms) {
  EXPECT_EQ(hash_key(std::string_view("user-42")), hash_key(std::string("user-42")));
  const std::string s = "abc";
  EXPECT_EQ(hash_key(std::string_view(s)), hash_key(std::as_bytes(std::span(s.data(), s.size()))));
  EXPECT_NE(hash_key(std::uint64_t{1}), hash_key(std::uint64_t{2}));
}

// ---------------------------------------------------------------------------
// The router

TEST(ConsistentHashRouterTest, SameKeySameRouteeAndFollowsTheRing) {
  consistent_hash_router<std::string> r({.virtual_nodes = 200, .bounded_load_epsilon = std::nullopt});
  EXPECT_FALSE(r.pick(1));
  const auto ids = ids_from(10, 20);
  for (auto id : ids) r.add(id, "r" + std::to_string(id));
  hash_ring ring(ids, 200);
  for (std::uint64_t k = 0; k < 5000; ++k) {
    auto l = r.pick_key(k);
    ASSERT_TRUE(l);
    EXPECT_EQ(l.routee(), "r" + std::to_string(ids[ring.lookup(hash_key(k))]));
  }
  EXPECT_EQ(r.total_load(), 0u);  // plain ring: no load kept
}

// 1,000,000 keys (eps 0.25; 100,000 at eps 0.05) placed one after another
// and all kept: no routee ends above ceil((1 + eps) * mean).
TEST(ConsistentHashRouterTest, BoundedLoadsCapEveryRoutee) {
  for (auto [eps, keys] : {std::pair{0.25, kKeys}, std::pair{0.05, kKeys / 10}}) {
    SCOPED_TRACE(::testing::Message() << "epsilon " << eps);
    consistent_hash_router<std::uint32_t> r({.virtual_nodes = kVirtualNodes, .bounded_load_epsilon = eps});
    for (std::uint32_t i = 0; i < kRoutees; ++i) r.add(i, i);
    std::vector<consistent_hash_router<std::uint32_t>::lease> held;
    held.reserve(keys);
    std::vector<std::uint64_t> load(kRoutees);
    for (std::uint64_t k = 0; k < keys; ++k) {
      held.push_back(r.pick_key(k));
      ++load[held.back().routee()];
    }
    EXPECT_EQ(r.total_load(), keys);
    const auto bound =
        static_cast<std::uint64_t>(std::ceil((1 + eps) * static_cast<double>(keys) / kRoutees));
    EXPECT_LE(*std::max_element(load.begin(), load.end()), bound);
    EXPECT_EQ(std::accumulate(load.begin(), load.end(), std::uint64_t{0}), keys);
    held.clear();
    EXPECT_EQ(r.total_load(), 0u);
  }
}

TEST(ConsistentHashRouterTest, BoundedLoadsPreferTheKeysOwnRouteeWhenItHasRoom) {
  consistent_hash_router<int> bounded({.virtual_nodes = 100, .bounded_load_epsilon = 0.5});
  consistent_hash_router<int> plain({.virtual_nodes = 100, .bounded_load_epsilon = std::nullopt});
  for (int i = 0; i < 10; ++i) {
    bounded.add(static_cast<routee_id>(i), i);
    plain.add(static_cast<routee_id>(i), i);
  }
  // One lease at a time: every routee always has room, so nothing moves.
  for (std::uint64_t k = 0; k < 1000; ++k)
    EXPECT_EQ(bounded.pick_key(k).routee(), plain.pick_key(k).routee());
}

}  // namespace
