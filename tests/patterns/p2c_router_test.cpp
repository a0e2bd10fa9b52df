// Tests of troupe::patterns::p2c_router in a simulation with explicit time
// and fixed seeds (no actors, no sleeps): requests arrive at a fixed rate,
// each goes to the routee p2c picks and completes after that routee's
// latency (+-10% noise). A routee 10x slower gets almost nothing and wins
// its share back when it recovers; a failing one is avoided; a new routee's
// share ramps up over the slow-start window.

#include "troupe/patterns/p2c_router.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <gtest/gtest.h>
#include <queue>
#include <vector>

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

class simulation {
 public:
  explicit simulation(p2c_config cfg) : router_(cfg) {}

  void add(int routee, clock::duration latency) {
    if (static_cast<std::size_t>(routee) >= latency_.size()) {
      latency_.resize(static_cast<std::size_t>(routee) + 1);
      fails_.resize(latency_.size());
    }
    latency_[static_cast<std::size_t>(routee)] = latency;
    router_.add(static_cast<routee_id>(routee), routee, now_);
  }
  void set_latency(int routee, clock::duration l) { latency_[static_cast<std::size_t>(routee)] = l; }
  void set_failing(int routee, bool f) { fails_[static_cast<std::size_t>(routee)] = f; }

  // Runs `d` of traffic at `rate` requests a second; returns the picks per routee.
  std::vector<std::uint64_t> run(clock::duration d, int rate) {
    std::vector<std::uint64_t> picks(latency_.size());
    const clock::duration gap = clock::duration(1s) / rate;
    const clock::time_point end = now_ + d;
    for (; now_ < end; now_ += gap) {
      complete_until(now_);
      auto l = router_.pick(now_, rng_);
      const auto r = static_cast<std::size_t>(l.routee());
      ++picks[r];
      const double noise = 0.9 + 0.2 * rng_.uniform();
      const auto lat = std::chrono::duration_cast<clock::duration>(latency_[r] * noise);
      in_flight_.push(
          pending{now_ + lat, lat, fails_[r], std::make_shared<p2c_router<int>::lease>(std::move(l))});
    }
    return picks;
  }
  clock::time_point now() const { return now_; }
  p2c_router<int>& router() { return router_; }

 private:
  struct pending {
    clock::time_point done;
    clock::duration latency;
    bool fails;
    std::shared_ptr<p2c_router<int>::lease> lease;
    bool operator>(const pending& o) const { return done > o.done; }
  };
  void complete_until(clock::time_point t) {
    while (!in_flight_.empty() && in_flight_.top().done <= t) {
      const pending& p = in_flight_.top();
      p.lease->complete(p.fails ? outcome::failure : outcome::success, p.latency, p.done);
      in_flight_.pop();
    }
  }

  p2c_router<int> router_;
  random_source rng_{12345};
  clock::time_point now_ = t0;
  std::vector<clock::duration> latency_;
  std::vector<bool> fails_;
  std::priority_queue<pending, std::vector<pending>, std::greater<>> in_flight_;
};

double share(const std::vector<std::uint64_t>& picks, std::size_t r) {
  std::uint64_t total = 0;
  for (auto p : picks) total += p;
  return static_cast<double>(picks[r]) / static_cast<double>(total);
}

p2c_config fast_decay() {
  p2c_config c;
  c.decay = 1s;
  c.error_decay = 1s;
  c.slow_start = 0s;
  return c;
}

TEST(P2cRouterTest, SlowRouteeGetsLittleTrafficAndWinsItBackAfterRecovering) {
  constexpr int n = 10;
  simulation sim(fast_decay());
  for (int i = 0; i < n; ++i) sim.add(i, 2ms);
  (void)sim.run(5s, 2000);  // warm-up: everyone measured
  sim.set_latency(0, 20ms);
  (void)sim.run(5s, 2000);  // the estimate catches up
  const auto slow = sim.run(20s, 2000);
  std::printf("slow routee share %.4f (1/(2n) = %.4f)\n", share(slow, 0), 1.0 / (2 * n));
  EXPECT_LT(share(slow, 0), 1.0 / (2 * n));
  EXPECT_GT(slow[0], 0u);  // still probed now and then, as its estimate decays

  sim.set_latency(0, 2ms);
  (void)sim.run(10s, 2000);  // recovery is noticed at the next probe
  const auto recovered = sim.run(20s, 2000);
  std::printf("recovered share %.4f (1/n = %.4f)\n", share(recovered, 0), 1.0 / n);
  EXPECT_GT(share(recovered, 0), 0.8 / n);
  EXPECT_LT(share(recovered, 0), 1.2 / n);
}

