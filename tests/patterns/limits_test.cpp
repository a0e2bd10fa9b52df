// Tests of the limits: AIMD and gradient limits move the documented way; a
// simulated service (explicit virtual time, fixed seeds) at 2x its capacity
// behind a concurrency limiter keeps >= 99% of critical requests succeeding
// while best-effort ones are shed first; queue-delay shedding keeps admitted
// requests' sojourn under its target at 2x overload; a bulkhead never
// exceeds N under racing threads (every call counted).

#include "troupe/patterns/limits.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <gtest/gtest.h>
#include <latch>
#include <memory>
#include <queue>
#include <thread>
#include <vector>

#include "troupe/patterns/bulkhead.hpp"
#include "troupe/patterns/queue_delay.hpp"
#include "troupe/patterns/random.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

// ---------------------------------------------------------------------------
// The limit algorithms on their own

// Samples of requests admitted at t0 + i ms, answered after `rtt`.
limit_sample sample(int i, clock::duration rtt, std::uint32_t in_flight, bool dropped = false) {
  return {t0 + i * 1ms, rtt, in_flight, dropped};
}

TEST(AimdLimitTest, GrowsByOneWhileUsedAndBacksOffOnDrops) {
  aimd_limit l({.initial = 10, .min = 2, .max = 12, .backoff_ratio = 0.5, .timeout = 100ms});
  l.on_sample(sample(0, 5ms, 4));  // under half used: no growth
  EXPECT_EQ(l.current(), 10u);
  l.on_sample(sample(1, 5ms, 5));
  EXPECT_EQ(l.current(), 11u);
  for (int i = 0; i < 5; ++i) l.on_sample(sample(2 + i, 5ms, 11));
  EXPECT_EQ(l.current(), 12u);  // capped at max
  l.on_sample(sample(10, 5ms, 12, true));
  EXPECT_EQ(l.current(), 6u);
  // Drops of requests admitted before that decrease (at 15 ms) are the same
  // congestion: no second decrease.
  l.on_sample(sample(11, 5ms, 12, true));
  l.on_sample(sample(14, 200ms, 12));
  EXPECT_EQ(l.current(), 6u);
  l.on_sample(sample(20, 200ms, 6));  // admitted after it, slower than the timeout: a drop
  EXPECT_EQ(l.current(), 3u);
  l.on_sample(sample(300, 1ms, 1, true));
  l.on_sample(sample(400, 1ms, 1, true));
  EXPECT_EQ(l.current(), 2u);  // floored at min
}

TEST(GradientLimitTest, ShrinksWhenLatencyRisesAndGrowsWhenItIsSteady) {
  gradient_limit l({.initial = 50, .min = 5, .max = 200});
  for (int i = 0; i < 200; ++i) l.on_sample(sample(i, 10ms, 50));
  const std::uint32_t steady = l.current();
  EXPECT_GT(steady, 50u);  // at its baseline and fully used: grows by the queue allowance
  EXPECT_EQ(l.baseline_rtt(), 10ms);
  std::uint32_t prev = steady;
  for (int i = 0; i < 20; ++i) {
    l.on_sample(sample(200 + i, 40ms, prev));  // queueing: 4x the baseline
    EXPECT_LE(l.current(), prev);
    prev = l.current();
  }
  EXPECT_LT(prev, steady / 2);
  // Application-limited (under half used): no change.
  const std::uint32_t before = l.current();
  l.on_sample(sample(300, 1ms, 1));
  EXPECT_EQ(l.current(), before);
  // A drop halves the target: it shrinks the limit too.
  gradient_limit d({.initial = 50});
  for (int i = 0; i < 50; ++i) d.on_sample(sample(i, 10ms, 60));
  const std::uint32_t top = d.current();
  for (int i = 0; i < 10; ++i) d.on_sample(sample(50 + i, 20ms, 60, true));
  EXPECT_LT(d.current(), top);
  EXPECT_EQ(d.baseline_rtt(), 10ms);  // drops do not move the baseline
}

