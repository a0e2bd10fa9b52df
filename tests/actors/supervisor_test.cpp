// Supervision: the three strategies, restart intensity and escalation,
// backoff, the mailbox kept across a restart, and children stopped first.

#include <atomic>
#include <stdexcept>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct crash {};
struct get {};
struct bump {};

// Counts its constructions in births[id]; its state resets on restart.
struct worker : actor<worker> {
  int id;
  std::atomic<int>* births;
  std::atomic<int>* stops;
  int state = 0;
  worker(int i, std::atomic<int>* b, std::atomic<int>* s) : id(i), births(b), stops(s) {
    births[id].fetch_add(1);
  }
  void on(crash) { throw std::runtime_error("crash " + std::to_string(id)); }
  void on(bump) { ++state; }
  int on(get) { return state; }
  void on_stop() {
    if (stops) stops->fetch_add(1);
  }
};

struct family {
  std::atomic<int> births[8]{};
  std::atomic<int> stops{0};
  int b(int i) const { return births[i].load(); }
};

class SupervisorTest : public WorkersTest {
 protected:
  supervisor_ref make(restart_strategy s, std::size_t max_restarts = 10) {
    supervisor_options o;
    o.strategy = s;
    o.max_restarts = max_restarts;
    o.within = 10s;
    return sys.spawn_supervisor(o);
  }
  std::vector<actor_ref<worker>> children(const supervisor_ref& sup, family& f, int n) {
    std::vector<actor_ref<worker>> v;
    for (int i = 0; i < n; ++i) v.push_back(sup.spawn<worker>(i, f.births, &f.stops));
    return v;
  }
};
INSTANTIATE_TEST_SUITE_P(Workers, SupervisorTest, ::testing::Values(1, 2, 4), worker_name);

