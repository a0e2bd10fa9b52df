// Misuse of troupe::testing::harness, tried on purpose: each test is one row
// of docs/misuse.md. The harness's thread is the only one that runs its
// runtime, so every way of blocking on it from that thread (or of driving
// it from inside) is an error at once, never a hang.

#include <chrono>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/testing.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;
using troupe::testing::harness;

struct ping {};
struct hold {};
struct drive_inside {
  harness* h;
};
struct destroy_harness {
  harness* h;
};
struct subject : actor<subject> {
  std::vector<reply_promise<int>> held;
  int on(ping) { return 1; }
  reply_promise<int> on(hold) {  // answers never (until the test says)
    held.push_back(this_actor::reply_later<int>());
    return held.back();
  }
  void on(drive_inside d) { d.h->run_until_idle(); }
  void on(destroy_harness d) { delete d.h; }
};

template <class F>
errc runtime_error_of(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected troupe::error";
  return errc::timeout;
}

TEST(HarnessMisuse, ABlockingGetOnTheHarnessThreadIsWouldDeadlock) {
  harness h;
  auto s = h.system().spawn<subject>();
  auto f = s.ask(ping{}, 1s);
  EXPECT_EQ(runtime_error_of([&] { (void)f.get(); }), errc::would_deadlock);
  auto g = s.ask(ping{}, 1s);
  EXPECT_EQ(h.await(std::move(g)).value(), 1) << "await() is the way";
}

TEST(HarnessMisuse, AwaitingAnAskWithoutADeadlineThatNothingAnswersIsWouldDeadlock) {
  harness h;
  auto s = h.system().spawn<subject>();
  auto f = s.ask(hold{}, clock::time_point::max());
  EXPECT_EQ(runtime_error_of([&] { (void)h.await(std::move(f)); }), errc::would_deadlock);
  // With a deadline, the same wait ends at it in virtual time.
  auto g = s.ask(hold{}, 5s);
  const auto start = h.now();
  EXPECT_EQ(h.await(std::move(g)).error_code(), actor_errc::timeout);
  EXPECT_EQ(h.now() - start, 5s);
}

TEST(HarnessMisuse, DrivingTheHarnessFromInsideAHandlerIsWouldDeadlock) {
  harness h;
  auto s = h.system().spawn<subject>();
  auto f = s.ask(drive_inside{&h}, 1s);
  auto r = h.await(std::move(f));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(runtime_error_of([&] { r.value(); }), errc::would_deadlock);
  EXPECT_TRUE(s.stopped()) << "the handler's exception is a failure like any other";
}

TEST(HarnessMisuse, ANegativeOrZeroAdvanceDoesNotMoveTime) {
  harness h;
  const auto t0 = h.now();
  h.advance(-1h);
  h.advance(clock::duration::zero());
  h.advance(clock::duration::min());
  EXPECT_EQ(h.now(), t0);
  EXPECT_TRUE(h.run_until([] { return true; }, -1h)) << "a satisfied condition needs no time";
  EXPECT_FALSE(h.run_until([] { return false; }, 0s)) << "nothing runnable, no timer: false, not a hang";
}

TEST(HarnessMisuse, BadSystemOptionsAreInvalidArgumentFromTheConstructor) {
  try {
    harness h({.system = {.shutdown_timeout = -1ms}});
    FAIL() << "expected actor_error";
  } catch (const actor_error& e) {
    EXPECT_EQ(e.code(), actor_errc::invalid_argument);
  }
}

// A handler that destroys the harness that runs it: the system and the
// runtime can only begin shutdown there; the harness's thread completes
// it when the handler returns (the driving call is the last use).
TEST(HarnessMisuse, DestroyingTheHarnessFromAHandlerCompletesOnItsThread) {
  auto* h = new harness;
  auto s = h->system().spawn<subject>();
  auto pending = s.ask(hold{}, 1s);
  EXPECT_TRUE(s.send(destroy_harness{h}));
  troupe::runtime& rt = h->runtime();
  rt.run_until_idle();  // `h` and `rt` are gone when this returns
  EXPECT_TRUE(s.stopped());
  EXPECT_TRUE(pending.is_ready());
  EXPECT_EQ(pending.get_result().error_code(), actor_errc::broken_reply);
}

// The harness's system shut down (by the test, or by an actor's handler):
// the harness keeps working, and everything sent to the system after that
// is refused with system_stopped, counted, and answered at once.
TEST(HarnessMisuse, AHarnessAfterItsSystemShutDownRefusesEverythingCleanly) {
  harness h;
  auto s = h.system().spawn<subject>();
  auto pending = s.ask(hold{}, 1s);  // held by the actor when it stops
  h.run_until_idle();
  EXPECT_TRUE(h.system().shutdown().complete);
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(h.await(std::move(pending)).error_code(), actor_errc::broken_reply);
  EXPECT_EQ(s.send(ping{}), actor_errc::system_stopped);
  EXPECT_EQ(h.await(s.ask(ping{}, 1s)).error_code(), actor_errc::system_stopped);
  try {
    (void)h.system().spawn<subject>();
    ADD_FAILURE() << "expected actor_error";
  } catch (const actor_error& e) {
    EXPECT_EQ(e.code(), actor_errc::system_stopped);
  }
  EXPECT_EQ(h.system().stats().dead_letters[dead_letter_reason::system_stopped], 2u);
  EXPECT_EQ(h.run_until_idle(), 0u) << "nothing left to run";
  h.advance(1h);  // time still moves; nothing fires
  EXPECT_TRUE(h.system().shutdown().complete) << "idempotent";
}

}  // namespace
}  // namespace troupe::test
