// Actor semantics whose proof is that something did NOT happen (a message
// not handled, an actor not stopped). On threads such a test can only sleep
// and hope; on the harness nothing runs unless the test runs it and time
// moves only when the test moves it, so "ran until idle and it did not
// happen" is a proof.

#include <gtest/gtest.h>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"
#include "troupe/testing.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;
using troupe::testing::harness;

// A handler that waits (its fiber suspends) until the test opens the gate.
struct gate {
  counting_semaphore sem{0};
  bool entered = false;
  void wait() {
    entered = true;
    sem.acquire();
  }
  void open() { sem.release(); }
};

struct hold {};
struct get {};
struct value {
  int v;
};
struct gated : actor<gated> {
  gate* g;
  std::vector<int>* seen;
  long handled = 0;
  gated(gate* gg, std::vector<int>* s) : g(gg), seen(s) {}
  void on(hold) { g->wait(); }
  long on(get) { return ++handled; }
  void on(value v) { seen->push_back(v.v); }
};

TEST(ActorSemanticsTest, ExpiredRequestsAreSkippedAndCounted) {
  harness h;
  gate g;
  std::vector<int> seen;
  auto a = h.system().spawn<gated>(&g, &seen);
  ASSERT_TRUE(a.send(hold{}));
  h.run_until_idle();
  ASSERT_TRUE(g.entered);
  std::vector<ask_future<long>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(a.ask(get{}, 10ms));
  h.advance(10ms);  // their deadlines pass while the actor is held
  g.open();
  for (auto& f : fs) EXPECT_EQ(h.await(std::move(f)).error_code(), actor_errc::timeout);
  EXPECT_EQ(h.await(a.ask(get{}, 10s)).value(), 1);  // the five never reached the handler
  EXPECT_EQ(a.stats().dead_letters[dead_letter_reason::expired], 5u);
  EXPECT_EQ(h.system().stats().dead_letters[dead_letter_reason::unanswered], 0u);
}

TEST(ActorSemanticsTest, ExpiredMessagesAreNotHandled) {
  harness h;
  gate g;
  std::vector<int> seen;
  auto a = h.system().spawn<gated>(&g, &seen);
  ASSERT_TRUE(a.send(hold{}));
  h.run_until_idle();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a.send(value{i}, h.now() + 10ms));
  ASSERT_TRUE(a.send(value{99}));
  h.advance(10ms);
  g.open();
  h.run_until_idle();
  EXPECT_EQ(seen, (std::vector<int>{99}));
  EXPECT_EQ(a.stats().dead_letters[dead_letter_reason::expired], 5u);
}

TEST(ActorSemanticsTest, ABlockedSendFailsAtItsDeadlineAndNotBefore) {
  harness h;
  gate g;
  std::vector<int> seen;
  spawn_options o;
  o.capacity = 2;
  o.policy = overflow_policy::block;
  auto a = h.system().spawn<gated>(o, &g, &seen);
  ASSERT_TRUE(a.send(hold{}));
  h.run_until_idle();
  ASSERT_TRUE(a.try_send(value{0}));
  // The sender is a fiber of the harness, so it can block without blocking
  // the test's thread.
  send_result r;
  bool returned = false;
  const auto deadline = h.now() + 50ms;
  auto sender = spawn(h.runtime(), [&] {
    r = a.send(value{1}, deadline);
    returned = true;
  });
  h.advance(49ms);
  EXPECT_FALSE(returned);  // still waiting for room a millisecond before its deadline
  h.advance(1ms);
  EXPECT_TRUE(returned);
  EXPECT_EQ(r.code(), actor_errc::mailbox_full);
  g.open();
  h.run_until_idle();
  EXPECT_EQ(seen, (std::vector<int>{0}));
}

struct link_to {
  actor_addr who;
};
struct linker : actor<linker> {
  void on(link_to l) { self().link(l.who); }
  int on(get) { return 1; }
};
struct idle : actor<idle> {
  void on(get) {}
};

TEST(ActorSemanticsTest, ANormalExitDoesNotKillLinkedActors) {
  harness h;
  auto a = h.system().spawn<linker>();
  auto b = h.system().spawn<idle>();
  ASSERT_TRUE(h.await(a.ask(link_to{b}, 1s)).has_value());
  b.stop();
  h.run_until_idle();  // b's exit signal has reached a, and a handled it
  EXPECT_TRUE(b.stopped());
  EXPECT_FALSE(a.stopped());
  EXPECT_EQ(h.await(a.ask(get{}, 1s)).value(), 1);
}

}  // namespace
}  // namespace troupe::test
