// The timing wheel on its own (driven with explicit times, one thread, and a
// many-thread arm/cancel race), and the runtime's timer service on top of it:
// overdue timers of a stuck worker, virtual time.
#include "timer_wheel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "troupe/runtime.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::detail::timer_entry;
using troupe::detail::timer_state;
using troupe::detail::timer_wheel;

constexpr std::uint64_t tick = std::uint64_t{1} << timer_wheel::tick_shift;

// An entry for driving a wheel by hand: records that it fired.
struct probe : timer_entry {
  probe() : timer_entry(&mark) {}
  static void mark(timer_entry* e) noexcept { ++static_cast<probe*>(e)->fired; }
  int fired = 0;
};

// Arms like arm_timer() does, minus the scheduler.
bool arm(timer_wheel& w, timer_entry* e, std::uint64_t when) {
  e->when = when;
  e->wheel = &w;
  return w.insert(e);
}

std::vector<timer_entry*> drain(timer_wheel& w, std::uint64_t now) {
  std::vector<timer_entry*> out;
  for (timer_entry* e = w.take_due(now); e;) {
    timer_entry* next = e->next;
    out.push_back(e);
    e = next;
  }
  return out;
}

TEST(TimerWheelTest, FiresExactlyWhatIsDueInDeadlineOrderAcrossLevels) {
  // Deadlines from sub-tick to hours ahead, so entries start on every level
  // and cascade down; the wheel is polled at random times, as workers do.
  timer_wheel w;
  std::mt19937_64 rng(42);
  const std::uint64_t start = 1'000'000'000'000;  // 1000 s: an arbitrary clock reading
  drain(w, start);
  std::vector<std::unique_ptr<probe>> entries;
  for (int i = 0; i < 20'000; ++i) {
    auto p = std::make_unique<probe>();
    const int scale = static_cast<int>(rng() % 40);  // up to 2^40 ns ~ 18 minutes
    arm(w, p.get(), start + (rng() % (std::uint64_t{1} << scale)));
    entries.push_back(std::move(p));
  }
  EXPECT_EQ(w.size(), entries.size());
  std::uint64_t now = start;
  std::uint64_t last_fired = 0;
  std::size_t fired = 0;
  while (fired < entries.size()) {
    now += rng() % (std::uint64_t{1} << (rng() % 36));
    for (timer_entry* e : drain(w, now)) {
      ASSERT_LE(e->when, now) << "fired before its deadline";
      // Order: never an entry of an earlier tick after one of a later tick.
      ASSERT_GE(e->when / tick, last_fired / tick);
      last_fired = std::max(last_fired, e->when);
      EXPECT_EQ(e->current_state(), timer_state::fired);
      ++fired;
    }
    // Nothing due is left behind: the wheel's next poll is after now.
    if (w.size() != 0) {
      ASSERT_GT(w.hint(), now);
    }
  }
  EXPECT_EQ(w.size(), 0u);
}

// A wheel whose time is far behind the clock (fresh, or idle for hours)
// files a new entry in a coarse slot that started long ago; the time to
// look again is still the entry's own deadline, not that slot's start (a
// worker parked until the start would wake at once, again and again).
TEST(TimerWheelTest, AStaleWheelAsksToBePolledAtTheDeadlineNotAPastSlotStart) {
  timer_wheel w;
  const std::uint64_t deadline = 10'000'000'000'000;  // ~2.8 h of clock time
  probe p;
  arm(w, &p, deadline);
  EXPECT_EQ(w.hint(), deadline);
  EXPECT_TRUE(drain(w, deadline - 1).empty());
  EXPECT_EQ(w.hint(), deadline) << "the cascade leaves the exact deadline, not a past slot";
  EXPECT_EQ(drain(w, deadline).size(), 1u);
}

