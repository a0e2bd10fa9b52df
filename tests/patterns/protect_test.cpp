// troupe::protect through real actors, on virtual time: the breaker refuses
// at once without touching the target's mailbox, lets exactly N probes
// through a thousand concurrent callers, and is freed by a probe that never
// answers at its deadline; retries never go past a deadline and stay within
// their budget at 100% failure; a hedged request's loser is counted and
// abandoned, never leaked; fallbacks answer; the future is a plain
// ask_future (get, then, on_complete, co_await).

#include "troupe/patterns/protect.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <latch>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "actor_test_util.hpp"

#include "troupe/patterns/actor_router.hpp"

namespace troupe::test {
namespace {

namespace tp = troupe::patterns;

struct get {
  static constexpr bool idempotent = true;
  int x = 0;
};
struct charge {  // not safe to retry
  int amount = 0;
};
enum class mode { answer, fail, hold };
struct set_mode {
  mode m;
};
struct release_held {
  bool fail = false;
};

// Answers, fails or holds every request (as the test says); counts what
// reached its handler.
struct service : actor<service> {
  std::atomic<int>* received;
  mode m = mode::answer;
  std::vector<reply_promise<int>> held;
  explicit service(std::atomic<int>* r) : received(r) {}

  reply_promise<int> reply(int v) {
    received->fetch_add(1);
    auto p = this_actor::reply_later<int>();
    switch (m) {
      case mode::answer:
        p.deliver(v);
        break;
      case mode::fail:
        p.fail(std::make_exception_ptr(std::runtime_error("service failed")));
        break;
      case mode::hold:
        held.push_back(p);
        break;
    }
    return p;
  }
  reply_promise<int> on(get g) { return reply(g.x); }
  reply_promise<int> on(charge c) { return reply(c.amount); }
  void on(set_mode s) { m = s.m; }
  int on(release_held r) {
    const int n = static_cast<int>(held.size());
    for (auto& p : held) {
      if (r.fail)
        p.fail(std::make_exception_ptr(std::runtime_error("service failed")));
      else
        p.deliver(1);
    }
    held.clear();
    return n;
  }
};

struct ProtectTest : ::testing::Test {
  virtual_time vt;
  std::atomic<int> received{0};
  actor_ref<service> svc = vt.sys.spawn<service>(&received);

