// A circuit breaker around a real actor, taken through every state on the
// harness's virtual time, without one sleep: trips on consecutive failures,
// refuses at once while open (the service sees nothing), probes after the
// open period, closes on a good probe, reopens for twice as long on a bad
// one, and is freed by a probe that never answers at its deadline.

#include <chrono>
#include <gtest/gtest.h>
#include <stdexcept>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/patterns/protect.hpp"
#include "troupe/testing.hpp"

namespace {

using namespace std::chrono_literals;
namespace tp = troupe::patterns;

struct call {
  int x = 0;
};
enum class mode { answer, fail, hold };
struct set_mode {
  mode m;
};

struct payment : troupe::actor<payment> {
  int* received;
  mode m = mode::answer;
  std::vector<troupe::reply_promise<int>> held;
  explicit payment(int* r) : received(r) {}
  troupe::reply_promise<int> on(call c) {
    ++*received;
    auto p = troupe::this_actor::reply_later<int>();
    if (m == mode::answer)
      p.deliver(c.x);
    else if (m == mode::fail)
      p.fail(std::make_exception_ptr(std::runtime_error("payment failed")));
    else
      held.push_back(p);
    return p;
  }
  void on(set_mode s) { m = s.m; }
};

struct seen {
  tp::breaker_state from, to;
  tp::transition_reason why;
  troupe::clock::duration at;  // since the test began
  troupe::clock::duration open_for;
};

TEST(BreakerOnVirtualTime, GoesThroughEveryStateWithoutASleep) {
  troupe::testing::harness h;
  const auto start = h.now();
  int received = 0;
  auto svc = h.system().spawn<payment>(&received);
  auto pay =
      troupe::protect(svc).breaker({.consecutive_failures = tp::consecutive_failures_trip{.threshold = 3},
                                    .failure_rate = std::nullopt,
                                    .slow_calls = std::nullopt,
                                    .window = {},
                                    .open = {.base = 30s, .cap = 5min, .multiplier = 2.0, .jitter = 0.0},
                                    .half_open_probes = 1,
                                    .classify = {},
                                    .seed = 1});
  std::vector<seen> log;
  pay.subscribe([&](const tp::breaker_transition& t) {
    log.push_back({t.from, t.to, t.reason, t.at - start, t.open_for});
  });
  auto ask = [&](int x, troupe::clock::duration d = 5s) { return h.await(pay.ask(call{x}, d)); };
  auto set = [&](mode m) {
    svc.send(set_mode{m});
    h.run_until_idle();
  };
  using S = tp::breaker_state;
  using R = tp::transition_reason;

  // Closed: three failures in a row trip it.
  set(mode::fail);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(ask(i).has_value());
  EXPECT_EQ(pay.breaker_core()->state(), S::open);
  EXPECT_EQ(received, 3);

  // Open: refused at once with circuit_open; the service sees nothing.
  set(mode::answer);
  h.advance(29s);
  auto refused = ask(10);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error_code(), troupe::actor_errc::circuit_open);
  EXPECT_EQ(received, 3);

  // After the open period the next call is the probe; it succeeds: closed.
  h.advance(1s);
  EXPECT_EQ(ask(11).value(), 11);
  EXPECT_EQ(pay.breaker_core()->state(), S::closed);
  EXPECT_EQ(received, 4);

  // Trip again (open for 30 s: the backoff reset when it closed), probe at
  // 30 s and fail it: open again, now for 60 s.
  set(mode::fail);
  for (int i = 0; i < 3; ++i) (void)ask(i);
  h.advance(30s);
  EXPECT_FALSE(ask(12).has_value());
  EXPECT_EQ(pay.breaker_core()->state(), S::open);
  set(mode::answer);
  h.advance(59s);
  EXPECT_EQ(ask(13).error_code(), troupe::actor_errc::circuit_open);

  // A probe that never answers frees half-open at its deadline.
  set(mode::hold);
  h.advance(1s);
  const int before = received;
  EXPECT_EQ(ask(14, 2s).error_code(), troupe::actor_errc::timeout);  // the probe, held by the service
  EXPECT_EQ(received, before + 1);
  EXPECT_EQ(ask(15).error_code(), troupe::actor_errc::circuit_open);  // the lost probe reopened it
  EXPECT_EQ(pay.breaker_core()->state(), S::open);

  // Every transition, in order, at its virtual time.
  const std::vector<seen> want = {
      {S::closed, S::open, R::consecutive_failures, 0s, 30s},
      {S::open, S::half_open, R::open_elapsed, 30s, 0s},
      {S::half_open, S::closed, R::probes_succeeded, 30s, 0s},
      {S::closed, S::open, R::consecutive_failures, 30s, 30s},
      {S::open, S::half_open, R::open_elapsed, 60s, 0s},
      {S::half_open, S::open, R::probe_failed, 60s, 60s},
      {S::open, S::half_open, R::open_elapsed, 120s, 0s},
      {S::half_open, S::open, R::probe_timed_out, 122s, 120s},
  };
  ASSERT_EQ(log.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(log[i].from, want[i].from);
    EXPECT_EQ(log[i].to, want[i].to);
    EXPECT_EQ(log[i].why, want[i].why);
    EXPECT_EQ(log[i].at, want[i].at);
    if (want[i].to == S::open) {
      EXPECT_EQ(log[i].open_for, want[i].open_for);
    }
  }
}

}  // namespace
