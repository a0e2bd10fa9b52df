// Misuse of the runtime layer, tried on purpose: each test is one row of
// docs/misuse.md. Every outcome is a documented troupe::error (with its
// code), never a crash, a hang or a silent loss. Tests that need time use a
// manual clock; none sleeps to prove that something did not happen.

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <thread>

#include "troupe/runtime.hpp"

namespace {

using namespace std::chrono_literals;

template <class F>
troupe::errc error_code_of(F&& f) {
  try {
    f();
  } catch (const troupe::error& e) {
    EXPECT_NE(std::string(e.what()), "") << "an error names the call";
    return e.code();
  }
  ADD_FAILURE() << "expected troupe::error";
  return troupe::errc::timeout;  // a code none of these tests expects
}

troupe::runtime_options driven(std::shared_ptr<troupe::clock> clk = nullptr) {
  troupe::runtime_options o;
  o.driven = true;
  o.clock = std::move(clk);
  return o;
}

struct on_unwind {
  std::atomic<int>& n;
  ~on_unwind() { n.fetch_add(1); }
};

// ------------------------------------------------------------ construction

TEST(RuntimeMisuse, ZeroWorkersIsInvalidArgument) {
  EXPECT_EQ(error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 0}); }),
            troupe::errc::invalid_argument);
}

TEST(RuntimeMisuse, AStackBelow16KiBIsInvalidArgument) {
  EXPECT_EQ(error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 1, .stack_size = 0}); }),
            troupe::errc::invalid_argument);
  EXPECT_EQ(
      error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 1, .stack_size = 1024}); }),
      troupe::errc::invalid_argument);
}

// A stack no system can map used to pass the constructor and then
// terminate the process on the worker thread (std::bad_alloc escaping the
// thread's first fiber).
TEST(RuntimeMisuse, AStackAbove1GiBIsInvalidArgumentNotACrashOnTheWorker) {
  for (std::size_t size : {(std::size_t{1} << 30) + 1, std::size_t{1} << 46, ~std::size_t{0}}) {
    EXPECT_EQ(error_code_of([size] {
                troupe::runtime rt(troupe::runtime_options{.workers = 1, .stack_size = size});
                (void)troupe::spawn(rt, [] {}).join();
              }),
              troupe::errc::invalid_argument)
        << size;
  }
}

TEST(RuntimeMisuse, DrivenWithWorkersOrPinningIsInvalidArgument) {
  auto with_workers = driven();
  with_workers.workers = 2;
  EXPECT_EQ(error_code_of([&] { troupe::runtime rt(with_workers); }), troupe::errc::invalid_argument);
  auto pinned = driven();
  pinned.pin_workers = true;
  EXPECT_EQ(error_code_of([&] { troupe::runtime rt(pinned); }), troupe::errc::invalid_argument);
}

TEST(RuntimeMisuse, DrivenOnlyOptionsOnAThreadedRuntimeAreInvalidArgument) {
  EXPECT_EQ(
      error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 1, .shuffle_seed = 7}); }),
      troupe::errc::invalid_argument);
  EXPECT_EQ(
      error_code_of([] { troupe::runtime rt(troupe::runtime_options{.workers = 1, .log_steps = true}); }),
      troupe::errc::invalid_argument);
}

// ------------------------------------------------------------ driven runtime

TEST(RuntimeMisuse, DrivingAThreadedRuntimeIsInvalidArgument) {
  troupe::runtime rt(troupe::runtime_options{.workers = 1});
  EXPECT_EQ(error_code_of([&] { rt.run_until_idle(); }), troupe::errc::invalid_argument);
  EXPECT_EQ(error_code_of([&] { rt.step(); }), troupe::errc::invalid_argument);
  EXPECT_EQ(error_code_of([&] { (void)rt.next_timer(); }), troupe::errc::invalid_argument);
  EXPECT_EQ(error_code_of([&] { (void)rt.step_log(); }), troupe::errc::invalid_argument);
}

TEST(RuntimeMisuse, RunUntilIdleFromInsideATaskIsWouldDeadlock) {
  troupe::runtime rt(driven());
  auto h = troupe::spawn(rt, [&rt] { return error_code_of([&] { rt.run_until_idle(); }); });
  rt.run_until_idle();
  ASSERT_TRUE(h.done());
  EXPECT_EQ(h.join(), troupe::errc::would_deadlock);
}