TEST(GradientLimitTest, BaselineForgetsAfterItsWindow) {
  gradient_limit l({.initial = 10, .baseline_window = 100});
  for (int i = 0; i < 50; ++i) l.on_sample(sample(i, 5ms, 1));
  EXPECT_EQ(l.baseline_rtt(), 5ms);
  for (int i = 0; i < 120; ++i) l.on_sample(sample(50 + i, 8ms, 1));
  EXPECT_EQ(l.baseline_rtt(), 8ms);
}

TEST(ConcurrencyLimiterTest, ClassesFillTheirFractionOfTheLimit) {
  concurrency_limiter<fixed_limit> lim(10u, {.admit_fraction = {1.0, 0.8, 0.5}});
  std::vector<concurrency_limiter<fixed_limit>::ticket> held;
  for (int i = 0; i < 10; ++i) {
    auto t = lim.try_acquire(priority::best_effort, t0);
    if (t) held.push_back(std::move(t));
  }
  EXPECT_EQ(held.size(), 5u);
  for (int i = 0; i < 10; ++i) {
    auto t = lim.try_acquire(priority::normal, t0);
    if (t) held.push_back(std::move(t));
  }
  EXPECT_EQ(held.size(), 8u);
  for (int i = 0; i < 10; ++i) {
    auto t = lim.try_acquire(priority::critical, t0);
    if (t) held.push_back(std::move(t));
  }
  EXPECT_EQ(held.size(), 10u);
  EXPECT_EQ(lim.in_flight(), 10u);
  const auto c = lim.counters();
  EXPECT_EQ(c.admitted, (std::array<std::uint64_t, 3>{2, 3, 5}));
  EXPECT_EQ(c.shed, (std::array<std::uint64_t, 3>{8, 7, 5}));
  held[0].complete(outcome::success, t0 + 1ms);
  EXPECT_EQ(lim.in_flight(), 9u);
  held.clear();
  EXPECT_EQ(lim.in_flight(), 0u);
}

// ---------------------------------------------------------------------------
// A simulated service at twice its capacity

// k workers, each request takes `service` (+-10%); FIFO; a request still
// queued at its deadline is skipped. The client sees success if the answer
// comes by the deadline, else a timeout at the deadline. Requests arrive at a
// fixed rate, 10% critical, 30% normal, 60% best effort.
struct service_result {
  std::array<std::uint64_t, priority_count> offered{}, succeeded{}, shed{};
  double success_rate(priority p) const {
    return static_cast<double>(succeeded[static_cast<std::size_t>(p)]) /
           static_cast<double>(offered[static_cast<std::size_t>(p)]);
  }
  double shed_rate(priority p) const {
    return static_cast<double>(shed[static_cast<std::size_t>(p)]) /
           static_cast<double>(offered[static_cast<std::size_t>(p)]);
  }
};

template <class Limit>
service_result run_service(concurrency_limiter<Limit>& lim, int workers, clock::duration service, int rate,
                           clock::duration length, clock::duration deadline_after) {
  using ticket = typename concurrency_limiter<Limit>::ticket;
  struct done {
    clock::time_point at;
    outcome result;
    std::shared_ptr<ticket> t;
    bool operator>(const done& o) const { return at > o.at; }
  };
  std::priority_queue<done, std::vector<done>, std::greater<>> completions;
  std::priority_queue<clock::time_point, std::vector<clock::time_point>, std::greater<>> free_at;
  for (int i = 0; i < workers; ++i) free_at.push(t0);
  random_source rng(77);
  service_result r;
  const clock::duration gap = clock::duration(1s) / rate;
  for (clock::time_point now = t0; now < t0 + length; now += gap) {
    while (!completions.empty() && completions.top().at <= now) {
      const done& d = completions.top();
      d.t->complete(d.result, d.at);
      completions.pop();
    }
    const double u = rng.uniform();
    const priority p = u < 0.1 ? priority::critical : u < 0.4 ? priority::normal : priority::best_effort;
    const auto c = static_cast<std::size_t>(p);
    ++r.offered[c];
    ticket t = lim.try_acquire(p, now);
    if (!t) {
      ++r.shed[c];
      continue;
    }
    const clock::time_point deadline = now + deadline_after;
    const clock::time_point start = std::max(now, free_at.top());
    if (start >= deadline) {  // expired in the queue: skipped, no work done
      completions.push({deadline, outcome::timeout, std::make_shared<ticket>(std::move(t))});
      continue;
    }
    free_at.pop();
    const clock::time_point end =
        start + std::chrono::duration_cast<clock::duration>(service * (0.9 + 0.2 * rng.uniform()));
    free_at.push(end);
    if (end <= deadline) {
      ++r.succeeded[c];
      completions.push({end, outcome::success, std::make_shared<ticket>(std::move(t))});
    } else {
      completions.push({deadline, outcome::timeout, std::make_shared<ticket>(std::move(t))});
    }
  }
  return r;
}

