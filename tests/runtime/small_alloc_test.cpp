#include "troupe/runtime/detail/small_alloc.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <gtest/gtest.h>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

using troupe::detail::small_alloc;

TEST(SmallAllocTest, BlocksAreDistinctAndKeepTheirContents) {
  std::vector<std::pair<unsigned char*, std::size_t>> live;
  for (std::size_t i = 0; i < 5000; ++i) {
    std::size_t size = 1 + i % 300;  // across every class and past max_size
    auto* p = static_cast<unsigned char*>(small_alloc::allocate(size));
    std::memset(p, static_cast<int>(i & 0xff), size);
    live.emplace_back(p, size);
  }
  for (std::size_t i = 0; i < live.size(); ++i)
    for (std::size_t b = 0; b < live[i].second; ++b) ASSERT_EQ(live[i].first[b], i & 0xff);
  for (auto [p, size] : live) small_alloc::deallocate(p, size);
}

TEST(SmallAllocTest, AProducerThreadAndAConsumerThreadTradeMagazines) {
  // One thread only allocates, the other only frees (an actor's sender and
  // receiver): every block arrives intact and exactly once.
  constexpr int n = 1'000'000;
  struct msg {
    std::uint64_t seq;
    std::uint64_t check;
  };
  std::vector<std::atomic<msg*>> slots(4096);
  std::atomic<std::int64_t> received_sum{0};
  std::thread consumer([&] {
    for (int i = 0; i < n; ++i) {
      auto& slot = slots[static_cast<std::size_t>(i) % slots.size()];
      msg* m;
      while (!(m = slot.exchange(nullptr, std::memory_order_acquire))) std::this_thread::yield();
      EXPECT_EQ(m->check, ~m->seq);
      received_sum.fetch_add(static_cast<std::int64_t>(m->seq), std::memory_order_relaxed);
      small_alloc::deallocate(m, sizeof(msg));
    }
  });
  for (int i = 0; i < n; ++i) {
    auto* m = static_cast<msg*>(small_alloc::allocate(sizeof(msg)));
    m->seq = static_cast<std::uint64_t>(i);
    m->check = ~m->seq;
    auto& slot = slots[static_cast<std::size_t>(i) % slots.size()];
    while (slot.load(std::memory_order_relaxed)) std::this_thread::yield();
    slot.store(m, std::memory_order_release);
  }
  consumer.join();
  EXPECT_EQ(received_sum.load(), std::int64_t{n} * (n - 1) / 2);
}

// A thread that only frees hands its blocks on in magazines until the
// depot is full (max_depot per class), and to the heap after that; another
// thread then gets every block it asks for, none of them twice.
TEST(SmallAllocTest, AThreadThatOnlyFreesFillsTheDepotAndTheRestGoesToTheHeap) {
  constexpr std::size_t n = (small_alloc::max_depot + 300) * small_alloc::magazine;
  constexpr std::size_t size = 48;
  std::vector<void*> blocks(n);
  for (auto& b : blocks) b = small_alloc::allocate(size);
  std::thread freer([&] {
    for (void* b : blocks) small_alloc::deallocate(b, size);
  });
  freer.join();
  std::unordered_set<void*> seen;
  for (std::size_t i = 0; i < n; ++i) {
    void* b = small_alloc::allocate(size);
    std::memset(b, 0x5a, size);
    ASSERT_TRUE(seen.insert(b).second) << "block handed out twice, allocation " << i;
  }
  for (void* b : seen) small_alloc::deallocate(b, size);
}

}  // namespace
