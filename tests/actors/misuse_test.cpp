// Misuse of the actors layer, tried on purpose: each test is one row of
// docs/misuse.md. Every outcome is a documented error (actor_error or
// troupe::error with its code, a send_result, or a dead letter with its
// reason), never a crash, a hang or a silent loss. Most tests run on a
// driven runtime with a manual clock: the test's thread runs every item and
// time moves only when it says so, so nothing here sleeps.

#include <atomic>
#include <chrono>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

template <class F>
actor_errc actor_error_of(F&& f) {
  try {
    f();
  } catch (const actor_error& e) {
    EXPECT_NE(std::string(e.what()), "") << "an error names the call";
    return e.code();
  }
  ADD_FAILURE() << "expected actor_error";
  return actor_errc::ok;
}

template <class F>
errc runtime_error_of(F&& f) {
  try {
    f();
  } catch (const error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected troupe::error";
  return errc::timeout;  // a code none of these tests expects
}

runtime_options driven(std::shared_ptr<clock> clk) {
  runtime_options o;
  o.driven = true;
  o.clock = std::move(clk);
  return o;
}

// A runtime the test's thread drives, on virtual time, and a system on it.
struct world {
  explicit world(system_options o = {}) : sys(rt, std::move(o)) {}
  std::shared_ptr<manual_clock> clk = std::make_shared<manual_clock>();
  runtime rt{driven(clk)};
  actor_system sys;
  void run() { rt.run_until_idle(); }
  void advance(clock::duration d) {
    clk->advance(d);
    rt.run_until_idle();
  }
  // The result of an ask that the runtime has had the chance to answer.
  template <class T>
  result<T> settle(ask_future<T> f) {
    run();
    if (!f.is_ready() && f.deadline() != clock::time_point::max()) {
      clk->set(f.deadline());
      run();
    }
    return f.get_result();
  }
  std::uint64_t dead(dead_letter_reason r) const { return sys.stats().dead_letters[r]; }
};

struct add {
  int n = 1;
};
struct total {};
struct boom {};
struct counter : actor<counter> {
  int sum = 0;
  void on(add a) { sum += a.n; }
  int on(total) { return sum; }
  void on(boom) { throw std::runtime_error("boom"); }
};

// ------------------------------------------------------------ empty refs

TEST(ActorMisuse, EveryCallOnAnEmptyRefIsInvalidArgument) {
  world w;
  actor_ref<counter> none;
  actor_addr addr;
  auto live = w.sys.spawn<counter>();
  EXPECT_FALSE(none);
  EXPECT_FALSE(none.stopped());
  const auto invalid = actor_errc::invalid_argument;
  EXPECT_EQ(actor_error_of([&] { (void)none.send(add{}); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.send(add{}, w.sys.now() + 1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.try_send(add{}); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.send_async(add{}); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.ask(total{}, 1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.ask(total{}, w.sys.now() + 1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.send_after(add{}, 1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)none.send_periodic(add{}, 1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { none.stop(); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)addr.stats(); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)addr.watch(1s); }), invalid);
  EXPECT_EQ(actor_error_of([&] { addr.link(live); }), invalid);
  EXPECT_EQ(actor_error_of([&] { live.link(addr); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)w.sys.register_name("x", addr); }), invalid);
  addr.unlink(live);  // noexcept: nothing to undo
  live.unlink(addr);
  supervisor_ref no_sup;
  EXPECT_EQ(actor_error_of([&] { (void)no_sup.spawn<counter>(); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)no_sup.spawn_supervisor({}); }), invalid);
  EXPECT_EQ(actor_error_of([&] { (void)no_sup.child_count(); }), invalid);
  EXPECT_EQ(w.sys.stats().dead_letters.total(), 0u) << "a refused call is an error, not a dead letter";
}

struct watcher : actor<watcher> {
  std::vector<exit_kind>* downs;
  explicit watcher(std::vector<exit_kind>* d) : downs(d) {}
  void on(down d) { downs->push_back(d.reason.kind); }
  void on(add) {}
};

TEST(ActorMisuse, MonitoringAnEmptyRefIsInvalidArgument) {
  world w;
  std::vector<exit_kind> downs;
  auto wa = w.sys.spawn<watcher>(&downs);
  actor_ref<watcher> none;
  EXPECT_EQ(actor_error_of([&] { wa.monitor(actor_addr{}); }), actor_errc::invalid_argument);
  EXPECT_EQ(actor_error_of([&] { none.monitor(wa); }), actor_errc::invalid_argument);
}

// ------------------------------------------------------------ stopped refs

TEST(ActorMisuse, SendsAndAsksToAStoppedActorAreActorStoppedDeadLetters) {
  world w;
  auto c = w.sys.spawn<counter>();
  c.stop();
  w.run();
  ASSERT_TRUE(c.stopped());
  EXPECT_EQ(c.send(add{}), actor_errc::actor_stopped);
  EXPECT_EQ(c.send(add{}, w.sys.now() + 1s), actor_errc::actor_stopped);
  EXPECT_EQ(c.try_send(add{}), actor_errc::actor_stopped);
  EXPECT_EQ(w.settle(c.send_async(add{})).error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(w.dead(dead_letter_reason::actor_stopped), 5u);
  c.stop();  // idempotent
  EXPECT_TRUE(c.stats().stopped);
}

struct trapper : actor<trapper> {
  std::vector<exit_kind>* exits;
  explicit trapper(std::vector<exit_kind>* e) : exits(e) {}
  void on(exit_signal x) { exits->push_back(x.reason.kind); }
  void on(add) {}
};

TEST(ActorMisuse, WatchMonitorAndLinkOnAStoppedActorAnswerAtOnce) {
  world w;
  auto stopped = w.sys.spawn<counter>();
  auto failed = w.sys.spawn<counter>();
  stopped.stop();
  (void)failed.send(boom{});
  w.run();
  ASSERT_TRUE(stopped.stopped() && failed.stopped());

  auto watched = w.settle(stopped.watch(1s));
  ASSERT_TRUE(watched.has_value());
  EXPECT_EQ(watched->kind, exit_kind::normal);
  EXPECT_EQ(w.settle(failed.watch(1s))->kind, exit_kind::failed);

  std::vector<exit_kind> downs;
  auto wa = w.sys.spawn<watcher>(&downs);
  wa.monitor(stopped);
  wa.monitor(failed);
  w.run();
  EXPECT_EQ(downs, (std::vector<exit_kind>{exit_kind::normal, exit_kind::failed}));

  std::vector<exit_kind> exits;
  auto t = w.sys.spawn<trapper>(&exits);
  t.link(failed);
  w.run();
  EXPECT_EQ(exits, std::vector<exit_kind>{exit_kind::failed});

  // Without a trap, a link to a failed actor fails the linker too.
  auto victim = w.sys.spawn<counter>();
  victim.link(failed);
  w.run();
  EXPECT_EQ(w.settle(victim.watch(1s))->kind, exit_kind::linked);
  // A link to a normally stopped actor changes nothing.
  auto bystander = w.sys.spawn<counter>();
  bystander.link(stopped);
  w.run();
  EXPECT_FALSE(bystander.stopped());
}

// A one-shot timer whose target has stopped by the time it fires used to
// vanish: no delivery, no dead letter. It is now an actor_stopped dead
// letter, like a send to a stopped actor.
TEST(ActorMisuse, AOneShotTimerToAStoppedActorIsAnActorStoppedDeadLetter) {
  std::vector<std::string> types;
  world w(system_options{.dead_letter_hook = [&](const dead_letter& d) {
    if (d.reason == dead_letter_reason::actor_stopped) types.emplace_back(d.message_type);
  }});
  auto c = w.sys.spawn<counter>();
  timer_handle before = c.send_after(add{}, 1s);  // armed while it lives
  c.stop();
  w.run();
  timer_handle after = c.send_after(add{}, 1s);  // armed after it stopped
  w.advance(1s);
  EXPECT_FALSE(before.active());
  EXPECT_FALSE(after.active());
  EXPECT_EQ(w.dead(dead_letter_reason::actor_stopped), 2u);
  EXPECT_EQ(types, (std::vector<std::string>{"troupe::test::(anonymous namespace)::add",
                                             "troupe::test::(anonymous namespace)::add"}));
}

TEST(ActorMisuse, APeriodicTimerToAStoppedActorEndsByItself) {
  world w;
  auto c = w.sys.spawn<counter>();
  c.stop();
  w.run();
  timer_handle t = c.send_periodic(add{}, 1s);
  w.advance(1s);
  EXPECT_FALSE(t.active()) << "ends at its first tick";
  w.advance(10s);
  EXPECT_EQ(c.stats().processed, 1u) << "only the stop token ran";
}

// ------------------------------------------------------------ options

TEST(ActorMisuse, ZeroOrHugeCapacitiesBudgetsAndTimeoutsAreInvalidArgument) {
  world w;
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  std::vector<spawn_options> bad = {
      {.capacity = 0},
      {.capacity = std::size_t{1} << 28},
      {.capacity = huge},
      {.budget = 0},
      {.budget = 256},
      {.budget = huge},
      {.block_timeout = -1ms},
      {.block_timeout = std::chrono::milliseconds::max()},
      {.block_timeout = std::chrono::milliseconds::min()},
  };
  auto sup = w.sys.spawn_supervisor({});
  for (const spawn_options& o : bad) {
    EXPECT_EQ(actor_error_of([&] { (void)w.sys.spawn<counter>(o); }), actor_errc::invalid_argument);
    EXPECT_EQ(actor_error_of([&] { (void)sup.spawn<counter>(o); }), actor_errc::invalid_argument);
  }
  EXPECT_EQ(sup.child_count(), 0u);
  EXPECT_EQ(w.sys.stats().spawned, 1u) << "only the supervisor";
  // The largest legal values work.
  auto big = w.sys.spawn<counter>(spawn_options{.capacity = (std::size_t{1} << 28) - 1, .budget = 255});
  EXPECT_TRUE(big.send(add{}));
  w.run();
  EXPECT_EQ(w.settle(big.ask(total{}, 1s)).value(), 1);
}

TEST(ActorMisuse, BadSupervisorAndSystemOptionsAreInvalidArgument) {
  world w;
  std::vector<supervisor_options> bad = {
      {.within = 0ms},
      {.within = -1ms},
      {.backoff_initial = -1ms},
      {.backoff_initial = 2s, .backoff_max = 1s},
      {.backoff_multiplier = 0.5},
      {.backoff_multiplier = std::nan("")},
  };
  auto sup = w.sys.spawn_supervisor({});
  for (const supervisor_options& o : bad) {
    EXPECT_EQ(actor_error_of([&] { (void)w.sys.spawn_supervisor(o); }), actor_errc::invalid_argument);
    EXPECT_EQ(actor_error_of([&] { (void)sup.spawn_supervisor(o); }), actor_errc::invalid_argument);
  }
  EXPECT_EQ(sup.child_count(), 0u);
  runtime rt(driven(std::make_shared<manual_clock>()));
  EXPECT_EQ(actor_error_of([&] { actor_system s(rt, system_options{.shutdown_timeout = -1ms}); }),
            actor_errc::invalid_argument);
}

// block_timeout zero: a full `block` mailbox refuses at once instead of
// waiting. Capacity one: one message queued at a time.
TEST(ActorMisuse, CapacityOneWithAZeroBlockTimeoutRefusesAtOnce) {
  world w;
  auto c = w.sys.spawn<counter>(spawn_options{.capacity = 1, .block_timeout = 0ms});
  EXPECT_TRUE(c.send(add{}));
  EXPECT_EQ(c.send(add{}), actor_errc::mailbox_full);
  EXPECT_EQ(c.try_send(add{}), actor_errc::mailbox_full);
  EXPECT_EQ(w.dead(dead_letter_reason::mailbox_full), 2u);
  w.run();
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).value(), 1);
}

// The driving thread is the only one that runs a driven runtime: a send
// that would wait there for room could never be given any. It is refused
// with error(would_deadlock), and the refused message is a dead letter.
// It used to leave its stack record in the mailbox's waiting queue (a use
// after free when the actor next made room).
TEST(ActorMisuse, ABlockingSendOnTheDrivingThreadIsWouldDeadlockAndLeavesNothingBehind) {
  world w;
  auto c = w.sys.spawn<counter>(spawn_options{.capacity = 1});
  EXPECT_TRUE(c.send(add{}));
  EXPECT_EQ(runtime_error_of([&] { (void)c.send(add{10}); }), errc::would_deadlock);
  EXPECT_EQ(w.dead(dead_letter_reason::mailbox_full), 1u);
  w.run();  // room is made; nobody waits for it any more
  EXPECT_TRUE(c.send(add{100}));
  w.run();
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).value(), 101);
  // The non-blocking ways to meet a full mailbox work on this thread.
  EXPECT_TRUE(c.send(add{}));
  auto later = c.send_async(add{1000});
  w.run();
  EXPECT_TRUE(w.settle(std::move(later)).has_value());
}

