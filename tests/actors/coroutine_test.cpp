// Coroutine handlers: replies, exceptions, deadline inheritance, the hold of
// a non-reentrant handler, reentrancy, await cycles, when_all / when_any,
// and what a suspended handler costs.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

class CoroutineTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, CoroutineTest, ::testing::Values(1, 2, 4), worker_name);

struct get_value {};
struct slow_value {
  std::chrono::milliseconds after;
};
struct fail_now {};
struct report_deadline {};
// A backend answering now, later (a delay in a coroutine) or with an error.
struct backend : actor<backend> {
  int value = 7;
  int on(get_value) { return value; }
  task<int> on(slow_value s) {
    co_await delay(s.after);
    co_return value * 10;
  }
  // Replies with an error without failing itself.
  reply_promise<int> on(fail_now) {
    auto rp = this_actor::reply_later<int>();
    rp.fail(std::make_exception_ptr(std::runtime_error("backend failed")));
    return rp;
  }
  // How much of the inherited deadline is left here, in ms (-1: none).
  long on(report_deadline) {
    const auto d = this_actor::deadline();
    if (d == clock::time_point::max()) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(d - this_actor::now()).count();
  }
};

struct sum_two {};
struct sum_failing {};
struct nested {};
struct through_then {};
struct front : actor<front> {
  actor_ref<backend> be;
  explicit front(actor_ref<backend> b) : be(std::move(b)) {}
  task<int> on(sum_two) {
    const int a = co_await be.ask(get_value{}, 5s);
    const int b = co_await be.ask(slow_value{2ms}, 5s);
    co_return a + b;
  }
  task<int> on(sum_failing) {
    const int a = co_await be.ask(get_value{}, 5s);
    co_return a + co_await be.ask(fail_now{}, 5s);  // throws: reaches the asker and the supervisor
  }
  // Two levels of awaits: the ask made two coroutines down inherits the
  // deadline of the request this handler serves.
  task<long> inner() { co_return co_await be.ask(report_deadline{}, 1h); }
  task<long> middle() { co_return co_await inner(); }
  task<long> on(nested) { co_return co_await middle(); }
  // And through a continuation.
  reply_promise<long> on(through_then) {
    auto rp = this_actor::reply_later<long>();
    be.ask(get_value{}, 1h).then([this, rp](result<int>) mutable {
      be.ask(report_deadline{}, 1h).then([rp](result<long> r) mutable { rp.deliver(*r); });
    });
    return rp;
  }
};

TEST_P(CoroutineTest, ACoroutineHandlerRepliesWithItsCoReturnValue) {
  auto f = sys.spawn<front>(sys.spawn<backend>());
  EXPECT_EQ(f.ask(sum_two{}, 10s).get(), 77);
  EXPECT_EQ(f.ask(sum_two{}, 10s).get(), 77);
  sys.shutdown();
}

// processed counts messages handed to a handler. A coroutine handler
// resumes after each co_await through a system message; that resumption is
// not a message and used to be counted as one. Driven runtime, virtual time:
// the counts are read once everything has run.
TEST(CoroutineStatsTest, ProcessedCountsMessagesNotResumptions) {
  auto clk = std::make_shared<manual_clock>();
  runtime_options o;
  o.driven = true;
  o.clock = clk;
  runtime rt(o);
  actor_system sys(rt);
  auto be = sys.spawn<backend>();
  auto f = sys.spawn<front>(be);
  auto sum = f.ask(sum_two{}, 10s);
  rt.run_until_idle();
  clk->advance(2ms);  // slow_value's delay
  rt.run_until_idle();
  ASSERT_TRUE(sum.is_ready());
  EXPECT_EQ(sum.get(), 77);
  EXPECT_EQ(f.stats().processed, 1u) << "one sum_two, resumed after each of its two asks";
  EXPECT_EQ(be.stats().processed, 2u) << "get_value and slow_value, resumed after its delay";
}

