// Driven runtimes (runtime_options::driven): no worker threads, the test's
// thread runs every item inside run_until_idle()/step(), so a test decides
// when work runs and, with a shuffle seed, in which order.

#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "troupe/runtime.hpp"

namespace {

using namespace std::chrono_literals;

troupe::runtime_options driven(std::uint64_t seed = 0, std::shared_ptr<troupe::clock> clk = nullptr) {
  troupe::runtime_options o;
  o.driven = true;
  o.shuffle_seed = seed;
  o.clock = std::move(clk);
  return o;
}

template <class F>
troupe::errc error_code_of(F&& f) {
  try {
    f();
  } catch (const troupe::error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected troupe::error";
  return troupe::errc::invalid_argument;
}

TEST(DrivenRuntimeTest, NothingRunsUntilTheTestDrives) {
  troupe::runtime rt(driven());
  EXPECT_TRUE(rt.driven());
  EXPECT_EQ(rt.worker_count(), 1u);
  int ran = 0;
  std::vector<troupe::join_handle<void>> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(troupe::spawn(rt, [&] { ++ran; }));
  EXPECT_EQ(ran, 0);
  EXPECT_TRUE(rt.step());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(rt.run_until_idle(), 2u);
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(rt.run_until_idle(), 0u);
  EXPECT_FALSE(rt.step());
  for (auto& h : hs) EXPECT_TRUE(h.done());
}

TEST(DrivenRuntimeTest, WithoutASeedItemsRunInSubmissionOrder) {
  troupe::runtime rt(driven());
  std::string order;
  std::vector<troupe::join_handle<void>> hs;
  for (char c : std::string("abcdef")) hs.push_back(troupe::spawn(rt, [&order, c] { order += c; }));
  rt.run_until_idle();
  EXPECT_EQ(order, "abcdef");
}

// Each seed fixes one interleaving of fibers that yield: the same seed
// replays it exactly, and different seeds reach different ones.
std::string interleaving(std::uint64_t seed) {
  troupe::runtime rt(driven(seed));
  std::string order;
  std::vector<troupe::join_handle<void>> hs;
  for (char c : std::string("abc"))
    hs.push_back(troupe::spawn(rt, [&order, c] {
      for (int i = 0; i < 3; ++i) {
        order += c;
        troupe::this_fiber::yield();
      }
    }));
  rt.run_until_idle();
  return order;
}

TEST(DrivenRuntimeTest, TheSameSeedReplaysTheSameInterleaving) {
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string first = interleaving(seed);
    EXPECT_EQ(first.size(), 9u);
    EXPECT_EQ(interleaving(seed), first) << "seed " << seed;
    seen.insert(first);
  }
  // 20 seeds over 1680 possible orders: a shuffler that ignored its seed
  // would give one.
  EXPECT_GT(seen.size(), 10u);
}

TEST(DrivenRuntimeTest, AYieldingFiberLetsTheOthersRunWithoutASeed) {
  EXPECT_EQ(interleaving(0), "abcabcabc");
}

TEST(DrivenRuntimeTest, TimersFireWhenTheTestAdvancesVirtualTime) {
  auto clk = std::make_shared<troupe::manual_clock>();
  troupe::runtime rt(driven(0, clk));
  int stage = 0;
  auto h = troupe::spawn(rt, [&] {
    stage = 1;
    troupe::this_fiber::sleep_for(10ms);
    stage = 2;
  });
  rt.run_until_idle();
  EXPECT_EQ(stage, 1);
  clk->advance(9ms);
  rt.run_until_idle();
  EXPECT_EQ(stage, 1);  // not yet due: it stays asleep however often we drive
  clk->advance(1ms);
  rt.run_until_idle();
  EXPECT_EQ(stage, 2);
  EXPECT_TRUE(h.done());
}

TEST(DrivenRuntimeTest, BlockingTheDrivingThreadIsAnErrorNotAHang) {
  troupe::runtime rt(driven());
  troupe::promise<int> p;
  auto f = p.get_future();
  rt.run_until_idle();  // this thread now drives rt
  EXPECT_EQ(error_code_of([&] { f.get(); }), troupe::errc::would_deadlock);
  auto h = troupe::spawn(rt, [] { return 7; });
  EXPECT_EQ(error_code_of([&] { h.join(); }), troupe::errc::would_deadlock);
  rt.run_until_idle();
  EXPECT_EQ(h.join(), 7);  // done now: joining does not block
  p.set_value(1);
  EXPECT_EQ(f.get(), 1);
}

TEST(DrivenRuntimeTest, ShutdownCancelsWaitsNobodyCanEnd) {
  auto p = std::make_shared<troupe::promise<int>>();
  bool cancelled = false;
  {
    troupe::runtime rt(driven());
    auto h = troupe::spawn(rt, [&cancelled, f = p->get_future()]() mutable {
      try {
        f.get();
      } catch (const troupe::error& e) {
        cancelled = e.code() == troupe::errc::cancelled;
      }
    });
    rt.run_until_idle();
    EXPECT_FALSE(h.done());
  }  // ~runtime drives the blocked fiber to its cancellation
  EXPECT_TRUE(cancelled);
}

// A wait helps only with its own spawns: once the waiter has suspended, the
// tasks above its help mark may be another fiber's (y, below), which must
// not run inline on the waiter's stack. The mark is void after a suspension.
TEST(DrivenRuntimeTest, AWaitAfterASuspensionDoesNotRunAnotherFibersTask) {
  troupe::runtime rt(driven());
  troupe::counting_semaphore a_may_go(0), x_may_end(0), b_may_end(0);
  std::uint64_t a_fiber = 0, y_fiber = 0;
  auto a = troupe::spawn(rt, [&] {
    a_fiber = troupe::this_fiber::id();
    troupe::task_group g(rt);
    g.spawn([&] { x_may_end.acquire(); });  // x: runs, then blocks
    a_may_go.acquire();                     // a suspends; x runs meanwhile
    g.wait();                               // x is not done: a helps, or blocks
  });
  auto b = troupe::spawn(rt, [&] {
    troupe::task_group h(rt);
    h.spawn([&] { y_fiber = troupe::this_fiber::id(); });  // y: above a's mark
    a_may_go.release();
    b_may_end.acquire();  // b suspends with y still queued
    h.wait();
  });
  rt.run_until_idle();
  ASSERT_NE(a_fiber, 0u);
  ASSERT_NE(y_fiber, 0u) << "y ran";
  EXPECT_NE(y_fiber, a_fiber) << "y, b's task, ran inline in a's wait";
  x_may_end.release();
  b_may_end.release();
  rt.run_until_idle();
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(b.done());
  a.join();
  b.join();
}

TEST(DrivenRuntimeTest, MisuseIsReported) {
  EXPECT_EQ(error_code_of([] {
              auto o = driven();
              o.workers = 2;
              troupe::runtime rt(o);
            }),
            troupe::errc::invalid_argument);
  EXPECT_EQ(
      error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 1, .shuffle_seed = 3}); }),
      troupe::errc::invalid_argument);
  troupe::runtime threaded(troupe::runtime_options{.workers = 1});
  EXPECT_EQ(error_code_of([&] { threaded.run_until_idle(); }), troupe::errc::invalid_argument);

  troupe::runtime rt(driven());
  troupe::errc inside{};
  auto h = troupe::spawn(rt, [&] { inside = error_code_of([&] { rt.run_until_idle(); }); });
  rt.run_until_idle();
  EXPECT_EQ(inside, troupe::errc::would_deadlock);
}

}  // namespace
