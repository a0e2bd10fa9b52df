// The stall calibration (docs/design/load.md, "Coordinated omission"): a
// service answers in 1 ms, except that it stalls for 5 s in the middle of a
// 10 s run at a constant 1,000 req/s -- half of the run.
//
// Open loop, every request that arrives during the stall waits for its end:
// the one that arrives t into the stall waits S - t, so half of all
// requests have latencies spread evenly over (0, S] and the other half ~0.
// A fraction (S - x) / S * 1/2 of requests then takes longer than x, which
// is 10% at x = 0.8 S: p90 = 0.8 x the stall, and the max is the stall.
// A closed loop with N workers sends nothing while its N requests are
// stuck: only N requests of the run see the stall, and its p99 says 1 ms.
//
// Virtual time, not a real run, and why: the figures asserted here are
// properties of the measurement method, and in virtual time they come out
// exactly (p90 = 4.001 s for this plan), on any machine, under any
// sanitizer, in milliseconds of test time. A real run would assert the same
// ratios with tolerances eaten by scheduling noise on a shared machine (and
// take seconds); the engine code under test is the same either way -- run()
// only adds the waiting between polls. A short real run checks the
// causality-guaranteed lower bounds in sync_target_test.cpp.

#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>

#include "virtual_service.hpp"

#include "troupe/load/generator.hpp"

namespace {

using namespace std::chrono_literals;
namespace load = troupe::load;
using load::testing::drive;
using load::testing::make_clock;
using load::testing::reply;
using load::testing::virtual_service;

constexpr auto stall_at = 2500ms;
constexpr auto stall = 5s;  // half of the 10 s run
constexpr auto service_time = 1ms;

double seconds(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }
double seconds(load::duration d) { return std::chrono::duration<double>(d).count(); }

// The stalling service, in the virtual time of `clk` (its window starts
// stall_at after the clock's start, which is where every run here starts).
virtual_service stalling_service(const std::shared_ptr<troupe::manual_clock>& clk) {
  const auto begin = clk->now() + stall_at, end = begin + stall;
  return virtual_service(clk, [begin, end](const load::request&, troupe::clock::time_point now) {
    return std::optional<reply>(reply{(now >= begin && now < end ? end - now : 0ms) + service_time});
  });
}

load::result run_open_loop(load::duration timeout) {
  auto clk = make_clock();
  auto svc = stalling_service(clk);
  load::generator g(load::open_loop{load::plan::constant(1000, 10s)}, svc.as_target(),
                    {.timeout = timeout, .clock = clk});
  EXPECT_TRUE(drive(g, *clk, svc));
  return g.take_result();
}

load::result run_closed_loop(std::uint32_t workers) {
  auto clk = make_clock();
  auto svc = stalling_service(clk);
  // The same offered rate, 1,000 req/s, paced over the workers.
  load::generator g(load::closed_loop{workers, 10s, 1000}, svc.as_target(), {.timeout = 30s, .clock = clk});
  EXPECT_TRUE(drive(g, *clk, svc));
  return g.take_result();
}

TEST(StallCalibration, OpenLoopSeesTheStallClosedLoopHidesIt) {
  const load::result open = run_open_loop(30s);
  const load::result closed = run_closed_loop(10);
  ASSERT_EQ(open.mode, load::mode::open_loop);
  ASSERT_EQ(closed.mode, load::mode::closed_loop);

  const double s = seconds(stall);
  const double open_p90 = seconds(open.latency.value_at_percentile(90));
  const double open_p99 = seconds(open.latency.value_at_percentile(99));
  const double open_max = seconds(open.latency.max());
  const double closed_p99 = seconds(closed.latency.value_at_percentile(99));
  const double closed_max = seconds(closed.latency.max());
  std::printf(
      "stall %.3f s: open-loop p90 %.4f s (%.4f x stall), p99 %.4f s, max %.4f s; "
      "closed-loop (10 workers) p99 %.6f s, max %.4f s, %llu requests (open: %llu)\n",
      s, open_p90, open_p90 / s, open_p99, open_max, closed_p99, closed_max,
      static_cast<unsigned long long>(closed.total.offered),
      static_cast<unsigned long long>(open.total.offered));

  // Nothing skipped: every request of the plan is in the open-loop figures.
  EXPECT_EQ(open.total.offered, 10'000u);
  EXPECT_EQ(open.total.ok, 10'000u);
  EXPECT_EQ(open.latency.count(), 10'000u);

  // The calibration: corrected p90 = 0.8 x the stall (+-10%), max =
  // the stall (+-10%).
  EXPECT_NEAR(open_p90, 0.8 * s, 0.1 * 0.8 * s);
  EXPECT_NEAR(open_max, s, 0.1 * s);
  // Closed loop, same service, same stall, same rate: a p99 at least 10x
  // smaller than the corrected one.
  EXPECT_LE(closed_p99 * 10, open_p99);
  // And why: only its 10 stuck requests saw the stall (its max still does).
  std::uint64_t slow = 0;
  closed.latency.for_each_recorded([&](const troupe::histogram_bucket& b) {
    if (b.lowest >= 100'000'000) slow += b.count;
  });
  EXPECT_LE(slow, 10u);
  EXPECT_NEAR(closed_max, s, 0.1 * s);

  // In virtual time the figures are exact: p90 is the 9,000th of 10,000
  // latencies, the 1,001st largest of the stalled ones 5.001, 5.000, ...,
  // 0.002 s: 4.001 s (to the histogram's 3 digits).
  EXPECT_TRUE(open.latency.layout().equivalent(open.latency.value_at_percentile(90), 4'001'000'000));
  EXPECT_EQ(open.latency.max(), 5'001'000'000u);
}

TEST(StallCalibration, TimeoutsAreCountedAtTheTimeTheyWereGivenUp) {
  // The same run with a 1 s timeout: the requests that would wait longer
  // than that are given up after 1 s and recorded as 1 s, not dropped from
  // the figures. Those that arrive before 6.501 s wait more than 1 s:
  // 2.500 .. 6.500 s, 4,001 of them.
  const load::result r = run_open_loop(1s);
  EXPECT_EQ(r.total.offered, 10'000u);
  EXPECT_EQ(r.total.timed_out, 4'001u);
  EXPECT_EQ(r.given_up, 4'001u);
  EXPECT_EQ(r.total.ok, 10'000u - 4'001u);
  EXPECT_EQ(r.late, 4'001u) << "their answers came at the stall's end, after the give-up";
  EXPECT_EQ(r.latency.count(), 10'000u);
  EXPECT_EQ(r.latency.max(), 1'000'000'000u);
  EXPECT_TRUE(r.latency.layout().equivalent(r.latency.value_at_percentile(90), 1'000'000'000));
  // In each interval of the stall, what timed out is in the latency too.
  for (const auto& iv : r.intervals) EXPECT_EQ(iv.latency.count, iv.n.completed());
}

}  // namespace
