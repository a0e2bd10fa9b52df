// Shedding through real actors, on virtual time: a concurrency limit in
// front of a service at twice its capacity keeps >= 99% of critical requests
// succeeding while best-effort ones are shed first; queue-delay shedding at
// the callee keeps the sojourn of handled requests under its target under a
// sustained 2x overload, sheds critical requests last, and its refusals are
// `overloaded` (dead letter `shed`), told apart from failures; a bulkhead
// lets at most N requests through at once.

#include "troupe/patterns/shedding.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

#include "actor_test_util.hpp"

#include "troupe/patterns/protect.hpp"
#include "troupe/patterns/random.hpp"

namespace troupe::test {
namespace {

namespace tp = troupe::patterns;

// ---------------------------------------------------------------------------
// A concurrency limit in front of a service at twice its capacity

struct offered_load {
  std::array<std::atomic<std::uint64_t>, 3> offered{}, succeeded{}, shed{}, failed{};
  double rate(const std::array<std::atomic<std::uint64_t>, 3>& a, message_priority p) const {
    const auto i = static_cast<std::size_t>(p);
    return static_cast<double>(a[i].load()) / static_cast<double>(offered[i].load());
  }
};

// 10 servers of 10 ms: 1,000 requests a second. Offered: 2 every virtual
// millisecond, 10% critical, 30% normal, 60% best effort (seeded). Every
// completion happens in the service's tick turn, which the test waits for,
// so the run is the same every time.
template <class LimitCfg>
void run_at_twice_capacity(LimitCfg cfg, const char* name) {
  virtual_time vt;
  auto svc = vt.sys.spawn<sim_service>(10u, clock::duration(10ms));
  auto dep = troupe::protect(svc).limit(cfg);
  offered_load load;
  tp::random_source rng(77);
  constexpr int kMs = 10'000;
  for (int ms = 0; ms < kMs; ++ms) {
    for (int i = 0; i < 2; ++i) {
      const double u = rng.uniform();
      const message_priority p = u < 0.1   ? message_priority::critical
                                 : u < 0.4 ? message_priority::normal
                                           : message_priority::best_effort;
      const auto c = static_cast<std::size_t>(p);
      ++load.offered[c];
      dep.ask(work{ms, vt.now()}, 1s, p).on_complete([&load, c, ms](result<int> r) {
        if (r)
          ++load.succeeded[c];
        else if (r.error_code() == actor_errc::overloaded)
          ++load.shed[c];
        else {
          ++load.failed[c];
          ADD_FAILURE() << "request " << ms << " failed: " << to_string(r.error_code());
        }
      });
    }
    vt.clk->advance(1ms);
    svc.ask(tick{}, 10s).get();
  }
  // Drain in the same steps (one big step would race the deadlines' timers
  // against the answers).
  for (int ms = 0; ms < 500; ++ms) {
    vt.clk->advance(1ms);
    svc.ask(tick{}, 10s).get();
  }
  std::printf("%s: success critical %.4f normal %.4f best-effort %.4f; shed %.4f %.4f %.4f\n", name,
              load.rate(load.succeeded, message_priority::critical),
              load.rate(load.succeeded, message_priority::normal),
              load.rate(load.succeeded, message_priority::best_effort),
              load.rate(load.shed, message_priority::critical),
              load.rate(load.shed, message_priority::normal),
              load.rate(load.shed, message_priority::best_effort));
  EXPECT_GE(load.rate(load.succeeded, message_priority::critical), 0.99);
  EXPECT_LT(load.rate(load.shed, message_priority::critical), load.rate(load.shed, message_priority::normal));
  EXPECT_LT(load.rate(load.shed, message_priority::normal),
            load.rate(load.shed, message_priority::best_effort));
  std::uint64_t ok = 0, failed = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    ok += load.succeeded[i];
    failed += load.failed[i];
    // Every request ended one way or the other; a shed one never reached the service.
    EXPECT_EQ(load.succeeded[i] + load.shed[i] + load.failed[i], load.offered[i]);
  }
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(static_cast<double>(ok) / (kMs / 1000.0), 900.0);  // the capacity is used
  EXPECT_EQ(svc.ask(get_stats{}, 10s).get().received, ok);
  EXPECT_EQ(dep.counters().shed, load.shed[0] + load.shed[1] + load.shed[2]);
}

TEST(LimitActorTest, AimdAtTwiceCapacityKeepsCriticalRequestsAndShedsBestEffortFirst) {
  run_at_twice_capacity(
      tp::aimd_config{.initial = 20, .min = 1, .max = 1000, .backoff_ratio = 0.9, .timeout = 50ms}, "aimd");
}

TEST(LimitActorTest, GradientAtTwiceCapacityKeepsCriticalRequestsAndShedsBestEffortFirst) {
  run_at_twice_capacity(tp::gradient_config{.initial = 20, .min = 1, .max = 1000}, "gradient");
}

// ---------------------------------------------------------------------------
// Queue-delay shedding at the callee

struct job {
  clock::time_point sent;  // virtual time of the send
};
struct urgent_job {
  static constexpr message_priority priority = message_priority::critical;
  clock::time_point sent;
};

// Takes 2 virtual ms per request (the test opens the gate once per 2 ms):
// 500 a second. Records each handled request's sojourn.
struct worker : actor<worker> {
  counting_semaphore* gate;
  std::atomic<int>* entered;
  std::vector<clock::duration>* sojourns;         // normal
  std::vector<clock::duration>* urgent_sojourns;  // critical
  worker(counting_semaphore* g, std::atomic<int>* e, std::vector<clock::duration>* s,
         std::vector<clock::duration>* u)
      : gate(g), entered(e), sojourns(s), urgent_sojourns(u) {}
  int on(job j) {
    sojourns->push_back(this_actor::now() - j.sent);
    ++*entered;
    gate->acquire();
    return 0;
  }
  int on(urgent_job j) {
    urgent_sojourns->push_back(this_actor::now() - j.sent);
    ++*entered;
    gate->acquire();
    return 0;
  }
};

struct ShedderActorTest : ::testing::Test {
  virtual_time vt;
  counting_semaphore gate{0};
  std::atomic<int> entered{0};
  std::vector<clock::duration> sojourns, urgent;
  std::shared_ptr<tp::queue_delay_policy> policy =
      tp::shed_by_queue_delay({.target = 5ms, .interval = 100ms});
  actor_ref<worker> w = vt.sys.spawn<worker>(spawn_options{.capacity = 100'000, .dequeue = policy}, &gate,
                                             &entered, &sojourns, &urgent);
  std::atomic<std::uint64_t> ok{0}, overloaded{0}, other{0};
  int released = 0;

  void count(result<int> r) {
    if (r)
      ++ok;
    else if (r.error_code() == actor_errc::overloaded)
      ++overloaded;
    else
      ++other;
  }
  // Lets the request in service finish; the worker then takes the next one
  // (shedding those that waited too long) or runs dry. Virtual time stands
  // still meanwhile.
  void serve_one() {
    if (entered.load() == released) return;  // idle
    ++released;
    gate.release(1);
    ASSERT_TRUE(eventually([&] { return entered.load() == released + 1 || w.depth() == 0; }));
  }
};

TEST_F(ShedderActorTest, KeepsTheSojournOfHandledRequestsUnderItsTargetAtTwiceCapacity) {
  // One request a virtual millisecond, served one per 2 ms, for 3 s.
  constexpr int kMs = 3000;
  for (int ms = 0; ms < kMs; ++ms) {
    job j{vt.now()};
    w.ask(j, 10s).on_complete([this](result<int> r) { count(std::move(r)); });
    if (ms == 0) {
      ASSERT_TRUE(eventually([&] { return entered.load() == 1; }));
    }
    if (ms % 2 == 1) serve_one();
    vt.clk->advance(1ms);
  }
  while (w.depth() != 0) {
    serve_one();
    vt.clk->advance(2ms);
  }
  gate.release(1);
  ASSERT_TRUE(eventually([&] { return ok.load() + overloaded.load() + other.load() == kMs; }));
  // After the first intervals (the shedder needs one to see a standing
  // queue), no handled request waited longer than the target.
  clock::duration worst{};
  const std::size_t warm = sojourns.size() / 10;
  for (std::size_t i = warm; i < sojourns.size(); ++i) worst = std::max(worst, sojourns[i]);
  std::printf("handled %llu shed %llu worst sojourn after warm-up %.1f ms\n",
              static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(overloaded.load()),
              std::chrono::duration<double, std::milli>(worst).count());
  EXPECT_LE(worst, 5ms);
  EXPECT_EQ(other.load(), 0u);
  EXPECT_NEAR(static_cast<double>(overloaded.load()) / kMs, 0.5, 0.05);
  // Shed requests are dead letters `shed`, handled ones are not.
  const auto st = w.stats();
  EXPECT_EQ(st.dead_letters[dead_letter_reason::shed], overloaded.load());
  EXPECT_EQ(sojourns.size(), ok.load());
  EXPECT_EQ(policy->counters().shed, overloaded.load());
}

TEST_F(ShedderActorTest, CriticalRequestsAreShedLast) {
  // A fifth of the requests are critical: by their type (urgent_job) or by
  // the per-call option.
  constexpr int kMs = 3000, kWarmMs = 300;
  std::atomic<std::uint64_t> crit_ok{0}, crit_shed{0}, crit_warm{0}, normal_ok{0}, normal_shed{0};
  tp::random_source rng(5);
  for (int ms = 0; ms < kMs; ++ms) {
    // Requests sent during the first intervals, before the shedder saw the
    // standing queue, may have waited past any target: counted apart.
    const bool warm = ms >= kWarmMs;
    const double u = rng.uniform();
    if (u < 0.2) {
      auto tally = [&, warm](result<int> r) { ++(!warm ? crit_warm : r ? crit_ok : crit_shed); };
      if (u < 0.1) {
        w.ask(urgent_job{vt.now()}, 10s).on_complete(tally);  // critical by its type
      } else {
        job j{vt.now()};
        w.ask(j, vt.now() + 10s, when_full::wait, message_priority::critical)
            .on_complete(tally);  // by the call
      }
    } else {
      job j{vt.now()};
      w.ask(j, 10s).on_complete([&, warm](result<int> r) {
        if (warm) ++(r ? normal_ok : normal_shed);
        count(std::move(r));
      });
    }
    if (ms == 0) {
      ASSERT_TRUE(eventually([&] { return entered.load() == 1; }));
    }
    if (ms % 2 == 1) serve_one();
    vt.clk->advance(1ms);
  }
  while (w.depth() != 0) {
    serve_one();
    vt.clk->advance(2ms);
  }
  gate.release(1);
  ASSERT_TRUE(eventually([&] { return crit_ok + crit_shed + crit_warm + ok + overloaded + other == kMs; }));
  const double crit_rate = static_cast<double>(crit_shed) / static_cast<double>(crit_ok + crit_shed);
  const double normal_rate = static_cast<double>(normal_shed) / static_cast<double>(normal_ok + normal_shed);
  std::printf("shed: critical %.4f normal %.4f\n", crit_rate, normal_rate);
  EXPECT_LT(crit_rate, 0.01);
  EXPECT_GT(normal_rate, 0.5);
  EXPECT_GT(crit_ok.load(), 400u);
}

TEST(SheddingErrorsTest, AShedAskIsOverloadedNotAFailure) {
  // A shed request's error code says overloaded: a breaker around the
  // callee ignores it (by default) and does not trip.
  virtual_time vt;
  counting_semaphore gate{0};
  std::atomic<int> entered{0};
  std::vector<clock::duration> s, u;
  auto w = vt.sys.spawn<worker>(
      spawn_options{.dequeue = tp::shed_by_queue_delay({.target = 1ms, .interval = 10ms})}, &gate, &entered,
      &s, &u);
  tp::circuit_breaker_config bc;
  bc.consecutive_failures = tp::consecutive_failures_trip{.threshold = 1};
  bc.failure_rate.reset();
  auto dep = troupe::protect(w).breaker(bc);
  std::vector<ask_future<int>> fs;
  fs.push_back(dep.ask(job{vt.now()}, 10s));
  ASSERT_TRUE(eventually([&] { return entered.load() == 1; }));
  for (int i = 0; i < 40; ++i) {  // a standing queue, 1 ms apart
    fs.push_back(dep.ask(job{vt.now()}, 10s));
    vt.clk->advance(1ms);
  }
  // Serve slowly: the queue stands for more than an interval, then sheds.
  int handled = 1, shed = 0;
  for (int i = 0; i < 40 && w.depth() > 0; ++i) {
    const int before = entered.load();
    gate.release(1);
    ASSERT_TRUE(eventually([&] { return entered.load() == before + 1 || w.depth() == 0; }));
    if (entered.load() == before + 1) ++handled;
    vt.clk->advance(5ms);
  }
  gate.release(1);
  int answered = 0;
  for (auto& f : fs) {
    const auto code = f.get_result().error_code();
    EXPECT_TRUE(code == actor_errc::ok || code == actor_errc::overloaded) << to_string(code);
    if (code == actor_errc::overloaded) ++shed;
    if (code == actor_errc::ok) ++answered;
  }
  EXPECT_GT(shed, 0);
  EXPECT_EQ(answered, handled);  // every ask the handler took was answered; the rest were shed
  EXPECT_EQ(w.stats().dead_letters[dead_letter_reason::shed], static_cast<std::uint64_t>(shed));
  EXPECT_EQ(dep.breaker_core()->state(), tp::breaker_state::closed);
  EXPECT_EQ(dep.breaker_core()->counters().ignored, static_cast<std::uint64_t>(shed));
}

// ---------------------------------------------------------------------------
// Bulkhead

struct holder : actor<holder> {
  std::vector<reply_promise<int>> held;
  reply_promise<int> on(work) {
    auto p = this_actor::reply_later<int>();
    held.push_back(p);
    return p;
  }
  int on(tick) {
    for (auto& p : held) p.deliver(1);
    const int n = static_cast<int>(held.size());
    held.clear();
    return n;
  }
};

TEST(BulkheadActorTest, AtMostNRequestsReachTheDependencyAtOnce) {
  virtual_time vt;
  auto h = vt.sys.spawn<holder>();
  auto dep = troupe::protect(h).bulkhead(3);
  std::vector<ask_future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(dep.ask(work{i}, 10s));
  int refused = 0;
  for (auto& f : fs)
    if (f.is_ready() && f.get_result().error_code() == actor_errc::overloaded) ++refused;
  EXPECT_EQ(refused, 7);
  EXPECT_EQ(dep.counters().bulkhead_rejected, 7u);
  EXPECT_EQ(dep.send(work{0}).code(), actor_errc::overloaded);  // a send needs a free place too
  EXPECT_EQ(h.ask(tick{}, 10s).get(), 3);
  for (auto& f : fs)
    if (f.valid()) {
      EXPECT_EQ(f.get(), 1);
    }
  // The places came back with the answers.
  std::vector<ask_future<int>> again;
  for (int i = 0; i < 3; ++i) again.push_back(dep.ask(work{i}, 10s));
  EXPECT_EQ(h.ask(tick{}, 10s).get(), 3);
  for (auto& f : again) EXPECT_EQ(f.get(), 1);
}

}  // namespace
}  // namespace troupe::test
