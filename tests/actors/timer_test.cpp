// Timers: delayed and periodic sends, cancellation.

#include <atomic>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct tick {};
struct ticker : actor<ticker> {
  std::atomic<int>* n;
  explicit ticker(std::atomic<int>* c) : n(c) {}
  void on(tick) { n->fetch_add(1); }
};

class TimerTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, TimerTest, ::testing::Values(1, 2, 4), worker_name);

TEST_P(TimerTest, SendAfterDeliversOnceAfterTheDelay) {
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  const auto t0 = std::chrono::steady_clock::now();
  timer_handle h = sys.send_after(t, tick{}, 30ms);
  EXPECT_TRUE(h.active());
  ASSERT_TRUE(eventually([&] { return n.load() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(n.load(), 1);
  EXPECT_FALSE(h.active());
  EXPECT_FALSE(h.cancel());  // already fired
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(TimerTest, CancelledSendAfterNeverFires) {
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  timer_handle h = sys.send_after(t, tick{}, 30ms);
  EXPECT_TRUE(h.cancel());
  EXPECT_FALSE(h.cancel());
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(n.load(), 0);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(TimerTest, PeriodicSendsUntilCancelled) {
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  timer_handle h = sys.send_periodic(t, tick{}, 10ms);
  ASSERT_TRUE(eventually([&] { return n.load() >= 3; }));
  EXPECT_TRUE(h.cancel());
  std::this_thread::sleep_for(30ms);  // at most one already being sent
  const int after = n.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(n.load(), after);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(TimerTest, PeriodicStopsWhenTheTargetStops) {
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  timer_handle h = sys.send_periodic(t, tick{}, 5ms);
  ASSERT_TRUE(eventually([&] { return n.load() >= 1; }));
  t.stop();
  t.watch(10s).get();
  EXPECT_TRUE(eventually([&] { return !h.active(); }));
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(TimerTest, ShutdownCancelsTimers) {
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  timer_handle h = sys.send_after(t, tick{}, 10s);
  sys.shutdown();
  EXPECT_FALSE(h.active());
  EXPECT_FALSE(sys.send_after(t, tick{}, 1ms).active());  // refused after shutdown
  sys.shutdown();  // before the locals its actors point to go away
}

TEST(TimerMisuseTest, ZeroPeriodIsRejected) {
  runtime rt(workers(1));
  actor_system sys(rt);
  std::atomic<int> n{0};
  auto t = sys.spawn<ticker>(&n);
  EXPECT_THROW((void)sys.send_periodic(t, tick{}, 0ms), actor_error);
}

}  // namespace
}  // namespace troupe::test
