// The segmented MPSC queue under the mailbox's user lane, with plain
// threads: every item comes out exactly once, in each producer's order, and
// the segments the consumer has passed are freed while the queue lives.

#include "troupe/actors/detail/segmented_queue.hpp"

#include <gtest/gtest.h>
#include <vector>

#include "queue_stress.hpp"

namespace {

using item = troupe::test::queue_item;

using segmented_queue = troupe::detail::segmented_queue<item>;

TEST(SegmentedQueueTest, AnEmptyQueuePopsNothingAndHoldsNoSegment) {
  segmented_queue q;
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.held_segments(), 0u);
  item a;
  q.push(&a);
  EXPECT_EQ(q.pop(), &a);
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_EQ(q.held_segments(), 1u);
}

TEST(SegmentedQueueTest, OneThreadGetsItsItemsInOrderAcrossSegments) {
  segmented_queue q;
  constexpr int n = 1000;
  std::vector<item> items(n);
  int pushed = 0, popped = 0;
  // Uneven bursts, so pops end mid-segment, at a segment's end, and on an
  // empty queue whose next segment is not linked yet.
  for (int burst = 1; pushed < n; burst = burst % 37 + 1) {
    for (int i = 0; i < burst && pushed < n; ++i) {
      items[pushed].seq = pushed;
      q.push(&items[pushed++]);
    }
    for (int i = 0; i < burst / 2 + 1 && popped < pushed; ++i) {
      auto* got = q.pop();
      ASSERT_NE(got, nullptr);
      ASSERT_EQ(got->seq, popped++);
    }
  }
  while (popped < n) {
    auto* got = q.pop();
    ASSERT_NE(got, nullptr);
    ASSERT_EQ(got->seq, popped++);
  }
  EXPECT_EQ(q.pop(), nullptr);
  // 1,000 items took 63 segments; the passed ones were freed on the way.
  EXPECT_LE(q.held_segments(), 2u);
}

// Producers race to take indices, to link each new segment and to move the
// tail, while the consumer pops and frees what it has passed.
void stress(int producers, int per_producer) {
  segmented_queue q;
  troupe::test::expect_every_item_once_in_producer_order<item>(q, producers, per_producer);
  // Freed as it went: once drained, what is left is the segment the
  // consumer is in and at most the one linked after it.
  EXPECT_LE(q.held_segments(), 2u);
}

TEST(SegmentedQueueTest, StressEveryItemOnceInPerProducerOrder) { stress(4, 200'000); }

TEST(SegmentedQueueTest, StressWithMoreProducersThanCores) { stress(8, 50'000); }

}  // namespace
