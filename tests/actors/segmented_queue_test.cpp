// The segmented MPSC queue under the mailbox's user lane, with plain
// threads: every item comes out exactly once, in each producer's order, and
// the segments the consumer has passed are freed while the queue lives.

#include "troupe/actors/detail/segmented_queue.hpp"

#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct item {
  int producer = 0;
  int seq = 0;
};

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
  const long total = static_cast<long>(producers) * per_producer;
  long received = 0, order_violations = 0, duplicates = 0;
  while (received < total) {
    auto* n = q.pop();
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
  // Freed as it went: once drained, what is left is the segment the
  // consumer is in and at most the one linked after it.
  EXPECT_LE(q.held_segments(), 2u);
}

TEST(SegmentedQueueTest, StressEveryItemOnceInPerProducerOrder) { stress(4, 200'000); }

TEST(SegmentedQueueTest, StressWithMoreProducersThanCores) { stress(8, 50'000); }

}  // namespace
