#include "timer_heap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace {

using troupe::detail::timer_heap;
using troupe::detail::timer_node;
using clk = std::chrono::steady_clock;

TEST(TimerHeapTest, PopsInDeadlineOrderAndRemovesFromTheMiddle) {
  std::mt19937 rng(7);
  std::vector<timer_node> nodes(1000);
  timer_heap heap;
  const auto base = clk::time_point{};
  for (auto& n : nodes) {
    n.deadline = base + std::chrono::microseconds(rng() % 100000);
    heap.add(&n);
  }
  // Remove every third node, as cancelled waits would.
  std::size_t removed = 0;
  for (std::size_t i = 0; i < nodes.size(); i += 3, ++removed) heap.remove(&nodes[i]);
  for (std::size_t i = 0; i < nodes.size(); i += 3) EXPECT_EQ(nodes[i].index, -1);
  heap.remove(&nodes[0]);  // removing twice is harmless
  EXPECT_EQ(heap.size(), nodes.size() - removed);

  std::vector<timer_node*> due;
  auto collect = [&due](timer_node* n) { due.push_back(n); };
  heap.pop_due(base + std::chrono::microseconds(50000), collect);
  heap.pop_due(clk::time_point::max(), collect);
  ASSERT_EQ(due.size(), nodes.size() - removed);
  EXPECT_TRUE(std::is_sorted(due.begin(), due.end(),
                             [](auto* a, auto* b) { return a->deadline < b->deadline; }));
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.next_deadline(), clk::time_point::max());
}

}  // namespace