TEST(RuntimeMisuse, RunUntilIdleOfAnotherDrivenRuntimeFromATaskIsWouldDeadlock) {
  troupe::runtime outer(driven());
  troupe::runtime inner(driven());
  auto h = troupe::spawn(outer, [&inner] { return error_code_of([&] { inner.run_until_idle(); }); });
  outer.run_until_idle();
  EXPECT_EQ(h.join(), troupe::errc::would_deadlock);
}

// The driving thread is the only one that runs the runtime: a blocking wait
// there could never end, so it is refused at once.
TEST(RuntimeMisuse, BlockingOnTheDrivingThreadIsWouldDeadlock) {
  troupe::runtime rt(driven());
  troupe::counting_semaphore sem(0);
  troupe::promise<int> p;
  auto f = p.get_future();
  auto h = troupe::spawn(rt, [] { return 1; });  // never run: nobody drives
  EXPECT_EQ(error_code_of([&] { (void)h.join(); }), troupe::errc::would_deadlock);
  EXPECT_EQ(error_code_of([&] { (void)f.get(); }), troupe::errc::would_deadlock);
  EXPECT_EQ(error_code_of([&] { sem.acquire(); }), troupe::errc::would_deadlock);
  EXPECT_EQ(error_code_of([&] { (void)f.wait_for(1h); }), troupe::errc::would_deadlock);
  // Nothing was lost: once driven, the task runs and the handle still joins.
  rt.run_until_idle();
  EXPECT_EQ(h.join(), 1);
  p.set_value(3);
  EXPECT_EQ(f.get(), 3);
}

// A task that destroys its own driven runtime: the destructor can only
// begin shutdown (the driving thread is inside run_until_idle); the driving
// thread completes it when the task returns.
TEST(RuntimeMisuse, DestroyingADrivenRuntimeFromItsOwnTaskCompletesOnTheDrivingThread) {
  auto* rt = new troupe::runtime(driven());
  std::atomic<int> ran_after{0};
  std::atomic<int> unwound{0};
  troupe::counting_semaphore never(0);
  // A fiber blocked forever: shutdown must cancel it (and unwind it).
  (void)troupe::spawn(*rt, [&] {
    on_unwind u{unwound};
    try {
      never.acquire();
    } catch (const troupe::error&) {}
  });
  (void)troupe::spawn(*rt, [&] {
    delete rt;
    ran_after.fetch_add(1);
  });
  rt->run_until_idle();  // `rt` is gone when this returns; the call itself is the last use
  EXPECT_EQ(ran_after.load(), 1);
  EXPECT_EQ(unwound.load(), 1);
}

// --------------------------------------------------------- foreign threads

TEST(RuntimeMisuse, FiberOnlyCallsFromAForeignThreadAreNotInFiber) {
  EXPECT_FALSE(troupe::this_fiber::in_fiber());
  EXPECT_EQ(troupe::runtime::current(), nullptr);
  EXPECT_EQ(error_code_of([] { troupe::this_fiber::yield(); }), troupe::errc::not_in_fiber);
  EXPECT_EQ(error_code_of([] { (void)troupe::this_fiber::worker_index(); }), troupe::errc::not_in_fiber);
  EXPECT_EQ(error_code_of([] { (void)troupe::spawn([] {}); }), troupe::errc::not_in_fiber);
  EXPECT_EQ(error_code_of([] { troupe::task_group g; }), troupe::errc::not_in_fiber);
}

// sleep is not fiber-only: a foreign thread blocks on the steady clock. A
// deadline in the past (or a negative duration) returns at once.
TEST(RuntimeMisuse, SleepingOnAForeignThreadInThePastReturnsAtOnce) {
  const auto before = std::chrono::steady_clock::now();
  troupe::this_fiber::sleep_for(-1h);
  troupe::this_fiber::sleep_for(0s);
  troupe::this_fiber::sleep_for(std::chrono::hours::min());
  troupe::this_fiber::sleep_until(troupe::clock::time_point::min());
  // Generous: these returned without waiting for anything.
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
}

// ------------------------------------------------------------- shutdown

