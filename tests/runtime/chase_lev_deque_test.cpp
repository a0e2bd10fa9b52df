// Tests of troupe::detail::chase_lev_deque: single-thread behaviour against a
// std::deque model, growth from capacity 2, the steal gate's bookkeeping, and
// multi-thread stress in which every item must be taken exactly once (also
// with gated takes, which fence only while a thief is inside the gate).

#include "troupe/runtime/detail/chase_lev_deque.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <gtest/gtest.h>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "troupe/runtime/detail/spinlock.hpp"  // cpu_relax

namespace {

using troupe::detail::chase_lev_deque;
using troupe::detail::deque_thieves;
using troupe::detail::steal_gate;
using troupe::detail::steal_status;

TEST(ChaseLevDequeTest, EmptyDequeYieldsNothing) {
  chase_lev_deque<int*> dq;
  int* out = nullptr;
  EXPECT_EQ(dq.pop(), nullptr);
  EXPECT_EQ(dq.pop_above(0), nullptr);
  EXPECT_EQ(dq.steal_oldest(), nullptr);
  EXPECT_EQ(dq.steal(out), steal_status::empty);
  EXPECT_EQ(dq.bottom_index(), 0);
  EXPECT_TRUE(dq.empty_estimate());
  EXPECT_EQ(dq.size_estimate(), 0u);
}

TEST(ChaseLevDequeTest, OwnerIsLifoThievesAreFifo) {
  std::vector<int> v(100);
  chase_lev_deque<int*> dq(4);
  for (auto& x : v) dq.push(&x);
  EXPECT_EQ(dq.size_estimate(), v.size());
  EXPECT_EQ(dq.bottom_index(), 100);
  int* out = nullptr;
  ASSERT_EQ(dq.steal(out), steal_status::success);
  EXPECT_EQ(out, &v[0]);
  EXPECT_EQ(dq.steal_oldest(), &v[1]);
  EXPECT_EQ(dq.pop(), &v[99]);
  EXPECT_EQ(dq.pop(), &v[98]);
  for (int i = 2; i < 98; ++i) {
    ASSERT_EQ(dq.steal(out), steal_status::success);
    EXPECT_EQ(out, &v[i]);
  }
  EXPECT_EQ(dq.pop(), nullptr);
  EXPECT_EQ(dq.steal(out), steal_status::empty);
  EXPECT_TRUE(dq.empty_estimate());
}

TEST(ChaseLevDequeTest, PopAboveTakesOnlyItemsPushedAfterTheMark) {
  std::vector<int> v(6);
  chase_lev_deque<int*> dq(2);
  dq.push(&v[0]);
  dq.push(&v[1]);
  const std::int64_t mark = dq.bottom_index();
  EXPECT_EQ(mark, 2);
  dq.push(&v[2]);
  dq.push(&v[3]);
  EXPECT_EQ(dq.pop_above(mark), &v[3]);
  EXPECT_EQ(dq.pop_above(mark), &v[2]);
  EXPECT_EQ(dq.pop_above(mark), nullptr);  // v[1] was pushed before the mark
  EXPECT_EQ(dq.size_estimate(), 2u);
  // A mark whose item was stolen: nothing at or above it any more.
  const std::int64_t mark2 = dq.bottom_index();
  dq.push(&v[4]);
  int* out = nullptr;
  ASSERT_EQ(dq.steal(out), steal_status::success);  // v[0]
  ASSERT_EQ(dq.steal(out), steal_status::success);  // v[1]
  ASSERT_EQ(dq.steal(out), steal_status::success);  // v[4]
  EXPECT_EQ(out, &v[4]);
  EXPECT_EQ(dq.pop_above(mark2), nullptr);
  EXPECT_EQ(dq.pop(), nullptr);
}

TEST(ChaseLevDequeTest, GrowsFromCapacityTwoAcrossWrapAround) {
  std::vector<int> v(5000);
  chase_lev_deque<int*> dq(0);  // rounded up to 2
  std::size_t next = 0;
  std::deque<int*> model;
  int* out = nullptr;
  // Move top_ away from 0 so the live range wraps around the buffer when a
  // grow copies it.
  for (int round = 0; round < 12; ++round) {
    const std::size_t n = std::size_t{3} << round;
    for (std::size_t i = 0; i < n && next < v.size(); ++i) {
      dq.push(&v[next]);
      model.push_back(&v[next]);
      ++next;
    }
    for (std::size_t i = 0; i < n / 3 && !model.empty(); ++i) {
      ASSERT_EQ(dq.steal(out), steal_status::success);
      ASSERT_EQ(out, model.front());
      model.pop_front();
    }
    ASSERT_EQ(dq.size_estimate(), model.size());
  }
  while (!model.empty()) {
    ASSERT_EQ(dq.pop(), model.back());
    model.pop_back();
  }
  EXPECT_EQ(dq.pop(), nullptr);
}

// Random owner-thread operation sequences checked against a model that also
// tracks indices, so bottom_index() and pop_above's marks are checked too.
// Both modes: with thieves possible (the owner's steal() stands in for a
// thief) and thief-free (no steal(); pops skip the fence and the CAS).
// Gated takes (pops with two or more items) pass a checkpoint every
// kCheckpointEvery while the gate is shut, and every take while it is open;
// a thief's mark clears after two checkpoints. Under TSan every take is a
// checkpoint (it always uses the seq_cst form).
TEST(ChaseLevDequeTest, GatedTakesPassCheckpointsThatClearAThiefsMark) {
  using deque = chase_lev_deque<int*>;
  constexpr std::uint32_t every = TROUPE_TSAN ? 1 : deque::kCheckpointEvery;
  steal_gate gate;
  deque dq(256, deque_thieves::gated, &gate);
  std::vector<int> items(200);
  for (int& i : items) dq.push(&i);
  // 2 * every - 1 takes with the gate shut: one checkpoint.
  for (std::uint32_t k = 0; k + 1 < 2 * every; ++k) ASSERT_NE(dq.pop(), nullptr);
  EXPECT_EQ(dq.checkpoints(), 1u);
  const std::uint64_t mark = dq.checkpoints();
  gate.enter();
  EXPECT_FALSE(dq.steal_cleared(mark));
  ASSERT_NE(dq.pop(), nullptr);  // the gate is open: a checkpoint
  EXPECT_EQ(dq.checkpoints(), mark + 1);
  EXPECT_FALSE(dq.steal_cleared(mark));
  ASSERT_NE(dq.pop(), nullptr);
  EXPECT_TRUE(dq.steal_cleared(mark));
  int* out = nullptr;
  EXPECT_EQ(dq.steal(out), steal_status::success);
  EXPECT_EQ(out, &items[0]);  // the oldest
  gate.leave();
  // Shut again: the countdown restarted at the last checkpoint.
  for (std::uint32_t k = 0; k + 1 < every; ++k) ASSERT_NE(dq.pop(), nullptr);
  EXPECT_EQ(dq.checkpoints(), mark + 2);
  ASSERT_NE(dq.pop(), nullptr);
  EXPECT_EQ(dq.checkpoints(), mark + 3);
}

// An owner that starts stealing enters the gate once, and leaves when it has
// taken kOwnTakesToLeave items of its own, or when it stops stealing.
TEST(ChaseLevDequeTest, AnOwnerThatStealsLeavesTheGateOnceItHasWorkOfItsOwn) {
  using deque = chase_lev_deque<int*>;
  steal_gate gate;
  deque dq(256, deque_thieves::gated, &gate);
  ASSERT_TRUE(dq.gated());
  EXPECT_FALSE(gate.open());
  EXPECT_TRUE(dq.start_stealing());
  EXPECT_FALSE(dq.start_stealing());  // already inside
  EXPECT_TRUE(gate.open());
  std::vector<int> items(200);
  for (int& i : items) dq.push(&i);
  for (std::uint32_t k = 0; k + 1 < deque::kOwnTakesToLeave; ++k) ASSERT_NE(dq.pop(), nullptr);
  EXPECT_TRUE(gate.open());
  ASSERT_NE(dq.pop(), nullptr);
  EXPECT_FALSE(gate.open());
  EXPECT_TRUE(dq.start_stealing());  // entering again is a new entry
  dq.stop_stealing();
  EXPECT_FALSE(gate.open());
  dq.stop_stealing();  // outside already: nothing to do
  EXPECT_FALSE(gate.open());
  // Another deque's owner inside the gate keeps it open for this one.
  deque other(256, deque_thieves::gated, &gate);
  other.start_stealing();
  EXPECT_TRUE(gate.open());
  other.stop_stealing();
  EXPECT_FALSE(chase_lev_deque<int*>(256, deque_thieves::possible, &gate).gated());
}

// A gated deque without a gate is refused; an ungated one may be told to
// stop stealing (the scheduler does so before every park) and stays as it is.
TEST(ChaseLevDequeTest, AGatedDequeNeedsAGateAndOthersIgnoreStopStealing) {
  using deque = chase_lev_deque<int*>;
  EXPECT_THROW(deque(256, deque_thieves::gated, nullptr), std::invalid_argument);
  deque ungated(256, deque_thieves::possible);
  ungated.stop_stealing();
  EXPECT_FALSE(ungated.gated());
  int x = 7;
  ungated.push(&x);
  EXPECT_EQ(ungated.pop(), &x);
}

struct model_case {
  std::size_t capacity;
  deque_thieves thieves;
};
class ChaseLevDequeModelTest : public ::testing::TestWithParam<model_case> {};

TEST_P(ChaseLevDequeModelTest, RandomOperationsMatchModel) {
  constexpr int kItems = 20000;
  std::vector<int> storage(kItems);
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const bool alone = GetParam().thieves == deque_thieves::none;
    chase_lev_deque<int*> dq(GetParam().capacity, GetParam().thieves);
    std::deque<int*> model;
    std::int64_t top = 0;
    std::int64_t bottom = 0;
    int next = 0;
    auto take_back = [&]() -> int* {
      int* x = model.back();
      model.pop_back();
      // The owner lowers bottom only when another item stays; the last item
      // is taken at the top, so the next push reuses no index. Thief-free,
      // nobody races for the last item: bottom always comes down.
      if (model.empty() && !alone)
        ++top;
      else
        --bottom;
      return x;
    };
    for (int step = 0; step < 40000; ++step) {
      const unsigned op = rng() % 100;
      if (op < 45) {
        if (next == kItems) continue;
        dq.push(&storage[next]);
        model.push_back(&storage[next]);
        ++next;
        ++bottom;
      } else if (op < 60) {
        int* expected = model.empty() ? nullptr : take_back();
        ASSERT_EQ(dq.pop(), expected);
      } else if (op < 72) {
        const std::int64_t mark = bottom - 3 + static_cast<std::int64_t>(rng() % 5);
        int* expected = (!model.empty() && bottom - 1 >= mark) ? take_back() : nullptr;
        ASSERT_EQ(dq.pop_above(mark), expected);
      } else if (op < 86) {
        int* expected = nullptr;
        if (!model.empty()) {
          expected = model.front();
          model.pop_front();
          ++top;
        }
        ASSERT_EQ(dq.steal_oldest(), expected);
      } else if (!alone) {
        int* out = nullptr;
        const steal_status s = dq.steal(out);
        if (model.empty()) {
          ASSERT_EQ(s, steal_status::empty);
        } else {
          ASSERT_EQ(s, steal_status::success);
          ASSERT_EQ(out, model.front());
          model.pop_front();
          ++top;
        }
      }
      ASSERT_EQ(bottom - top, static_cast<std::int64_t>(model.size()));
      ASSERT_EQ(dq.bottom_index(), bottom);
      ASSERT_EQ(dq.size_estimate(), model.size());
      ASSERT_EQ(dq.empty_estimate(), model.empty());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ChaseLevDeque, ChaseLevDequeModelTest,
                         ::testing::Values(model_case{2, deque_thieves::possible},
                                           model_case{4, deque_thieves::possible},
                                           model_case{256, deque_thieves::possible},
                                           model_case{2, deque_thieves::none},
                                           model_case{256, deque_thieves::none}),
                         [](const ::testing::TestParamInfo<model_case>& info) {
                           return "capacity" + std::to_string(info.param.capacity) +
                                  (info.param.thieves == deque_thieves::none ? "_thief_free" : "");
                         });

// One item of the stress tests. `payload` and `index` are plain fields that
// the owner writes before pushing; the taker checks them, so a missing
// happens-before edge shows up as a wrong value or a ThreadSanitizer report.
struct stress_item {
  std::uint64_t payload = 0;
  std::int64_t index = 0;  // bottom_index() when pushed
  std::atomic<std::uint32_t> taken{0};
};

constexpr std::uint64_t payload_of(std::size_t i) { return i * 0x9E3779B97F4A7C15ull + 1; }

// Every item taken exactly once, by the owner or a thief, and each seen with
// its contents.
void expect_each_taken_once(const std::vector<stress_item>& items, std::size_t owner_taken,
                            std::size_t stolen, std::size_t bad) {
  std::size_t zero = 0;
  std::size_t many = 0;
  std::size_t total = 0;
  for (const auto& it : items) {
    const std::uint32_t n = it.taken.load(std::memory_order_relaxed);
    zero += n == 0;
    many += n > 1;
    total += n;
  }
  EXPECT_EQ(zero, 0u) << "items never taken";
  EXPECT_EQ(many, 0u) << "items taken more than once";
  EXPECT_EQ(total, items.size());
  EXPECT_EQ(owner_taken + stolen, items.size());
  EXPECT_EQ(bad, 0u) << "items taken without seeing their contents";
}

// Thieves steal until the owner is done and the deque is empty; each counts
// what it took and flags any item whose contents it could not see.
// `attempts`, when given, counts steal calls so the owner can wait for one.
void thief_loop(chase_lev_deque<stress_item*>& dq, const std::atomic<bool>& owner_done,
                std::vector<stress_item>& items, std::atomic<std::size_t>& taken,
                std::atomic<std::size_t>& bad, std::atomic<std::size_t>* attempts) {
  std::size_t mine = 0;
  std::size_t misses = 0;
  for (;;) {
    stress_item* p = nullptr;
    if (attempts != nullptr) attempts->fetch_add(1, std::memory_order_relaxed);
    const steal_status s = dq.steal(p);
    if (s == steal_status::success) {
      misses = 0;
      const auto i = static_cast<std::size_t>(p - items.data());
      if (p->payload != payload_of(i)) bad.fetch_add(1, std::memory_order_relaxed);
      p->taken.fetch_add(1, std::memory_order_relaxed);
      ++mine;
    } else if (s == steal_status::empty) {
      // acquire: pairs with the owner's release once it stopped pushing;
      // after that an empty deque stays empty.
      if (owner_done.load(std::memory_order_acquire) && dq.empty_estimate()) break;
      // Four threads on few cores: let the owner run.
      if (++misses % 1024 == 0) std::this_thread::yield();
    }
  }
  taken.fetch_add(mine, std::memory_order_relaxed);
}

constexpr int kThieves = 3;

// The main stress: one owner, three thieves, 10M items, starting from
// capacity 2; the same count in sanitized builds (about 15 s under TSan on a
// 2-core machine). The owner pushes bursts of random length (so the deque
// grows many times and often shrinks back to one or two items), and between
// bursts pops, pops above the burst's mark (checking the index) or takes the
// oldest item.
TEST(ChaseLevDequeStressTest, EveryItemTakenExactlyOnceUnderStealing) {
  constexpr std::size_t kItems = 10'000'000;
  std::vector<stress_item> items(kItems);
  chase_lev_deque<stress_item*> dq(2);
  std::atomic<bool> owner_done{false};
  std::atomic<std::size_t> taken{0};
  std::atomic<std::size_t> bad{0};
  std::vector<std::thread> thieves;
  for (int i = 0; i < kThieves; ++i) {
    thieves.emplace_back(thief_loop, std::ref(dq), std::cref(owner_done), std::ref(items), std::ref(taken),
                         std::ref(bad), nullptr);
  }

  std::size_t owner_taken = 0;
  std::size_t below_mark = 0;
  std::size_t max_size = 0;
  auto owner_take = [&](stress_item* p) {
    const auto i = static_cast<std::size_t>(p - items.data());
    if (p->payload != payload_of(i)) bad.fetch_add(1, std::memory_order_relaxed);
    p->taken.fetch_add(1, std::memory_order_relaxed);
    ++owner_taken;
  };
  std::mt19937_64 rng(42);
  std::size_t next = 0;
  while (next < kItems) {
    // Mostly short bursts (the single-item and last-item paths), sometimes
    // long ones (growth).
    const std::size_t burst = rng() % 16 == 0 ? 1 + rng() % 4096 : 1 + rng() % 4;
    const std::int64_t mark = dq.bottom_index();
    for (std::size_t k = 0; k < burst && next < kItems; ++k, ++next) {
      items[next].payload = payload_of(next);
      items[next].index = dq.bottom_index();
      dq.push(&items[next]);
    }
    max_size = std::max(max_size, dq.size_estimate());
    const unsigned op = rng() % 8;
    const std::size_t n = rng() % (burst + 1);
    for (std::size_t k = 0; k < n; ++k) {
      stress_item* p = nullptr;
      if (op < 4) {
        p = dq.pop();
      } else if (op < 7) {
        p = dq.pop_above(mark);
        if (p != nullptr && p->index < mark) ++below_mark;
      } else {
        p = dq.steal_oldest();
      }
      if (p == nullptr) break;
      owner_take(p);
    }
  }
  while (stress_item* p = dq.pop()) owner_take(p);
  owner_done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();

  expect_each_taken_once(items, owner_taken, taken.load(), bad.load());
  EXPECT_EQ(below_mark, 0u) << "pop_above returned an item pushed before its mark";
  EXPECT_GT(taken.load(), 0u) << "the thieves never stole (test did not race)";
  // From capacity 2 to at least 1024: ten grows or more under stealing.
  EXPECT_GT(max_size, 512u) << "the deque never grew much";
  RecordProperty("stolen", std::to_string(taken.load()));
  RecordProperty("max_size", std::to_string(max_size));
}

// The owner keeps the deque at one to three items, so its pops are mostly of
// the last or second-to-last item (the single-item CAS, and take's last-item
// CAS) while the thieves steal the same few items from the top.
TEST(ChaseLevDequeStressTest, LastItemRaceTakesEachItemOnce) {
  constexpr std::size_t kItems = 500'000;
  std::vector<stress_item> items(kItems);
  chase_lev_deque<stress_item*> dq(2);
  std::atomic<bool> owner_done{false};
  std::atomic<std::size_t> taken{0};
  std::atomic<std::size_t> bad{0};
  std::atomic<std::size_t> attempts{0};
  std::vector<std::thread> thieves;
  for (int i = 0; i < kThieves; ++i) {
    thieves.emplace_back(thief_loop, std::ref(dq), std::cref(owner_done), std::ref(items), std::ref(taken),
                         std::ref(bad), &attempts);
  }
  std::size_t owner_taken = 0;
  auto owner_take = [&](stress_item* p) {
    if (p->payload != payload_of(static_cast<std::size_t>(p - items.data()))) bad.fetch_add(1);
    p->taken.fetch_add(1, std::memory_order_relaxed);
    ++owner_taken;
  };
  for (std::size_t next = 0; next < kItems; ++next) {
    items[next].payload = payload_of(next);
    const std::size_t seen = attempts.load(std::memory_order_relaxed);
    dq.push(&items[next]);
    // Hold the items out until a thief has looked (bounded: on a loaded
    // machine the thieves may not be running at all).
    for (int spin = 0; spin < 64 && attempts.load(std::memory_order_relaxed) == seen; ++spin) {
      troupe::detail::cpu_relax();
    }
    const std::size_t keep = next % 3;  // leave 0, 1 or 2 items
    while (dq.size_estimate() > keep) {
      stress_item* p = dq.pop();
      if (p == nullptr) break;
      owner_take(p);
    }
  }
  while (stress_item* p = dq.pop()) owner_take(p);
  owner_done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();

  expect_each_taken_once(items, owner_taken, taken.load(), bad.load());
  RecordProperty("stolen", std::to_string(taken.load()));
}

// The last-item race again, with gated takes: the owner fences only while a
// thief is inside the gate (and at checkpoints). Each thief enters, waits
// until the deque has passed two checkpoints since its mark, steals a few
// times and leaves, over and over, so that thieves keep arriving while the
// owner's takes run without a fence. Without the wait (a thief stealing at
// once after entering), items are taken twice.
TEST(ChaseLevDequeStressTest, GatedTakesWithThievesComingAndGoingTakeEachItemOnce) {
  constexpr std::size_t kItems = 1'000'000;
  std::vector<stress_item> items(kItems);
  steal_gate gate;
  chase_lev_deque<stress_item*> dq(2, deque_thieves::gated, &gate);
  std::atomic<bool> owner_done{false};
  std::atomic<std::size_t> taken{0};
  std::atomic<std::size_t> bad{0};
  std::atomic<std::size_t> entries{0};
  auto thief = [&] {
    std::size_t mine = 0;
    for (;;) {
      gate.enter();
      entries.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t mark = dq.checkpoints();
      // acquire: as in thief_loop.
      while (!dq.steal_cleared(mark) && !owner_done.load(std::memory_order_acquire))
        troupe::detail::cpu_relax();
      for (int k = 0; k < 8; ++k) {
        stress_item* p = nullptr;
        if (dq.steal(p) != steal_status::success) continue;
        if (p->payload != payload_of(static_cast<std::size_t>(p - items.data()))) bad.fetch_add(1);
        p->taken.fetch_add(1, std::memory_order_relaxed);
        ++mine;
      }
      gate.leave();
      if (owner_done.load(std::memory_order_acquire) && dq.empty_estimate()) break;
    }
    taken.fetch_add(mine, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  for (int i = 0; i < kThieves; ++i) thieves.emplace_back(thief);

  std::size_t owner_taken = 0;
  std::mt19937_64 rng(7);
  for (std::size_t next = 0; next < kItems; ++next) {
    items[next].payload = payload_of(next);
    dq.push(&items[next]);
    // Leave 0 to 3 items: most takes find two or more (the unfenced path).
    const std::size_t keep = rng() % 4;
    while (dq.size_estimate() > keep) {
      stress_item* p = dq.pop();
      if (p == nullptr) break;
      if (p->payload != payload_of(static_cast<std::size_t>(p - items.data()))) bad.fetch_add(1);
      p->taken.fetch_add(1, std::memory_order_relaxed);
      ++owner_taken;
    }
  }
  // The thieves' last waits end when the owner is done; it pops no more.
  owner_done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();
  while (stress_item* p = dq.pop()) {
    p->taken.fetch_add(1, std::memory_order_relaxed);
    ++owner_taken;
  }

  expect_each_taken_once(items, owner_taken, taken.load(), bad.load());
  EXPECT_GT(taken.load(), 0u) << "the thieves never stole (test did not race)";
  EXPECT_GT(dq.checkpoints(), 0u);
  RecordProperty("stolen", std::to_string(taken.load()));
  RecordProperty("entries", std::to_string(entries.load()));
}

}  // namespace
