// The intrusive MPSC queue under the mailbox, with plain threads: every item
// comes out exactly once, in each producer's order.

#include "troupe/actors/detail/mpsc_queue.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

namespace {

using troupe::detail::mpsc_node;
using troupe::detail::mpsc_queue;

struct item : mpsc_node {
  int producer = 0;
  int seq = 0;
};

TEST(MpscQueueTest, EmptyPopsNothing) {
  mpsc_queue q;
  EXPECT_EQ(q.pop(), nullptr);
  item a;
  q.push(&a);
  EXPECT_EQ(q.pop(), &a);
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(MpscQueueTest, SingleThreadFifo) {
  mpsc_queue q;
  std::vector<item> items(100);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      items[i].seq = i;
      q.push(&items[i]);
    }
    for (int i = 0; i < 100; ++i) {
      auto* n = static_cast<item*>(q.pop());
      ASSERT_NE(n, nullptr);
      EXPECT_EQ(n->seq, i);
    }
    EXPECT_EQ(q.pop(), nullptr);
  }
}

TEST(MpscQueueTest, StressEveryItemOnceInPerProducerOrder) {
  constexpr int producers = 4;
  constexpr int per_producer = 200'000;
  mpsc_queue q;
  std::vector<std::unique_ptr<item[]>> items;
  for (int p = 0; p < producers; ++p) items.push_back(std::make_unique<item[]>(per_producer));
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        items[p][i].producer = p;
        items[p][i].seq = i;
        q.push(&items[p][i]);
      }
    });
  std::vector<int> next(producers, 0);
  std::vector<char> seen(static_cast<std::size_t>(producers) * per_producer, 0);
  long received = 0, order_violations = 0, duplicates = 0;
  while (received < static_cast<long>(producers) * per_producer) {
    auto* n = static_cast<item*>(q.pop());
    if (!n) {
      std::this_thread::yield();
      continue;
    }
    ++received;
    char& s = seen[static_cast<std::size_t>(n->producer) * per_producer + n->seq];
    if (s) ++duplicates;
    s = 1;
    if (n->seq != next[n->producer]) ++order_violations;
    next[n->producer] = n->seq + 1;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(order_violations, 0);
  for (int p = 0; p < producers; ++p) EXPECT_EQ(next[p], per_producer);
}

}  // namespace
