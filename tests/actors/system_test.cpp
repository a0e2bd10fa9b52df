// The actor system: dead letters (counted, per reason, and the hook), and
// shutdown with a million messages in flight: accepted == processed + dead
// letters, exactly.

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct item {};
struct hold {};
struct sink : actor<sink> {
  std::atomic<long>* processed;
  gate* g;
  sink(std::atomic<long>* p, gate* gg) : processed(p), g(gg) {}
  void on(item) { processed->fetch_add(1, std::memory_order_relaxed); }
  void on(hold) {
    if (g) g->wait();
  }
};

TEST(SystemTest, DeadLettersReachTheHookWithTheirReason) {
  runtime rt(workers(2));
  std::mutex m;
  std::vector<dead_letter_reason> seen;
  system_options o;
  o.dead_letter_hook = [&](const dead_letter& d) {
    std::lock_guard g(m);
    seen.push_back(d.reason);
    EXPECT_TRUE(d.target);
    EXPECT_NE(d.message_type, nullptr);
  };
  actor_system sys(rt, o);
  std::atomic<long> processed{0};
  auto s = sys.spawn<sink>(&processed, nullptr);
  s.stop();
  s.watch(10s).get();
  EXPECT_EQ(s.send(item{}).code(), actor_errc::actor_stopped);
  std::lock_guard g(m);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], dead_letter_reason::actor_stopped);
  EXPECT_EQ(sys.stats().dead_letters.total(), 1u);
}

class ShutdownTest : public ::testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(Workers, ShutdownTest, ::testing::Values(1, 2, 4), worker_name);

// A million messages queued behind gates when shutdown begins: every one is
// handled, new external sends are refused, and the numbers add up exactly.
TEST_P(ShutdownTest, GracefulShutdownDeliversAMillionMessagesInFlight) {
  runtime rt(workers(GetParam()));
  constexpr int sinks = 8, producers = 4;
  constexpr long total = 1'000'000;
  std::atomic<long> processed{0};
  gate g;
  long accepted = 0, refused = 0;
  system_stats st;
  {
    actor_system sys(rt);
    spawn_options big;
    big.capacity = total / sinks + 16;
    std::vector<actor_ref<sink>> ss;
    for (int i = 0; i < sinks; ++i) {
      ss.push_back(sys.spawn<sink>(big, &processed, &g));
      ASSERT_TRUE(ss.back().send(hold{}));
    }
    std::atomic<long> acc{0};
    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p)
      ts.emplace_back([&, p] {
        long ok = 0;
        for (long i = p; i < total; i += producers)
          if (ss[i % sinks].send(item{})) ++ok;
        acc.fetch_add(ok);
      });
    for (auto& t : ts) t.join();
    accepted = acc.load();
    EXPECT_EQ(accepted, total);
    EXPECT_EQ(processed.load(), 0);  // all in flight
    std::thread closer([&] { sys.shutdown(); });
    ASSERT_TRUE(eventually([&] { return sys.stopping(); }));
    for (int i = 0; i < 100; ++i)
      if (ss[i % sinks].send(item{}).code() == actor_errc::system_stopped) ++refused;
    g.open(sinks);
    closer.join();
    st = sys.stats();
    EXPECT_EQ(st.live_actors, 0u);
  }
  EXPECT_EQ(refused, 100);
  const auto& d = st.dead_letters;
  const std::uint64_t lost_after_accept =
      d[dead_letter_reason::dropped_oldest] + d[dead_letter_reason::expired] + d[dead_letter_reason::unprocessed];
  EXPECT_EQ(static_cast<std::uint64_t>(accepted), static_cast<std::uint64_t>(processed.load()) + lost_after_accept);
  EXPECT_EQ(processed.load(), total);
  EXPECT_EQ(d[dead_letter_reason::system_stopped], 100u);
}

// Producers keep sending while an immediate shutdown runs, into mailboxes of
// every policy: whatever was accepted was either handled or dead-lettered.
TEST_P(ShutdownTest, ImmediateShutdownUnderLoadAccountsForEveryAcceptedMessage) {
  runtime rt(workers(GetParam()));
  std::atomic<long> processed{0};
  std::atomic<long> accepted{0};
  std::atomic<bool> stop_producers{false};
  system_stats st;
  {
    actor_system sys(rt);
    std::vector<actor_ref<sink>> ss;
    const overflow_policy policies[] = {overflow_policy::block, overflow_policy::fail, overflow_policy::drop_newest,
                                        overflow_policy::drop_oldest};
    for (auto p : policies) {
      spawn_options o;
      o.capacity = 256;
      o.policy = p;
      o.block_timeout = 50ms;
      ss.push_back(sys.spawn<sink>(o, &processed, nullptr));
    }
    // Producers are actors (internal sends keep flowing during shutdown).
    struct produce {};
    struct source : actor<source> {
      std::vector<actor_ref<sink>> to;
      std::atomic<long>* accepted;
      std::atomic<bool>* stop_flag;
      source(std::vector<actor_ref<sink>> t, std::atomic<long>* a, std::atomic<bool>* s)
          : to(std::move(t)), accepted(a), stop_flag(s) {}
      void on(produce) {
        long ok = 0;
        for (int i = 0; i < 2000; ++i)
          if (to[i % to.size()].send(item{})) ++ok;
        accepted->fetch_add(ok);
        if (!stop_flag->load()) (void)self().send(produce{});
      }
    };
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(sys.spawn<source>(ss, &accepted, &stop_producers).send(produce{}));
    ASSERT_TRUE(eventually([&] { return processed.load() > 50'000; }, 30s));
    sys.shutdown(stop_mode::immediate);
    st = sys.stats();
    EXPECT_EQ(st.live_actors, 0u);
  }
  const auto& d = st.dead_letters;
  const std::uint64_t lost_after_accept =
      d[dead_letter_reason::dropped_oldest] + d[dead_letter_reason::expired] + d[dead_letter_reason::unprocessed];
  EXPECT_EQ(static_cast<std::uint64_t>(accepted.load()),
            static_cast<std::uint64_t>(processed.load()) + lost_after_accept);
}

TEST(SystemTest, ShutdownFromInsideAHandlerOnlyBeginsIt) {
  runtime rt(workers(2));
  struct quit {};
  struct quitter : actor<quitter> {
    void on(quit) { system().shutdown(); }
  };
  actor_system sys(rt);
  auto q = sys.spawn<quitter>();
  ASSERT_TRUE(q.send(quit{}));
  ASSERT_TRUE(eventually([&] { return sys.stopping() && sys.stats().live_actors == 0; }));
  sys.shutdown();  // completes (joins) from this thread
}

}  // namespace
}  // namespace troupe::test
