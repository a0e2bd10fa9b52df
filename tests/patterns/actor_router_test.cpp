// Routers over real actors: each policy spreads messages as it should;
// membership changes while four threads send lose nothing; p2c, fed by the
// asks' completions in virtual time, starves a routee 10x slower below
// 1/(2n) of the traffic and gives it its share back when it recovers, and
// ramps a new routee up over its slow-start window.

#include "troupe/patterns/actor_router.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

#include "actor_test_util.hpp"

namespace troupe::test {
namespace {

namespace tp = troupe::patterns;

struct hit {
  std::uint64_t key = 0;
};
struct count_q {};
struct block_until_opened {};

// Counts what it handles; answers with its own number.
struct counter : actor<counter> {
  std::atomic<std::uint64_t>* total;
  int id;
  std::uint64_t mine = 0;
  counter(std::atomic<std::uint64_t>* t, int i) : total(t), id(i) {}
  int on(hit) {
    ++mine;
    // seq_cst: the test reads the total and then lets the counted stack
    // variable go; the reads must synchronise with every increment.
    total->fetch_add(1);
    return id;
  }
  std::uint64_t on(count_q) { return mine; }
};

std::vector<std::uint64_t> counts_of(const std::vector<actor_ref<counter>>& rs) {
  std::vector<std::uint64_t> v;
  for (const auto& r : rs) v.push_back(r.ask(count_q{}, 10s).get());
  return v;
}

struct RouterTest : ::testing::Test {
  virtual_time vt;
  std::atomic<std::uint64_t> total{0};
  std::vector<actor_ref<counter>> spawn(int n) {
    std::vector<actor_ref<counter>> v;
    for (int i = 0; i < n; ++i) v.push_back(vt.sys.spawn<counter>(&total, i));
    return v;
  }
};

TEST_F(RouterTest, RoundRobinTakesTurns) {
  auto rs = spawn(4);
  router<counter> r(vt.sys);
  for (auto& a : rs) EXPECT_TRUE(r.add(a));
  EXPECT_FALSE(r.add(rs[0]));
  EXPECT_EQ(r.size(), 4u);
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(r.send(hit{}));
  for (int i = 0; i < 400; ++i) ASSERT_EQ(r.ask(hit{}, 10s).get(), i % 4);
  for (auto c : counts_of(rs)) EXPECT_EQ(c, 200u);
}

TEST_F(RouterTest, RandomSpreadsAndRepeatsForASeed) {
  auto rs = spawn(4);
  router<counter, routing::random> r(vt.sys, {.seed = 42});
  for (auto& a : rs) r.add(a);
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(r.send(hit{}));
  for (auto c : counts_of(rs)) {
    EXPECT_GT(c, 800u);
    EXPECT_LT(c, 1200u);
  }
}

TEST_F(RouterTest, ConsistentHashKeepsAKeyOnOneRouteeAndMovesFewKeysOnAdd) {
  auto rs = spawn(5);
  auto r = router<counter, routing::consistent_hash<std::uint64_t (*)(const hit&)>>(
      vt.sys, {.key = [](const hit& h) { return h.key; },
               .config = {.virtual_nodes = 200, .bounded_load_epsilon = std::nullopt}});
  for (int i = 0; i < 4; ++i) r.add(rs[static_cast<std::size_t>(i)], static_cast<tp::routee_id>(i));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.send(hit{7}));
  const auto one = counts_of(rs);
  EXPECT_EQ(*std::max_element(one.begin(), one.end()), 100u);  // every copy of key 7 on one routee

