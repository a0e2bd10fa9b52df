// troupe::testing::harness: virtual time without sleeps, run-until-idle and
// single steps, seeded interleavings that replay byte for byte, and an
// explorer that finds a race.

#include <gtest/gtest.h>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/testing.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;
using troupe::testing::harness;

struct get_value {};
struct slow_value {
  std::chrono::milliseconds after;
};
struct backend : actor<backend> {
  int on(get_value) { return 7; }
  task<int> on(slow_value s) {
    co_await delay(s.after);
    co_return 70;
  }
};

struct sum {};
struct front : actor<front> {
  actor_ref<backend> be;
  explicit front(actor_ref<backend> b) : be(std::move(b)) {}
  task<int> on(sum) {
    const int a = co_await be.ask(get_value{}, 5s);
    const int b = co_await be.ask(slow_value{2s}, 5s);
    co_return a + b;
  }
};

TEST(HarnessTest, ACoroutineHandlerAwaitsADelayInVirtualTime) {
  harness h;
  const auto start = h.now();
  auto f = h.system().spawn<front>(h.system().spawn<backend>());
  auto r = h.await(f.ask(sum{}, 10s));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 77);
  EXPECT_EQ(h.now() - start, 2s);  // exactly the delay: the clock moved to the timer's deadline
}

struct never_reply {};
struct silent : actor<silent> {
  std::vector<reply_promise<int>> kept;  // never answered, never broken
  reply_promise<int> on(never_reply) {
    kept.push_back(this_actor::reply_later<int>());
    return kept.back();
  }
};

TEST(HarnessTest, AnUnansweredAskEndsAtItsDeadlineInVirtualTime) {
  harness h;
  const auto start = h.now();
  auto s = h.system().spawn<silent>();
  auto r = h.await(s.ask(never_reply{}, 3s));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error_code(), actor_errc::timeout);
  EXPECT_EQ(h.now() - start, 3s);
}

struct ping {};
struct counter : actor<counter> {
  int* seen;
  explicit counter(int* s) : seen(s) {}
  void on(ping) { ++*seen; }
};

TEST(HarnessTest, ATimerThatIsNotDueHasNotFiredWithoutSleepingToProveIt) {
  harness h;
  int seen = 0;
  auto c = h.system().spawn<counter>(&seen);
  auto t = c.send_after(ping{}, 100ms);
  h.advance(99ms);
  EXPECT_EQ(seen, 0);
  h.advance(1ms);
  EXPECT_EQ(seen, 1);
  h.advance(1h);
  EXPECT_EQ(seen, 1);  // once only
}

TEST(HarnessTest, AdvanceStopsAtEveryTimerOnTheWay) {
  harness h;
  int seen = 0;
  auto c = h.system().spawn<counter>(&seen);
  auto t = c.send_periodic(ping{}, 10ms);
  // Each tick re-arms the next: a jump straight to +100 ms would fire once.
  h.advance(100ms);
  EXPECT_EQ(seen, 10);
  t.cancel();
  h.advance(100ms);
  EXPECT_EQ(seen, 10);
}

TEST(HarnessTest, StepRunsOneItemAtATime) {
  harness h;
  int seen = 0;
  auto c = h.system().spawn<counter>(&seen);
  h.run_until_idle();
  for (int i = 0; i < 3; ++i) c.send(ping{});
  EXPECT_EQ(seen, 0);  // nothing runs until the test drives
  EXPECT_TRUE(h.step());
  EXPECT_GE(seen, 1);  // one turn may take every queued message
  h.run_until_idle();
  EXPECT_EQ(seen, 3);
  EXPECT_FALSE(h.step());
}

TEST(HarnessTest, BlockingOnTheHarnessFromItsThreadIsAnErrorNotAHang) {
  harness h;
  auto s = h.system().spawn<silent>();
  auto f = s.ask(never_reply{}, 1s);
  try {
    f.get();
    FAIL() << "expected would_deadlock";
  } catch (const troupe::error& e) {
    EXPECT_EQ(e.code(), errc::would_deadlock);
  }
}