TEST(ActorMisuse, ABlockingGetOnTheDrivingThreadIsWouldDeadlock) {
  world w;
  auto c = w.sys.spawn<counter>();
  auto f = c.ask(total{}, 1s);
  EXPECT_EQ(runtime_error_of([&] { (void)f.get(); }), errc::would_deadlock);
  EXPECT_FALSE(f.valid()) << "get() consumed it";
  w.run();  // the request still runs; its reply has nobody to go to
  EXPECT_EQ(w.dead(dead_letter_reason::unanswered), 1u);
}

// A full mailbox (capacity 1, one message queued) under each policy, met by
// each way of sending from outside: every refusal is the documented code
// and a dead letter of the matching reason; nothing is lost uncounted.
TEST(ActorMisuse, AFullMailboxUnderEachPolicyRefusesOrDropsWithItsReason) {
  struct expectation {
    overflow_policy policy;
    actor_errc send, ask;
    dead_letter_reason reason;
  };
  const expectation cases[] = {
      {overflow_policy::fail, actor_errc::mailbox_full, actor_errc::mailbox_full,
       dead_letter_reason::mailbox_full},
      {overflow_policy::drop_newest, actor_errc::dropped, actor_errc::dropped,
       dead_letter_reason::dropped_newest},
      {overflow_policy::drop_oldest, actor_errc::ok, actor_errc::ok, dead_letter_reason::dropped_oldest},
  };
  for (const expectation& x : cases) {
    SCOPED_TRACE(static_cast<int>(x.policy));
    world w;
    auto c = w.sys.spawn<counter>(spawn_options{.capacity = 1, .policy = x.policy});
    EXPECT_TRUE(c.send(add{1}));
    EXPECT_EQ(c.send(add{10}), x.send);
    EXPECT_EQ(c.try_send(add{100}), x.send);
    EXPECT_EQ(c.send(add{1000}, w.sys.now() + 1s, when_full::fail), x.send);
    auto async = c.send_async(add{10000});
    auto asked = c.ask(total{}, 1s, when_full::fail);
    w.run();
    EXPECT_EQ(w.settle(std::move(async)).error_code(), x.send);
    const auto r = w.settle(std::move(asked));
    EXPECT_EQ(r.error_code(), x.ask);
    // Every message is handled or counted: five offered after the first,
    // the first one too under drop_oldest.
    const std::uint64_t dead = w.dead(x.reason);
    const int sum = w.settle(c.ask(total{}, 1s)).value();
    if (x.policy == overflow_policy::drop_oldest) {
      // Each newcomer pushed out the one before it, the first add{1}
      // included; the ask came last, pushed out add{10000}, and was the one
      // message handled.
      EXPECT_EQ(dead, 5u);
      EXPECT_EQ(sum, 0);
      EXPECT_EQ(r.value(), 0);
    } else {
      EXPECT_EQ(dead, 5u);
      EXPECT_EQ(sum, 1);
    }
  }
  // `block`, from outside with when_full::fail or try_send: mailbox_full at
  // once; a blocking send on the driving thread is
  // ABlockingSendOnTheDrivingThreadIsWouldDeadlockAndLeavesNothingBehind.
  world w;
  auto c = w.sys.spawn<counter>(spawn_options{.capacity = 1});
  EXPECT_TRUE(c.send(add{1}));
  EXPECT_EQ(c.try_send(add{}), actor_errc::mailbox_full);
  EXPECT_EQ(c.send(add{}, w.sys.now() + 1s, when_full::fail), actor_errc::mailbox_full);
  EXPECT_EQ(w.settle(c.ask(total{}, 1s, when_full::fail)).error_code(), actor_errc::mailbox_full);
  // send_async and ask (when_full::wait) wait for room without blocking:
  // accepted once the actor makes room.
  auto waits = c.send_async(add{10});
  auto asks = c.ask(total{}, 5s);
  w.run();
  EXPECT_TRUE(w.settle(std::move(waits)).has_value());
  EXPECT_EQ(w.settle(std::move(asks)).value(), 11);
  EXPECT_EQ(w.dead(dead_letter_reason::mailbox_full), 3u);
}

