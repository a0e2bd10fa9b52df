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
  const std::uint64_t lost_after_accept = d[dead_letter_reason::dropped_oldest] +
                                          d[dead_letter_reason::expired] + d[dead_letter_reason::unprocessed];
  EXPECT_EQ(static_cast<std::uint64_t>(accepted),
            static_cast<std::uint64_t>(processed.load()) + lost_after_accept);
  EXPECT_EQ(processed.load(), total);
  EXPECT_EQ(d[dead_letter_reason::system_stopped], 100u);
}

// The after-acceptance dead letters of a set of actors (per-actor counts).
template <class Refs>
std::uint64_t lost_after_accept_of(const Refs& refs) {
  std::uint64_t n = 0;
  for (const auto& r : refs) {
    const auto d = r.stats().dead_letters;
    n += d[dead_letter_reason::dropped_oldest] + d[dead_letter_reason::expired] +
         d[dead_letter_reason::unprocessed];
  }
  return n;
}

// Producers keep sending while an immediate shutdown runs, into mailboxes of
// every policy: whatever was accepted was either handled or dead-lettered.
// The producers' own `produce` messages are accepted messages too: a source
// caught between turns with its next `produce` queued (it yields every
// `budget` messages) has it dead-lettered as `unprocessed` by the immediate
// stop, so the system-wide sum must count them on both sides.
TEST_P(ShutdownTest, ImmediateShutdownUnderLoadAccountsForEveryAcceptedMessage) {
  runtime rt(workers(GetParam()));
  std::atomic<long> processed{0};
  std::atomic<long> accepted{0};
  std::atomic<long> produce_accepted{0};  // `produce` sends that returned ok
  std::atomic<long> produce_handled{0};
  std::atomic<bool> stop_producers{false};
  system_stats st;
  std::uint64_t sinks_lost = 0;
  {
    actor_system sys(rt);
    std::vector<actor_ref<sink>> ss;
    const overflow_policy policies[] = {overflow_policy::block, overflow_policy::fail,
                                        overflow_policy::drop_newest, overflow_policy::drop_oldest};
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
      std::atomic<long>* produce_accepted;
      std::atomic<long>* produce_handled;
      std::atomic<bool>* stop_flag;
      source(std::vector<actor_ref<sink>> t, std::atomic<long>* a, std::atomic<long>* pa,
             std::atomic<long>* ph, std::atomic<bool>* s)
          : to(std::move(t)), accepted(a), produce_accepted(pa), produce_handled(ph), stop_flag(s) {}
      void on(produce) {
        produce_handled->fetch_add(1);
        long ok = 0;
        for (int i = 0; i < 2000; ++i)
          if (to[i % to.size()].send(item{})) ++ok;
        accepted->fetch_add(ok);
        if (!stop_flag->load() && self().send(produce{})) produce_accepted->fetch_add(1);
      }
    };
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(sys.spawn<source>(ss, &accepted, &produce_accepted, &produce_handled, &stop_producers)
                      .send(produce{}));
      produce_accepted.fetch_add(1);
    }
    ASSERT_TRUE(eventually([&] { return processed.load() > 50'000; }, 30s));
    sys.shutdown(stop_mode::immediate);
    st = sys.stats();
    EXPECT_EQ(st.live_actors, 0u);
    sinks_lost = lost_after_accept_of(ss);  // handles stay valid until the system is gone
  }
  // The sinks alone: every accepted item was handled or dead-lettered once.
  EXPECT_EQ(static_cast<std::uint64_t>(accepted.load()),
            static_cast<std::uint64_t>(processed.load()) + sinks_lost);
  // Every actor: items and the producers' own messages.
  const auto& d = st.dead_letters;
  const std::uint64_t lost_after_accept = d[dead_letter_reason::dropped_oldest] +
                                          d[dead_letter_reason::expired] + d[dead_letter_reason::unprocessed];
  EXPECT_EQ(static_cast<std::uint64_t>(accepted.load() + produce_accepted.load()),
            static_cast<std::uint64_t>(processed.load() + produce_handled.load()) + lost_after_accept);
}

// The case behind the sum above, made deterministic: a producer's own
// message, accepted and still queued when the immediate shutdown reaches it,
// is an `unprocessed` dead letter of the producer, not of any sink; counting
// only the items sent to sinks as "accepted" would be one short.
TEST(SystemTest, ImmediateShutdownDeadLettersAProducersQueuedOwnMessage) {
  runtime rt(workers(2));
  struct produce {};
  struct producer : actor<producer> {
    actor_ref<sink> to;
    gate* g;
    producer(actor_ref<sink> t, gate* gg) : to(std::move(t)), g(gg) {}
    void on(hold) { g->wait(); }
    void on(produce) { (void)to.send(item{}); }
  };
  std::atomic<long> processed{0};
  gate g;
  system_stats st;
  actor_stats ps, ks;
  {
    actor_system sys(rt);
    auto k = sys.spawn<sink>(&processed, nullptr);
    auto p = sys.spawn<producer>(k, &g);
    ASSERT_TRUE(p.send(hold{}));
    ASSERT_TRUE(g.wait_entered());
    ASSERT_TRUE(p.send(produce{}));  // accepted, queued behind the handler that waits
    std::thread closer([&] { sys.shutdown(stop_mode::immediate); });
    // The producer's own stop, not sys.stopping(): the system flags itself
    // stopping before it asks each actor to stop.
    ASSERT_TRUE(eventually([&] { return p.stats().stopped; }));
    g.open();  // the immediate stop takes effect when this handler returns
    closer.join();
    st = sys.stats();
    ps = p.stats();
    ks = k.stats();
  }
  EXPECT_EQ(st.live_actors, 0u);
  EXPECT_EQ(processed.load(), 0);  // the item was never sent
  EXPECT_EQ(ps.dead_letters[dead_letter_reason::unprocessed], 1u);
  EXPECT_EQ(ks.dead_letters.total(), 0u);
  // Two accepted messages (hold, produce): one handled, one dead-lettered.
  EXPECT_EQ(ps.processed, 1u);
  EXPECT_EQ(st.dead_letters[dead_letter_reason::unprocessed], 1u);
  EXPECT_EQ(st.dead_letters.total(), 1u);
}

TEST(SystemTest, ShutdownFromInsideAHandlerOnlyBeginsIt) {
  runtime rt(workers(2));
  struct quit {};
  struct quitter : actor<quitter> {
    void on(quit) { this_actor::system().shutdown(); }
  };
  actor_system sys(rt);
  auto q = sys.spawn<quitter>();
  ASSERT_TRUE(q.send(quit{}));
  ASSERT_TRUE(eventually([&] { return sys.stopping() && sys.stats().live_actors == 0; }));
  sys.shutdown();  // completes (joins) from this thread
}

// An actor that asks itself and waits used to hang forever (and with it
// shutdown()). The wait now fails at once; and a shutdown facing an actor
// that never stops gives up after its timeout and says which one.
struct self_asker : actor<self_asker> {
  struct ask_me {};
  struct answer {};
  int on(answer) { return 1; }
  int on(ask_me) {
    try {
      return self().ask(answer{}, std::chrono::hours::max()).get();
    } catch (const actor_error& e) {
      return -static_cast<int>(e.code());
    }
  }
};

TEST(SystemTest, AnActorWaitingOnItsOwnAskFailsAtOnce) {
  runtime rt(workers(2));
  actor_system sys(rt);
  auto a = sys.spawn<self_asker>();
  EXPECT_EQ(a.ask(self_asker::ask_me{}, 10s).get(), -static_cast<int>(actor_errc::would_deadlock));
  EXPECT_EQ(a.ask(self_asker::answer{}, 10s).get(), 1) << "the actor goes on";
  const shutdown_report r = sys.shutdown();
  EXPECT_TRUE(r.complete);
}

struct stubborn : actor<stubborn> {
  struct wait_forever {
    counting_semaphore* never;
  };
  void on(wait_forever w) { w.never->acquire(); }  // nobody releases it
};

TEST(SystemTest, ShutdownStopsWaitingAfterItsTimeoutAndReportsWhatItAbandoned) {
  runtime rt(workers(2));
  counting_semaphore never(0);
  {
    actor_system sys(rt, system_options{.shutdown_timeout = 100ms});
    auto s = sys.spawn<stubborn>();
    ASSERT_TRUE(s.send(stubborn::wait_forever{&never}));
    ASSERT_TRUE(eventually([&] { return s.stats().processed == 0 && s.stats().depth == 1; }));
    const shutdown_report r = sys.shutdown();
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(r.abandoned, 1u);
    ASSERT_EQ(r.actors.size(), 1u);
    EXPECT_NE(r.actors[0].find("stubborn"), std::string::npos) << r.actors[0];
  }               // the system object goes; its state waits for the runtime
  rt.shutdown();  // cancels the handler's wait: the abandoned actor stops, nothing leaks
}

struct outliver : actor<outliver> {
  struct wait_then_ask_for_the_system {
    counting_semaphore* gate;
    std::atomic<int>* outcome;  // 1: got it, 2: system_stopped, 3: another error
  };
  void on(wait_then_ask_for_the_system m) {
    m.gate->acquire();
    try {
      (void)this_actor::system();
      m.outcome->store(1);
    } catch (const actor_error& e) {
      m.outcome->store(e.code() == actor_errc::system_stopped ? 2 : 3);
    }
  }
};

TEST(SystemTest, AnAbandonedActorAskingForItsGoneSystemGetsAnError) {
  // It used to read the dead system's pointer unordered and dereference null.
  runtime rt(workers(2));
  counting_semaphore gate(0);
  std::atomic<int> outcome{0};
  {
    actor_system sys(rt, system_options{.shutdown_timeout = 100ms});
    auto a = sys.spawn<outliver>();
    ASSERT_TRUE(a.send(outliver::wait_then_ask_for_the_system{&gate, &outcome}));
    ASSERT_TRUE(eventually([&] { return a.stats().processed == 0 && a.stats().depth == 1; }));
    EXPECT_EQ(sys.shutdown().abandoned, 1u);
  }  // the system object goes; the actor still waits in its handler
  gate.release();
  ASSERT_TRUE(eventually([&] { return outcome.load() != 0; }));
  EXPECT_EQ(outcome.load(), 2);
  rt.shutdown();
}

TEST(SystemTest, DestroyingTheSystemFromAHandlerBeginsShutdownAndFreesItSafely) {
  // From a worker the destructor cannot wait for the actors; it used to
  // free the system under them (use after free under asan and tsan).
  runtime rt(workers(2));
  struct destroy_it {
    actor_system* sys;
  };
  struct destroyer : actor<destroyer> {
    std::atomic<bool>* done;
    explicit destroyer(std::atomic<bool>* d) : done(d) {}
    void on(destroy_it d) {
      delete d.sys;
      done->store(true);
    }
  };
  std::atomic<bool> done{false};
  auto* sys = new actor_system(rt);
  auto d = sys->spawn<destroyer>(&done);
  auto other = sys->spawn<destroyer>(&done);
  ASSERT_TRUE(d.send(destroy_it{sys}));
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  // Its actors stop by themselves; the state they use lives until the
  // runtime shuts down.
  ASSERT_TRUE(eventually([&] { return d.stopped() && other.stopped(); }));
  rt.shutdown();
}

}  // namespace
}  // namespace troupe::test