  void set(mode m) { svc.ask(set_mode{m}, 10s).get(); }
  static actor_errc code_of(ask_future<int>& f) { return f.get_result().error_code(); }
};

// Trips after 3 consecutive failures, stays open 1 s (no jitter, no growth).
tp::circuit_breaker_config quick_breaker(std::uint32_t probes = 1) {
  tp::circuit_breaker_config c;
  c.consecutive_failures = tp::consecutive_failures_trip{.threshold = 3};
  c.failure_rate.reset();
  c.open = {.base = 1s, .cap = 1s, .multiplier = 1.0, .jitter = 0.0};
  c.half_open_probes = probes;
  return c;
}

// ---------------------------------------------------------------------------
// The surface

struct client : actor<client> {
  protected_ref<service> dep;
  explicit client(protected_ref<service> d) : dep(std::move(d)) {}
  task<int> on(get g) {
    auto f = dep.ask(get{g.x}, 1s);  // built before the co_await (GCC 12, task.hpp)
    const int v = co_await std::move(f);
    co_return v + 1;
  }
};

TEST_F(ProtectTest, TheFutureIsAPlainAskFuture) {
  auto dep = troupe::protect(svc).breaker().retry();
  EXPECT_EQ(dep.ask(get{41}, 1s).get(), 41);
  std::atomic<int> got{0};
  dep.ask(get{7}, 1s).on_complete([&](result<int> r) { got = *r; });
  ASSERT_TRUE(eventually([&] { return got.load() == 7; }));
  auto c = vt.sys.spawn<client>(dep);
  EXPECT_EQ(c.ask(get{1}, 1s).get(), 2);  // co_await inside a coroutine handler
  const auto n = dep.counters();
  EXPECT_EQ(n.requests, 3u);
  EXPECT_EQ(n.successes, 3u);
  EXPECT_EQ(n.failures, 0u);
}

TEST_F(ProtectTest, RefusalsMapToTheirOwnErrorCodesAndTheBuilderChecksItsOrder) {
  EXPECT_EQ(tp::to_actor_errc(tp::errc::circuit_open), actor_errc::circuit_open);
  EXPECT_EQ(tp::to_actor_errc(tp::errc::overloaded), actor_errc::overloaded);
  EXPECT_EQ(tp::to_actor_errc(tp::errc::bulkhead_full), actor_errc::overloaded);
  EXPECT_EQ(tp::to_actor_errc(tp::errc::no_routee), actor_errc::actor_stopped);
  EXPECT_STREQ(to_string(actor_errc::overloaded), "overloaded");
  EXPECT_STREQ(to_string(actor_errc::circuit_open), "circuit_open");
  EXPECT_THROW((void)troupe::protect(svc).retry().budget(tp::retry_budget_config{}), std::logic_error);
  EXPECT_THROW((void)troupe::protect(actor_ref<service>{}), actor_error);
  protected_ref<service> empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW((void)empty.ask(get{1}, 1s), actor_error);
  // A builder call leaves the handle it was called on as it was.
  auto plain = troupe::protect(svc);
  auto guarded = plain.breaker();
  EXPECT_EQ(plain.breaker_core(), nullptr);
  EXPECT_NE(guarded.breaker_core(), nullptr);
  EXPECT_EQ(guarded.breaker_core(), guarded.retry().breaker_core());  // derived handles share the layers
}

// ---------------------------------------------------------------------------
// Breaker

TEST_F(ProtectTest, AnOpenBreakerRefusesAtOnceAndLeavesTheMailboxUntouched) {
  auto dep = troupe::protect(svc).breaker(quick_breaker());
  set(mode::fail);
  for (int i = 0; i < 3; ++i) {
    auto f = dep.ask(get{i}, 1s);
    EXPECT_EQ(code_of(f), actor_errc::handler_failed);
  }
  ASSERT_EQ(dep.breaker_core()->state(), tp::breaker_state::open);
  // processed is updated at the end of the service's turn, after the replies
  // went out: wait until it counts set_mode and the three asks.
  ASSERT_TRUE(eventually([&] { return svc.stats().processed == 4; }));
  const actor_stats before = svc.stats();
  const int received_before = received.load();

  // A flood from four threads: asks, sends, try_sends and send_asyncs.
  constexpr int kThreads = 4, kEach = 5000;
  std::atomic<int> refused_at_once{0}, sends_refused{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto f = dep.ask(get{i}, 1s);
        if (f.is_ready() && f.get_result().error_code() == actor_errc::circuit_open) ++refused_at_once;
        if (dep.send(get{i}).code() == actor_errc::circuit_open) ++sends_refused;
        if (dep.try_send(get{i}).code() == actor_errc::circuit_open) ++sends_refused;
        auto a = dep.send_async(get{i});
        if (a.get_result().error_code() == actor_errc::circuit_open) ++sends_refused;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(refused_at_once.load(), kThreads * kEach);
  EXPECT_EQ(sends_refused.load(), 3 * kThreads * kEach);
  const actor_stats after = svc.stats();
  EXPECT_EQ(received.load(), received_before);
  EXPECT_EQ(after.processed, before.processed);  // not one message reached the mailbox
  EXPECT_EQ(after.high_water, before.high_water);
  EXPECT_EQ(after.depth, 0u);
  EXPECT_EQ(after.dead_letters.total(), before.dead_letters.total());
  EXPECT_EQ(dep.counters().rejected, static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_EQ(dep.counters().sends_refused, static_cast<std::uint64_t>(3 * kThreads * kEach));
  EXPECT_EQ(dep.breaker_core()->counters().rejected, static_cast<std::uint64_t>(kThreads * kEach));
}

TEST_F(ProtectTest, HalfOpenLetsExactlyNProbesThroughAThousandConcurrentCallers) {
  constexpr std::uint32_t kProbes = 5;
  auto dep = troupe::protect(svc).breaker(quick_breaker(kProbes));
  std::mutex mu;
  std::vector<tp::breaker_transition> events;
  dep.subscribe([&](const tp::breaker_transition& t) {
    std::lock_guard g(mu);
    events.push_back(t);
  });
  set(mode::fail);
  for (int i = 0; i < 3; ++i) dep.ask(get{i}, 1s).get_result();
  ASSERT_EQ(dep.breaker_core()->state(), tp::breaker_state::open);
  set(mode::hold);
  const int received_before = received.load();
  vt.clk->advance(1s);  // the open period is over: the next callers may probe

  constexpr int kThreads = 8, kEach = 125;  // 1,000 callers
  std::latch go(kThreads);
  std::vector<std::vector<ask_future<int>>> futures(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) futures[t].push_back(dep.ask(get{i}, 10s));
    });
  for (auto& t : ts) t.join();
  // Everyone but the probes was refused at once; the probes wait at the target.
  int refused = 0, pending = 0;
  for (auto& v : futures)
    for (auto& f : v) {
      if (!f.is_ready()) {
        ++pending;
      } else {
        EXPECT_EQ(f.get_result().error_code(), actor_errc::circuit_open);
        ++refused;
      }
    }
  EXPECT_EQ(pending, static_cast<int>(kProbes));
  EXPECT_EQ(refused, kThreads * kEach - static_cast<int>(kProbes));
  ASSERT_TRUE(eventually([&] { return received.load() - received_before == static_cast<int>(kProbes); }));
  EXPECT_EQ(dep.breaker_core()->state(), tp::breaker_state::half_open);

  // The probes succeed: the breaker closes.
  EXPECT_EQ(svc.ask(release_held{}, 10s).get(), static_cast<int>(kProbes));
  for (auto& v : futures)
    for (auto& f : v)
      if (f.valid()) {
        EXPECT_EQ(f.get(), 1);
      }
  EXPECT_EQ(dep.breaker_core()->state(), tp::breaker_state::closed);
  EXPECT_EQ(received.load() - received_before, static_cast<int>(kProbes));  // exactly N reached it
  std::lock_guard g(mu);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].to, tp::breaker_state::open);
  EXPECT_EQ(events[1].to, tp::breaker_state::half_open);
  EXPECT_EQ(events[2].to, tp::breaker_state::closed);
  EXPECT_EQ(events[2].reason, tp::transition_reason::probes_succeeded);
  EXPECT_EQ(dep.breaker_core()->counters().entered[static_cast<int>(tp::breaker_state::closed)], 1u);
}

