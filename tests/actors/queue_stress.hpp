#pragma once
// A stress test for the mailbox's MPSC queues: `producers` threads push
// `per_producer` items each while this thread pops, and every item must come
// out exactly once, in its producer's order. Used by mpsc_queue_test and
// segmented_queue_test.

#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

namespace troupe::test {

struct queue_item {
  int producer = 0;
  int seq = 0;
};

// Item: queue_item or a type derived from it that Queue takes; Queue::pop
// returns something static_cast-able to Item*. Leaves q drained.
template <class Item, class Queue>
void expect_every_item_once_in_producer_order(Queue& q, int producers, int per_producer) {
  std::vector<std::unique_ptr<Item[]>> items;
  for (int p = 0; p < producers; ++p) items.push_back(std::make_unique<Item[]>(per_producer));
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
    auto* n = static_cast<Item*>(q.pop());
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

}  // namespace troupe::test