TEST(RuntimeMisuse, SpawnAfterShutdownIsRuntimeStopped) {
  troupe::runtime rt(troupe::runtime_options{.workers = 1});
  rt.shutdown();
  rt.shutdown();  // idempotent
  EXPECT_TRUE(rt.stopping());
  EXPECT_EQ(error_code_of([&] { (void)troupe::spawn(rt, [] {}); }), troupe::errc::runtime_stopped);
  troupe::task_group g(rt);
  EXPECT_EQ(error_code_of([&] { g.spawn([] {}); }), troupe::errc::runtime_stopped);
  g.wait();  // the refused task was not counted: nothing to wait for
}

TEST(RuntimeMisuse, ShutdownFromInsideATaskOnlyBeginsItAndRefusesForeignSpawns) {
  troupe::runtime rt(troupe::runtime_options{.workers = 1});
  auto h = troupe::spawn(rt, [&rt] {
    rt.shutdown();  // returns: a worker cannot wait for itself
    // Work spawned by running tasks is still accepted.
    return troupe::spawn([] { return 2; }).join();
  });
  EXPECT_EQ(h.join(), 2);
  EXPECT_TRUE(rt.stopping());
  EXPECT_EQ(error_code_of([&] { (void)troupe::spawn(rt, [] {}); }), troupe::errc::runtime_stopped);
}

// A fiber asleep "forever" (a saturated duration) can never wake: shutdown
// treats it like a fiber blocked on a primitive nobody can signal. It used
// to be left suspended, its stack freed without unwinding it (a silent
// loss of whatever it held).
TEST(RuntimeMisuse, AFiberSleepingForeverIsCancelledAndUnwoundAtShutdown) {
  std::atomic<int> unwound{0};
  std::atomic<int> cancelled{0};
  auto sleeper = [&](auto sleep) {
    return [&, sleep] {
      on_unwind u{unwound};
      try {
        sleep();
      } catch (const troupe::error& e) {
        if (e.code() == troupe::errc::cancelled) cancelled.fetch_add(1);
      }
    };
  };
  {
    troupe::runtime rt(driven(std::make_shared<troupe::manual_clock>()));
    (void)troupe::spawn(rt, sleeper([] { troupe::this_fiber::sleep_for(std::chrono::hours::max()); }));
    (void)troupe::spawn(rt,
                        sleeper([] { troupe::this_fiber::sleep_until(troupe::clock::time_point::max()); }));
    rt.run_until_idle();
    EXPECT_EQ(unwound.load(), 0);
  }
  EXPECT_EQ(unwound.load(), 2);
  EXPECT_EQ(cancelled.load(), 2);
  {
    troupe::runtime rt(troupe::runtime_options{.workers = 2});
    (void)troupe::spawn(rt, sleeper([] { troupe::this_fiber::sleep_for(std::chrono::nanoseconds::max()); }));
  }
  EXPECT_EQ(unwound.load(), 3);
  EXPECT_EQ(cancelled.load(), 3);
}

// ------------------------------------------------------------- handles

TEST(RuntimeMisuse, JoiningTwiceOrAnEmptyHandleIsAlreadyJoined) {
  troupe::runtime rt(driven());
  auto h = troupe::spawn(rt, [] { return 1; });
  rt.run_until_idle();
  EXPECT_EQ(h.join(), 1);
  EXPECT_FALSE(h.joinable());
  EXPECT_EQ(error_code_of([&] { (void)h.join(); }), troupe::errc::already_joined);
  troupe::join_handle<int> empty;
  EXPECT_EQ(error_code_of([&] { (void)empty.join(); }), troupe::errc::already_joined);
}

TEST(RuntimeMisuse, PromiseAndFutureMisuseHaveTheirCodes) {
  troupe::promise<int> p;
  auto f = p.get_future();
  EXPECT_EQ(error_code_of([&] { (void)p.get_future(); }), troupe::errc::already_joined);
  p.set_value(1);
  EXPECT_EQ(error_code_of([&] { p.set_value(2); }), troupe::errc::already_satisfied);
  EXPECT_EQ(error_code_of([&] { p.set_exception(std::make_exception_ptr(std::runtime_error("x"))); }),
            troupe::errc::already_satisfied);
  EXPECT_EQ(f.get(), 1);  // the first value stands
  EXPECT_EQ(error_code_of([&] { (void)f.get(); }), troupe::errc::already_joined);
  EXPECT_EQ(error_code_of([&] { (void)f.wait_for(0s); }), troupe::errc::already_joined);
  troupe::future<int> empty;
  EXPECT_EQ(error_code_of([&] { (void)empty.get(); }), troupe::errc::already_joined);

  troupe::future<int> orphan;
  {
    troupe::promise<int> gone;
    orphan = gone.get_future();
  }
  EXPECT_EQ(error_code_of([&] { (void)orphan.get(); }), troupe::errc::broken_promise);

  troupe::promise<int> failed;
  auto ff = failed.get_future();
  failed.set_exception(std::make_exception_ptr(std::runtime_error("first")));
  EXPECT_EQ(error_code_of([&] { failed.set_value(1); }), troupe::errc::already_satisfied);
  EXPECT_THROW((void)ff.get(), std::runtime_error);
}

