// Actors: typed handlers (checked at compile time), send/ask, replies
// (immediate, deferred, twice, broken), asking from a handler (blocking and
// continuation), deadlines, stop, monitors, links, a handler that throws,
// and a million idle actors.

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct add {
  int k;
};
struct get {};
struct boom {};
struct nap {
  std::chrono::milliseconds d;
};

struct counter : actor<counter> {
  long n = 0;
  void on(add a) { n += a.k; }
  long on(get) { return n; }
  void on(boom) { throw std::runtime_error("boom"); }
  long on(nap z) {
    this_fiber::sleep_for(z.d);
    return n;
  }
};

// Compile-time checks: a message type without a handler does not compile.
template <class R, class M>
concept can_send = requires(const R& r, M m) {
  r.send(std::move(m));
};
template <class R, class M>
concept can_ask = requires(const R& r, M m) {
  r.ask(std::move(m), std::chrono::seconds(1));
};
static_assert(handles<counter, add>);
static_assert(handles<counter, get>);
static_assert(!handles<counter, std::string>);
static_assert(can_send<actor_ref<counter>, add>);
static_assert(!can_send<actor_ref<counter>, std::string>);
static_assert(!can_send<actor_ref<counter>, double>);
static_assert(can_ask<actor_ref<counter>, get>);
static_assert(!can_ask<actor_ref<counter>, std::string>);
static_assert(
    std::is_same_v<decltype(std::declval<actor_ref<counter>&>().ask(get{}, std::chrono::seconds(1))),
                   ask_future<long>>);
static_assert(
    std::is_same_v<decltype(std::declval<actor_ref<counter>&>().ask(add{1}, std::chrono::seconds(1))),
                   ask_future<void>>);

class ActorTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, ActorTest, ::testing::Values(1, 2, 4), worker_name);

