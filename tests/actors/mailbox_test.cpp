// Mailboxes: per-sender FIFO, back-pressure, every overflow policy with
// exact counts, try_send, deadlines, the turn budget, and a cycle of actors
// blocked on each other's full mailboxes that ends in errors, not a hang.

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct tagged {
  int sender;
  int seq;
};
struct report {};
struct fifo_report {
  long received;
  long violations;
};

// Checks that each sender's messages arrive in the order it sent them.
struct recorder : actor<recorder> {
  std::vector<int> next;
  long received = 0, violations = 0;
  explicit recorder(int senders) : next(senders, 0) {}
  void on(tagged t) {
    ++received;
    if (t.seq != next[t.sender]) ++violations;
    next[t.sender] = t.seq + 1;
  }
  fifo_report on(report) { return {received, violations}; }
};

struct pump {
  int sender;
  int count;
};
// Sends `count` tagged messages from inside a handler (its fiber blocks
// whenever the recorder's mailbox is full).
struct pumper : actor<pumper> {
  actor_ref<recorder> to;
  explicit pumper(actor_ref<recorder> r) : to(std::move(r)) {}
  int on(pump p) {
    int failed = 0;
    for (int i = 0; i < p.count; ++i)
      if (!to.send(tagged{p.sender, i})) ++failed;
    return failed;
  }
};

// A fan-out on one worker: a handler that wakes many idle receivers with
// blocking sends lets them run before it ends (it yields behind them every
// 4,096 sends), so its output never piles up in full; each
// receiver still gets its messages in the order they were sent.
struct fan_item {
  int seq;
};
struct fan_counts {
  long handled_during_fan_out;
  long out_of_order;
  long handled;
};
struct fan_sink : actor<fan_sink> {
  const std::atomic<bool>* fanning;
  std::atomic<long>* during;
  std::atomic<long>* disorder;
  std::atomic<long>* handled;
  int next = 0;
  fan_sink(const std::atomic<bool>* f, std::atomic<long>* d, std::atomic<long>* o, std::atomic<long>* h)
      : fanning(f), during(d), disorder(o), handled(h) {}
  void on(fan_item m) {
    if (fanning->load(std::memory_order_relaxed)) during->fetch_add(1, std::memory_order_relaxed);
    if (m.seq != next) disorder->fetch_add(1, std::memory_order_relaxed);
    next = m.seq + 1;
    handled->fetch_add(1, std::memory_order_relaxed);
  }
};
struct fan_go {};
struct fanner : actor<fanner> {
  std::vector<actor_ref<fan_sink>> to;
  std::atomic<bool>* fanning;
  fanner(std::vector<actor_ref<fan_sink>> t, std::atomic<bool>* f) : to(std::move(t)), fanning(f) {}
  long on(fan_go) {
    long failed = 0;
    fanning->store(true, std::memory_order_relaxed);
    for (int round = 0; round < 20; ++round)
      for (auto& r : to)
        if (!r.send(fan_item{round})) ++failed;
    fanning->store(false, std::memory_order_relaxed);
    return failed;
  }
};