TEST_F(ProtectTest, AProbeThatNeverAnswersFreesHalfOpenAtItsDeadline) {
  auto dep = troupe::protect(svc).breaker(quick_breaker(1));
  std::mutex mu;
  std::vector<tp::breaker_transition> events;
  dep.subscribe([&](const tp::breaker_transition& t) {
    std::lock_guard g(mu);
    events.push_back(t);
  });
  set(mode::fail);
  for (int i = 0; i < 3; ++i) dep.ask(get{i}, 1s).get_result();
  set(mode::hold);  // from now on nothing is ever answered
  const int received_before = received.load();
  vt.clk->advance(1s);

  std::atomic<int> probe_code{-1};
  dep.ask(get{1}, 100ms).on_complete([&](result<int> r) { probe_code = static_cast<int>(r.error_code()); });
  ASSERT_TRUE(eventually([&] { return received.load() == received_before + 1; }));
  auto refused = dep.ask(get{2}, 100ms);
  EXPECT_EQ(code_of(refused), actor_errc::circuit_open);  // the one probe slot is taken
  EXPECT_EQ(dep.breaker_core()->state(), tp::breaker_state::half_open);

  vt.clk->advance(100ms);  // the probe's deadline: it times out, the breaker reopens
  ASSERT_TRUE(eventually([&] { return probe_code.load() == static_cast<int>(actor_errc::timeout); }));
  ASSERT_TRUE(eventually([&] { return dep.breaker_core()->state() == tp::breaker_state::open; }));
  auto still_open = dep.ask(get{3}, 100ms);
  EXPECT_EQ(code_of(still_open), actor_errc::circuit_open);

  vt.clk->advance(1s);  // a new open period later, a new probe goes
  auto next = dep.ask(get{4}, 100ms);
  ASSERT_TRUE(eventually([&] { return received.load() == received_before + 2; }));
  EXPECT_EQ(received.load(), received_before + 2);
  set(mode::answer);
  EXPECT_EQ(svc.ask(release_held{}, 10s).get(), 2);  // the late first probe and the new one
  EXPECT_EQ(next.get(), 1);
  EXPECT_EQ(dep.breaker_core()->state(), tp::breaker_state::closed);
  std::lock_guard g(mu);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[2].from, tp::breaker_state::half_open);
  EXPECT_EQ(events[2].to, tp::breaker_state::open);
  EXPECT_EQ(events[2].at, vt.now() - 1s);  // at the probe's deadline, not later
  EXPECT_EQ(events[3].to, tp::breaker_state::half_open);
  EXPECT_EQ(events[4].to, tp::breaker_state::closed);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence, i + 1);
}