TEST_P(SupervisorTest, OneForOneRestartsOnlyTheFailedChild) {
  family f;
  auto sup = make(restart_strategy::one_for_one);
  auto w = children(sup, f, 3);
  ASSERT_TRUE(w[1].send(bump{}));
  ASSERT_TRUE(w[1].send(crash{}));  // same sender, same actor: bump is handled first
  ASSERT_TRUE(eventually([&] { return f.b(1) == 2; }));
  EXPECT_EQ(w[1].ask(get{}, 10s).get(), 0);  // same ref, fresh object
  EXPECT_EQ(f.b(0), 1);
  EXPECT_EQ(f.b(2), 1);
  EXPECT_EQ(w[1].stats().restarts, 1u);
  EXPECT_EQ(sys.stats().restarts, 1u);
  EXPECT_EQ(sup.child_count(), 3u);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, OneForAllRestartsEveryChild) {
  family f;
  auto sup = make(restart_strategy::one_for_all);
  auto w = children(sup, f, 3);
  ASSERT_TRUE(w[0].send(bump{}));
  ASSERT_EQ(w[0].ask(get{}, 10s).get(), 1);  // handled before the restart (commands overtake queued messages)
  ASSERT_TRUE(w[2].send(crash{}));
  ASSERT_TRUE(eventually([&] { return f.b(0) == 2 && f.b(1) == 2 && f.b(2) == 2; }));
  EXPECT_EQ(w[0].ask(get{}, 10s).get(), 0);
  EXPECT_EQ(w[2].ask(get{}, 10s).get(), 0);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, RestForOneRestartsTheFailedChildAndLaterOnes) {
  family f;
  auto sup = make(restart_strategy::rest_for_one);
  auto w = children(sup, f, 4);
  ASSERT_TRUE(w[1].send(crash{}));
  ASSERT_TRUE(eventually([&] { return f.b(1) == 2 && f.b(2) == 2 && f.b(3) == 2; }));
  EXPECT_EQ(w[3].ask(get{}, 10s).get(), 0);
  EXPECT_EQ(f.b(0), 1);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, MessagesQueuedDuringARestartAreKept) {
  family f;
  supervisor_options o;
  o.backoff_initial = 30ms;  // the child stays suspended a while
  o.backoff_max = 30ms;
  auto sup = sys.spawn_supervisor(o);
  auto w = sup.spawn<worker>(0, f.births, &f.stops);
  ASSERT_TRUE(w.send(crash{}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w.send(bump{}));
  EXPECT_EQ(w.ask(get{}, 10s).get(), 5);  // handled by the new object
  EXPECT_EQ(f.b(0), 2);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, RestartsAreDelayedByBackoff) {
  family f;
  supervisor_options o;
  o.backoff_initial = 40ms;
  o.backoff_max = 100ms;
  auto sup = sys.spawn_supervisor(o);
  auto w = sup.spawn<worker>(0, f.births, &f.stops);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.send(crash{}));
  ASSERT_TRUE(eventually([&] { return f.b(0) == 2; }));
  const auto first = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(first, 35ms);
  ASSERT_TRUE(w.send(crash{}));  // second restart in the window: 80 ms
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return f.b(0) == 3; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t1, 75ms);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, IntensityExceededStopsATopLevelSupervisor) {
  family f;
  auto sup = make(restart_strategy::one_for_one, 2);
  auto w = children(sup, f, 2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(w[0].send(crash{}));
    ASSERT_TRUE(eventually([&] { return f.b(0) == i + 2; }));
  }
  ASSERT_TRUE(w[0].send(crash{}));  // the third within the window: give up
  exit_reason r = sup.watch(10s).get();
  EXPECT_EQ(r.kind, exit_kind::restart_limit);
  EXPECT_NE(r.message.find("crash 0"), std::string::npos);
  EXPECT_TRUE(w[0].stopped());
  EXPECT_TRUE(w[1].stopped());
  EXPECT_EQ(sys.stats().escalations, 1u);
  EXPECT_EQ(f.b(0), 3);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, IntensityEscalatesToTheParentSupervisor) {
  family f;
  auto top = make(restart_strategy::one_for_one, 5);
  supervisor_options inner;
  inner.max_restarts = 1;
  inner.within = 10s;
  auto mid = top.spawn_supervisor(inner);
  auto w = children(mid, f, 2);
  ASSERT_TRUE(w[0].send(crash{}));
  ASSERT_TRUE(eventually([&] { return f.b(0) == 2; }));
  ASSERT_TRUE(w[0].send(crash{}));  // mid gives up; top restarts mid, which restarts all its children
  ASSERT_TRUE(eventually([&] { return f.b(0) == 3 && f.b(1) == 2; }));
  EXPECT_FALSE(mid.stopped());
  EXPECT_EQ(sys.stats().escalations, 0u);
  EXPECT_EQ(w[1].ask(get{}, 10s).get(), 0);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, StoppingASupervisorStopsItsChildrenFirst) {
  family f;
  auto sup = make(restart_strategy::one_for_one);
  auto w = children(sup, f, 3);
  for (auto& c : w) ASSERT_TRUE(c.send(bump{}));
  sup.stop();
  exit_reason r = sup.watch(10s).get();
  EXPECT_EQ(r.kind, exit_kind::normal);
  // By the time the supervisor is gone, every child has stopped (on_stop ran).
  EXPECT_EQ(f.stops.load(), 3);
  for (auto& c : w) EXPECT_TRUE(c.stopped());
  EXPECT_THROW((void)sup.spawn<worker>(5, f.births, &f.stops), actor_error);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(SupervisorTest, AChildThatStopsNormallyIsRemoved) {
  family f;
  auto sup = make(restart_strategy::one_for_one);
  auto w = children(sup, f, 2);
  w[0].stop();
  w[0].watch(10s).get();
  ASSERT_TRUE(eventually([&] { return sup.child_count() == 1; }));
  EXPECT_EQ(f.b(0), 1);
  sys.shutdown();  // before the locals its actors point to go away
}

TEST(SupervisorOptionsTest, BadOptionsAreRejected) {
  runtime rt(workers(1));
  actor_system sys(rt);
  supervisor_options o;
  o.within = 0ms;
  EXPECT_THROW((void)sys.spawn_supervisor(o), actor_error);
  supervisor_options b;
  b.backoff_initial = 10ms;
  b.backoff_max = 1ms;
  EXPECT_THROW((void)sys.spawn_supervisor(b), actor_error);
}

}  // namespace
}  // namespace troupe::test