TEST_P(ActorTest, SendThenAskSeesEverySend) {
  auto c = sys.spawn<counter>();
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(c.send(add{1}));
  EXPECT_EQ(c.ask(get{}, 10s).get(), 10'000);
  c.ask(add{5}, 10s).get();  // a void reply
  EXPECT_EQ(c.ask(get{}, 10s).get(), 10'005);
  actor_ref<counter> copy = c;  // cheap copies, same actor
  EXPECT_TRUE(copy == c);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, AskFromManyThreads) {
  auto c = sys.spawn<counter>();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([c] {
      for (int i = 0; i < 500; ++i) c.ask(add{1}, 10s).get();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.ask(get{}, 10s).get(), 2000);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, AskWithAPastDeadlineFailsAtOnce) {
  auto c = sys.spawn<counter>();
  auto r = c.ask(get{}, std::chrono::steady_clock::now() - 1ms).get_result();
  EXPECT_EQ(r.error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(c.stats().dead_letters[dead_letter_reason::deadline_passed], 1u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, AskToAStoppedActorFails) {
  auto c = sys.spawn<counter>();
  c.stop();
  EXPECT_EQ(c.watch(10s).get().kind, exit_kind::normal);
  auto r = c.ask(get{}, 1s).get_result();
  EXPECT_EQ(r.error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(c.send(add{1}).code(), actor_errc::actor_stopped);
  EXPECT_EQ(c.stats().dead_letters[dead_letter_reason::actor_stopped], 2u);
  EXPECT_TRUE(c.stopped());
  sys.shutdown();  // before the locals its actors point to go away
}

struct hold {};
struct gated : actor<gated> {
  gate* g;
  long handled = 0;
  explicit gated(gate* gg) : g(gg) {}
  void on(hold) { g->wait(); }
  long on(get) { return ++handled; }
};

// On virtual time: the ask's deadline (which is also its message's) passes
// only when the test moves the clock, so the handler surely holds the ask
// when it times out. With a real 10 ms deadline, a loaded machine could
// start the handler late: the message then expired unhandled and the late
// reply this test waits for never came (seen once in CI under ASan).
class ActorVirtualTimeTest : public VirtualTimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, ActorVirtualTimeTest, ::testing::Values(1, 2, 4), worker_name);

TEST_P(ActorVirtualTimeTest, AskTimesOutAndTheLateReplyIsADeadLetter) {
  gate g;
  auto a = sys.spawn<gated>(&g);
  auto f = a.ask(hold{}, 10ms);
  ASSERT_TRUE(g.wait_entered());
  clk->advance(10ms);
  try {
    f.get();
    FAIL() << "no timeout";
  } catch (const actor_error& e) {
    EXPECT_EQ(e.code(), actor_errc::timeout);
  }
  EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::unanswered], 0u);
  g.open();
  EXPECT_TRUE(eventually([&] { return sys.stats().dead_letters[dead_letter_reason::unanswered] == 1; }));
  EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::expired], 0u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, AHandlerThatThrowsStopsOnlyItsActor) {
  auto c = sys.spawn<counter>();
  auto other = sys.spawn<counter>();
  ASSERT_TRUE(c.send(add{1}));
  auto f = c.ask(boom{}, 10s);
  EXPECT_THROW(f.get(), std::runtime_error);  // the asker gets the handler's exception
  exit_reason r = c.watch(10s).get();
  EXPECT_EQ(r.kind, exit_kind::failed);
  EXPECT_EQ(r.message, "boom");
  EXPECT_TRUE(r.exception != nullptr);
  EXPECT_EQ(c.stats().failures, 1u);
  EXPECT_EQ(sys.stats().failures, 1u);
  EXPECT_EQ(c.send(add{1}).code(), actor_errc::actor_stopped);
  ASSERT_TRUE(other.send(add{2}));  // the runtime and other actors go on
  EXPECT_EQ(other.ask(get{}, 10s).get(), 2);
  sys.shutdown();  // before the locals its actors point to go away
}

// A regression: a watch() made after the actor's word went final but
// before its last turn recorded the reason saw only the kind (no message,
// no exception). The asker hears of the failure inside that window.
TEST_P(ActorTest, AWatchRightAfterAFailureCarriesItsReason) {
  for (int i = 0; i < 1000; ++i) {
    auto c = sys.spawn<counter>();
    EXPECT_THROW(c.ask(boom{}, 10s).get(), std::runtime_error);
    exit_reason r = c.watch(10s).get();
    ASSERT_EQ(r.kind, exit_kind::failed);
    ASSERT_EQ(r.message, "boom") << "iteration " << i;
    ASSERT_TRUE(r.exception != nullptr);
  }
  sys.shutdown();
}

TEST_P(ActorTest, MessagesQueuedBehindACrashAreDeadLettered) {
  gate g;
  struct crasher : actor<crasher> {
    gate* g;
    explicit crasher(gate* gg) : g(gg) {}
    void on(hold) {
      g->wait();
      throw std::logic_error("crash");
    }
    void on(add) {}
  };
  auto a = sys.spawn<crasher>(&g);
  ASSERT_TRUE(a.send(hold{}));
  ASSERT_TRUE(g.wait_entered());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(a.send(add{i}));
  g.open();
  EXPECT_EQ(a.watch(10s).get().kind, exit_kind::failed);
  EXPECT_EQ(a.stats().dead_letters[dead_letter_reason::unprocessed], 7u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, GracefulStopHandlesEveryAcceptedMessage) {
  gate g;
  auto a = sys.spawn<gated>(&g);
  ASSERT_TRUE(a.send(hold{}));
  ASSERT_TRUE(g.wait_entered());
  std::vector<ask_future<long>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(a.ask(get{}, 10s));
  a.stop(stop_mode::graceful);
  EXPECT_EQ(a.ask(get{}, 10s).get_result().error_code(), actor_errc::actor_stopped);
  g.open();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[i].get(), i + 1);
  EXPECT_EQ(a.watch(10s).get().kind, exit_kind::normal);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, ImmediateStopDeadLettersTheQueue) {
  gate g;
  auto a = sys.spawn<gated>(&g);
  ASSERT_TRUE(a.send(hold{}));
  ASSERT_TRUE(g.wait_entered());
  std::vector<ask_future<long>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(a.ask(get{}, 10s));
  a.stop(stop_mode::immediate);
  g.open();
  for (auto& f : fs) EXPECT_EQ(f.get_result().error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(a.watch(10s).get().kind, exit_kind::killed);
  EXPECT_EQ(a.stats().dead_letters[dead_letter_reason::unprocessed], 20u);
  sys.shutdown();  // before the locals its actors point to go away
}

// --- replies from handlers that ask others ----------------------------------

struct twice {};
struct forward {
  int x;
};
struct forward_blocking {
  int x;
};
struct never {};
struct silent {};
struct backend : actor<backend> {
  std::atomic<long>* deadline_left_ms;
  explicit backend(std::atomic<long>* d = nullptr) : deadline_left_ms(d) {}
  int on(forward f) {
    if (deadline_left_ms)
      deadline_left_ms->store(
          std::chrono::duration_cast<std::chrono::milliseconds>(this_actor::deadline() - this_actor::now())
              .count());
    this_fiber::sleep_for(30ms);
    return f.x * 2;
  }
  reply_promise<int> on(never) { return this_actor::reply_later<int>(); }  // never delivers
  reply_promise<int> on(silent) { return {}; }                             // never even takes it
};

struct proxy : actor<proxy> {
  actor_ref<backend> be;
  std::atomic<int>* twice_error;
  long pings = 0;
  proxy(actor_ref<backend> b, std::atomic<int>* e) : be(std::move(b)), twice_error(e) {}
  // Continuation form: returns at once, replies when the backend does.
  reply_promise<int> on(forward f) {
    auto rp = this_actor::reply_later<int>();
    be.ask(f, 5s).then([rp](result<int> r) mutable {
      if (r)
        rp.deliver(*r + 1);
      else
        rp.fail(r.exception());
    });
    return rp;
  }
  // Blocking form: this actor waits for the backend.
  int on(forward_blocking f) { return be.ask(forward{f.x}, 5s).get() + 1; }
  long on(get) { return ++pings; }
  reply_promise<int> on(twice) {
    auto rp = this_actor::reply_later<int>();
    rp.deliver(1);
    try {
      rp.deliver(2);
    } catch (const actor_error& e) {
      if (e.code() == actor_errc::already_replied) twice_error->fetch_add(1);
    }
    return rp;
  }
  int on(never) { return be.ask(never{}, 50ms).get(); }
};

TEST_P(ActorTest, ContinuationLetsTheActorGoOnWithOtherMessages) {
  std::atomic<int> errs{0};
  auto p = sys.spawn<proxy>(sys.spawn<backend>(), &errs);
  auto slow = p.ask(forward{20}, 10s);
  // While the backend sleeps, the proxy answers other asks.
  EXPECT_EQ(p.ask(get{}, 10s).get(), 1);
  EXPECT_FALSE(slow.is_ready());
  EXPECT_EQ(slow.get(), 41);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, BlockingAskInsideAHandler) {
  std::atomic<int> errs{0};
  auto p = sys.spawn<proxy>(sys.spawn<backend>(), &errs);
  EXPECT_EQ(p.ask(forward_blocking{5}, 10s).get(), 11);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, DeadlinesPropagateThroughNestedAsks) {
  std::atomic<int> errs{0};
  std::atomic<long> left{-1};
  auto p = sys.spawn<proxy>(sys.spawn<backend>(&left), &errs);
  // The proxy asks with 5 s; the request it serves has 1 s left.
  auto r = p.ask(forward{1}, 1s).get();
  EXPECT_EQ(r, 3);
  EXPECT_GE(left.load(), 0);
  EXPECT_LE(left.load(), 1000);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, AReplySentTwiceIsAnError) {
  std::atomic<int> errs{0};
  auto p = sys.spawn<proxy>(sys.spawn<backend>(), &errs);
  EXPECT_EQ(p.ask(twice{}, 10s).get(), 1);
  EXPECT_TRUE(eventually([&] { return errs.load() == 1; }));  // the handler goes on after the first reply
  sys.shutdown();                                             // before the locals its actors point to go away
}

TEST_P(ActorTest, ADroppedReplyPromiseIsABrokenReply) {
  auto b = sys.spawn<backend>();
  EXPECT_EQ(b.ask(never{}, 10s).get_result().error_code(), actor_errc::broken_reply);
  EXPECT_EQ(b.ask(silent{}, 10s).get_result().error_code(), actor_errc::broken_reply);
  sys.shutdown();  // before the locals its actors point to go away
}

struct then_timeout {};
struct waiter : actor<waiter> {
  actor_ref<counter> slow;
  std::atomic<int>* code;
  waiter(actor_ref<counter> s, std::atomic<int>* c) : slow(std::move(s)), code(c) {}
  void on(then_timeout) {
    slow.ask(nap{200ms}, 20ms).then([this](result<long> r) {
      code->store(static_cast<int>(r.error_code()));
    });
  }
};

TEST_P(ActorTest, ContinuationRunsWithTimeoutAtTheDeadline) {
  std::atomic<int> code{-1};
  auto w = sys.spawn<waiter>(sys.spawn<counter>(), &code);
  ASSERT_TRUE(w.send(then_timeout{}));
  ASSERT_TRUE(eventually([&] { return code.load() >= 0; }));
  EXPECT_EQ(code.load(), static_cast<int>(actor_errc::timeout));
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(ActorTest, ThenOutsideAnActorIsRefused) {
  auto c = sys.spawn<counter>();
  auto f = c.ask(get{}, 10s);
  EXPECT_THROW(f.then([](result<long>) {}), actor_error);
  sys.shutdown();  // before the locals its actors point to go away
}

// --- monitors and links --------------------------------------------------------

struct watch_it {
  actor_addr who;
};
struct link_it {
  actor_addr who;
};
struct watcher : actor<watcher> {
  std::vector<exit_reason>* downs;
  std::atomic<int>* n;
  watcher(std::vector<exit_reason>* d, std::atomic<int>* c) : downs(d), n(c) {}
  void on(watch_it w) { self().monitor(w.who); }
  void on(link_it l) { self().link(l.who); }
  void on(down d) {
    downs->push_back(d.reason);
    n->fetch_add(1);
  }
};

TEST_P(ActorTest, MonitorsGetDownWithTheReason) {
  std::vector<exit_reason> downs;
  std::atomic<int> n{0};
  auto w = sys.spawn<watcher>(&downs, &n);
  auto a = sys.spawn<counter>();
  auto b = sys.spawn<counter>();
  w.ask(watch_it{a}, 10s).get();
  w.ask(watch_it{b}, 10s).get();
  a.stop();
  ASSERT_TRUE(b.send(boom{}));
  ASSERT_TRUE(eventually([&] { return n.load() == 2; }));
  auto c = sys.spawn<counter>();
  c.stop();
  c.watch(10s).get();
  w.ask(watch_it{c}, 10s).get();  // already dead: down at once
  ASSERT_TRUE(eventually([&] { return n.load() == 3; }));
  ASSERT_EQ(w.ask(watch_it{w}, 10s).get_result().error_code(), actor_errc::ok);
  w.stop();
  w.watch(10s).get();
  int normal = 0, failed = 0;
  for (auto& r : downs) {
    if (r.kind == exit_kind::normal) ++normal;
    if (r.kind == exit_kind::failed && r.message == "boom") ++failed;
  }
  EXPECT_EQ(normal, 2);
  EXPECT_EQ(failed, 1);
  sys.shutdown();  // before the locals its actors point to go away
}

struct trapper : actor<trapper> {
  std::atomic<int>* kind;
  explicit trapper(std::atomic<int>* k) : kind(k) {}
  void on(link_it l) { self().link(l.who); }
  void on(exit_signal x) { kind->store(static_cast<int>(x.reason.kind)); }
};

TEST_P(ActorTest, LinksPropagateAbnormalExits) {
  std::vector<exit_reason> downs;
  std::atomic<int> n{0}, trapped{-1};
  auto a = sys.spawn<watcher>(&downs, &n);  // does not trap exits
  auto t = sys.spawn<trapper>(&trapped);    // traps exits
  auto b = sys.spawn<counter>();
  a.ask(link_it{b}, 10s).get();
  t.ask(link_it{b}, 10s).get();
  ASSERT_TRUE(b.send(boom{}));
  exit_reason ra = a.watch(10s).get();
  EXPECT_EQ(ra.kind, exit_kind::linked);
  EXPECT_NE(ra.message.find("boom"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return trapped.load() >= 0; }));
  EXPECT_EQ(trapped.load(), static_cast<int>(exit_kind::failed));
  EXPECT_FALSE(t.stopped());  // trapping actors live on
  sys.shutdown();             // before the locals its actors point to go away
}

// --- bad input --------------------------------------------------------------------

TEST(ActorMisuseTest, AnActorCannotBeConstructedDirectly) { EXPECT_THROW((void)counter{}, actor_error); }

TEST(ActorMisuseTest, SpawningOnAStoppedSystemThrows) {
  runtime rt(workers(1));
  actor_system sys(rt);
  sys.shutdown();
  try {
    (void)sys.spawn<counter>();
    FAIL();
  } catch (const actor_error& e) {
    EXPECT_EQ(e.code(), actor_errc::system_stopped);
  }
}

// --- a million idle actors ----------------------------------------------------------

struct idle : actor<idle> {
  int n = 0;
  void on(add a) { n += a.k; }
};

TEST(ActorMemoryTest, AMillionIdleActorsFitIn256BytesEach) {
  runtime rt(workers(2));
  actor_system sys(rt);
  // Sanitized builds do not check the bound (the sanitizer's allocator and
  // shadow memory inflate RSS), so they check the counts on a tenth.
  constexpr std::size_t n = sanitized ? 100'000 : 1'000'000;
  std::vector<actor_ref<idle>> refs;
  refs.reserve(n);  // the handles are the test's, not the actors': reserved before measuring
  // Warm the allocator's size class so the baseline includes its fixed costs.
  { auto w = sys.spawn<idle>(); }
  const std::size_t before = rss_bytes();
  for (std::size_t i = 0; i < n; ++i) refs.push_back(sys.spawn<idle>());
  const std::size_t after = rss_bytes();
  const double per_actor = static_cast<double>(after - before) / n;
  std::printf("[ info ] RSS growth per idle actor: %.1f bytes (cell_impl: %zu bytes)\n", per_actor,
              sizeof(detail::cell_impl<idle>));
  EXPECT_LE(sizeof(detail::cell_impl<idle>), 256u);
  if (!sanitized) {
    EXPECT_LE(per_actor, 256.0);
  }
  EXPECT_EQ(sys.stats().live_actors, n + 1);
  // All alive and working.
  ASSERT_TRUE(refs[n / 2].send(add{1}));
  ASSERT_TRUE(refs.back().send(add{1}));
  EXPECT_FALSE(refs.front().stopped());
}

}  // namespace
}  // namespace troupe::test
