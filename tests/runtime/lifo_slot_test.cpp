// Tests of troupe::detail::lifo_slot (runtime/src/lifo_slot.hpp): the owner
// takes its items with plain loads and stores while other threads take them
// as from a stuck owner; every item must be taken exactly once.

#include "lifo_slot.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using troupe::detail::heavy_fence_available;
using troupe::detail::lifo_slot;
using troupe::detail::lifo_thieves;
using troupe::detail::task_header;

TEST(LifoSlotTest, OwnerTakesWhatItPut) {
  for (lifo_thieves mode : {lifo_thieves::none, lifo_thieves::locked}) {
    lifo_slot slot(mode);
    task_header a, b;
    EXPECT_FALSE(slot.occupied());
    slot.fill(&a);
    EXPECT_TRUE(slot.occupied());
    EXPECT_EQ(slot.exchange(&b), &a);
    EXPECT_EQ(slot.exchange(nullptr), &b);
    EXPECT_FALSE(slot.occupied());
    EXPECT_EQ(slot.exchange(nullptr), nullptr);
  }
}

TEST(LifoSlotTest, AThiefTakesTheItemOnce) {
  for (lifo_thieves mode : {lifo_thieves::fenced, lifo_thieves::locked}) {
    if (mode == lifo_thieves::fenced && !heavy_fence_available()) continue;
    lifo_slot slot(mode);
    task_header a;
    EXPECT_EQ(slot.take_from_stuck_owner(), nullptr);
    slot.fill(&a);
    EXPECT_EQ(slot.take_from_stuck_owner(), &a);
    EXPECT_EQ(slot.take_from_stuck_owner(), nullptr);
    EXPECT_EQ(slot.exchange(nullptr), nullptr);  // the owner finds it gone
  }
}

std::string mode_name(const testing::TestParamInfo<lifo_thieves>& p) {
  return p.param == lifo_thieves::fenced ? "fenced" : "locked";
}

class LifoSlotStressTest : public testing::TestWithParam<lifo_thieves> {};

// The owner fills the slot, displaces its item with the next one, or takes
// it, as push_local and find_local do, while three threads take items as
// from a stuck owner, as fast as they can (far more often than workers do).
TEST_P(LifoSlotStressTest, EveryItemIsTakenExactlyOnce) {
  const lifo_thieves mode = GetParam();
  if (mode == lifo_thieves::fenced && !heavy_fence_available())
    GTEST_SKIP() << "this kernel has no membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)";
  constexpr std::size_t items = 300'000;
  constexpr int thieves = 3;
  std::vector<task_header> pool(items);
  std::vector<std::atomic<int>> taken(items);
  lifo_slot slot(mode);
  auto count = [&](task_header* t) {
    if (t) taken[static_cast<std::size_t>(t - pool.data())].fetch_add(1, std::memory_order_relaxed);
  };

  std::atomic<bool> done{false};
  std::atomic<std::size_t> stolen{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < thieves; ++i)
    threads.emplace_back([&] {
      while (!done.load(std::memory_order_relaxed)) {
        if (task_header* t = slot.take_from_stuck_owner()) {
          count(t);
          stolen.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  for (std::size_t i = 0; i < items; ++i) {
    if (!slot.occupied())
      slot.fill(&pool[i]);
    else
      count(slot.exchange(&pool[i]));
    if (i % 1000 == 999) {
      // Act stuck for a moment, as steal_from expects of a victim: an -O2
      // owner finishes every item in about 30 ms, before a thief's first
      // membarrier returns.
      const auto until = std::chrono::steady_clock::now() + 10ms;
      while (slot.occupied() && std::chrono::steady_clock::now() < until) {}
    } else if (i % 3 == 2) {
      count(slot.exchange(nullptr));
    }
  }
  done.store(true, std::memory_order_relaxed);
  for (auto& t : threads) t.join();
  count(slot.exchange(nullptr));

  std::size_t lost = 0, twice = 0;
  for (const auto& n : taken) {
    lost += n.load() == 0;
    twice += n.load() > 1;
  }
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(twice, 0u);
  // The thieves did race the owner: some items went their way.
  EXPECT_GT(stolen.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, LifoSlotStressTest,
                         testing::Values(lifo_thieves::fenced, lifo_thieves::locked), mode_name);

}  // namespace
