// pattern_metrics: the patterns' counters as families of an actor system's
// metrics snapshot. Components are driven by explicit time points (no
// sleeps) to known counts and states; the snapshot must show exactly those,
// under Prometheus-valid names, and follow later changes (a limit that
// moves, a breaker that trips). Handles (protected_ref, router) are driven
// through real actors on virtual time to exact hedge and routing counts.

#include "troupe/patterns/metrics.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <stdexcept>
#include <string>
#include <vector>

#include "actor_test_util.hpp"

#include "troupe/actors.hpp"
#include "troupe/patterns/actor_router.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

struct env {
  troupe::runtime rt{troupe::runtime_options{.workers = 1}};
  troupe::actor_system sys{rt};
};

const troupe::metric_family* find_family(const troupe::system_metrics& m, const std::string& name) {
  for (const auto& f : m.sources)
    if (f.name == name) return &f;
  return nullptr;
}

// The value of the sample of `family` with exactly these labels; fails the
// test (and answers -1) if there is not exactly one.
double value_of(const troupe::system_metrics& m, const std::string& family,
                const std::vector<troupe::metric_label>& labels) {
  const troupe::metric_family* f = find_family(m, family);
  if (!f) {
    ADD_FAILURE() << "no family " << family;
    return -1;
  }
  const troupe::metric_sample* found = nullptr;
  for (const auto& s : f->samples)
    if (s.labels == labels) {
      if (found) ADD_FAILURE() << family << ": the same labels twice";
      found = &s;
    }
  if (!found) {
    ADD_FAILURE() << family << ": no sample with these labels";
    return -1;
  }
  return found->value;
}

void expect_all_valid(const troupe::system_metrics& m) {
  EXPECT_EQ(m.source_errors, 0u);
  for (const auto& f : m.sources) EXPECT_EQ(troupe::validate(f), "") << f.name;
}

