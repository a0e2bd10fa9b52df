// Tests of the routers' pick logic: round-robin, random, smallest mailbox,
// the snapshot cell under them (a stress test that counts every snapshot
// and every read), and picks on several threads while routees come and go
// (each pick must return a routee that was a member at some point during
// the pick; ASan catches a read of a freed routee, TSan a race).

#include "troupe/patterns/router.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <gtest/gtest.h>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "troupe/patterns/consistent_hash.hpp"
#include "troupe/patterns/detail/snapshot_cell.hpp"
#include "troupe/patterns/p2c_router.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

// ---------------------------------------------------------------------------
// snapshot_cell

struct counted_snapshot {
  static inline std::atomic<int> alive{0};
  static inline std::atomic<int> made{0};
  explicit counted_snapshot(std::uint64_t v) : version(v) {
    for (auto& x : values) x = v * 31 + 7;
    alive.fetch_add(1);
    made.fetch_add(1);
  }
  ~counted_snapshot() {
    for (auto& x : values) x = 0xdead;  // a reader of a freed snapshot would see this (and ASan would object)
    alive.fetch_sub(1);
  }
  std::uint64_t version;
  std::array<std::uint64_t, 16> values;
};

// Four readers check every snapshot they see is whole and that versions
// never go back, while a writer publishes 500 versions. Every snapshot
// made is freed exactly once: only the current one is alive at the end.
TEST(SnapshotCellTest, ReadersSeeWholeSnapshotsAndEveryOldOneIsFreed) {
  counted_snapshot::alive = 0;
  counted_snapshot::made = 0;
  {
    troupe::patterns::detail::snapshot_cell<counted_snapshot> cell(
        std::make_unique<const counted_snapshot>(0));
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
      readers.emplace_back([&] {
        std::uint64_t last = 0, n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          // Time outside the read, as a real caller has: on 2 cores with 5
          // threads a reader preempted inside a read delays the writer by a
          // whole time slice, so readers that only ever read make a slow test.
          if (n % 16 == 0) std::this_thread::yield();
          const std::uint64_t v = cell.read([&](const counted_snapshot& s) {
            for (auto x : s.values) EXPECT_EQ(x, s.version * 31 + 7);
            return s.version;
          });
          EXPECT_GE(v, last);
          last = v;
          ++n;
          reads.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    constexpr std::uint64_t kVersions = 500;
    for (std::uint64_t v = 1; v <= kVersions; ++v) {
      cell.update([v](const counted_snapshot& cur) {
        EXPECT_EQ(cur.version, v - 1);
        return std::make_unique<const counted_snapshot>(v);
      });
      if (v % 10 == 0) {  // let the readers overlap with the updates, however they are scheduled
        const std::uint64_t target = reads.load() + 20;
        while (reads.load() < target) std::this_thread::yield();
      }
    }
    stop = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(counted_snapshot::made.load(), static_cast<int>(kVersions) + 1);
    EXPECT_EQ(counted_snapshot::alive.load(), 1);
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(cell.read([](const counted_snapshot& s) { return s.version; }), kVersions);
  }
  EXPECT_EQ(counted_snapshot::alive.load(), 0);
}

// ---------------------------------------------------------------------------
// Round-robin, random, smallest mailbox

TEST(RoundRobinRouterTest, TakesTurnsAndFollowsMembership) {
  round_robin_router<int> r;
  EXPECT_EQ(r.pick(), std::nullopt);
  EXPECT_TRUE(r.add(1, 10));
  EXPECT_TRUE(r.add(2, 20));
  EXPECT_TRUE(r.add(3, 30));
  EXPECT_FALSE(r.add(2, 99));
  std::vector<int> got;
  for (int i = 0; i < 6; ++i) got.push_back(*r.pick());
  EXPECT_EQ(got, (std::vector<int>{10, 20, 30, 10, 20, 30}));
  EXPECT_TRUE(r.remove(2));
  EXPECT_FALSE(r.remove(2));
  std::map<int, int> counts;
  for (int i = 0; i < 100; ++i) ++counts[*r.pick()];
  EXPECT_EQ(counts, (std::map<int, int>{{10, 50}, {30, 50}}));
  EXPECT_EQ(r.members(), (std::vector<routee_id>{1, 3}));
}

TEST(RandomRouterTest, UniformAndDeterministicForASeed) {
  random_router<int> a(7), b(7);
  for (int i = 0; i < 10; ++i) {
    a.add(static_cast<routee_id>(i), i);
    b.add(static_cast<routee_id>(i), i);
  }
  std::array<int, 10> counts{};
  for (int i = 0; i < 100000; ++i) {
    const int x = *a.pick();
    ASSERT_EQ(x, *b.pick());
    ++counts[static_cast<std::size_t>(x)];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);  // 5 sigma of a binomial(1e5, 0.1)
  random_source mine(1);
  EXPECT_TRUE(a.pick(mine).has_value());
}

TEST(SmallestMailboxRouterTest, PicksTheShortestQueueAndSpreadsTies) {
  std::array<std::atomic<std::size_t>, 5> depth{};
  auto read_depth = [&](const int& i) {
    return depth[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
  };
  smallest_mailbox_router<int, decltype(read_depth)> r(read_depth);
  for (int i = 0; i < 5; ++i) r.add(static_cast<routee_id>(i), i);
  for (std::size_t i = 0; i < 5; ++i) depth[i] = 10 + i;
  depth[3] = 2;
  for (int k = 0; k < 10; ++k) EXPECT_EQ(*r.pick(), 3);
  depth[3] = 12;
  depth[1] = 11;  // now 0 (10) is the smallest
  EXPECT_EQ(*r.pick(), 0);
  // All empty: each pick stops at the first empty mailbox from a rotating
  // start, so the picks spread over every routee.
  for (auto& d : depth) d = 0;
  std::array<int, 5> counts{};
  for (int k = 0; k < 50; ++k) ++counts[static_cast<std::size_t>(*r.pick())];
  for (int c : counts) EXPECT_EQ(c, 10);
}

// ---------------------------------------------------------------------------
// Membership changes while picks run

// Who was a member when, on one sequence counter: a routee may be picked
// only if its add began before the pick ended and its remove (if any)
// ended after the pick began. Routee values are heap strings naming the id,
// so a pick that returned a freed routee would trip ASan.
struct membership_log {
  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
  explicit membership_log(std::size_t n) : add_began(n), remove_ended(n) {
    for (auto& a : add_began) a.store(kNever);
    for (auto& r : remove_ended) r.store(kNever);
  }
  std::atomic<std::uint64_t> seq{0};
  std::vector<std::atomic<std::uint64_t>> add_began, remove_ended;
};

std::string name_of(routee_id id) { return "routee-with-a-long-name-" + std::to_string(id); }
routee_id id_of(const std::string& s) { return std::stoull(s.substr(s.rfind('-') + 1)); }

// Runs `pick` (returning the picked routee's name, or "" for none) on three
// threads while the writer adds 300 routees one by one and removes all but
// the newest few.
void churn_while_picking(const std::function<void(routee_id, const std::string&)>& add,
                         const std::function<void(routee_id)>& remove,
                         const std::function<std::string()>& pick) {
  constexpr routee_id kRoutees = 300;
  membership_log log(kRoutees);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> picks{0}, empty{0};
  std::vector<std::thread> pickers;
  for (int t = 0; t < 3; ++t) {
    pickers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t begin = log.seq.load();
        const std::string got = pick();
        const std::uint64_t end = log.seq.load();
        if (got.empty()) {
          empty.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const routee_id id = id_of(got);
        ASSERT_LT(id, kRoutees);
        ASSERT_EQ(got, name_of(id));
        ASSERT_LE(log.add_began[id].load(), end) << "picked " << id << " before it was added";
        const std::uint64_t removed = log.remove_ended[id].load();
        ASSERT_TRUE(removed == membership_log::kNever || removed >= begin)
            << "picked " << id << " after its removal";
        picks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Waits (yielding) until the pickers have made `n` more picks, so the
  // churn overlaps with picking however the threads get scheduled.
  auto let_pickers_run = [&](std::uint64_t n) {
    const std::uint64_t target = picks.load() + n;
    while (picks.load() < target) std::this_thread::yield();
  };
  for (routee_id id = 0; id < kRoutees; ++id) {
    log.add_began[id].store(log.seq.fetch_add(1));
    add(id, name_of(id));
    if (id >= 3) {
      remove(id - 3);
      log.remove_ended[id - 3].store(log.seq.fetch_add(1));
    }
    if (id % 30 == 0) let_pickers_run(50);
  }
  let_pickers_run(50);
  stop = true;
  for (auto& t : pickers) t.join();
  EXPECT_GT(picks.load(), 0u) << empty.load() << " empty picks";
}

TEST(RouterConcurrencyTest, RoundRobinPicksOnlyMembersDuringChurn) {
  round_robin_router<std::string> r;
  churn_while_picking([&](routee_id id, const std::string& s) { r.add(id, s); },
                      [&](routee_id id) { r.remove(id); }, [&] { return r.pick().value_or(""); });
  EXPECT_EQ(r.size(), 3u);
}

TEST(RouterConcurrencyTest, RandomPicksOnlyMembersDuringChurn) {
  random_router<std::string> r;
  churn_while_picking([&](routee_id id, const std::string& s) { r.add(id, s); },
                      [&](routee_id id) { r.remove(id); }, [&] { return r.pick().value_or(""); });
}

TEST(RouterConcurrencyTest, ConsistentHashPicksOnlyMembersDuringChurn) {
  for (bool bounded : {false, true}) {
    consistent_hash_config cfg{.virtual_nodes = 50, .bounded_load_epsilon = std::nullopt};
    if (bounded) cfg.bounded_load_epsilon = 0.25;
    consistent_hash_router<std::string> r(cfg);
    std::atomic<std::uint64_t> key{0};
    churn_while_picking([&](routee_id id, const std::string& s) { r.add(id, s); },
                        [&](routee_id id) { r.remove(id); },
                        [&] {
                          auto l = r.pick_key(key.fetch_add(1, std::memory_order_relaxed));
                          return l ? l.routee() : std::string();
                        });
    EXPECT_EQ(r.total_load(), 0u);  // every lease given back
  }
}

TEST(RouterConcurrencyTest, P2cPicksOnlyMembersDuringChurnAndLeasesOutliveRemoval) {
  p2c_router<std::string> r;
  std::vector<p2c_router<std::string>::lease> kept;  // leases that outlive their routee's removal
  std::mutex kept_mutex;
  churn_while_picking([&](routee_id id, const std::string& s) { r.add(id, s, t0); },
                      [&](routee_id id) { r.remove(id); },
                      [&] {
                        auto l = r.pick(t0 + 1s);
                        if (!l) return std::string();
                        std::string name = l.routee();
                        if (l.id() % 50 == 0) {
                          std::lock_guard lk(kept_mutex);
                          kept.push_back(std::move(l));
                        } else {
                          l.complete(outcome::success, 1ms, t0 + 1s);
                        }
                        return name;
                      });
  // The kept leases still read their (removed) routees, then free them.
  for (auto& l : kept) {
    EXPECT_EQ(l.routee(), name_of(l.id()));
    l.complete(outcome::failure, 1ms, t0 + 2s);
  }
}

// Every node is freed exactly once, whoever lets go last: the router (on
// removal or destruction) or a lease that outlived both. Routees count
// their live copies; ASan would report a double free or a leak.
struct tracked {
  static inline std::atomic<int> live{0};
  explicit tracked(int v) : value(v) { live.fetch_add(1); }
  tracked(const tracked& o) : value(o.value) { live.fetch_add(1); }
  ~tracked() { live.fetch_sub(1); }
  int value;
};

TEST(RouterConcurrencyTest, EveryNodeIsFreedOnceWhoeverLetsGoLast) {
  tracked::live = 0;
  std::vector<p2c_router<tracked>::lease> outlive;
  {
    p2c_router<tracked> r;
    consistent_hash_router<tracked> ch({.virtual_nodes = 20, .bounded_load_epsilon = 0.5});
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> picks{0};
    std::vector<std::thread> pickers;
    for (int t = 0; t < 2; ++t) {
      pickers.emplace_back([&, t] {
        for (std::uint64_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
          auto l = r.pick(t0);
          auto c = ch.pick_key(k * 2 + static_cast<std::uint64_t>(t));
          if (l) l.complete(outcome::success, 1ms, t0);
          picks.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    for (int id = 0; id < 200; ++id) {
      r.add(static_cast<routee_id>(id), tracked(id), t0);
      ch.add(static_cast<routee_id>(id), tracked(id));
      if (id % 10 == 0) outlive.push_back(r.pick(t0));  // kept past the routee's removal and the router
      if (id >= 5) {
        r.remove(static_cast<routee_id>(id - 5));
        ch.remove(static_cast<routee_id>(id - 5));
      }
      const std::uint64_t target = picks.load() + 5;
      while (picks.load() < target) std::this_thread::yield();
    }
    stop = true;
    for (auto& t : pickers) t.join();
    EXPECT_EQ(ch.total_load(), 0u);
  }
  // The routers are gone; only the nodes the kept leases pin are alive.
  int pinned = 0;
  for (auto& l : outlive) pinned += l ? 1 : 0;
  EXPECT_GE(tracked::live.load(), 1);
  EXPECT_LE(tracked::live.load(), pinned);
  outlive.clear();
  EXPECT_EQ(tracked::live.load(), 0);
}

}  // namespace