TEST_P(CoroutineTest, AnExceptionAcrossCoAwaitReachesTheAskerAndTheSupervisor) {
  auto sup = sys.spawn_supervisor({.strategy = restart_strategy::one_for_one});
  auto f = sup.spawn<front>(sys.spawn<backend>());
  try {
    f.ask(sum_failing{}, 10s).get();
    FAIL() << "expected the backend's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "backend failed");
  }
  EXPECT_TRUE(eventually([&] { return f.stats().restarts == 1; }))
      << "restarted like after a plain handler's throw";
  EXPECT_EQ(sys.stats().failures, 1u);         // the front's coroutine
  EXPECT_EQ(f.ask(sum_two{}, 10s).get(), 77);  // the new incarnation works
  sys.shutdown();
}

TEST_P(CoroutineTest, AsksInheritTheDeadlineThroughTwoAwaitsAndAThen) {
  auto f = sys.spawn<front>(sys.spawn<backend>());
  // The handlers ask with an hour; the request they serve has 2 s.
  const long left = f.ask(nested{}, 2s).get();
  EXPECT_GE(left, 0);
  EXPECT_LE(left, 2000);
  const long left_then = f.ask(through_then{}, 2s).get();
  EXPECT_GE(left_then, 0);
  EXPECT_LE(left_then, 2000);
  sys.shutdown();
}

// --- the hold -------------------------------------------------------------

struct record {
  std::string what;
};
struct held_handler {};
struct log_of {};
struct orderly : actor<orderly> {
  actor_ref<backend> be;
  std::vector<std::string> log;
  explicit orderly(actor_ref<backend> b) : be(std::move(b)) {}
  task<int> on(held_handler) {
    log.push_back("start");
    const int v = co_await be.ask(slow_value{20ms}, 10s);  // suspended: nothing else may run here
    log.push_back("end");
    co_return v;
  }
  void on(record r) { log.push_back(r.what); }
  std::vector<std::string> on(log_of) { return log; }
};

TEST_P(CoroutineTest, ANonReentrantHandlerHoldsTheActorUntilItFinishes) {
  auto o = sys.spawn<orderly>(sys.spawn<backend>());
  auto f = o.ask(held_handler{}, 10s);
  // Sent while the handler is suspended: they must not interleave.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(o.send(record{"m" + std::to_string(i)}));
  EXPECT_EQ(f.get(), 70);
  EXPECT_EQ(o.ask(log_of{}, 10s).get(),
            (std::vector<std::string>{"start", "end", "m0", "m1", "m2", "m3", "m4"}));
  sys.shutdown();
}

struct loose : actor<loose> {
  static constexpr bool reentrant = true;
  actor_ref<backend> be;
  std::vector<std::string> log;
  explicit loose(actor_ref<backend> b) : be(std::move(b)) {}
  task<int> on(held_handler) {
    log.push_back("start");
    const int v = co_await be.ask(slow_value{50ms}, 10s);
    log.push_back("end");
    co_return v;
  }
  void on(record r) { log.push_back(r.what); }
  std::vector<std::string> on(log_of) { return log; }
};

TEST_P(CoroutineTest, AReentrantActorHandlesOtherMessagesWhileAHandlerIsSuspended) {
  auto l = sys.spawn<loose>(sys.spawn<backend>());
  auto f = l.ask(held_handler{}, 10s);
  ASSERT_TRUE(l.send(record{"between"}));
  // The record is handled while the handler waits for the backend.
  ASSERT_TRUE(eventually([&] { return l.ask(log_of{}, 10s).get().size() >= 2; }));
  EXPECT_EQ(l.ask(log_of{}, 10s).get(), (std::vector<std::string>{"start", "between"}));
  EXPECT_EQ(f.get(), 70);
  EXPECT_EQ(l.ask(log_of{}, 10s).get().back(), "end");
  sys.shutdown();
}

// A cycle of non-reentrant actors awaiting each other ends at the deadline.
struct ping_peer {};
struct cyclic : actor<cyclic> {
  actor_ref<cyclic> peer;
  void on(actor_ref<cyclic> p) { peer = std::move(p); }
  task<int> on(ping_peer) { co_return co_await peer.ask(ping_peer{}, 1h) + 1; }
};