TEST(PatternMetricsTest, BreakerStateTransitionsCallsAndRejections) {
  env e;
  circuit_breaker_config cfg;
  cfg.consecutive_failures = consecutive_failures_trip{.threshold = 2};
  cfg.failure_rate = std::nullopt;
  cfg.open = {.base = 10s, .cap = 10s, .multiplier = 1.0, .jitter = 0};
  circuit_breaker b(cfg);
  pattern_metrics pm(e.sys);
  pm.add("payments", b);

  auto m = e.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_label who{"breaker", "payments"};
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "closed"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "open"}}), 0);

  // One success, two failures: the second trips it. Then two refusals.
  auto p = b.try_acquire(t0, t0 + 1s);
  b.record(p, outcome::success, 1ms, t0);
  for (int i = 0; i < 2; ++i) {
    p = b.try_acquire(t0, t0 + 1s);
    ASSERT_TRUE(p);
    b.record(p, outcome::failure, 1ms, t0);
  }
  ASSERT_EQ(b.state(), breaker_state::open);
  EXPECT_FALSE(b.try_acquire(t0 + 1s, t0 + 2s));
  EXPECT_FALSE(b.try_acquire(t0 + 2s, t0 + 3s));

  m = e.sys.metrics();
  expect_all_valid(m);
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "closed"}}), 0);
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "open"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "half_open"}}), 0);
  EXPECT_EQ(value_of(m, "troupe_breaker_transitions_total", {who, {"to", "open"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_transitions_total", {who, {"to", "closed"}}), 0);
  EXPECT_EQ(value_of(m, "troupe_breaker_calls_total", {who, {"outcome", "success"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_calls_total", {who, {"outcome", "failure"}}), 2);
  EXPECT_EQ(value_of(m, "troupe_breaker_rejected_total", {who}), 2);

  // The open period ends: the next caller is a probe (half-open), whose
  // success closes it.
  p = b.try_acquire(t0 + 11s, t0 + 12s);
  ASSERT_TRUE(p.is_probe());
  m = e.sys.metrics();
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "half_open"}}), 1);
  b.record(p, outcome::success, 1ms, t0 + 11s);
  m = e.sys.metrics();
  EXPECT_EQ(value_of(m, "troupe_breaker_state", {who, {"state", "closed"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_transitions_total", {who, {"to", "half_open"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_breaker_transitions_total", {who, {"to", "closed"}}), 1);
}

TEST(PatternMetricsTest, RetryBudgetExhaustionIsCounted) {
  env e;
  retry_budget budget({.ratio = 0.5, .floor_per_second = 0, .max_tokens = 10, .initial_tokens = 0}, t0);
  pattern_metrics pm(e.sys);
  pm.add("payments", budget);
  for (int i = 0; i < 4; ++i) budget.on_request(t0);  // 2 tokens
  int allowed = 0;
  for (int i = 0; i < 5; ++i) allowed += budget.try_withdraw(t0) ? 1 : 0;
  ASSERT_EQ(allowed, 2);

  const auto m = e.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_label who{"budget", "payments"};
  EXPECT_EQ(value_of(m, "troupe_retry_budget_requests_total", {who}), 4);
  EXPECT_EQ(value_of(m, "troupe_retry_budget_withdrawn_total", {who}), 2);
  EXPECT_EQ(value_of(m, "troupe_retry_budget_refused_total", {who}), 3);
}

TEST(PatternMetricsTest, LimiterLimitIsFollowedOverTime) {
  env e;
  concurrency_limiter<aimd_limit> limiter(
      aimd_config{.initial = 10, .min = 1, .max = 100, .backoff_ratio = 0.5});
  pattern_metrics pm(e.sys);
  pm.add("front", limiter);
  const troupe::metric_label who{"limiter", "front"};

  auto m = e.sys.metrics();
  expect_all_valid(m);
  EXPECT_EQ(value_of(m, "troupe_limiter_limit", {who}), 10);

  // Normal may fill 80% of 10: 8 admitted, the 9th shed; best effort (60%)
  // is shed at once with 8 in flight.
  std::vector<concurrency_limiter<aimd_limit>::ticket> held;
  for (int i = 0; i < 9; ++i)
    if (auto t = limiter.try_acquire(priority::normal, t0)) held.push_back(std::move(t));
  ASSERT_EQ(held.size(), 8u);
  EXPECT_FALSE(limiter.try_acquire(priority::best_effort, t0));
  m = e.sys.metrics();
  EXPECT_EQ(value_of(m, "troupe_limiter_in_flight", {who}), 8);
  EXPECT_EQ(value_of(m, "troupe_limiter_admitted_total", {who, {"priority", "normal"}}), 8);
  EXPECT_EQ(value_of(m, "troupe_limiter_shed_total", {who, {"priority", "normal"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_limiter_shed_total", {who, {"priority", "best_effort"}}), 1);
  EXPECT_EQ(value_of(m, "troupe_limiter_admitted_total", {who, {"priority", "critical"}}), 0);

  // A timeout halves the limit; the next snapshot shows it.
  held.front().complete(outcome::timeout, t0 + 1s);
  m = e.sys.metrics();
  EXPECT_EQ(value_of(m, "troupe_limiter_limit", {who}), 5);
  EXPECT_EQ(value_of(m, "troupe_limiter_in_flight", {who}), 7);
}

TEST(PatternMetricsTest, ShedderAndBulkheadCounts) {
  env e;
  queue_delay_shedder shedder({.target = 5ms, .interval = 100ms});
  bulkhead pool(2);
  pattern_metrics pm(e.sys);
  pm.add("inbox", shedder);
  pm.add("db", pool);

  auto a = pool.try_acquire();
  auto b = pool.try_acquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(pool.try_acquire());
  const auto before = shedder.counters();
  EXPECT_FALSE(shedder.should_shed(t0, t0 + 1ms));

  const auto m = e.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_label db{"bulkhead", "db"};
  EXPECT_EQ(value_of(m, "troupe_bulkhead_in_use", {db}), 2);
  EXPECT_EQ(value_of(m, "troupe_bulkhead_capacity", {db}), 2);
  EXPECT_EQ(value_of(m, "troupe_bulkhead_admitted_total", {db}), 2);
  EXPECT_EQ(value_of(m, "troupe_bulkhead_rejected_total", {db}), 1);
  const troupe::metric_label inbox{"shedder", "inbox"};
  EXPECT_EQ(value_of(m, "troupe_queue_delay_admitted_total", {inbox}),
            static_cast<double>(before.admitted + 1));
  EXPECT_EQ(value_of(m, "troupe_queue_delay_shed_total", {inbox}), 0);
  EXPECT_EQ(value_of(m, "troupe_queue_delay_overloaded", {inbox}), 0);
  // No breaker, budget or limiter added: none of their families.
  EXPECT_EQ(find_family(m, "troupe_breaker_state"), nullptr);
  EXPECT_EQ(find_family(m, "troupe_limiter_limit"), nullptr);
}

TEST(PatternMetricsTest, SeveralComponentsShareOneFamilyAndTheTextParsesOurWay) {
  env e;
  circuit_breaker b1, b2;
  pattern_metrics pm(e.sys);
  pm.add("payments", b1);
  pm.add("search", b2);
  const auto m = e.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_family* f = find_family(m, "troupe_breaker_state");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->samples.size(), 2 * breaker_state_count);
  const std::string text = m.to_prometheus_text();
  EXPECT_NE(text.find("troupe_breaker_state{breaker=\"search\",state=\"closed\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE troupe_breaker_transitions_total counter"), std::string::npos);
}

TEST(PatternMetricsTest, RemovedComponentsAreNotReadAndNamesAreChecked) {
  env e;
  pattern_metrics pm(e.sys);
  {
    bulkhead pool(1);
    EXPECT_THROW(pm.add("", pool), std::invalid_argument);
    pm.add("db", pool);
    EXPECT_THROW(pm.add("db", pool), std::invalid_argument);  // same kind, same name
    EXPECT_TRUE(pm.remove("db"));
    EXPECT_FALSE(pm.remove("db"));
  }  // pool is gone: a snapshot must not read it
  const auto m = e.sys.metrics();
  EXPECT_EQ(find_family(m, "troupe_bulkhead_in_use"), nullptr);
  EXPECT_EQ(m.source_errors, 0u);
}

TEST(PatternMetricsTest, TheSourceNameIsTheSystemsToo) {
  env e;
  pattern_metrics pm(e.sys);
  EXPECT_THROW(pattern_metrics(e.sys), troupe::actor_error);  // "patterns" is taken
  pattern_metrics other(e.sys, "patterns.edge");              // another name is fine
  bulkhead a(1), b(1);
  pm.add("db", a);
  other.add("db", b);
  // The same families from two sources: the second's are left out, counted.
  const auto m = e.sys.metrics();
  EXPECT_GT(m.source_errors, 0u);
  const troupe::metric_family* f = find_family(m, "troupe_bulkhead_capacity");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->samples.size(), 1u);
}

// ---------------------------------------------------------------------------
// Handles: protected_ref and router

struct get {
  static constexpr bool idempotent = true;  // may be hedged
  int x = 0;
};
struct release_all {};
struct held_count {};
// Holds every get until told to answer them all, in arrival order.
struct holding : troupe::actor<holding> {
  std::vector<troupe::reply_promise<int>> held;
  troupe::reply_promise<int> on(get) {
    auto p = troupe::this_actor::reply_later<int>();
    held.push_back(p);
    return p;
  }
  int on(held_count) { return static_cast<int>(held.size()); }
  int on(release_all) {
    for (auto& p : held) p.deliver(1);
    const int n = static_cast<int>(held.size());
    held.clear();
    return n;
  }
};

TEST(PatternMetricsTest, HedgesAndLosersOfAProtectedRefAreCountedExactly) {
  troupe::test::virtual_time vt;
  auto svc = vt.sys.spawn<holding>();
  pattern_metrics pm(vt.sys);
  {
    // min_samples above 10: every hedge waits the initial 10 ms.
    auto dep = troupe::protect(svc)
                   .budget({.ratio = 0.0, .floor_per_second = 0.0, .max_tokens = 100, .initial_tokens = 100})
                   .hedge({.min_samples = 1000, .initial_delay = 10ms});
    pm.add("payments", dep);
    EXPECT_THROW(pm.add("payments", dep), std::invalid_argument);
    EXPECT_THROW(pm.add("other", troupe::protected_ref<holding>{}), std::invalid_argument);

    std::atomic<int> answered{0};
    for (int i = 0; i < 10; ++i)
      dep.ask(get{i}, 1s).on_complete([&](troupe::result<int> r) { answered += r ? 1 : 0; });
    // The first copies are held (slow); 10 ms later each request hedges.
    ASSERT_TRUE(troupe::test::eventually([&] { return dep.counters().requests == 10; }));
    vt.clk->advance(10ms);
    ASSERT_TRUE(troupe::test::eventually([&] { return dep.counters().hedges == 10; }));
    // A hedge is counted before its copy is sent: wait until all twenty are
    // held (the test used to release after the count, and once under TSan
    // the last hedge arrived after the release: 19 held, not 20).
    ASSERT_TRUE(troupe::test::eventually([&] { return svc.ask(held_count{}, 10s).get() == 20; }));
    // The held first copies answer first and win; the ten hedges lose.
    EXPECT_EQ(svc.ask(release_all{}, 10s).get(), 20);
    ASSERT_TRUE(troupe::test::eventually([&] { return dep.counters().hedge_losers == 10; }));
    ASSERT_TRUE(troupe::test::eventually([&] { return answered.load() == 10; }));
  }  // the handle is gone: the registration keeps its counters alive

  const auto m = vt.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_label who{"protect", "payments"};
  EXPECT_EQ(value_of(m, "troupe_protect_requests_total", {who}), 10);
  EXPECT_EQ(value_of(m, "troupe_protect_hedges_total", {who}), 10);
  EXPECT_EQ(value_of(m, "troupe_protect_hedge_losers_total", {who}), 10);
  EXPECT_EQ(value_of(m, "troupe_protect_calls_total", {who, {"outcome", "success"}}), 10);
  EXPECT_EQ(value_of(m, "troupe_protect_calls_total", {who, {"outcome", "failure"}}), 0);
  EXPECT_EQ(value_of(m, "troupe_protect_retries_total", {who}), 0);
  EXPECT_EQ(value_of(m, "troupe_protect_budget_exhausted_total", {who}), 0);
  EXPECT_EQ(value_of(m, "troupe_protect_refused_total", {who, {"by", "breaker"}}), 0);
  EXPECT_EQ(value_of(m, "troupe_protect_fallbacks_total", {who, {"result", "answered"}}), 0);
  EXPECT_TRUE(pm.remove("payments"));
  EXPECT_EQ(find_family(vt.sys.metrics(), "troupe_protect_hedges_total"), nullptr);
}

struct job {
  int key = 0;
};
struct jobs_seen {};
struct worker : troupe::actor<worker> {
  int seen = 0;
  void on(job) { ++seen; }
  int on(jobs_seen) { return seen; }
};

TEST(PatternMetricsTest, RouterSharesArePerRouteeAndFollowMembership) {
  env e;
  std::vector<troupe::actor_ref<worker>> w;
  troupe::router<worker> pool(e.sys);
  for (int i = 0; i < 3; ++i) {
    w.push_back(e.sys.spawn<worker>());
    ASSERT_TRUE(pool.add(w.back(), static_cast<routee_id>(i + 1)));
  }
  pattern_metrics pm(e.sys);
  pm.add("workers", pool);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(pool.send(job{i}));

  auto m = e.sys.metrics();
  expect_all_valid(m);
  const troupe::metric_label who{"router", "workers"};
  EXPECT_EQ(value_of(m, "troupe_router_routees", {who}), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(value_of(m, "troupe_router_routed_total", {who, {"routee", std::to_string(i + 1)}}), 100);
    EXPECT_EQ(w[static_cast<std::size_t>(i)].ask(jobs_seen{}, 10s).get(), 100);  // and they got them
  }
  // A removed routee's series goes; the others keep counting.
  ASSERT_TRUE(pool.remove(w[1]));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.send(job{i}));
  m = e.sys.metrics();
  EXPECT_EQ(value_of(m, "troupe_router_routees", {who}), 2);
  EXPECT_EQ(find_family(m, "troupe_router_routed_total")->samples.size(), 2u);
  EXPECT_EQ(value_of(m, "troupe_router_routed_total", {who, {"routee", "1"}}) +
                value_of(m, "troupe_router_routed_total", {who, {"routee", "3"}}),
            210);
}

TEST(PatternMetricsTest, EveryRoutingPolicyCountsItsPicks) {
  env e;
  auto a = e.sys.spawn<worker>();
  auto b = e.sys.spawn<worker>();
  troupe::router<worker, troupe::routing::random> rnd(e.sys);
  troupe::router<worker, troupe::routing::smallest_mailbox> small(e.sys);
  troupe::router<worker, troupe::routing::p2c> p2c(e.sys);
  auto one_key = [](const auto&) { return 7; };
  troupe::router<worker, decltype(troupe::routing::by_key(one_key))> hashed(e.sys,
                                                                            troupe::routing::by_key(one_key));
  pattern_metrics pm(e.sys);
  auto both = [&](auto& r, const char* name) {
    ASSERT_TRUE(r.add(a, 1));
    ASSERT_TRUE(r.add(b, 2));
    pm.add(name, r);
  };
  both(rnd, "random");
  both(small, "smallest");
  both(p2c, "p2c");
  both(hashed, "hashed");
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(rnd.send(job{i}));
    ASSERT_TRUE(small.send(job{i}));
    ASSERT_TRUE(hashed.send(job{i}));
    EXPECT_EQ(p2c.ask(jobs_seen{}, 10s).get() >= 0, true);
  }
  const auto m = e.sys.metrics();
  expect_all_valid(m);
  for (const char* name : {"random", "smallest", "p2c", "hashed"}) {
    const troupe::metric_label who{"router", name};
    const double one = value_of(m, "troupe_router_routed_total", {who, {"routee", "1"}});
    const double two = value_of(m, "troupe_router_routed_total", {who, {"routee", "2"}});
    EXPECT_EQ(one + two, 50) << name;
  }
  // One key: every message to the same routee.
  const troupe::metric_label h{"router", "hashed"};
  EXPECT_EQ(value_of(m, "troupe_router_routed_total", {h, {"routee", "1"}}) *
                value_of(m, "troupe_router_routed_total", {h, {"routee", "2"}}),
            0);
  EXPECT_THROW(pm.add("empty", troupe::router<worker>{}), std::invalid_argument);
}

}  // namespace