void print(const char* what, const service_result& r) {
  std::printf("%s: success critical %.4f normal %.4f best-effort %.4f; shed %.4f %.4f %.4f\n", what,
              r.success_rate(priority::critical), r.success_rate(priority::normal),
              r.success_rate(priority::best_effort), r.shed_rate(priority::critical),
              r.shed_rate(priority::normal), r.shed_rate(priority::best_effort));
}

// Capacity: 10 workers / 10 ms = 1,000 requests a second; offered 2,000.
TEST(ConcurrencyLimiterTest, AimdAtTwiceCapacityKeepsCriticalRequestsAndShedsBestEffortFirst) {
  concurrency_limiter<aimd_limit> lim(
      aimd_config{.initial = 20, .min = 1, .max = 1000, .backoff_ratio = 0.9, .timeout = 50ms});
  const auto r = run_service(lim, 10, 10ms, 2000, 30s, 100ms);
  print("aimd", r);
  EXPECT_GE(r.success_rate(priority::critical), 0.99);
  EXPECT_LT(r.shed_rate(priority::critical), r.shed_rate(priority::normal));
  EXPECT_LT(r.shed_rate(priority::normal), r.shed_rate(priority::best_effort));
  EXPECT_GT(r.shed_rate(priority::best_effort), 0.5);
  // The capacity is used: about 1,000 a second succeed.
  const double ok = static_cast<double>(r.succeeded[0] + r.succeeded[1] + r.succeeded[2]) / 30.0;
  EXPECT_GT(ok, 900);
}

TEST(ConcurrencyLimiterTest, GradientAtTwiceCapacityKeepsCriticalRequestsAndShedsBestEffortFirst) {
  concurrency_limiter<gradient_limit> lim(gradient_config{.initial = 20, .min = 1, .max = 1000});
  const auto r = run_service(lim, 10, 10ms, 2000, 30s, 100ms);
  print("gradient", r);
  EXPECT_GE(r.success_rate(priority::critical), 0.99);
  EXPECT_LT(r.shed_rate(priority::critical), r.shed_rate(priority::normal));
  EXPECT_LT(r.shed_rate(priority::normal), r.shed_rate(priority::best_effort));
  const double ok = static_cast<double>(r.succeeded[0] + r.succeeded[1] + r.succeeded[2]) / 30.0;
  EXPECT_GT(ok, 900);
}

TEST(ConcurrencyLimiterTest, WithoutPrioritiesCriticalRequestsSufferAsMuchAsTheRest) {
  // The control for the two tests above: equal fractions, critical requests
  // are shed like everything else.
  concurrency_limiter<aimd_limit> lim(aimd_config{.initial = 20, .timeout = 50ms},
                                      {.admit_fraction = {1, 1, 1}});
  const auto r = run_service(lim, 10, 10ms, 2000, 30s, 100ms);
  print("no priorities", r);
  EXPECT_LT(r.success_rate(priority::critical), 0.9);
}