struct cache : actor<cache> {
  int on(get g) { return 1000 + g.x; }
};

TEST_F(ProtectTest, AFallbackAnswersWhenTheBreakerRefusesOrTheCallFails) {
  auto c = vt.sys.spawn<cache>();
  auto by_function =
      troupe::protect(svc).breaker(quick_breaker()).fallback([](const get& g, const result<int>& failed) {
        return failed.error_code() == actor_errc::circuit_open ? -g.x : 500 + g.x;
      });
  auto by_actor = troupe::protect(svc).breaker(quick_breaker()).fallback<get>(c);
  set(mode::fail);
  EXPECT_EQ(by_function.ask(get{1}, 1s).get(), 501);  // the call failed
  EXPECT_EQ(by_actor.ask(get{1}, 1s).get(), 1001);
  for (int i = 0; i < 3; ++i) {
    by_function.ask(get{i}, 1s).get();
    by_actor.ask(get{i}, 1s).get();
  }
  ASSERT_EQ(by_function.breaker_core()->state(), tp::breaker_state::open);
  const int before = received.load();
  EXPECT_EQ(by_function.ask(get{7}, 1s).get(), -7);  // refused by the breaker
  EXPECT_EQ(by_actor.ask(get{7}, 1s).get(), 1007);
  EXPECT_EQ(received.load(), before);
  EXPECT_EQ(by_function.counters().fallbacks, 5u);
  EXPECT_EQ(by_function.counters().failures, 0u);
  // No fallback for charge: its errors reach the caller.
  auto f = by_function.ask(charge{1}, 1s);
  EXPECT_EQ(code_of(f), actor_errc::circuit_open);
  // A fallback actor of the same class answers for every message type.
  auto replica = vt.sys.spawn<service>(&received);
  auto by_replica = troupe::protect(svc).fallback(replica);
  EXPECT_EQ(by_replica.ask(charge{3}, 1s).get(), 3);  // svc fails it, the replica answers
}

// ---------------------------------------------------------------------------
// Retries

TEST_F(ProtectTest, NoRetryIsScheduledPastTheDeadline) {
  auto dep = troupe::protect(svc).retry(
      {.max_attempts = 10,
       .backoff = {.base = 100ms, .cap = 10s, .multiplier = 2.0, .kind = tp::jitter::none}});
  set(mode::fail);
  const int before = received.load();
  std::atomic<int> code{-1};
  // Attempts at 0, 100 ms and 300 ms; the next would start at 700 ms, past
  // the deadline at 500 ms, so the request ends after the third with its error.
  dep.ask(get{1}, 500ms).on_complete([&](result<int> r) { code = static_cast<int>(r.error_code()); });
  // Each retry is scheduled when the failure comes back: wait for that
  // before moving the clock.
  ASSERT_TRUE(eventually([&] { return dep.counters().retries == 1; }));
  vt.clk->advance(99ms);
  EXPECT_EQ(received.load(), before + 1);
  vt.clk->advance(1ms);
  ASSERT_TRUE(eventually([&] { return dep.counters().retries == 2; }));
  EXPECT_EQ(received.load(), before + 2);
  vt.clk->advance(200ms);
  ASSERT_TRUE(eventually([&] { return received.load() == before + 3; }));
  ASSERT_TRUE(eventually([&] { return code.load() == static_cast<int>(actor_errc::handler_failed); }));
  EXPECT_EQ(dep.counters().retries, 2u);
  for (int i = 0; i < 20; ++i) vt.clk->advance(100ms);  // no timer is left to send another
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(received.load(), before + 3);
}