TEST(TimerWheelTest, EntriesWithinOneTickFireInArmingOrderAndOnlyWhenDue) {
  timer_wheel w;
  const std::uint64_t base = 64 * tick * 1000;
  drain(w, base);
  probe a, b, c;
  arm(w, &a, base + 30'000);
  arm(w, &b, base + 10'000);  // earlier deadline, same tick, armed later
  arm(w, &c, base + 50'000);
  EXPECT_EQ(w.hint(), base + 10'000) << "the exact earliest deadline of a near slot";
  auto first = drain(w, base + 35'000);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], &a);  // arming order within the tick
  EXPECT_EQ(first[1], &b);
  EXPECT_EQ(w.hint(), base + 50'000);
  EXPECT_TRUE(drain(w, base + 49'999).empty());
  EXPECT_EQ(drain(w, base + 50'000).size(), 1u);
}

// More entries in the current tick's slot than the hint scans (64), all due
// later in the tick: the hint is still later than the poll (found by
// fuzz/timer_wheel_fuzz.cpp; it was the slot's start, already past, so the
// worker polled again at once until the tick ended).
TEST(TimerWheelTest, AFullSlotOfTheCurrentTickAsksForAPollLaterThanNow) {
  timer_wheel w;
  const std::uint64_t base = 64 * tick * 1000;
  drain(w, base);
  std::vector<probe> entries(100);
  for (std::size_t i = 0; i < entries.size(); ++i) arm(w, &entries[i], base + 20'000 + i);
  EXPECT_TRUE(drain(w, base + 10'000).empty());
  EXPECT_GT(w.hint(), base + 10'000);
  EXPECT_LE(w.hint(), base + 20'000) << "still no later than the earliest deadline";
  EXPECT_EQ(drain(w, base + 20'000 + 99).size(), 100u);
}

TEST(TimerWheelTest, CancelledEntriesNeverFireAndLeaveTheWheelAtOnce) {
  timer_wheel w;
  drain(w, 0);
  std::vector<std::unique_ptr<probe>> entries(1000);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i] = std::make_unique<probe>();
    arm(w, entries[i].get(), (i + 1) * 1'000'000);
  }
  std::size_t cancelled = 0;
  for (std::size_t i = 0; i < entries.size(); i += 3, ++cancelled)
    EXPECT_TRUE(troupe::detail::cancel_timer(entries[i].get()));
  EXPECT_EQ(w.size(), entries.size() - cancelled) << "a cancelled entry frees its place at once";
  EXPECT_FALSE(troupe::detail::cancel_timer(entries[0].get())) << "cancelling twice";
  const auto fired = drain(w, ~std::uint64_t{0} >> 1);
  EXPECT_EQ(fired.size(), entries.size() - cancelled);
  for (timer_entry* e : fired) EXPECT_FALSE(troupe::detail::cancel_timer(e)) << "cancel after firing";
}

TEST(TimerWheelTest, FarFutureAndPastDeadlines) {
  timer_wheel w;
  const std::uint64_t now = 5 * tick;
  drain(w, now);
  probe past, far, never_due;
  arm(w, &past, 1);                              // already overdue
  arm(w, &far, now + (std::uint64_t{1} << 60));  // ~36 years: beyond the top level
  arm(w, &never_due, ~std::uint64_t{0} - 1);
  auto due = drain(w, now);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0], &past);
  EXPECT_TRUE(drain(w, now + (std::uint64_t{1} << 59)).empty());
  due = drain(w, now + (std::uint64_t{1} << 60));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0], &far);
  EXPECT_TRUE(troupe::detail::cancel_timer(&never_due));
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheelTest, ArmAndCancelRacesFromManyThreadsAreCountedExactly) {
  // Eight threads arm entries with deadlines near "now", cancel some from
  // another thread, while one thread fires. Every entry ends exactly one
  // way: fired (on_fire ran once) or cancelled (cancel returned true and
  // on_fire never ran). Never both, never neither.
  struct counted : timer_entry {
    counted() : timer_entry(&fire) {}
    static void fire(timer_entry* e) noexcept { static_cast<counted*>(e)->runs.fetch_add(1); }
    std::atomic<int> runs{0};
    std::atomic<bool> cancel_won{false};
  };
  timer_wheel w;
  constexpr int threads = 8, per_thread = 20'000;
  std::vector<counted> entries(threads * per_thread);
  std::atomic<std::uint64_t> now{0};
  std::atomic<bool> done{false};
  std::thread firer([&] {
    while (!done.load()) {
      const std::uint64_t t = now.fetch_add(tick / 4) + tick / 4;
      for (timer_entry* e = w.take_due(t); e;) {
        timer_entry* next = e->next;
        e->on_fire(e);
        e = next;
      }
    }
  });
  std::vector<std::thread> armers;
  for (int t = 0; t < threads; ++t) {
    armers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < per_thread; ++i) {
        counted& e = entries[static_cast<std::size_t>(t * per_thread + i)];
        arm(w, &e, now.load() + rng() % (8 * tick));
        if (rng() % 2) {
          // Cancel one armed a little earlier by this thread (it may have
          // fired meanwhile, or not).
          counted& victim =
              entries[static_cast<std::size_t>(t * per_thread + static_cast<int>(rng() % (i + 1)))];
          if (troupe::detail::cancel_timer(&victim)) victim.cancel_won.store(true);
        }
      }
    });
  }
  for (auto& a : armers) a.join();
  // Let everything still pending come due.
  while (w.size() != 0) std::this_thread::yield();
  done.store(true);
  firer.join();
  std::size_t fired = 0, cancelled = 0;
  for (auto& e : entries) {
    const int runs = e.runs.load();
    ASSERT_LE(runs, 1) << "fired twice";
    ASSERT_NE(runs == 1, e.cancel_won.load()) << "a cancel that reported success and fired, or neither";
    (runs ? fired : cancelled) += 1;
  }
  EXPECT_EQ(fired + cancelled, entries.size());
  EXPECT_GT(cancelled, 0u);
  EXPECT_GT(fired, 0u);
}

// --- the timer service in a runtime ------------------------------------------

struct recorder : timer_entry {
  recorder() : timer_entry(&fire) {}
  static void fire(timer_entry* e) noexcept {
    auto* r = static_cast<recorder*>(e);
    r->fired_on = std::this_thread::get_id();
    r->fired.store(true);
  }
  std::thread::id fired_on;
  std::atomic<bool> fired{false};
};

TEST(TimerServiceTest, AStuckWorkerHasItsOverdueTimersFiredByAnother) {
  recorder r;  // outlives the runtime: a failed test may leave it armed
  troupe::runtime rt(troupe::runtime_options{.workers = 2});
  std::thread::id spinner;
  bool fired_while_spinning = false;
  // The task arms a timer on its own worker's wheel, then computes for
  // 500 ms without yielding: only the other worker can fire it.
  auto h = troupe::spawn(rt, [&] {
    spinner = std::this_thread::get_id();
    troupe::detail::arm_timer(rt.scheduler(), &r, rt.now() + 20ms);
    const auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until) {}
    fired_while_spinning = r.fired.load();
  });
  h.join();
  EXPECT_TRUE(fired_while_spinning) << "the timer waited for its stuck owner";
  EXPECT_NE(r.fired_on, spinner);
}

TEST(TimerServiceTest, VirtualTimeFiresTimersOnlyWhenAdvanced) {
  auto clk = std::make_shared<troupe::manual_clock>();
  recorder r;
  troupe::runtime rt(troupe::runtime_options{.workers = 2, .clock = clk});
  troupe::detail::arm_timer(rt.scheduler(), &r, clk->now() + 10s);  // from a foreign thread
  std::atomic<bool> slept{false};
  troupe::promise<troupe::clock::time_point> deadline;
  auto deadline_set = deadline.get_future();
  auto sleeper = troupe::spawn(rt, [&] {
    const auto until = rt.now() + 5s;  // fixed before the test advances the clock
    deadline.set_value(until);
    troupe::this_fiber::sleep_until(until);
    slept.store(true);
  });
  ASSERT_EQ(deadline_set.get(), clk->now() + 5s);
  // Nothing can fire before the clock reaches a deadline, however long
  // real time runs: these are exact checks, not races.
  clk->advance(4999ms);
  EXPECT_FALSE(slept.load());
  EXPECT_FALSE(r.fired.load());
  clk->advance(1ms);
  sleeper.join();
  EXPECT_TRUE(slept.load());
  EXPECT_FALSE(r.fired.load());
  clk->advance(5s);
  while (!r.fired.load()) std::this_thread::yield();
}

TEST(TimerServiceTest, HugeTimeoutsSaturateInsteadOfOverflowing) {
  const auto now = troupe::clock::time_point(std::chrono::hours(1));
  EXPECT_EQ(troupe::clock::after(now, std::chrono::hours::max()), troupe::clock::time_point::max());
  EXPECT_EQ(troupe::clock::after(now, std::chrono::nanoseconds::max()), troupe::clock::time_point::max());
  EXPECT_EQ(troupe::clock::after(now, std::chrono::hours::min()), troupe::clock::time_point::min());
  EXPECT_EQ(troupe::clock::after(now, 5s), now + 5s);
  EXPECT_EQ(troupe::clock::after(now, std::chrono::duration<double>(0.5)), now + 500ms);
  // A wait "forever" from a fiber is a wait with no deadline in practice: it
  // must not time out (it used to overflow and return at once). Checked
  // with virtual time: a year passes, then the semaphore is released.
  auto clk = std::make_shared<troupe::manual_clock>();
  troupe::runtime rt(troupe::runtime_options{.workers = 1, .clock = clk});
  troupe::counting_semaphore sem(0);
  auto h = troupe::spawn(rt, [&] { return sem.try_acquire_for(std::chrono::hours::max()); });
  clk->advance(std::chrono::hours(24 * 365));
  sem.release();
  EXPECT_TRUE(h.join());
}

// An entry's on_fire may free it (timer.hpp), and a due entry may fire on a
// worker as soon as it is in the wheel: arming must not touch the entry
// after inserting it. Found by troupe-soak's TSan pass through the actors
// tests (a waiting send's record freed at its deadline while the foreign
// thread that armed it still read its deadline): under the tsan preset
// this reported that read racing the free.
struct self_freeing : timer_entry {
  std::atomic<int>* fired;
  explicit self_freeing(std::atomic<int>* f) : timer_entry(&fire), fired(f) {}
  static void fire(timer_entry* e) noexcept {
    auto* self = static_cast<self_freeing*>(e);
    self->fired->fetch_add(1);
    delete self;
  }
};

TEST(TimerServiceTest, AnEntryFreedByItsOnFireIsNotTouchedByTheThreadArmingIt) {
  troupe::runtime rt(troupe::runtime_options{.workers = 2});
  std::atomic<int> fired{0};
  constexpr int entries = 20000;
  for (int i = 0; i < entries; ++i)
    troupe::detail::arm_timer(rt.scheduler(), new self_freeing(&fired), rt.now());  // due at once
  // Polled with a bound: they fire on the workers' schedule.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (fired.load() < entries && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(fired.load(), entries);
}

}  // namespace
