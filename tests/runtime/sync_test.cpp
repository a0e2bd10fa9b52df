// Fiber-aware primitives under contention, from fibers and foreign threads
// alike, with counted results.

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

#include "troupe/runtime.hpp"

namespace {

using namespace std::chrono_literals;

class SyncTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  troupe::runtime rt{troupe::runtime_options{.workers = GetParam()}};
};

TEST_P(SyncTest, MutexProtectsACounterUnderContention) {
  troupe::mutex m;
  std::int64_t counter = 0;  // deliberately not atomic
  constexpr int fibers = 64, rounds = 2000;
  troupe::task_group g(rt);
  for (int f = 0; f < fibers; ++f)
    g.spawn([&] {
      for (int i = 0; i < rounds; ++i) {
        std::lock_guard lock(m);
        ++counter;
        if (i % 100 == 0) troupe::this_fiber::yield();  // hold it across a switch
      }
    });
  // A foreign thread contends too.
  std::thread outsider([&] {
    for (int i = 0; i < rounds; ++i) {
      std::lock_guard lock(m);
      ++counter;
    }
  });
  g.wait();
  outsider.join();
  EXPECT_EQ(counter, std::int64_t{fibers + 1} * rounds);
}

TEST_P(SyncTest, ConditionVariableProducerConsumerCountsEveryItem) {
  troupe::mutex m;
  troupe::condition_variable cv;
  std::vector<int> queue;
  bool closed = false;
  constexpr int producers = 8, per_producer = 5000, consumers = 8;
  std::atomic<std::int64_t> consumed_sum{0};
  std::atomic<int> consumed{0};
  troupe::task_group g(rt);
  for (int c = 0; c < consumers; ++c)
    g.spawn([&] {
      for (;;) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return !queue.empty() || closed; });
        if (queue.empty()) return;
        int v = queue.back();
        queue.pop_back();
        lock.unlock();
        consumed_sum.fetch_add(v);
        consumed.fetch_add(1);
      }
    });
  troupe::task_group producers_group(rt);
  for (int p = 0; p < producers; ++p)
    producers_group.spawn([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        {
          std::lock_guard lock(m);
          queue.push_back(p * per_producer + i);
        }
        cv.notify_one();
      }
    });
  producers_group.wait();
  {
    std::lock_guard lock(m);
    closed = true;
  }
  cv.notify_all();
  g.wait();
  constexpr std::int64_t n = std::int64_t{producers} * per_producer;
  EXPECT_EQ(consumed.load(), n);
  EXPECT_EQ(consumed_sum.load(), n * (n - 1) / 2);
}

TEST_P(SyncTest, ConditionVariableWaitUntilTimesOut) {
  auto h = troupe::spawn(rt, [] {
    troupe::mutex m;
    troupe::condition_variable cv;
    std::unique_lock lock(m);
    auto status = cv.wait_until(lock, std::chrono::steady_clock::now() + 5ms);
    return status == troupe::cv_status::timeout && lock.owns_lock();
  });
  EXPECT_TRUE(h.join());
}

TEST_P(SyncTest, SemaphoreBoundsConcurrencyAndHandsOutEveryPermit) {
  troupe::counting_semaphore sem(3);
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  troupe::task_group g(rt);
  for (int f = 0; f < 200; ++f)
    g.spawn([&] {
      sem.acquire();
      int now = inside.fetch_add(1) + 1;
      int prev = max_inside.load();
      while (now > prev && !max_inside.compare_exchange_weak(prev, now)) {}
      troupe::this_fiber::yield();
      inside.fetch_sub(1);
      sem.release();
      done.fetch_add(1);
    });
  g.wait();
  EXPECT_EQ(done.load(), 200);
  EXPECT_LE(max_inside.load(), 3);
  EXPECT_EQ(sem.available(), 3);
}

TEST_P(SyncTest, SemaphoreTimedAcquire) {
  troupe::counting_semaphore sem(0);
  auto h = troupe::spawn(rt, [&] { return sem.try_acquire_for(5ms); });
  EXPECT_FALSE(h.join());
  // Released from a foreign thread while a fiber waits with a long deadline.
  auto waiter = troupe::spawn(rt, [&] { return sem.try_acquire_for(60s); });
  std::this_thread::sleep_for(5ms);
  sem.release();
  EXPECT_TRUE(waiter.join());
  EXPECT_EQ(sem.available(), 0);
  EXPECT_THROW(sem.release(-1), troupe::error);
}

TEST_P(SyncTest, ForeignThreadBlocksOnASemaphoreAFiberReleases) {
  troupe::counting_semaphore sem(0);
  auto h = troupe::spawn(rt, [&] {
    troupe::this_fiber::sleep_for(2ms);
    sem.release();
  });
  sem.acquire();  // blocks this (foreign) thread
  h.join();
  EXPECT_FALSE(sem.try_acquire());
  EXPECT_FALSE(sem.try_acquire_for(1ms));
}

TEST_P(SyncTest, PromiseFutureAcrossFibersAndThreads) {
  constexpr int pairs = 1000;
  std::vector<troupe::promise<int>> promises(pairs);
  std::vector<troupe::future<int>> futures;
  for (auto& p : promises) futures.push_back(p.get_future());
  troupe::task_group g(rt);
  std::atomic<std::int64_t> sum{0};
  for (int i = 0; i < pairs; ++i) g.spawn([&, i] { sum.fetch_add(futures[i].get()); });
  std::thread setter([&] {
    for (int i = 0; i < pairs; ++i) promises[i].set_value(i);
  });
  g.wait();
  setter.join();
  EXPECT_EQ(sum.load(), std::int64_t{pairs} * (pairs - 1) / 2);
}

TEST_P(SyncTest, FutureErrors) {
  troupe::future<int> broken;
  {
    troupe::promise<int> p;
    broken = p.get_future();
    EXPECT_THROW((void)p.get_future(), troupe::error);
  }
  try {
    broken.get();
    ADD_FAILURE();
  } catch (const troupe::error& e) {
    EXPECT_EQ(e.code(), troupe::errc::broken_promise);
  }
  troupe::promise<int> p;
  auto f = p.get_future();
  p.set_value(1);
  EXPECT_THROW(p.set_value(2), troupe::error);
  EXPECT_EQ(f.get(), 1);
  EXPECT_THROW(f.get(), troupe::error);
  troupe::promise<int> slow;
  auto sf = slow.get_future();
  auto h = troupe::spawn(rt, [&] { return sf.wait_for(2ms) == troupe::future_status::timeout; });
  EXPECT_TRUE(h.join());
  slow.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_THROW(sf.get(), std::runtime_error);
}

INSTANTIATE_TEST_SUITE_P(Workers, SyncTest, ::testing::Values(1, 2, 4, 8),
                         [](const auto& info) { return std::to_string(info.param) + "workers"; });

}  // namespace