TEST(RuntimeMisuse, ANegativeSemaphoreReleaseIsInvalidArgument) {
  troupe::counting_semaphore sem(1);
  EXPECT_EQ(error_code_of([&] { sem.release(-1); }), troupe::errc::invalid_argument);
  EXPECT_EQ(sem.available(), 1);
}

// ------------------------------------------------------------- time

TEST(RuntimeMisuse, ZeroNegativeAndPastTimeoutsOnlyTry) {
  troupe::promise<int> p;
  auto f = p.get_future();
  EXPECT_EQ(f.wait_for(0s), troupe::future_status::timeout);
  EXPECT_EQ(f.wait_for(-1h), troupe::future_status::timeout);
  EXPECT_EQ(f.wait_for(std::chrono::hours::min()), troupe::future_status::timeout);
  EXPECT_EQ(f.wait_until(troupe::clock::time_point::min()), troupe::future_status::timeout);
  troupe::counting_semaphore sem(0);
  EXPECT_FALSE(sem.try_acquire_for(0s));
  EXPECT_FALSE(sem.try_acquire_for(std::chrono::hours::min()));
  EXPECT_FALSE(sem.try_acquire_until(troupe::clock::time_point::min()));
  sem.release();
  EXPECT_TRUE(sem.try_acquire_for(-1s));  // a past deadline still takes a free permit
}

// Durations that overflow when added to now saturate to "no deadline"; they
// never wrap into the past (which would time out at once).
TEST(RuntimeMisuse, DurationsThatOverflowNowSaturateToNoDeadline) {
  const auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(troupe::clock::after(now, std::chrono::hours::max()), troupe::clock::time_point::max());
  EXPECT_EQ(troupe::clock::after(now, std::chrono::nanoseconds::max()), troupe::clock::time_point::max());
  EXPECT_EQ(troupe::clock::after(troupe::clock::time_point::max(), 1ns), troupe::clock::time_point::max());
  EXPECT_EQ(troupe::clock::after(now, std::chrono::hours::min()), troupe::clock::time_point::min());
  EXPECT_EQ(troupe::clock::after(troupe::clock::time_point::min(), -1ns), troupe::clock::time_point::min());

  auto clk = std::make_shared<troupe::manual_clock>();
  troupe::runtime rt(driven(clk));
  troupe::counting_semaphore sem(0);
  troupe::promise<int> p;
  auto f = p.get_future();
  auto waiter = troupe::spawn(rt, [&] {
    const bool got = sem.try_acquire_for(std::chrono::hours::max());
    return got && f.wait_for(std::chrono::nanoseconds::max()) == troupe::future_status::ready;
  });
  rt.run_until_idle();
  clk->advance(24h * 365 * 100);  // a century of virtual time: still waiting
  rt.run_until_idle();
  EXPECT_FALSE(waiter.done());
  sem.release();
  p.set_value(1);
  rt.run_until_idle();
  ASSERT_TRUE(waiter.done());
  EXPECT_TRUE(waiter.join());
}

TEST(RuntimeMisuse, AManualClockNeverGoesBack) {
  troupe::manual_clock clk;
  const auto t0 = clk.now();
  clk.advance(-1h);
  clk.advance(std::chrono::hours::min());
  clk.set(t0 - 1s);
  clk.set(troupe::clock::time_point::min());
  EXPECT_EQ(clk.now(), t0);
  clk.advance(std::chrono::hours::max());  // saturates at the end of time, does not wrap
  EXPECT_EQ(clk.now(), troupe::clock::time_point::max());
}

}  // namespace