TEST(P2cRouterTest, FailingRouteeIsAvoidedEvenWhenItIsFast) {
  constexpr int n = 5;
  simulation sim(fast_decay());
  for (int i = 0; i < n; ++i) sim.add(i, 2ms);
  (void)sim.run(3s, 1000);
  sim.set_failing(2, true);
  sim.set_latency(2, 1ms);  // failing fast: latency alone would favour it
  (void)sim.run(3s, 1000);
  const auto picks = sim.run(10s, 1000);
  std::printf("failing routee share %.4f\n", share(picks, 2));
  EXPECT_LT(share(picks, 2), 0.5 / n);
}

TEST(P2cRouterTest, EqualRouteesShareEvenly) {
  constexpr int n = 8;
  simulation sim(fast_decay());
  for (int i = 0; i < n; ++i) sim.add(i, 3ms);
  const auto picks = sim.run(20s, 2000);
  for (int i = 0; i < n; ++i) {
    EXPECT_GT(share(picks, static_cast<std::size_t>(i)), 0.9 / n);
    EXPECT_LT(share(picks, static_cast<std::size_t>(i)), 1.1 / n);
  }
}

// A routee added to 10 warm ones takes a growing share over the 20 s slow
// start and about 1/11 after it.
TEST(P2cRouterTest, NewRouteeRampsUpOverTheSlowStartWindow) {
  p2c_config cfg = fast_decay();
  cfg.slow_start = 20s;
  cfg.slow_start_min_weight = 0.05;
  simulation sim(cfg);
  for (int i = 0; i < 10; ++i) sim.add(i, 4ms);
  (void)sim.run(25s, 2000);  // past their own slow start
  sim.add(10, 4ms);
  std::vector<double> shares;
  for (int step = 0; step < 10; ++step) shares.push_back(share(sim.run(2s, 2000), 10));
  const double after = share(sim.run(20s, 2000), 10);
  for (double s : shares) std::printf("%.4f ", s);
  std::printf("-> %.4f (1/11 = %.4f)\n", after, 1.0 / 11);
  // Grows: each 2-second step at least the previous one less a little noise,
  // and the last steps far above the first.
  for (std::size_t i = 1; i < shares.size(); ++i) EXPECT_GE(shares[i], shares[i - 1] - 0.01) << i;
  EXPECT_LT(shares.front(), 0.3 / 11);
  EXPECT_GT(shares.back(), 0.7 / 11);
  EXPECT_NEAR(after, 1.0 / 11, 0.2 / 11);
}

TEST(P2cRouterTest, LeaseCountsInFlightAndDeterministicForASeed) {
  auto run = [] {
    p2c_router<int> r(fast_decay());
    for (int i = 0; i < 4; ++i) r.add(static_cast<routee_id>(i), i, t0);
    std::vector<int> got;
    random_source rng(3);
    std::vector<p2c_router<int>::lease> held;
    for (int i = 0; i < 20; ++i) {
      held.push_back(r.pick(t0, rng));
      got.push_back(held.back().routee());
    }
    return got;
  };
  EXPECT_EQ(run(), run());
  // Held leases raise the cost: with equal latencies, 20 held picks spread
  // over all four routees instead of piling on one.
  const auto got = run();
  std::vector<int> counts(4);
  for (int g : got) ++counts[static_cast<std::size_t>(g)];
  for (int c : counts) EXPECT_GE(c, 3);
  p2c_router<int> r;
  EXPECT_FALSE(r.pick(t0));
}

}  // namespace