// Threads race for 16 places of a fixed limit: the in-flight count never
// exceeds it, and every attempt is either admitted or shed.
TEST(ConcurrencyLimiterTest, NeverExceedsTheLimitUnderRacingThreads) {
  concurrency_limiter<fixed_limit> lim(16u);
  std::atomic<int> inside{0}, max_inside{0};
  std::atomic<std::uint64_t> admitted{0}, shed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20000; ++k) {
        auto t = lim.try_acquire(static_cast<priority>(k % 3), t0);
        if (!t) {
          shed.fetch_add(1);
          continue;
        }
        admitted.fetch_add(1);
        const int n = inside.fetch_add(1) + 1;
        int m = max_inside.load();
        while (n > m && !max_inside.compare_exchange_weak(m, n)) {}
        if (k % 7 == i) std::this_thread::yield();
        inside.fetch_sub(1);
        t.complete(outcome::success, t0 + 1ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside.load(), 16);
  EXPECT_EQ(admitted.load() + shed.load(), 6u * 20000u);
  const auto c = lim.counters();
  EXPECT_EQ(c.admitted[0] + c.admitted[1] + c.admitted[2], admitted.load());
  EXPECT_EQ(c.shed[0] + c.shed[1] + c.shed[2], shed.load());
  EXPECT_EQ(lim.in_flight(), 0u);
}

// ---------------------------------------------------------------------------
// Queue-delay shedding

struct queue_result {
  std::uint64_t arrived = 0, served = 0, shed = 0;
  clock::duration max_sojourn_after_warmup{};
  std::uint64_t served_after_warmup = 0;
};

// One worker serving 1 ms requests (1,000 a second), arrivals at `rate`; at
// each dequeue the shedder decides. Sojourns of admitted requests are
// watched after `warmup`.
queue_result run_queue(queue_delay_shedder& s, int rate, clock::duration length, clock::duration warmup,
                       priority p = priority::normal) {
  queue_result r;
  std::deque<clock::time_point> queue;
  const clock::duration gap = clock::duration(1s) / rate;
  clock::time_point next_arrival = t0;
  clock::time_point worker_free = t0;
  const clock::time_point end = t0 + length;
  while (next_arrival < end || !queue.empty()) {
    // Next event: an arrival, or the worker taking the next request.
    if (next_arrival < end && (queue.empty() || next_arrival <= worker_free)) {
      queue.push_back(next_arrival);
      ++r.arrived;
      next_arrival += gap;
      continue;
    }
    const clock::time_point now = std::max(worker_free, queue.front());
    const clock::time_point enq = queue.front();
    queue.pop_front();
    if (s.should_shed(enq, now, p)) {
      ++r.shed;
      worker_free = now;  // shedding costs nothing
      continue;
    }
    ++r.served;
    if (now >= t0 + warmup) {
      r.max_sojourn_after_warmup = std::max(r.max_sojourn_after_warmup, now - enq);
      ++r.served_after_warmup;
    }
    worker_free = now + 1ms;
  }
  return r;
}

TEST(QueueDelayShedderTest, KeepsAdmittedSojournUnderTargetAtTwiceCapacity) {
  queue_delay_shedder s({.target = 5ms, .interval = 100ms});
  const auto r = run_queue(s, 2000, 20s, 300ms);
  std::printf("served %llu shed %llu max sojourn after warm-up %.3f ms\n",
              static_cast<unsigned long long>(r.served), static_cast<unsigned long long>(r.shed),
              std::chrono::duration<double, std::milli>(r.max_sojourn_after_warmup).count());
  EXPECT_LE(r.max_sojourn_after_warmup, 5ms);
  EXPECT_GT(r.served_after_warmup, 19000u);  // the worker stays busy: ~1,000 a second
  EXPECT_NEAR(static_cast<double>(r.shed) / static_cast<double>(r.arrived), 0.5, 0.02);
  EXPECT_EQ(r.served + r.shed, r.arrived);
  EXPECT_TRUE(s.overloaded());
}