TEST_F(ProtectTest, OnlyRequestsSafeToRetryAreRetried) {
  auto dep = troupe::protect(svc).retry(
      {.max_attempts = 3, .backoff = {.base = 1ms, .cap = 1ms, .multiplier = 1.0, .kind = tp::jitter::none}});
  set(mode::fail);
  int before = received.load();
  auto unsafe = dep.ask(charge{1}, 1s);  // charge declares nothing: not retried
  EXPECT_EQ(code_of(unsafe), actor_errc::handler_failed);
  EXPECT_EQ(received.load(), before + 1);

  before = received.load();
  std::atomic<bool> done{false};
  dep.ask(charge{1}, 1s, troupe::retry_safety::safe).on_complete([&](result<int>) { done = true; });
  for (std::uint64_t i = 1; i <= 2; ++i) {
    ASSERT_TRUE(eventually([&] { return dep.counters().retries == i; }));
    vt.clk->advance(1ms);
  }
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  EXPECT_EQ(received.load(), before + 3);  // max_attempts

  before = received.load();
  auto marked_unsafe = dep.ask(get{1}, 1s, troupe::retry_safety::unsafe);
  EXPECT_EQ(code_of(marked_unsafe), actor_errc::handler_failed);
  EXPECT_EQ(received.load(), before + 1);
}

TEST_F(ProtectTest, TheBudgetBoundHoldsAtHundredPercentFailure) {
  // Every attempt fails; each retry needs a token. Over R requests with the
  // clock standing still the budget allows at most initial + ratio * R
  // retries, whatever the retry policy would like.
  constexpr int kRequests = 2000;
  auto dep = troupe::protect(svc)
                 .budget({.ratio = 0.1, .floor_per_second = 0.0, .max_tokens = 1000.0, .initial_tokens = 5.0})
                 .retry({.max_attempts = 5,
                         .backoff = {.base = 1ms, .cap = 1ms, .multiplier = 1.0, .kind = tp::jitter::none}});
  set(mode::fail);
  const int before = received.load();
  std::atomic<int> done{0};
  for (int i = 0; i < kRequests; ++i)
    dep.ask(get{i}, 10s).on_complete([&](result<int> r) {
      EXPECT_FALSE(r.has_value());
      ++done;
    });
  // Let the backoffs run out: each advance fires the retries due.
  ASSERT_TRUE(eventually([&] {
    vt.clk->advance(1ms);
    return done.load() == kRequests;
  }));
  const auto c = dep.counters();
  const std::uint64_t attempts = static_cast<std::uint64_t>(received.load() - before);
  std::printf("requests %d attempts %llu retries %llu refused by the budget %llu\n", kRequests,
              static_cast<unsigned long long>(attempts), static_cast<unsigned long long>(c.retries),
              static_cast<unsigned long long>(c.budget_exhausted));
  EXPECT_EQ(attempts, kRequests + c.retries);
  // The budget is 5 + 0.1 * R, plus the floor for the few virtual ms that passed (0 here).
  EXPECT_LE(c.retries, 5u + kRequests / 10);
  EXPECT_GT(c.budget_exhausted, 0u);
  EXPECT_EQ(dep.budget_core()->counters().withdrawn, c.retries);
}