TEST_P(CoroutineTest, AnAwaitCycleEndsAtItsDeadlineWithErrors) {
  auto a = sys.spawn<cyclic>();
  auto b = sys.spawn<cyclic>();
  ASSERT_TRUE(a.send(b));
  ASSERT_TRUE(b.send(a));
  auto r = a.ask(ping_peer{}, 100ms).get_result();
  EXPECT_EQ(r.error_code(), actor_errc::timeout);
  // Both actors are free again afterwards (their handlers ended in errors).
  ASSERT_TRUE(eventually([&] { return a.stats().depth == 0 && b.stats().depth == 0; }));
  sys.shutdown();
}

struct ask_self {};
struct selfish : actor<selfish> {
  task<int> on(ask_self) { co_return co_await self().ask(get_value{}, 1h); }
  int on(get_value) { return 1; }
};

TEST_P(CoroutineTest, ANonReentrantHandlerAwaitingItsOwnActorFailsAtOnce) {
  auto s = sys.spawn<selfish>();
  EXPECT_EQ(s.ask(ask_self{}, 1h).get_result().error_code(), actor_errc::would_deadlock);
  sys.shutdown();
}

// --- when_all / when_any ----------------------------------------------------

struct fan {};
struct race {};
struct race_all_slow {};
struct fanner : actor<fanner> {
  actor_ref<backend> fast, slow, failing;
  fanner(actor_ref<backend> a, actor_ref<backend> b, actor_ref<backend> c)
      : fast(std::move(a)), slow(std::move(b)), failing(std::move(c)) {}
  task<std::string> on(fan) {
    auto [a, b, c] = co_await when_all(fast.ask(get_value{}, 5s), slow.ask(slow_value{30ms}, 5s),
                                       failing.ask(fail_now{}, 5s));
    co_return std::to_string(*a) + "," + std::to_string(*b) + "," + to_string(c.error_code());
  }
  task<std::size_t> on(race) {
    auto r = co_await when_any(slow.ask(slow_value{300ms}, 10s), fast.ask(get_value{}, 10s));
    co_return r.index;
  }
  task<int> on(race_all_slow) {
    // A deadline for the whole (capped by the request's).
    auto [a, b] = co_await when_all(within(50ms), slow.ask(slow_value{10s}, 1h), delay(10s));
    co_return static_cast<int>(a.error_code()) * 100 + static_cast<int>(b.error_code());
  }
};

TEST_P(CoroutineTest, WhenAllGathersASlowAndAFailingParticipant) {
  auto f = sys.spawn<fanner>(sys.spawn<backend>(), sys.spawn<backend>(), sys.spawn<backend>());
  EXPECT_EQ(f.ask(fan{}, 10s).get(), "7,70,handler_failed");
  sys.shutdown();
}

TEST_P(CoroutineTest, WhenAnyTakesTheFirstAndAbandonsTheLoserWhoseReplyIsCounted) {
  auto slow = sys.spawn<backend>();
  auto f = sys.spawn<fanner>(sys.spawn<backend>(), slow, sys.spawn<backend>());
  EXPECT_EQ(f.ask(race{}, 10s).get(), 1u);
  // The slow backend still answers after 300 ms: nobody waits, so that
  // reply is an `unanswered` dead letter, and nothing leaks (asan checks).
  sys.shutdown();
  EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::unanswered], 1u);
}

TEST_P(CoroutineTest, TheRequestDeadlineAppliesToAWholeWhenAll) {
  auto f = sys.spawn<fanner>(sys.spawn<backend>(), sys.spawn<backend>(), sys.spawn<backend>());
  const int codes = f.ask(race_all_slow{}, 10s).get();
  EXPECT_EQ(codes, static_cast<int>(actor_errc::timeout) * 101);
  sys.shutdown(stop_mode::immediate);  // the slow backend would keep a graceful stop for 10 s
}

// --- foreign threads -----------------------------------------------------------

TEST_P(CoroutineTest, CallbacksFromEightForeignThreadsSeeEveryReply) {
  auto b = sys.spawn<backend>();
  constexpr int threads = 8, per_thread = 2000;
  std::atomic<int> replies{0}, sum{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i)
        b.ask(get_value{}, 10s).on_complete([&](result<int> r) {
          if (r) sum.fetch_add(*r);
          replies.fetch_add(1);
        });
    });
  for (auto& t : ts) t.join();
  ASSERT_TRUE(eventually([&] { return replies.load() == threads * per_thread; }));
  EXPECT_EQ(sum.load(), 7 * threads * per_thread);
  sys.shutdown();
}