// The same asks from a thread outside a threaded runtime, where get()
// blocks that thread (fine), and from inside a plain handler, where get()
// blocks the asking actor until the reply (documented; another actor
// answers, so it ends). Consumed and moved-from futures refuse a second
// get() with invalid_argument instead of reading freed state.
struct relay : actor<relay> {
  actor_ref<counter> target;
  explicit relay(actor_ref<counter> t) : target(std::move(t)) {}
  int on(total) { return target.ask(total{}, 5s).get() + 1; }
};

TEST(ActorMisuse, GetFromAForeignThreadOrAHandlerWorksAndAConsumedFutureIsInvalidArgument) {
  runtime rt(runtime_options{.workers = 2});
  actor_system sys(rt);
  auto c = sys.spawn<counter>();
  EXPECT_TRUE(c.send(add{41}));
  EXPECT_EQ(c.ask(total{}, 5s).get(), 41) << "a foreign thread blocks until the reply";
  auto r = sys.spawn<relay>(c);
  EXPECT_EQ(r.ask(total{}, 5s).get(), 42) << "a plain handler waits inside its turn";

  auto f = c.ask(total{}, 5s);
  EXPECT_EQ(f.get(), 41);
  EXPECT_FALSE(f.valid());
  EXPECT_EQ(actor_error_of([&] { (void)f.get(); }), actor_errc::invalid_argument);
  EXPECT_EQ(actor_error_of([&] { (void)f.get_result(); }), actor_errc::invalid_argument);
  auto g = c.ask(total{}, 5s);
  auto moved = std::move(g);
  EXPECT_EQ(actor_error_of([&] { (void)g.get(); }),
            actor_errc::invalid_argument);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.get(), 41);
  ask_future<int> never_made;
  EXPECT_EQ(actor_error_of([&] { (void)never_made.get(); }), actor_errc::invalid_argument);
}