  // Where 1,000 keys go (each routee answers with its number), before and
  // after a fifth routee joins.
  auto owners = [&] {
    std::vector<int> owner;
    for (std::uint64_t k = 0; k < 1000; ++k) owner.push_back(r.ask(hit{k}, 10s).get());
    return owner;
  };
  const auto before = owners();
  std::vector<int> per(5);
  for (auto o : before) ++per[static_cast<std::size_t>(o)];
  for (int i = 0; i < 4; ++i) EXPECT_GT(per[static_cast<std::size_t>(i)], 150) << i;  // spread
  r.add(rs[4], 4);
  const auto after = owners();
  int moved = 0;
  for (std::size_t k = 0; k < before.size(); ++k) {
    if (before[k] == after[k]) continue;
    ++moved;
    EXPECT_EQ(after[k], 4);  // a key only ever moves to the new routee
  }
  EXPECT_GT(moved, 100);
  EXPECT_LT(moved, 350);  // about a fifth
}

// A routee that holds every ask: the load it holds is its asks in flight.
struct holder : actor<holder> {
  std::vector<reply_promise<int>> held;
  reply_promise<int> on(hit) {
    auto p = this_actor::reply_later<int>();
    held.push_back(p);
    return p;
  }
  int on(count_q) { return static_cast<int>(held.size()); }
  int on(block_until_opened) {
    for (auto& p : held) p.deliver(0);
    const int n = static_cast<int>(held.size());
    held.clear();
    return n;
  }
};

TEST_F(RouterTest, BoundedLoadsCapEveryRouteeAtOnePlusEpsilonTimesTheMean) {
  std::vector<actor_ref<holder>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(vt.sys.spawn<holder>());
  auto key = [](const hit& h) { return h.key; };
  router<holder, routing::consistent_hash<decltype(key)>> r(
      vt.sys, routing::by_key(key, {.virtual_nodes = 100, .bounded_load_epsilon = 0.25}));
  for (int i = 0; i < 4; ++i) r.add(hs[static_cast<std::size_t>(i)], static_cast<tp::routee_id>(i));
  // One hot key, 100 asks held at once, twice.
  auto round = [&] {
    std::vector<ask_future<int>> fs;
    for (int i = 0; i < 100; ++i) fs.push_back(r.ask(hit{7}, 10s));
    std::vector<int> per;
    for (auto& h : hs) per.push_back(h.ask(count_q{}, 10s).get());
    for (auto& h : hs) h.ask(block_until_opened{}, 10s).get();
    for (auto& f : fs) EXPECT_EQ(f.get(), 0);
    return per;
  };
  const auto first = round();
  int sum = 0, most = 0;
  for (int n : first) {
    sum += n;
    most = std::max(most, n);
  }
  EXPECT_EQ(sum, 100);
  EXPECT_LE(most, 32);  // ceil(1.25 * 100 / 4)
  EXPECT_GE(most, 25);
  // The loads were given back as the asks completed: the second round
  // starts from nothing and places exactly as the first.
  EXPECT_EQ(round(), first);
}

// Blocks in its handler until the test opens the gate; its depth is what
// queues behind.
struct slow : actor<slow> {
  counting_semaphore* sem;
  explicit slow(counting_semaphore* s) : sem(s) {}
  void on(block_until_opened) { sem->acquire(); }
  void on(hit) {}
};

TEST_F(RouterTest, SmallestMailboxSendsToTheShortestQueue) {
  std::vector<std::unique_ptr<counting_semaphore>> sems;
  std::vector<actor_ref<slow>> ss;
  for (int i = 0; i < 3; ++i) {
    sems.push_back(std::make_unique<counting_semaphore>(0));
    ss.push_back(vt.sys.spawn<slow>(sems.back().get()));
    ASSERT_TRUE(ss.back().send(block_until_opened{}));
  }
  ASSERT_TRUE(eventually([&] {
    for (auto& s : ss)
      if (s.depth() != 1) return false;
    return true;
  }));
  // Depths 1 + {3, 0, 2}.
  for (int i = 0; i < 3; ++i) ss[0].send(hit{});
  for (int i = 0; i < 2; ++i) ss[2].send(hit{});
  router<slow, routing::smallest_mailbox> r(vt.sys);
  for (auto& s : ss) r.add(s);
  ASSERT_TRUE(r.send(hit{}));
  EXPECT_EQ(ss[1].depth(), 2u);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(r.send(hit{}));
  std::size_t lo = 100, hi = 0;
  for (auto& s : ss) {
    lo = std::min(lo, s.depth());
    hi = std::max(hi, s.depth());
  }
  EXPECT_LE(hi - lo, 1u);  // the router filled the shortest queues first
  EXPECT_EQ(ss[0].depth() + ss[1].depth() + ss[2].depth(), 3u + 3 + 2 + 13);
  for (auto& s : sems) s->release(1);
  // The semaphores must outlive the handlers waiting on them: an ask behind
  // the blocked handler returns after it let go of its semaphore.
  for (auto& s : ss) s.ask(hit{}, 10s).get();
}

TEST_F(RouterTest, NoRouteeRefusesWithActorStopped) {
  router<counter, routing::p2c> r(vt.sys);
  EXPECT_EQ(r.send(hit{}).code(), actor_errc::actor_stopped);
  EXPECT_EQ(r.ask(hit{}, 1s).get_result().error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(vt.sys.stats().dead_letters[dead_letter_reason::actor_stopped], 2u);
}

// Four threads send and ask through the router while a fifth adds and
// removes routees: nothing is lost, every accepted message is handled once.
template <class Policy>
void membership_churn(virtual_time& vt, Policy policy) {
  std::atomic<std::uint64_t> handled{0};
  std::vector<actor_ref<counter>> pool;
  for (int i = 0; i < 8; ++i) pool.push_back(vt.sys.spawn<counter>(&handled, i));
  router<counter, Policy> r(vt.sys, policy);
  for (int i = 0; i < 2; ++i) r.add(pool[static_cast<std::size_t>(i)], static_cast<tp::routee_id>(i));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> accepted{0}, answered{0};
  std::thread churn([&] {
    for (int round = 0; !stop.load(); ++round) {
      const std::size_t i = 2 + static_cast<std::size_t>(round % 6);
      r.add(pool[i], static_cast<tp::routee_id>(i));
      std::this_thread::yield();
      r.remove(pool[i]);
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        if (r.send(hit{static_cast<std::uint64_t>(t * 100000 + i)})) ++accepted;
        if (i % 10 == 0 && r.ask(hit{static_cast<std::uint64_t>(i)}, 10s).get() >= 0) ++answered;
      }
    });
  for (auto& s : senders) s.join();
  stop = true;
  churn.join();
  EXPECT_EQ(accepted.load(), 4u * 3000);
  EXPECT_EQ(answered.load(), 4u * 300);
  ASSERT_TRUE(eventually([&] { return handled.load() == accepted.load() + answered.load(); }));
  EXPECT_EQ(vt.sys.stats().dead_letters.total(), 0u);
}

TEST_F(RouterTest, MembershipChangesWhileMessagesFlowLoseNothing) {
  membership_churn(vt, routing::round_robin{});
  membership_churn(vt, routing::random{});
  membership_churn(vt, routing::smallest_mailbox{});
  membership_churn(vt, routing::p2c{});
  membership_churn(vt, routing::by_key([](const hit& h) { return h.key; }));
  membership_churn(vt, routing::by_key([](const hit& h) { return h.key; },
                                       {.virtual_nodes = 50, .bounded_load_epsilon = 0.5}));
}

// ---------------------------------------------------------------------------
// p2c in virtual time

struct P2cActorTest : ::testing::Test {
  virtual_time vt;
  std::vector<actor_ref<sim_service>> services;
  router<sim_service, routing::p2c> pool;
  std::uint64_t sent = 0;

  explicit P2cActorTest() : pool(vt.sys, {.config = config()}) {}
  static tp::p2c_config config() {
    tp::p2c_config c;
    c.decay = 1s;
    c.error_decay = 1s;
    c.slow_start = 0s;
    c.seed = 2024;
    return c;
  }
  void add(clock::duration latency) {
    services.push_back(vt.sys.spawn<sim_service>(1000u, latency));
    pool.add(services.back(), services.size() - 1);
  }
  void set_latency(std::size_t i, clock::duration d) { services[i].ask(set_service_time{d}, 10s).get(); }
  // `ms` steps of 1 ms, `per_step` asks in each; returns the asks each
  // service received meanwhile.
  std::vector<std::uint64_t> run(int ms, int per_step) {
    std::vector<std::uint64_t> before = received();
    for (int step = 0; step < ms; ++step) {
      for (int i = 0; i < per_step; ++i)
        pool.ask(work{static_cast<int>(sent++), vt.now()}, 10s).on_complete([](result<int>) {});
      vt.clk->advance(1ms);
      std::vector<ask_future<int>> ticks;
      for (auto& s : services) ticks.push_back(s.ask(tick{}, 10s));
      for (auto& t : ticks) t.get();  // every completion due by now has fed its lease
    }
    std::vector<std::uint64_t> now = received();
    for (std::size_t i = 0; i < now.size(); ++i) now[i] -= i < before.size() ? before[i] : 0;
    return now;
  }
  std::vector<std::uint64_t> received() {
    std::vector<std::uint64_t> v;
    for (auto& s : services) v.push_back(s.ask(get_stats{}, 10s).get().received);
    return v;
  }
  static double share(const std::vector<std::uint64_t>& v, std::size_t i) {
    std::uint64_t t = 0;
    for (auto x : v) t += x;
    return static_cast<double>(v[i]) / static_cast<double>(t);
  }
};

TEST_F(P2cActorTest, ASlowRouteeGetsLessThanHalfItsShareAndWinsItBackAfterRecovering) {
  constexpr int n = 4;
  for (int i = 0; i < n; ++i) add(2ms);
  (void)run(500, 4);  // warm-up: everyone measured
  set_latency(0, 20ms);
  (void)run(1000, 4);  // the estimate catches up
  const auto slow = run(2000, 4);
  std::printf("slow routee share %.4f (1/(2n) = %.4f)\n", share(slow, 0), 1.0 / (2 * n));
  EXPECT_LT(share(slow, 0), 1.0 / (2 * n));
  EXPECT_GT(slow[0], 0u);  // still probed now and then

  set_latency(0, 2ms);
  (void)run(2000, 4);
  const auto recovered = run(2000, 4);
  std::printf("recovered share %.4f (1/n = %.4f)\n", share(recovered, 0), 1.0 / n);
  EXPECT_GT(share(recovered, 0), 0.8 / n);
  EXPECT_LT(share(recovered, 0), 1.2 / n);
}

TEST_F(P2cActorTest, ANewRouteesShareRampsUpOverTheSlowStartWindow) {
  auto cfg = config();
  cfg.slow_start = 4s;
  cfg.slow_start_min_weight = 0.05;
  pool = router<sim_service, routing::p2c>(vt.sys, {.config = cfg});
  for (int i = 0; i < 4; ++i) add(2ms);
  (void)run(4500, 2);  // past their own slow start
  add(2ms);
  std::vector<double> shares;
  for (int step = 0; step < 4; ++step) shares.push_back(share(run(1000, 2), 4));
  const double after = share(run(3000, 2), 4);
  for (double s : shares) std::printf("%.4f ", s);
  std::printf("-> %.4f (1/5 = %.4f)\n", after, 1.0 / 5);
  for (std::size_t i = 1; i < shares.size(); ++i) EXPECT_GE(shares[i], shares[i - 1] - 0.02) << i;
  EXPECT_LT(shares.front(), 0.4 / 5);
  EXPECT_GT(shares.back(), 0.6 / 5);
  EXPECT_NEAR(after, 1.0 / 5, 0.25 / 5);
}

}  // namespace
}  // namespace troupe::test