TEST(QueueDelayShedderTest, ShedsNothingBelowCapacity) {
  queue_delay_shedder s({.target = 5ms, .interval = 100ms});
  const auto r = run_queue(s, 800, 10s, 0s);
  EXPECT_EQ(r.shed, 0u);
  EXPECT_FALSE(s.overloaded());
}

TEST(QueueDelayShedderTest, RecoversWhenTheOverloadEnds) {
  queue_delay_shedder s({.target = 5ms, .interval = 100ms});
  (void)run_queue(s, 2000, 5s, 0s);
  EXPECT_TRUE(s.overloaded());
  // Below capacity the queue drains and the next intervals stop shedding.
  queue_delay_shedder fresh({.target = 5ms, .interval = 100ms});
  clock::time_point now = t0;
  for (int i = 0; i < 50; ++i, now += 10ms) (void)fresh.should_shed(now - 20ms, now);  // a standing queue
  EXPECT_TRUE(fresh.overloaded());
  EXPECT_TRUE(fresh.should_shed(now - 20ms, now));
  for (int i = 0; i < 30; ++i, now += 10ms) (void)fresh.should_shed(now - 1ms, now);  // drained
  EXPECT_FALSE(fresh.overloaded());
  EXPECT_FALSE(fresh.should_shed(now - 20ms, now));  // not shed: no standing queue in the last interval
}

TEST(QueueDelayShedderTest, CriticalRequestsAreShedLast) {
  queue_delay_shedder s({.target = 5ms, .interval = 100ms});
  clock::time_point now = t0;
  for (int i = 0; i < 30; ++i, now += 10ms) (void)s.should_shed(now - 10ms, now);
  ASSERT_TRUE(s.overloaded());
  EXPECT_TRUE(s.should_shed(now - 3ms, now, priority::best_effort));  // over target / 2
  EXPECT_FALSE(s.should_shed(now - 3ms, now, priority::normal));
  EXPECT_TRUE(s.should_shed(now - 6ms, now, priority::normal));
  EXPECT_FALSE(s.should_shed(now - 19ms, now, priority::critical));  // up to 4x the target
  EXPECT_TRUE(s.should_shed(now - 21ms, now, priority::critical));
}

// ---------------------------------------------------------------------------
// Bulkhead

TEST(BulkheadTest, AtMostNAndEveryCallCounted) {
  constexpr std::uint32_t kN = 5;
  bulkhead b(kN);
  std::atomic<int> inside{0}, max_inside{0};
  std::atomic<std::uint64_t> admitted{0}, rejected{0};
  constexpr int kThreads = 8, kCalls = 50000;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (int k = 0; k < kCalls; ++k) {
        auto p = b.try_acquire();
        if (!p) {
          rejected.fetch_add(1);
          continue;
        }
        admitted.fetch_add(1);
        const int n = inside.fetch_add(1) + 1;
        int m = max_inside.load();
        while (n > m && !max_inside.compare_exchange_weak(m, n)) {}
        if (k % 13 == i) std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside.load(), static_cast<int>(kN));
  EXPECT_EQ(admitted.load() + rejected.load(), static_cast<std::uint64_t>(kThreads) * kCalls);
  EXPECT_EQ(b.admitted(), admitted.load());
  EXPECT_EQ(b.rejected(), rejected.load());
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(BulkheadTest, PermitsReleaseOnDestructionAndMove) {
  bulkhead b(2);
  auto p1 = b.try_acquire();
  auto p2 = b.try_acquire();
  EXPECT_FALSE(b.try_acquire());
  auto moved = std::move(p1);
  EXPECT_EQ(b.in_use(), 2u);
  moved.release();
  EXPECT_EQ(b.in_use(), 1u);
  EXPECT_TRUE(b.try_acquire());  // a temporary: released at once
  EXPECT_EQ(b.in_use(), 1u);
}

}  // namespace