TEST_P(CoroutineTest, ACallbackRunsOnTheGivenExecutorAndWithTimeoutAtTheDeadline) {
  auto b = sys.spawn<backend>();
  std::vector<detail::unique_function<void()>> jobs;  // a hand-run executor
  std::mutex m;
  auto exec = [&](detail::unique_function<void()> job) {
    std::lock_guard g(m);
    jobs.push_back(std::move(job));
  };
  int got = 0;
  b.ask(get_value{}, 10s).on_complete(exec, [&](result<int> r) { got = *r; });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard g(m);
    return jobs.size() == 1;
  }));
  EXPECT_EQ(got, 0) << "not run until the executor runs it";
  jobs[0]();
  EXPECT_EQ(got, 7);
  // No reply before the deadline: the callback still runs, with a timeout.
  std::atomic<int> code{-1};
  b.ask(slow_value{10s}, 20ms).on_complete([&](result<int> r) {
    code.store(static_cast<int>(r.error_code()));
  });
  ASSERT_TRUE(eventually([&] { return code.load() >= 0; }));
  EXPECT_EQ(code.load(), static_cast<int>(actor_errc::timeout));
  sys.shutdown(stop_mode::immediate);
}

TEST_P(CoroutineTest, IsReadyTurnsTrueAtTheDeadlineWithoutPolling) {
  auto b = sys.spawn<backend>();
  auto f = b.ask(slow_value{10s}, 20ms);
  ASSERT_TRUE(eventually([&] { return f.is_ready(); }));
  EXPECT_EQ(f.get_result().error_code(), actor_errc::timeout);
  sys.shutdown(stop_mode::immediate);
}

// --- cost -------------------------------------------------------------------------

struct wait_an_hour {};
struct count_done {};
struct sleepy : actor<sleepy> {
  std::atomic<std::size_t>* suspended;
  std::size_t done = 0;
  explicit sleepy(std::atomic<std::size_t>* s) : suspended(s) {}
  reentrant_task<void> on(wait_an_hour) {
    suspended->fetch_add(1, std::memory_order_relaxed);
    co_await delay(std::chrono::hours(1));
    ++done;
  }
  std::size_t on(count_done) { return done; }
};

TEST(CoroutineMemoryTest, AMillionHandlersSuspendedAtOnce) {
  // One reentrant actor with a million handlers suspended in delay(1h) on
  // virtual time: what each suspended handler costs, with no stack.
  // Sanitized builds do not check the bound, so they check the counts on a tenth.
  constexpr std::size_t n = sanitized ? 100'000 : 1'000'000;
  auto clk = std::make_shared<manual_clock>();
  runtime rt(runtime_options{.workers = 2, .clock = clk});
  actor_system sys(rt);
  std::atomic<std::size_t> suspended{0};
  auto s = sys.spawn<sleepy>(spawn_options{.capacity = n + 16}, &suspended);
  ASSERT_EQ(s.ask(count_done{}, 1h).get(), 0u);  // warm up: the actor exists and has run
  const std::size_t rss_before = rss_bytes();
  for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(s.send(wait_an_hour{}));
  ASSERT_TRUE(eventually([&] { return suspended.load() == n; }, 120s));
  EXPECT_EQ(s.ask(count_done{}, 1h).get(), 0u) << "none can finish before virtual time moves";
  const std::size_t rss_after = rss_bytes();
  const double per_handler = static_cast<double>(rss_after - rss_before) / static_cast<double>(n);
  std::printf("memory per suspended coroutine handler: %.0f bytes (RSS %.1f -> %.1f MiB)\n", per_handler,
              static_cast<double>(rss_before) / (1 << 20), static_cast<double>(rss_after) / (1 << 20));
  RecordProperty("bytes_per_suspended_handler", static_cast<int>(per_handler));
  if (!sanitized) {
    EXPECT_LT(per_handler, 512.0);
  }
  clk->advance(std::chrono::hours(1));
  ASSERT_TRUE(eventually([&] { return s.ask(count_done{}, 1h).get() == n; }, 120s));
  sys.shutdown();
}

}  // namespace
}  // namespace troupe::test