TEST_F(ProtectTest, AnOpenInnerBreakerStopsTheRetries) {
  // retry outside the breaker: every attempt is counted, and once the
  // breaker opens the retries end with circuit_open (not retried).
  auto dep = troupe::protect(svc)
                 .retry({.max_attempts = 10,
                         .backoff = {.base = 1ms, .cap = 1ms, .multiplier = 1.0, .kind = tp::jitter::none}})
                 .breaker(quick_breaker());
  set(mode::fail);
  std::atomic<int> code{-1};
  dep.ask(get{1}, 10s).on_complete([&](result<int> r) { code = static_cast<int>(r.error_code()); });
  for (int i = 0; i < 5 && code.load() < 0; ++i) {
    std::this_thread::sleep_for(5ms);
    vt.clk->advance(1ms);
  }
  ASSERT_TRUE(eventually([&] {
    vt.clk->advance(1ms);
    return code.load() >= 0;
  }));
  EXPECT_EQ(code.load(), static_cast<int>(actor_errc::circuit_open));
  EXPECT_EQ(received.load(), 3);  // three failures tripped it; the fourth attempt was refused
  EXPECT_EQ(dep.counters().retries, 3u);
  EXPECT_EQ(dep.counters().rejected, 1u);
}

// ---------------------------------------------------------------------------
// Hedging

TEST_F(ProtectTest, AHedgedRequestsLoserIsCountedAndAbandonedNeverLeaked) {
  // Until 20 samples are in the hedge delay is its initial 10 ms.
  auto dep = troupe::protect(svc).hedge(
      {.percentile = 0.9, .window = 100, .min_samples = 20, .initial_delay = 10ms, .min_delay = 1ms});
  set(mode::hold);
  const int before = received.load();
  const auto dead_before = vt.sys.stats().dead_letters[dead_letter_reason::unanswered];
  std::atomic<int> value{-1};
  dep.ask(get{5}, 1s).on_complete([&](result<int> r) { value = r ? *r : -2; });
  ASSERT_TRUE(eventually([&] { return received.load() == before + 1; }));
  vt.clk->advance(10ms);  // the first copy has not answered: a second one goes
  ASSERT_TRUE(eventually([&] { return received.load() == before + 2; }));
  EXPECT_EQ(dep.counters().hedges, 1u);
  // Both copies answer: the first answer wins, the other is the loser.
  EXPECT_EQ(svc.ask(release_held{}, 10s).get(), 2);
  ASSERT_TRUE(eventually([&] { return value.load() == 1; }));
  ASSERT_TRUE(eventually([&] { return dep.counters().hedge_losers == 1; }));
  // The loser's ask was abandoned when the winner came in, so its reply is a
  // dead letter `unanswered`, as any reply nobody waits for.
  EXPECT_EQ(vt.sys.stats().dead_letters[dead_letter_reason::unanswered], dead_before + 1);

  // Many hedged requests: every hedge has exactly one loser. Each request's
  // hedge timer either sends a copy or is refused by the budget.
  for (int i = 0; i < 100; ++i) dep.ask(get{i}, 1s).on_complete([](result<int>) {});
  ASSERT_TRUE(eventually([&] { return received.load() == before + 2 + 100; }));
  vt.clk->advance(10ms);
  ASSERT_TRUE(eventually([&] {
    const auto c = dep.counters();
    return c.hedges + c.budget_exhausted == 101 &&
           received.load() == before + 2 + 100 + static_cast<int>(c.hedges) - 1;
  }));
  EXPECT_EQ(svc.ask(release_held{}, 10s).get(), 100 + static_cast<int>(dep.counters().hedges) - 1);
  ASSERT_TRUE(eventually([&] { return dep.counters().hedge_losers == dep.counters().hedges; }));
  const auto c = dep.counters();
  EXPECT_GT(c.hedges, 1u);
  EXPECT_EQ(c.hedge_losers, c.hedges);
  EXPECT_EQ(c.requests, 101u);
  EXPECT_EQ(c.successes, 101u);
}