// A small world with coroutines, asks, delays and fan-out: its trace under
// one seed is a fingerprint of the interleaving.
struct fan {};
struct fanner : actor<fanner> {
  std::vector<actor_ref<backend>> bes;
  explicit fanner(std::vector<actor_ref<backend>> b) : bes(std::move(b)) {}
  task<int> on(fan) {
    int total = 0;
    for (auto& be : bes) total += co_await be.ask(get_value{}, 5s);
    total += co_await bes.front().ask(slow_value{5ms}, 5s);
    co_return total;
  }
};

std::string run_world(std::uint64_t seed) {
  harness h({.seed = seed});
  std::vector<actor_ref<backend>> bes;
  for (int i = 0; i < 4; ++i) bes.push_back(h.system().spawn<backend>());
  auto a = h.system().spawn<fanner>(bes);
  auto b = h.system().spawn<fanner>(bes);
  auto fa = a.ask(fan{}, 10s);
  auto fb = b.ask(fan{}, 10s);
  EXPECT_EQ(h.await(std::move(fa)).value(), 98);
  EXPECT_EQ(h.await(std::move(fb)).value(), 98);
  return h.trace();
}

TEST(HarnessTest, TheSameSeedGivesTheSameTraceByteForByte) {
  std::set<std::string> distinct;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    const std::string first = run_world(seed);
    ASSERT_FALSE(first.empty());
    EXPECT_NE(first.find("turn troupe::test::(anonymous namespace)::fanner"), std::string::npos) << first;
    EXPECT_EQ(run_world(seed), first) << "seed " << seed;
    distinct.insert(first);
  }
  EXPECT_GT(distinct.size(), 1u);  // the seeds do reach different interleavings
}

// A known race: a teller checks the balance (an ask) and then withdraws (a
// send); two tellers paying at once can both pass the check.
struct get_balance {};
struct withdraw {
  int amount;
};
struct account : actor<account> {
  int balance = 100;
  int on(get_balance) { return balance; }
  void on(withdraw w) { balance -= w.amount; }
};
struct pay {
  int amount;
};
struct teller : actor<teller> {
  actor_ref<account> acc;
  explicit teller(actor_ref<account> a) : acc(std::move(a)) {}
  task<bool> on(pay p) {
    const int balance = co_await acc.ask(get_balance{}, 1s);
    if (balance < p.amount) co_return false;
    acc.send(withdraw{p.amount});
    co_return true;
  }
};

void two_tellers(harness& h) {
  auto acc = h.system().spawn<account>();
  auto t1 = h.system().spawn<teller>(acc);
  auto t2 = h.system().spawn<teller>(acc);
  // Without a seed each message's receiver runs next (the LIFO slot), so
  // the first teller's check and withdrawal finish before the second
  // teller starts, and the race stays hidden.
  auto p1 = t1.ask(pay{80}, 1s);
  auto p2 = t2.ask(pay{80}, 1s);
  h.await(std::move(p1));
  h.await(std::move(p2));
  const int balance = h.await(acc.ask(get_balance{}, 1s)).value();
  if (balance < 0) throw std::logic_error("overdrawn: balance " + std::to_string(balance));
}

TEST(HarnessTest, TheExplorerFindsARaceAndItsSeedReplaysIt) {
  {
    harness in_order;
    EXPECT_NO_THROW(two_tellers(in_order));  // seed 0: the race does not show
  }
  const auto ex = troupe::testing::explore(1, 200, two_tellers);
  ASSERT_TRUE(ex.failing_seed) << "no interleaving of 200 overdrew the account";
  EXPECT_EQ(ex.failure, "overdrawn: balance -60");
  EXPECT_FALSE(ex.trace.empty());
  // Replaying the seed gives the same failure through the same steps.
  harness replay({.seed = *ex.failing_seed});
  try {
    two_tellers(replay);
    FAIL() << "seed " << *ex.failing_seed << " did not fail again";
  } catch (const std::logic_error& e) {
    EXPECT_EQ(std::string(e.what()), ex.failure);
  }
  EXPECT_EQ(replay.trace(), ex.trace);
}

}  // namespace
}  // namespace troupe::test