// ------------------------------------------------------------ deadlines

TEST(ActorMisuse, AZeroNegativeOrPastDeadlineIsDeadlinePassed) {
  world w;
  auto c = w.sys.spawn<counter>();
  EXPECT_EQ(w.settle(c.ask(total{}, 0s)).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(w.settle(c.ask(total{}, -1h)).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(w.settle(c.ask(total{}, std::chrono::hours::min())).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(w.settle(c.ask(total{}, clock::time_point::min())).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(w.settle(c.ask(total{}, w.sys.now())).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(c.send(add{}, w.sys.now() - 1ns), actor_errc::deadline_passed);
  EXPECT_EQ(c.send(add{}, clock::time_point::min()), actor_errc::deadline_passed);
  EXPECT_EQ(w.settle(c.send_async(add{}, w.sys.now())).error_code(), actor_errc::deadline_passed);
  EXPECT_EQ(w.dead(dead_letter_reason::deadline_passed), 8u);
  w.run();
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).value(), 0) << "no refused message reached the handler";
}

// time_point::max() and durations that overflow when added to now mean "no
// deadline"; they never wrap into the past.
TEST(ActorMisuse, FarFutureDeadlinesMeanNoDeadline) {
  world w;
  auto c = w.sys.spawn<counter>();
  auto a = c.ask(total{}, std::chrono::hours::max());
  EXPECT_EQ(a.deadline(), clock::time_point::max());
  EXPECT_EQ(w.settle(std::move(a)).value(), 0);
  EXPECT_EQ(w.settle(c.ask(total{}, std::chrono::nanoseconds::max())).value(), 0);
  EXPECT_EQ(w.settle(c.ask(total{}, clock::time_point::max())).value(), 0);
  EXPECT_TRUE(c.send(add{}, clock::time_point::max()));
  // A timer "forever" away never fires, however far time moves.
  timer_handle once = c.send_after(add{100}, std::chrono::hours::max());
  timer_handle every = c.send_periodic(add{1000}, std::chrono::hours::max());
  w.advance(24h * 365 * 100);
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).value(), 1);
  EXPECT_TRUE(once.active());
  EXPECT_TRUE(every.active());
  EXPECT_TRUE(once.cancel());
  EXPECT_TRUE(every.cancel());
}

TEST(ActorMisuse, AZeroOrNegativeTimerDelayFiresAtTheNextTurn) {
  world w;
  auto c = w.sys.spawn<counter>();
  (void)c.send_after(add{1}, 0s);
  (void)c.send_after(add{10}, -1h);
  (void)c.send_after(add{100}, std::chrono::hours::min());
  w.run();  // no time moved
  EXPECT_EQ(w.settle(c.ask(total{}, 1s)).value(), 111);
}

TEST(ActorMisuse, AZeroOrNegativePeriodIsInvalidArgument) {
  world w;
  auto c = w.sys.spawn<counter>();
  EXPECT_EQ(actor_error_of([&] { (void)c.send_periodic(add{}, 0s); }), actor_errc::invalid_argument);
  EXPECT_EQ(actor_error_of([&] { (void)c.send_periodic(add{}, -1ms); }), actor_errc::invalid_argument);
  EXPECT_EQ(actor_error_of([&] { (void)c.send_periodic(add{}, std::chrono::hours::min()); }),
            actor_errc::invalid_argument);
}

// A period far shorter than the jumps of time: ticks that queue up coalesce
// (at most one waits), so a day of virtual time at a 1 ns period is a
// bounded amount of work, not 8.64e13 ticks.
TEST(ActorMisuse, ATinyPeriodAgainstALongJumpOfTimeDoesNotFloodOrSpin) {
  world w;
  auto c = w.sys.spawn<counter>();
  timer_handle t = c.send_periodic(add{}, 1ns);
  w.advance(24h);
  const int ticks = w.settle(c.ask(total{}, 1s)).value();
  EXPECT_GE(ticks, 1);
  EXPECT_LE(ticks, 2);
  EXPECT_TRUE(t.cancel());
}

// ------------------------------------------------------------ exceptions

struct throws_in_ctor : actor<throws_in_ctor> {
  explicit throws_in_ctor(std::shared_ptr<int> built) {
    if ((*built)++ > 0) throw std::runtime_error("second construction");
  }
  void on(add) {}
  void on(boom) { throw std::runtime_error("boom"); }
};
struct always_throws : actor<always_throws> {
  always_throws() { throw std::logic_error("no"); }
  void on(add) {}
};

TEST(ActorMisuse, AConstructorThatThrowsPropagatesToTheSpawner) {
  world w;
  EXPECT_THROW((void)w.sys.spawn<always_throws>(), std::logic_error);
  auto sup = w.sys.spawn_supervisor({});
  EXPECT_THROW((void)sup.spawn<always_throws>(), std::logic_error);
  EXPECT_EQ(sup.child_count(), 0u);
  const system_stats st = w.sys.stats();
  EXPECT_EQ(st.spawned, 1u) << "only the supervisor";
  EXPECT_EQ(st.live_actors, 1u);
}

// A restart rebuilds the object from its arguments; a constructor that
// throws then is a failure like any other: the supervisor retries within
// its intensity, then gives up (escalation), and everything stops.
TEST(ActorMisuse, AConstructorThatThrowsOnRestartEndsInEscalationNotALoop) {
  world w;
  auto sup = w.sys.spawn_supervisor({.max_restarts = 3});
  auto built = std::make_shared<int>(0);
  auto child = sup.spawn<throws_in_ctor>(built);
  EXPECT_TRUE(child.send(add{}));
  EXPECT_TRUE(child.send(boom{}));
  EXPECT_TRUE(child.send(add{}));  // queued behind the failure
  w.run();
  EXPECT_TRUE(child.stopped());
  EXPECT_TRUE(sup.stopped());
  EXPECT_EQ(w.settle(sup.watch(1s))->kind, exit_kind::restart_limit);
  const system_stats st = w.sys.stats();
  EXPECT_EQ(st.escalations, 1u);
  EXPECT_EQ(st.failures, 4u) << "the handler's, then three failed constructions";
  EXPECT_EQ(*built, 4);
  EXPECT_EQ(w.dead(dead_letter_reason::unprocessed), 1u) << "the message queued behind the failure";
}

TEST(ActorMisuse, AHandlerExceptionReachesTheAskerAndStopsAnUnsupervisedActor) {
  world w;
  auto c = w.sys.spawn<counter>();
  auto r = w.settle(c.ask(boom{}, 1s));
  EXPECT_EQ(r.error_code(), actor_errc::handler_failed);
  EXPECT_THROW(r.value(), std::runtime_error);
  auto why = w.settle(c.watch(1s));
  EXPECT_EQ(why->kind, exit_kind::failed);
  EXPECT_EQ(why->message, "boom");
  EXPECT_EQ(w.sys.stats().failures, 1u);
}

struct bad_start : actor<bad_start> {
  std::shared_ptr<int> starts;
  explicit bad_start(std::shared_ptr<int> s) : starts(std::move(s)) {}
  void on_start() {
    if ((*starts)++ == 0) throw std::runtime_error("on_start");
  }
  int on(total) { return *starts; }
};

TEST(ActorMisuse, AnOnStartThatThrowsIsAFailure) {
  world w;
  auto starts = std::make_shared<int>(0);
  auto top = w.sys.spawn<bad_start>(starts);
  auto queued = top.ask(total{}, 1s);  // accepted before on_start ran
  w.run();
  EXPECT_EQ(w.settle(std::move(queued)).error_code(), actor_errc::actor_stopped);
  EXPECT_EQ(w.settle(top.watch(1s))->message, "on_start");
  EXPECT_EQ(w.dead(dead_letter_reason::unprocessed), 1u);
  // Supervised: restarted, and the restart's on_start succeeds.
  *starts = 0;
  auto sup = w.sys.spawn_supervisor({});
  auto child = sup.spawn<bad_start>(starts);
  EXPECT_EQ(w.settle(child.ask(total{}, 1s)).value(), 2);
  EXPECT_EQ(child.stats().restarts, 1u);
}

struct bad_stop : actor<bad_stop> {
  void on_stop() { throw std::runtime_error("on_stop"); }
  void on(add) {}
};

TEST(ActorMisuse, AnOnStopThatThrowsIsCountedAndTheActorStillStops) {
  world w;
  auto a = w.sys.spawn<bad_stop>();
  a.stop();
  w.run();
  EXPECT_TRUE(a.stopped());
  EXPECT_EQ(w.settle(a.watch(1s))->kind, exit_kind::normal);
  EXPECT_EQ(w.sys.stats().failures, 1u);
  EXPECT_EQ(w.sys.stats().live_actors, 0u);
}

TEST(ActorMisuse, AThrowingDeadLetterHookOrCompletionCallbackIsCountedNotFatal) {
  world w(system_options{.dead_letter_hook = [](const dead_letter&) { throw std::runtime_error("hook"); }});
  auto c = w.sys.spawn<counter>();
  c.stop();
  w.run();
  EXPECT_EQ(c.send(add{}), actor_errc::actor_stopped);
  EXPECT_EQ(w.dead(dead_letter_reason::actor_stopped), 1u) << "the count survives the hook";
  auto d = w.sys.spawn<counter>();
  d.ask(total{}, 1s).on_complete([](result<int>) { throw std::runtime_error("callback"); });
  w.run();
  EXPECT_EQ(w.sys.stats().failures, 1u);
  EXPECT_FALSE(d.stopped());
}

// ------------------------------------------------------------ replies

struct request {};
struct deferred : actor<deferred> {
  std::vector<reply_promise<int>>* kept;
  explicit deferred(std::vector<reply_promise<int>>* k) : kept(k) {}
  reply_promise<int> on(request) {
    kept->push_back(this_actor::reply_later<int>());
    return {};
  }
};

TEST(ActorMisuse, DeliveringAReplyTwiceIsAlreadyReplied) {
  world w;
  std::vector<reply_promise<int>> kept;
  auto d = w.sys.spawn<deferred>(&kept);
  auto f = d.ask(request{}, 1s);
  w.run();
  ASSERT_EQ(kept.size(), 1u);
  reply_promise<int> copy = kept[0];
  kept[0].deliver(1);
  EXPECT_EQ(actor_error_of([&] { kept[0].deliver(2); }), actor_errc::already_replied);
  EXPECT_EQ(actor_error_of([&] { copy.deliver(3); }), actor_errc::already_replied);
  EXPECT_EQ(actor_error_of([&] { copy.fail(std::make_exception_ptr(std::runtime_error("late"))); }),
            actor_errc::already_replied);
  EXPECT_EQ(w.settle(std::move(f)).value(), 1) << "the first reply stands";
}

TEST(ActorMisuse, DeliveringAfterFailIsAlreadyReplied) {
  world w;
  std::vector<reply_promise<int>> kept;
  auto d = w.sys.spawn<deferred>(&kept);
  auto f = d.ask(request{}, 1s);
  w.run();
  ASSERT_EQ(kept.size(), 1u);
  kept[0].fail(std::make_exception_ptr(std::runtime_error("failed")));
  EXPECT_EQ(actor_error_of([&] { kept[0].deliver(1); }), actor_errc::already_replied);
  auto r = w.settle(std::move(f));
  EXPECT_EQ(r.error_code(), actor_errc::handler_failed);
  EXPECT_THROW(r.value(), std::runtime_error);
}

TEST(ActorMisuse, AReplyAfterTheAskerGaveUpIsAnUnansweredDeadLetter) {
  world w;
  std::vector<reply_promise<int>> kept;
  auto d = w.sys.spawn<deferred>(&kept);
  auto f = d.ask(request{}, 1s);
  w.run();
  EXPECT_EQ(w.settle(std::move(f)).error_code(), actor_errc::timeout);
  kept[0].deliver(1);  // not an error: nobody waits any more
  EXPECT_EQ(w.dead(dead_letter_reason::unanswered), 1u);
  EXPECT_EQ(actor_error_of([&] { kept[0].deliver(2); }), actor_errc::already_replied);
}

struct wrong_type : actor<wrong_type> {
  actor_errc* seen;
  explicit wrong_type(actor_errc* s) : seen(s) {}
  reply_promise<int> on(request) {
    *seen = actor_error_of([] { (void)this_actor::reply_later<std::string>(); });
    return {};  // and never takes the right one
  }
};

TEST(ActorMisuse, ReplyLaterOfTheWrongTypeIsInvalidArgumentAndAnUntakenPromiseIsBrokenReply) {
  world w;
  actor_errc seen = actor_errc::ok;
  auto a = w.sys.spawn<wrong_type>(&seen);
  EXPECT_EQ(w.settle(a.ask(request{}, 1s)).error_code(), actor_errc::broken_reply);
  EXPECT_EQ(seen, actor_errc::invalid_argument);
  EXPECT_EQ(actor_error_of([] { (void)this_actor::reply_later<int>(); }), actor_errc::not_in_actor);
}

TEST(ActorMisuse, DroppingEveryCopyOfAReplyPromiseIsBrokenReply) {
  world w;
  std::vector<reply_promise<int>> kept;
  auto d = w.sys.spawn<deferred>(&kept);
  auto f = d.ask(request{}, 1s);
  w.run();
  kept.clear();
  EXPECT_EQ(w.settle(std::move(f)).error_code(), actor_errc::broken_reply);
}

// ------------------------------------------------------- actor context

TEST(ActorMisuse, ActorContextCallsFromOutsideAnyActorAreNotInActor) {
  world w;
  EXPECT_FALSE(this_actor::active());
  EXPECT_EQ(this_actor::deadline(), clock::time_point::max());
  const auto not_in_actor = actor_errc::not_in_actor;
  EXPECT_EQ(actor_error_of([] { (void)this_actor::self(); }), not_in_actor);
  EXPECT_EQ(actor_error_of([] { (void)this_actor::system(); }), not_in_actor);
  EXPECT_EQ(actor_error_of([] { (void)this_actor::now(); }), not_in_actor);
  EXPECT_EQ(actor_error_of([] { this_actor::stop(); }), not_in_actor);
  EXPECT_EQ(actor_error_of([] { delay d(1s); }), not_in_actor);
  EXPECT_EQ(actor_error_of([] { within d(1s); }), not_in_actor);
  auto c = w.sys.spawn<counter>();
  auto f = c.ask(total{}, 1s);
  EXPECT_EQ(actor_error_of([&] { f.then([](result<int>) {}); }), not_in_actor);
  EXPECT_TRUE(f.valid()) << "a refused then() leaves the future usable";
  EXPECT_EQ(w.settle(std::move(f)).value(), 0);
  // Inside a plain task of the runtime (a fiber, but no actor's turn).
  auto h = troupe::spawn(w.rt, [] { return actor_error_of([] { (void)this_actor::self(); }); });
  w.run();
  EXPECT_EQ(h.join(), not_in_actor);
}

TEST(ActorMisuse, ConstructingAnActorObjectDirectlyIsInvalidArgument) {
  EXPECT_EQ(actor_error_of([] { counter c; }), actor_errc::invalid_argument);
}

struct introspective : actor<introspective> {
  actor_addr member_self, free_self;
  actor_errc free_self_error = actor_errc::ok;
  introspective() {
    member_self = self();
    try {
      free_self = this_actor::self();
    } catch (const actor_error& e) {
      free_self_error = e.code();
    }
  }
  std::vector<bool> on(total) {
    return {member_self == self(), free_self == self(), free_self_error == actor_errc::ok};
  }
};
struct parent : actor<parent> {
  actor_ref<introspective> on(request) { return this_actor::system().spawn<introspective>(); }
};

// self() and this_actor::self() in a constructor are the actor being built,
// whether spawned from outside or from another actor's handler (where
// this_actor::self() used to name the spawning actor, the parent).
TEST(ActorMisuse, SelfInAConstructorIsTheActorBeingBuilt) {
  world w;
  const std::vector<bool> all{true, true, true};
  auto top = w.sys.spawn<introspective>();
  EXPECT_EQ(w.settle(top.ask(total{}, 1s)).value(), all);
  auto p = w.sys.spawn<parent>();
  auto child = w.settle(p.ask(request{}, 1s)).value();
  EXPECT_EQ(w.settle(child.ask(total{}, 1s)).value(), all);
  auto sup = w.sys.spawn_supervisor({});
  auto supervised = sup.spawn<introspective>();
  EXPECT_EQ(w.settle(supervised.ask(total{}, 1s)).value(), all);
}

// ------------------------------------------------------------ self-asks

struct narcissist : actor<narcissist> {
  struct via_get {};
  struct via_co_await {};
  struct via_when_all {};
  struct via_then {};
  int on(total) { return 7; }
  int on(via_get) {
    try {
      return self().ask(total{}, 1s).get();
    } catch (const actor_error& e) {
      return -static_cast<int>(e.code());
    }
  }
  task<int> on(via_co_await) {
    auto f = self().ask(total{}, 1s);
    try {
      co_return co_await std::move(f);
    } catch (const actor_error& e) {
      co_return -static_cast<int>(e.code());
    }
  }
  task<int> on(via_when_all) {
    auto f = self().ask(total{}, 1s);
    auto [r] = co_await when_all(std::move(f));
    co_return r ? *r : -static_cast<int>(r.error_code());
  }
  reply_promise<int> on(via_then) {
    auto p = this_actor::reply_later<int>();
    self().ask(total{}, 1s).then([p](result<int> r) mutable { p.deliver(r ? *r : -1); });
    return p;
  }
};
struct reentrant_narcissist : actor<reentrant_narcissist> {
  static constexpr bool reentrant = true;
  int on(total) { return 7; }
  task<int> on(request) {
    auto f = self().ask(total{}, 1s);
    co_return co_await std::move(f);
  }
};

TEST(ActorMisuse, AnActorAskingItselfAndWaitingIsWouldDeadlockAtOnce) {
  world w;
  auto n = w.sys.spawn<narcissist>();
  const int deadlock = -static_cast<int>(actor_errc::would_deadlock);
  EXPECT_EQ(w.settle(n.ask(narcissist::via_get{}, 1s)).value(), deadlock);
  EXPECT_EQ(w.settle(n.ask(narcissist::via_co_await{}, 1s)).value(), deadlock);
  EXPECT_EQ(w.settle(n.ask(narcissist::via_when_all{}, 1s)).value(), deadlock);
  // The ways that do not wait in the turn work.
  EXPECT_EQ(w.settle(n.ask(narcissist::via_then{}, 1s)).value(), 7);
  auto r = w.sys.spawn<reentrant_narcissist>();
  EXPECT_EQ(w.settle(r.ask(request{}, 1s)).value(), 7);
  EXPECT_FALSE(n.stopped()) << "a refused wait is not a failure of the actor";
}

// ------------------------------------------------------------ registry

TEST(ActorMisuse, RegisteringATakenNameIsRefusedAndTheFirstHolderKeepsIt) {
  world w;
  auto a = w.sys.spawn<counter>();
  auto b = w.sys.spawn<counter>();
  EXPECT_TRUE(w.sys.register_name("svc", a));
  EXPECT_FALSE(w.sys.register_name("svc", b));
  EXPECT_FALSE(w.sys.register_name("svc", a));
  EXPECT_TRUE(w.sys.whereis("svc") == a);
  EXPECT_TRUE(w.sys.register_name("svc2", a)) << "one actor may have two names";
  EXPECT_FALSE(w.sys.find<watcher>("svc")) << "the wrong class finds nothing";
  b.stop();
  w.run();
  EXPECT_FALSE(w.sys.register_name("dead", b));
  a.stop();
  w.run();
  EXPECT_FALSE(w.sys.whereis("svc")) << "names go with their actor";
  auto c = w.sys.spawn<counter>();
  EXPECT_TRUE(w.sys.register_name("svc", c));
  EXPECT_FALSE(w.sys.unregister_name("never"));
}

// ------------------------------------------------------------ shutdown

TEST(ActorMisuse, SpawningAfterShutdownIsSystemStoppedAndTimersAreInactive) {
  world w;
  auto sup = w.sys.spawn_supervisor({});
  auto c = w.sys.spawn<counter>();
  w.sys.shutdown();
  EXPECT_EQ(actor_error_of([&] { (void)w.sys.spawn<counter>(); }), actor_errc::system_stopped);
  EXPECT_EQ(actor_error_of([&] { (void)w.sys.spawn_supervisor({}); }), actor_errc::system_stopped);
  EXPECT_EQ(actor_error_of([&] { (void)sup.spawn<counter>(); }), actor_errc::system_stopped);
  EXPECT_FALSE(c.send_after(add{}, 1s).active());
  EXPECT_EQ(c.send(add{}), actor_errc::system_stopped);
}

TEST(ActorMisuse, SpawningUnderAStoppedSupervisorIsActorStopped) {
  world w;
  auto sup = w.sys.spawn_supervisor({});
  sup.stop();
  w.run();
  EXPECT_EQ(actor_error_of([&] { (void)sup.spawn<counter>(); }), actor_errc::actor_stopped);
}

struct quitter : actor<quitter> {
  std::vector<std::size_t>* abandoned;
  explicit quitter(std::vector<std::size_t>* a) : abandoned(a) {}
  void on(request) {
    const shutdown_report r = this_actor::system().shutdown();
    abandoned->push_back(r.abandoned + (r.complete ? 0 : 1000));
  }
};

TEST(ActorMisuse, ShutdownFromAHandlerOnlyBeginsIt) {
  world w;
  std::vector<std::size_t> reports;
  auto q = w.sys.spawn<quitter>(&reports);
  auto other = w.sys.spawn<counter>();
  EXPECT_TRUE(q.send(request{}));
  w.run();
  EXPECT_EQ(reports, std::vector<std::size_t>{0}) << "an empty, complete report";
  EXPECT_TRUE(w.sys.stopping());
  EXPECT_TRUE(other.stopped());
  EXPECT_EQ(w.sys.stats().live_actors, 0u);
  EXPECT_TRUE(w.sys.shutdown().complete);
}

struct destroyer : actor<destroyer> {
  void on(actor_system* sys) { delete sys; }
  void on(add) {}
};

// The actor_system object destroyed (here from inside a handler): its state
// lives until the runtime shuts down, so the handles refuse cleanly.
TEST(ActorMisuse, HandlesAfterTheSystemIsDestroyedRefuseUntilTheRuntimeGoes) {
  auto clk = std::make_shared<manual_clock>();
  runtime rt(driven(clk));
  auto* sys = new actor_system(rt);
  auto d = sys->spawn<destroyer>();
  auto c = sys->spawn<counter>();
  auto sup = sys->spawn_supervisor({});
  EXPECT_TRUE(d.send(sys));
  rt.run_until_idle();
  EXPECT_TRUE(d.stopped() && c.stopped() && sup.stopped());
  EXPECT_EQ(c.send(add{}), actor_errc::system_stopped);
  auto f = c.ask(total{}, 1s);
  rt.run_until_idle();
  EXPECT_EQ(f.get_result().error_code(), actor_errc::system_stopped);
  EXPECT_EQ(actor_error_of([&] { (void)sup.spawn<counter>(); }), actor_errc::system_stopped);
  auto why = c.watch(1s);
  rt.run_until_idle();
  EXPECT_EQ(why.get_result()->kind, exit_kind::shutdown);
  EXPECT_FALSE(c.send_after(add{}, 1s).active());
  EXPECT_TRUE(c.stats().stopped);
}

// A runtime shut down under a live actor system: nothing would ever run
// again, so sends and asks from outside are refused (system_stopped dead
// letters) instead of being queued where nothing runs them, and spawns are
// refused instead of making actors that never run. The actor is stopped
// first: one still live when the runtime's shutdown completes is never
// freed (docs/misuse.md), which LeakSanitizer would report.
TEST(ActorMisuse, SendsAndSpawnsAfterTheRuntimeShutDownAreRefused) {
  runtime rt(runtime_options{.workers = 1});
  actor_system sys(rt, system_options{.shutdown_timeout = 10s});
  auto c = sys.spawn<counter>();
  c.stop();
  EXPECT_EQ(c.watch(10s).get().kind, exit_kind::normal);
  rt.shutdown();
  EXPECT_EQ(c.send(add{}), actor_errc::system_stopped);
  EXPECT_EQ(c.ask(total{}, 1s).get_result().error_code(), actor_errc::system_stopped);
  EXPECT_EQ(actor_error_of([&] { (void)sys.spawn<counter>(); }), actor_errc::system_stopped);
  EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::system_stopped], 2u);
  EXPECT_EQ(sys.stats().live_actors, 0u);
  EXPECT_TRUE(sys.shutdown().complete) << "nothing to wait for";
}

}  // namespace
}  // namespace troupe::test