TEST_F(ProtectTest, HedgesAreChargedToTheBudgetAndNeverSentForUnsafeRequests) {
  auto dep = troupe::protect(svc)
                 .budget({.ratio = 0.0, .floor_per_second = 0.0, .max_tokens = 10.0, .initial_tokens = 2.0})
                 .hedge({.min_samples = 1000, .initial_delay = 10ms});
  set(mode::hold);
  for (int i = 0; i < 5; ++i) dep.ask(get{i}, 1s).on_complete([](result<int>) {});
  dep.ask(charge{1}, 1s).on_complete([](result<int>) {});
  ASSERT_TRUE(eventually([&] { return received.load() == 6; }));
  vt.clk->advance(10ms);
  ASSERT_TRUE(eventually([&] { return received.load() == 8; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(received.load(), 8);  // two tokens: two hedges; charge is never hedged
  EXPECT_EQ(dep.counters().hedges, 2u);
  EXPECT_EQ(dep.counters().budget_exhausted, 3u);
  svc.ask(release_held{}, 10s).get();
  ASSERT_TRUE(eventually([&] { return dep.counters().hedge_losers == 2; }));
}

// ---------------------------------------------------------------------------
// Through a router: a retry is a new pick

TEST_F(ProtectTest, RetriesThroughARouterPickAgain) {
  std::atomic<int> other_received{0};
  auto healthy = vt.sys.spawn<service>(&other_received);
  router<service> pool(vt.sys);
  pool.add(svc);
  pool.add(healthy);
  set(mode::fail);
  auto dep = troupe::protect(pool).retry(
      {.max_attempts = 10,
       .backoff = {.base = 1ms, .cap = 1ms, .multiplier = 1.0, .kind = tp::jitter::none}});
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; ++i)
    dep.ask(get{i}, 1s).on_complete([&](result<int> r) {
      if (r) ++ok;
    });
  ASSERT_TRUE(eventually([&] {
    vt.clk->advance(1ms);
    return ok.load() == 10;
  }));
  EXPECT_GE(received.load(), 5);  // round-robin: half the first attempts failed there
  EXPECT_EQ(other_received.load(), 10);
  EXPECT_EQ(dep.counters().retries, static_cast<std::uint64_t>(received.load()));
}

// ---------------------------------------------------------------------------
// Real threads: a deadline racing the reply

struct spin_for {
  int us = 0;
};
struct busy_service : actor<busy_service> {
  int on(spin_for s) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(s.us);
    while (std::chrono::steady_clock::now() < until) {}
    return s.us;
  }
};

// Found by troupe-soak under TSan: an attempt's completion hook read the
// reply state's `delivered` flag outside its lock, while a reply arriving
// just after the deadline wrote it under the lock (ask.cpp). The hook must
// read a flag that no later reply changes. Deadlines about as long as the
// handler make the timeout and the reply race on two workers; every ask
// must still end once, with the value or a timeout. (The race itself is
// what the tsan preset reports.)
TEST(ProtectRaceTest, ADeadlineRacingTheReplyEndsTheAskOnceWithoutADataRace) {
  runtime rt(runtime_options{.workers = 2});
  actor_system sys(rt);
  auto svc = sys.spawn<busy_service>(spawn_options{.capacity = 4096});
  tp::circuit_breaker_config never_trips;
  never_trips.failure_rate = std::nullopt;
  auto guarded = protect(svc).breaker(never_trips);
  int values = 0, timeouts = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<ask_future<int>> asks;
    std::vector<int> spins;
    for (int i = 0; i < 50; ++i) {
      const int k = round * 50 + i;
      const int us = 100 + (k * 37) % 900;
      spins.push_back(us);
      asks.push_back(
          guarded.ask(spin_for{us}, std::chrono::microseconds(std::max(50, us + (k % 7 - 3) * 100))));
    }
    for (std::size_t i = 0; i < asks.size(); ++i) {
      result<int> r = asks[i].get_result();
      if (r) {
        EXPECT_EQ(*r, spins[i]);
        ++values;
      } else {
        // deadline_passed: a deadline so short it passed before the ask was made.
        EXPECT_TRUE(r.error_code() == actor_errc::timeout || r.error_code() == actor_errc::deadline_passed)
            << to_string(r.error_code());
        ++timeouts;
      }
    }
  }
  // Every ask ended once (how many of each depends on the machine's speed).
  EXPECT_EQ(values + timeouts, 40 * 50);
}

}  // namespace
}  // namespace troupe::test
