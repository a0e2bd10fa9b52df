// Testing your own actors with troupe::testing: a session store whose
// sessions expire after 30 idle minutes, tested in microseconds of real
// time, and an interleaving bug found by exploring seeds and replayed from
// the failing one.
//
// Build: part of the samples (target testing_your_actors); run it like any
// GoogleTest binary. In your project:
//   find_package(troupe CONFIG REQUIRED COMPONENTS testing)
//   target_link_libraries(my_tests PRIVATE troupe::testing GTest::gtest_main)

#include <gtest/gtest.h>
#include <map>
#include <stdexcept>
#include <string>

#include "troupe/actors.hpp"
#include "troupe/testing.hpp"

using namespace std::chrono_literals;

// --- the code under test ---------------------------------------------------

struct touch {
  std::string user;
};
struct is_logged_in {
  std::string user;
};
struct expire {
  std::string user;
  troupe::clock::time_point seen;  // the touch this check belongs to
};

// Keeps a session per user; a session not touched for 30 minutes ends.
class sessions : public troupe::actor<sessions> {
 public:
  static constexpr auto idle_limit = 30min;

  void on(touch t) {
    const auto now = troupe::this_actor::now();
    last_seen_[t.user] = now;
    self().send_after(expire{t.user, now}, idle_limit);
  }
  bool on(is_logged_in q) { return last_seen_.contains(q.user); }
  void on(expire e) {
    auto it = last_seen_.find(e.user);
    if (it != last_seen_.end() && it->second == e.seen) last_seen_.erase(it);  // not touched since
  }

 private:
  std::map<std::string, troupe::clock::time_point> last_seen_;
};

// --- virtual time: a 30-minute rule tested without waiting -----------------

TEST(SessionsTest, ASessionEndsAfterThirtyIdleMinutesAndNotBefore) {
  troupe::testing::harness h;
  auto s = h.system().spawn<sessions>();
  s.send(touch{"ada"});
  h.advance(29min);
  EXPECT_TRUE(h.await(s.ask(is_logged_in{"ada"}, 1s)).value());
  h.advance(1min);
  EXPECT_FALSE(h.await(s.ask(is_logged_in{"ada"}, 1s)).value());
}

TEST(SessionsTest, ATouchRestartsTheIdleClock) {
  troupe::testing::harness h;
  auto s = h.system().spawn<sessions>();
  s.send(touch{"ada"});
  h.advance(20min);
  s.send(touch{"ada"});
  h.advance(20min);  // 40 minutes after the first touch, 20 after the second
  EXPECT_TRUE(h.await(s.ask(is_logged_in{"ada"}, 1s)).value());
  h.advance(10min);
  EXPECT_FALSE(h.await(s.ask(is_logged_in{"ada"}, 1s)).value());
}

// --- seeded interleavings: a race found and replayed -----------------------

// A stock counter and a shop that checks the stock, then reserves: two
// shops selling the last item can both pass the check.
struct stock_left {};
struct take_one {};
struct stock : troupe::actor<stock> {
  int left = 1;
  int on(stock_left) { return left; }
  void on(take_one) { --left; }
};
struct sell {};
struct shop : troupe::actor<shop> {
  troupe::actor_ref<stock> items;
  explicit shop(troupe::actor_ref<stock> s) : items(std::move(s)) {}
  troupe::task<bool> on(sell) {
    // Awaited into a local, not inside the if: GCC 12 miscompiles a co_await
    // in a condition (task.hpp).
    const int left = co_await items.ask(stock_left{}, 1s);
    if (left <= 0) co_return false;
    items.send(take_one{});
    co_return true;
  }
};

void two_shops_sell_the_last_item(troupe::testing::harness& h) {
  auto items = h.system().spawn<stock>();
  auto a = h.system().spawn<shop>(items);
  auto b = h.system().spawn<shop>(items);
  auto sold_a = a.ask(sell{}, 1s);
  auto sold_b = b.ask(sell{}, 1s);
  h.await(std::move(sold_a));
  h.await(std::move(sold_b));
  if (h.await(items.ask(stock_left{}, 1s)).value() < 0) throw std::logic_error("sold more than we had");
}

TEST(ShopTest, ExploringInterleavingsFindsTheOversellAndItsSeedReplaysIt) {
  const auto found = troupe::testing::explore(1, 100, two_shops_sell_the_last_item);
  ASSERT_TRUE(found.failing_seed) << "100 interleavings and no oversell";
  std::printf("seed %llu oversells; its steps:\n%s\n", static_cast<unsigned long long>(*found.failing_seed),
              found.trace.c_str());
  troupe::testing::harness replay({.seed = *found.failing_seed});
  EXPECT_THROW(two_shops_sell_the_last_item(replay), std::logic_error);
  EXPECT_EQ(replay.trace(), found.trace);  // the same steps, byte for byte
}
