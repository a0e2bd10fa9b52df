// The parker threads sleep on: one token, timed waits that end at their
// deadline (FUTEX_WAIT_BITSET on CLOCK_MONOTONIC), unparks from any thread.
// Lateness is a benchmark (park.timed_wake), not a test.
#include "parker.hpp"

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using troupe::detail::parker;

TEST(ParkerTest, AnUnparkBeforeParkingIsATokenAndOnlyOne) {
  parker p;
  p.unpark();
  p.unpark();  // still one token
  p.park();    // takes it at once
  EXPECT_FALSE(p.park_until(std::chrono::steady_clock::now() + 1ms)) << "no second token";
}

TEST(ParkerTest, ATimedParkEndsAtItsDeadline) {
  parker p;
  const auto deadline = std::chrono::steady_clock::now() + 20ms;
  EXPECT_FALSE(p.park_until(deadline));
  EXPECT_GE(std::chrono::steady_clock::now(), deadline) << "never before the deadline";
  EXPECT_FALSE(p.park_until(std::chrono::steady_clock::now() - 1s)) << "a past deadline returns at once";
}

TEST(ParkerTest, UnparksFromOtherThreadsWakeEveryPark) {
  // A ping-pong of tokens between two threads: every park is matched by
  // exactly one unpark, none lost.
  parker a, b;
  constexpr int rounds = 20000;
  std::atomic<int> seen{0};
  std::thread t([&] {
    for (int i = 0; i < rounds; ++i) {
      a.park();
      seen.fetch_add(1);
      b.unpark();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    a.unpark();
    ASSERT_TRUE(b.park_until(std::chrono::steady_clock::now() + 10s)) << "lost wake-up at round " << i;
  }
  t.join();
  EXPECT_EQ(seen.load(), rounds);
}

}  // namespace