TEST(MailboxFanOutTest, OnOneWorkerAFanOutLetsItsReceiversRunBeforeItEnds) {
  runtime rt(workers(1));
  actor_system sys(rt);
  std::atomic<bool> fanning{false};
  std::atomic<long> during{0}, disorder{0}, handled{0};
  std::vector<actor_ref<fan_sink>> sinks;
  for (int i = 0; i < 1000; ++i) sinks.push_back(sys.spawn<fan_sink>(&fanning, &during, &disorder, &handled));
  auto f = sys.spawn<fanner>(sinks, &fanning);
  EXPECT_EQ(f.ask(fan_go{}, 30s).get(), 0);
  ASSERT_TRUE(eventually([&] { return handled.load() == 20'000; }));
  EXPECT_EQ(disorder.load(), 0);
  // 20,000 sends: the sender yields after every 4,096 (sends_before_yield
  // in runtime/src/scheduler.cpp), so at least the first four batches were
  // handled while it was still sending. Without the yield: none (one worker).
  EXPECT_GE(during.load(), 4 * 4096);
}

class MailboxTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, MailboxTest, ::testing::Values(1, 2, 4), worker_name);

TEST_P(MailboxTest, PerSenderFifoWithManySenders) {
  constexpr int threads = 4, actors = 4, per_sender = 20'000;
  spawn_options small;
  small.capacity = 64;  // small: senders block often
  auto rec = sys.spawn<recorder>(small, threads + actors);
  std::vector<ask_future<int>> pumps;
  for (int a = 0; a < actors; ++a)
    pumps.push_back(sys.spawn<pumper>(rec).ask(pump{threads + a, per_sender}, 60s));
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_sender; ++i)
        if (!rec.send(tagged{t, i})) failed.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  for (auto& p : pumps) EXPECT_EQ(p.get(), 0);
  EXPECT_EQ(failed.load(), 0);
  fifo_report r = rec.ask(report{}, 30s).get();
  EXPECT_EQ(r.received, static_cast<long>(threads + actors) * per_sender);
  EXPECT_EQ(r.violations, 0);
  EXPECT_LE(rec.stats().high_water, 64u);
  sys.shutdown();  // before the locals its actors point to go away
}

// A message that wakes an idle actor, when it is the only one counted, is
// handed to the turn past the queue; later ones are queued. Senders that
// pause often make the recorder fall idle between their messages, so each
// sender's messages alternate between the two paths, and must still arrive
// in order, none lost.
TEST_P(MailboxTest, PerSenderFifoWithManySendersWhileTheActorFallsIdle) {
  constexpr int threads = 3, per_sender = 5'000;
  auto rec = sys.spawn<recorder>(threads + 1);
  auto pumped = sys.spawn<pumper>(rec).ask(pump{threads, per_sender}, 60s);
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_sender; ++i) {
        if (!rec.send(tagged{t, i})) failed.fetch_add(1);
        if (i % (4 + t) == 0) std::this_thread::yield();
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(pumped.get(), 0);
  EXPECT_EQ(failed.load(), 0);
  fifo_report r = rec.ask(report{}, 30s).get();
  EXPECT_EQ(r.received, static_cast<long>(threads + 1) * per_sender);
  EXPECT_EQ(r.violations, 0);
  sys.shutdown();  // before the locals its actors point to go away
}

struct slow_item {};
struct slow_consumer : actor<slow_consumer> {
  long handled = 0;
  void on(slow_item) {
    ++handled;
    const auto until = std::chrono::steady_clock::now() + 20us;  // ~100x the producer's cost per send
    while (std::chrono::steady_clock::now() < until) {}
  }
  long on(report) { return handled; }
};

struct produce {
  int count;
};
struct producer : actor<producer> {
  actor_ref<slow_consumer> to;
  explicit producer(actor_ref<slow_consumer> c) : to(std::move(c)) {}
  int on(produce p) {
    int failed = 0;
    for (int i = 0; i < p.count; ++i)
      if (!to.send(slow_item{})) ++failed;
    return failed;
  }
};

TEST_P(MailboxTest, BackPressureHoldsDepthAtCapacityAndLosesNothing) {
  constexpr int from_thread = 6000, from_actor = 6000;
  spawn_options o;
  o.capacity = 16;
  o.policy = overflow_policy::block;
  auto c = sys.spawn<slow_consumer>(o);
  auto p = sys.spawn<producer>(c).ask(produce{from_actor}, 60s);
  std::size_t rss_mid = 0;
  int failed = 0;
  for (int i = 0; i < from_thread; ++i) {
    if (!c.send(slow_item{})) ++failed;
    if (i == from_thread / 4) rss_mid = rss_bytes();
  }
  EXPECT_EQ(p.get(), 0);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(c.ask(report{}, 30s).get(), from_thread + from_actor);
  const actor_stats st = c.stats();
  EXPECT_LE(st.high_water, 16u);
  EXPECT_EQ(st.dead_letters.total(), 0u);
  if (!sanitized) {
    EXPECT_LT(rss_bytes(), rss_mid + (8u << 20));  // flat: no queue growth
  }
  sys.shutdown();  // before the locals its actors point to go away
}

struct held {};
struct value {
  int v;
};
struct holder : actor<holder> {
  gate* g;
  std::vector<int>* seen;
  holder(gate* gg, std::vector<int>* s) : g(gg), seen(s) {}
  void on(held) { g->wait(); }
  void on(value v) { seen->push_back(v.v); }
  std::size_t on(report) { return seen->size(); }
};

struct policy_case {
  overflow_policy policy;
  const char* name;
};

// Capacity 4; the first message holds the actor (it counts in the depth
// until its turn's batch ends, except under drop_oldest where a message
// leaves the depth when it is taken); then 10 sends.
TEST_P(MailboxTest, FailPolicyExactCounts) {
  gate g;
  std::vector<int> seen;
  spawn_options o;
  o.capacity = 4;
  o.policy = overflow_policy::fail;
  auto h = sys.spawn<holder>(o, &g, &seen);
  ASSERT_TRUE(h.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  int ok = 0, full = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = h.send(value{i});
    if (r) {
      ++ok;
    } else if (r.code() == actor_errc::mailbox_full) {
      ++full;
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(full, 7);
  g.open();
  ASSERT_TRUE(eventually([&] { return h.stats().depth == 0; }));
  EXPECT_EQ(h.ask(report{}, 10s).get(), 3u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(h.stats().dead_letters[dead_letter_reason::mailbox_full], 7u);
  EXPECT_EQ(h.stats().high_water, 4u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(MailboxTest, DropNewestPolicyExactCounts) {
  gate g;
  std::vector<int> seen;
  spawn_options o;
  o.capacity = 4;
  o.policy = overflow_policy::drop_newest;
  auto h = sys.spawn<holder>(o, &g, &seen);
  ASSERT_TRUE(h.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  int ok = 0, dropped = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = h.send(value{i});
    if (r) {
      ++ok;
    } else if (r.code() == actor_errc::dropped) {
      ++dropped;
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(dropped, 7);
  g.open();
  ASSERT_TRUE(eventually([&] { return h.stats().depth == 0; }));
  EXPECT_EQ(h.ask(report{}, 10s).get(), 3u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(h.stats().dead_letters[dead_letter_reason::dropped_newest], 7u);
  EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::dropped_newest], 7u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(MailboxTest, DropOldestPolicyExactCounts) {
  gate g;
  std::vector<int> seen;
  spawn_options o;
  o.capacity = 4;
  o.policy = overflow_policy::drop_oldest;
  auto h = sys.spawn<holder>(o, &g, &seen);
  ASSERT_TRUE(h.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(h.send(value{i}));  // always accepted
  EXPECT_EQ(h.stats().depth, 4u);
  g.open();
  ASSERT_TRUE(eventually([&] { return h.stats().depth == 0; }));
  EXPECT_EQ(h.ask(report{}, 10s).get(), 4u);
  EXPECT_EQ(seen, (std::vector<int>{6, 7, 8, 9}));  // the newest four survive
  EXPECT_EQ(h.stats().dead_letters[dead_letter_reason::dropped_oldest], 6u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(MailboxTest, BlockPolicyTrySendFailsAndSendWaitsUntilDeadline) {
  gate g;
  std::vector<int> seen;
  spawn_options o;
  o.capacity = 2;
  o.policy = overflow_policy::block;
  auto h = sys.spawn<holder>(o, &g, &seen);
  ASSERT_TRUE(h.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  EXPECT_TRUE(h.try_send(value{0}));
  EXPECT_EQ(h.try_send(value{1}).code(), actor_errc::mailbox_full);  // never waits
  // (That it waits until, and not before, its deadline: testing/actor_semantics_test.cpp.)
  EXPECT_EQ(h.send(value{2}, std::chrono::steady_clock::now() + 5ms).code(), actor_errc::mailbox_full);
  // A blocked sender gets in as soon as there is room.
  std::thread t([&] { EXPECT_TRUE(h.send(value{3}, std::chrono::steady_clock::now() + 30s)); });
  std::this_thread::sleep_for(20ms);
  g.open();
  t.join();
  ASSERT_TRUE(eventually([&] { return h.stats().depth == 0; }));
  EXPECT_EQ(h.ask(report{}, 10s).get(), 2u);
  EXPECT_EQ(seen, (std::vector<int>{0, 3}));
  EXPECT_EQ(h.stats().dead_letters[dead_letter_reason::mailbox_full], 2u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(MailboxTest, DeadlinePassedAtSendIsRejected) {
  gate g;
  std::vector<int> seen;
  auto h = sys.spawn<holder>(&g, &seen);
  EXPECT_EQ(h.send(value{1}, std::chrono::steady_clock::now() - 1ms).code(), actor_errc::deadline_passed);
  EXPECT_EQ(h.stats().dead_letters[dead_letter_reason::deadline_passed], 1u);
  EXPECT_EQ(h.ask(report{}, 10s).get(), 0u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST(MailboxOptionsTest, BadOptionsAreRejectedWithAClearError) {
  runtime rt(workers(1));
  actor_system sys(rt);
  gate g;
  std::vector<int> seen;
  spawn_options zero;
  zero.capacity = 0;
  try {
    (void)sys.spawn<holder>(zero, &g, &seen);
    FAIL() << "zero capacity accepted";
  } catch (const actor_error& e) {
    EXPECT_EQ(e.code(), actor_errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("capacity"), std::string::npos);
  }
  spawn_options no_budget;
  no_budget.budget = 0;
  EXPECT_THROW((void)sys.spawn<holder>(no_budget, &g, &seen), actor_error);
  actor_ref<holder> empty;
  EXPECT_THROW((void)empty.send(value{1}), actor_error);
}

struct fill {};
struct ping {};
struct stuck : actor<stuck> {
  actor_ref<stuck> peer;
  std::atomic<int>* full_errors;
  std::atomic<int>* done;
  std::atomic<int>* arrived;
  stuck(std::atomic<int>* f, std::atomic<int>* d, std::atomic<int>* a)
      : full_errors(f), done(d), arrived(a) {}
  void on(actor_ref<stuck> p) { peer = std::move(p); }
  void on(fill) {
    // Both actors are inside `fill` (each mailbox full with it) before either sends.
    arrived->fetch_add(1);
    for (int i = 0; i < 5000 && arrived->load() < 2; ++i) this_fiber::sleep_for(1ms);
    for (int i = 0; i < 3; ++i)
      if (peer.send(ping{}).code() == actor_errc::mailbox_full) full_errors->fetch_add(1);
    done->fetch_add(1);
  }
  void on(ping) {}
};

TEST_P(MailboxTest, BlockingCycleEndsInErrorsAtTheDeadline) {
  std::atomic<int> full_errors{0}, done{0}, arrived{0};
  spawn_options o;
  o.capacity = 1;
  o.policy = overflow_policy::block;
  o.block_timeout = 100ms;
  auto a = sys.spawn<stuck>(o, &full_errors, &done, &arrived);
  auto b = sys.spawn<stuck>(o, &full_errors, &done, &arrived);
  ASSERT_TRUE(a.send(b));
  ASSERT_TRUE(b.send(a));
  ASSERT_TRUE(eventually([&] { return a.stats().depth == 0 && b.stats().depth == 0; }));
  // Both take `fill` and block sending to each other's full mailbox.
  ASSERT_TRUE(a.send(fill{}));
  ASSERT_TRUE(b.send(fill{}));
  ASSERT_TRUE(eventually([&] { return done.load() == 2; }, 20s)) << "the cycle hung";
  EXPECT_GE(full_errors.load(), 2);
  EXPECT_GE(sys.stats().dead_letters[dead_letter_reason::mailbox_full], 2u);
  sys.shutdown();  // before the locals its actors point to go away
}

struct spin_item {};
struct probe;
struct spinner : actor<spinner> {
  std::atomic<long>* handled;
  actor_ref<probe> p;
  spinner(std::atomic<long>* h, actor_ref<probe> pr) : handled(h), p(std::move(pr)) {}
  void on(spin_item);
};
struct probe : actor<probe> {
  std::atomic<long>* spinner_handled;
  std::atomic<long>* seen_at;
  probe(std::atomic<long>* s, std::atomic<long>* at) : spinner_handled(s), seen_at(at) {}
  void on(ping) { seen_at->store(spinner_handled->load()); }
};
void spinner::on(spin_item) {
  const auto until = std::chrono::steady_clock::now() + 5us;
  while (std::chrono::steady_clock::now() < until) {}
  if (handled->fetch_add(1) == 100 && p) (void)p.send(ping{});  // the probe becomes ready on this worker
}

// One busy actor cannot starve another: it yields after its budget.
// Disabled: fails on the current runtime. schedule_yield() sets
// take_oldest_next, and find_local() then returns the deque's oldest item
// before it looks at the LIFO slot, the tick counter, the injection queue or
// the timers; a lone yielding actor is its own "oldest", so everything else
// on that worker waits until its mailbox is empty. Enable once the runtime
// fixes find_local (count the branch as a tick and move a LIFO-slot item
// behind the yielder).
TEST(MailboxBudgetTest, BusyActorYieldsToOthersOnOneWorker) {
  runtime rt(workers(1));
  actor_system sys(rt);
  std::atomic<long> handled{0}, seen_at{-1};
  constexpr long n = 20'000;
  spawn_options big;
  big.capacity = n;
  auto p = sys.spawn<probe>(&handled, &seen_at);
  auto s = sys.spawn<spinner>(big, &handled, p);
  for (long i = 0; i < n; ++i) ASSERT_TRUE(s.send(spin_item{}));
  ASSERT_TRUE(eventually([&] { return handled.load() == n; }, 30s));
  ASSERT_TRUE(eventually([&] { return seen_at.load() >= 0; }));
  EXPECT_LT(seen_at.load(), 100 + 3 * 32) << "the probe waited for the busy actor's whole queue";
}

// Disabled for the same runtime bug: the injection queue (work from foreign
// threads) starves behind a yielding actor.
TEST(MailboxBudgetTest, ForeignSendIsNotStarvedByABusyActor) {
  runtime rt(workers(1));
  actor_system sys(rt);
  std::atomic<long> handled{0}, seen_at{-1};
  constexpr long n = 20'000;
  spawn_options big;
  big.capacity = n;
  auto p = sys.spawn<probe>(&handled, &seen_at);
  auto s = sys.spawn<spinner>(big, &handled, actor_ref<probe>());
  for (long i = 0; i < n; ++i) ASSERT_TRUE(s.send(spin_item{}));
  ASSERT_TRUE(p.send(ping{}));  // from this (foreign) thread: the injection queue
  ASSERT_TRUE(eventually([&] { return handled.load() == n; }, 30s));
  ASSERT_TRUE(eventually([&] { return seen_at.load() >= 0; }));
  EXPECT_LT(seen_at.load(), n) << "the injection queue starved behind a yielding actor";
}

}  // namespace
}  // namespace troupe::test

// --- the admission queue: waiting senders, in order, decided once ------------

namespace troupe::test {
namespace {

struct send_pings {
  clock::time_point deadline;
};
struct late_ok_counter {
  std::atomic<int>* arrived;
  std::atomic<int>* ok;
  std::atomic<int>* full;
  std::atomic<int>* ok_after_deadline;
  std::atomic<int>* finished;
};
struct pinger : actor<pinger> {
  actor_ref<pinger> peer;
  late_ok_counter c;
  std::atomic<int>* handled;
  pinger(late_ok_counter cc, std::atomic<int>* h) : c(cc), handled(h) {}
  void on(actor_ref<pinger> p) { peer = std::move(p); }
  void on(send_pings s) {
    // Both actors are inside this handler (each mailbox full with it)
    // before either sends.
    c.arrived->fetch_add(1);
    while (c.arrived->load() < 2) this_fiber::yield();
    for (int i = 0; i < 3; ++i) {
      const send_result r = peer.send(ping{}, s.deadline);
      if (r) {
        c.ok->fetch_add(1);
        if (this_actor::now() > s.deadline) c.ok_after_deadline->fetch_add(1);
      } else if (r.code() == actor_errc::mailbox_full || r.code() == actor_errc::deadline_passed) {
        c.full->fetch_add(1);  // refused at the deadline, or (the next ones) already past it
      }
    }
    c.finished->fetch_add(1);
  }
  void on(ping) { handled->fetch_add(1); }
};

TEST(AdmissionTest, ASendDecidedAtItsDeadlineIsMailboxFullNeverOk) {
  // Two actors with capacity 1 on one worker, each sending to the other from
  // its handler: both block until the deadline. A send used to take the room
  // a peer freed just after its wait timed out and report ok; the message
  // then expired unhandled.
  for (int round = 0; round < 20; ++round) {
    runtime rt{workers(1)};
    actor_system sys{rt};
    std::atomic<int> arrived{0}, ok{0}, full{0}, late{0}, handled{0}, finished{0};
    spawn_options o{.capacity = 1, .policy = overflow_policy::block};
    const late_ok_counter counters{&arrived, &ok, &full, &late, &finished};
    auto a = sys.spawn<pinger>(o, counters, &handled);
    auto b = sys.spawn<pinger>(o, counters, &handled);
    ASSERT_TRUE(a.send(b));
    ASSERT_TRUE(b.send(a));
    const auto deadline = rt.now() + 30ms;
    ASSERT_TRUE(a.send(send_pings{deadline}));
    ASSERT_TRUE(b.send(send_pings{deadline}));
    ASSERT_TRUE(eventually([&] { return finished.load() == 2; }));
    sys.shutdown();
    EXPECT_EQ(ok.load() + full.load(), 6) << "every send was decided one way";
    // On one worker both handlers wait until the deadline, so room frees
    // only after it: every send is refused, none accepted late and dropped.
    EXPECT_EQ(ok.load(), 0);
    EXPECT_EQ(late.load(), 0) << "a send reported ok after its deadline";
    EXPECT_EQ(handled.load(), 0);
    EXPECT_EQ(sys.stats().dead_letters[dead_letter_reason::expired], 0u)
        << "accepted, then dropped unhandled";
  }
}

struct numbered {
  int n;
};
struct in_order : actor<in_order> {
  gate* g;
  std::vector<int> seen;
  explicit in_order(gate* gg) : g(gg) {}
  void on(held) { g->wait(); }
  int on(numbered x) {
    seen.push_back(x.n);
    return x.n;
  }
  std::vector<int> on(report) { return seen; }
};

TEST_P(MailboxTest, WaitingAsksAreAdmittedInOrderAndNeverBlockTheCaller) {
  gate g;
  auto a = sys.spawn<in_order>(spawn_options{.capacity = 2, .policy = overflow_policy::block}, &g);
  ASSERT_TRUE(a.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  // The mailbox is full after one more; 50 asks queue for admission at
  // once (none of these calls waits), then a fail-fast ask is refused.
  std::vector<ask_future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(a.ask(numbered{i}, 10s));
  auto refused = a.ask(numbered{-1}, 10s, when_full::fail);
  EXPECT_EQ(refused.get_result().error_code(), actor_errc::mailbox_full);
  auto accepted = a.send_async(numbered{50}, rt.now() + 10s);
  EXPECT_FALSE(accepted.is_ready()) << "waiting for room";
  g.open();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);
  accepted.get();  // accepted once there was room
  std::vector<int> expect(51);
  for (int i = 0; i <= 50; ++i) expect[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(a.ask(report{}, 10s).get(), expect);
  sys.shutdown();
}

TEST_P(MailboxTest, AWaitingAskTimesOutInTheQueueWithMailboxFull) {
  gate g;
  auto a = sys.spawn<in_order>(spawn_options{.capacity = 2, .policy = overflow_policy::block}, &g);
  ASSERT_TRUE(a.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  ASSERT_TRUE(a.send(numbered{0}));  // full now
  auto f = a.ask(numbered{1}, 30ms);
  // The asker's deadline and the waiting request's are the same instant:
  // it hears either that it timed out or that there was no room.
  const actor_errc code = f.get_result().error_code();
  EXPECT_TRUE(code == actor_errc::timeout || code == actor_errc::mailbox_full) << to_string(code);
  ASSERT_TRUE(eventually([&] { return a.stats().dead_letters[dead_letter_reason::mailbox_full] == 1; }))
      << "the request left the queue at its deadline, counted once";
  g.open();
  EXPECT_EQ(a.ask(report{}, 10s).get(), (std::vector<int>{0})) << "and was never handled";
  sys.shutdown();
}

struct forward_then {};
struct note {
  std::string what;
};
struct asker : actor<asker> {
  actor_ref<in_order> target;
  std::vector<std::string> log;
  explicit asker(actor_ref<in_order> t) : target(std::move(t)) {}
  void on(forward_then) {
    // The target is full: this returns at once, the request waits for room.
    target.ask(numbered{7}, 10s).then([this](result<int> r) {
      log.push_back("reply " + std::to_string(*r));
    });
    log.push_back("asked");
  }
  void on(note n) { log.push_back(n.what); }
  std::vector<std::string> on(report) { return log; }
};

TEST_P(MailboxTest, AThenAskIntoAFullMailboxDoesNotStallTheAskingActor) {
  gate g;
  auto target = sys.spawn<in_order>(spawn_options{.capacity = 2, .policy = overflow_policy::block}, &g);
  ASSERT_TRUE(target.send(held{}));
  ASSERT_TRUE(g.wait_entered());
  ASSERT_TRUE(target.send(numbered{0}));  // full now
  auto a = sys.spawn<asker>(target);
  ASSERT_TRUE(a.send(forward_then{}));
  ASSERT_TRUE(a.send(note{"next"}));
  // The asker handles `next` while its request still waits for room.
  ASSERT_TRUE(eventually([&] { return a.ask(report{}, 10s).get().size() == 2; }));
  EXPECT_EQ(a.ask(report{}, 10s).get(), (std::vector<std::string>{"asked", "next"}));
  g.open();
  ASSERT_TRUE(eventually([&] { return a.ask(report{}, 10s).get().size() == 3; }));
  EXPECT_EQ(a.ask(report{}, 10s).get().back(), "reply 7");
  sys.shutdown();
}

}  // namespace
}  // namespace troupe::test
