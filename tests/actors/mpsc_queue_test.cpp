// The intrusive MPSC queue under the mailbox, with plain threads: every item
// comes out exactly once, in each producer's order.

#include "troupe/actors/detail/mpsc_queue.hpp"

#include <gtest/gtest.h>
#include <vector>

#include "queue_stress.hpp"

namespace {

using troupe::detail::mpsc_node;
using troupe::detail::mpsc_queue;

struct item : mpsc_node, troupe::test::queue_item {};

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
  mpsc_queue q;
  troupe::test::expect_every_item_once_in_producer_order<item>(q, 4, 200'000);
}

}  // namespace
