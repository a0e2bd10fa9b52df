// Real runs on the steady clock: the synchronous adapter's pool completing
// from its own threads while the driver issues, and a short stall. The
// machine is shared and noisy, so these assert counts, sums and bounds that
// causality guarantees (a request that arrives during a stall cannot end
// before the stall does) -- never how fast anything was.

#include "troupe/load/sync_target.hpp"

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <thread>

#include "troupe/load/generator.hpp"
#include "troupe/load/services.hpp"
#include "troupe/runtime/error.hpp"

namespace {

using namespace std::chrono_literals;
namespace load = troupe::load;
using load::outcome;

TEST(SyncTarget, EveryOutcomeFromThePoolIsCountedOnce) {
  std::atomic<int> calls{0};
  auto t = load::sync_target(
      [&calls](const load::request& r) {
        calls.fetch_add(1, std::memory_order_relaxed);
        if (r.id % 7 == 6) throw std::runtime_error("a failing call");
        constexpr outcome by_id[] = {outcome::ok,         outcome::error,    outcome::timeout,
                                     outcome::overloaded, outcome::rejected, outcome::ok};
        return by_id[r.id % 7];
      },
      4);
  // 2,000 req/s for 0.25 s: 500 requests, ids 0..499. The timeout is far
  // longer than any call, so nothing is given up however slow the machine.
  load::result r = load::run(load::open_loop{load::plan::constant(2000, 250ms)}, t, {.timeout = 30s});
  EXPECT_EQ(calls.load(), 500);
  std::uint64_t want[7] = {};
  for (std::uint64_t id = 0; id < 500; ++id) ++want[id % 7];
  EXPECT_EQ(r.total.offered, 500u);
  EXPECT_EQ(r.total.ok, want[0] + want[5]);
  EXPECT_EQ(r.total.failed, want[1] + want[6]);
  EXPECT_EQ(r.total.timed_out, want[2]);
  EXPECT_EQ(r.total.shed, want[3]);
  EXPECT_EQ(r.total.rejected, want[4]);
  EXPECT_EQ(r.given_up, 0u);
  EXPECT_EQ(r.abandoned, 0u);
  EXPECT_EQ(r.latency.count(), 500u);
  load::counts sum;
  for (const auto& iv : r.intervals) sum += iv.n;
  EXPECT_EQ(sum, r.total);
  EXPECT_EQ(r.issuer_lag.count(), 500u);
}

TEST(SyncTarget, RejectsAnEmptyCallableOrNoThreads) {
  EXPECT_THROW(load::sync_target({}, 1), troupe::error);
  EXPECT_THROW(load::sync_target([](const load::request&) { return outcome::ok; }, 0), troupe::error);
}

TEST(SyncTarget, ClosedLoopThroughThePool) {
  auto t = load::sync_target([](const load::request&) { return outcome::ok; }, 2);
  load::result r = load::run(load::closed_loop{3, 200ms, 300}, t, {.timeout = 30s});
  EXPECT_EQ(r.mode, load::mode::closed_loop);
  EXPECT_GT(r.total.offered, 0u);
  EXPECT_EQ(r.total.ok, r.total.offered);
  EXPECT_EQ(r.latency.count(), r.total.offered);
}

TEST(SyncTarget, AGiveUpInARealRunIsRecordedAtTheTimeout) {
  // Calls that block for 300 ms against a 20 ms timeout: every request is
  // given up, at its deadline, and each latency is exactly the timeout
  // (send and intended start differ by the issuer's lag, which is added).
  auto t = load::sync_target(
      [](const load::request&) {
        std::this_thread::sleep_for(300ms);
        return outcome::ok;
      },
      20);
  load::result r = load::run(load::open_loop{load::plan::constant(100, 100ms)}, t, {.timeout = 20ms});
  EXPECT_EQ(r.total.offered, 10u);
  EXPECT_EQ(r.total.timed_out, 10u);
  EXPECT_EQ(r.given_up, 10u);
  EXPECT_GE(r.latency.min(), 20'000'000u);
}

TEST(SyncTarget, ARealStallShowsUpInTheOpenLoopFigures) {
  // 500 req/s for 1 s; the service stalls 0.4 s from 0.3 s. Every request
  // intended during the stall ends after it, so its latency is at least
  // (stall end - intended start): 200 requests with latencies at least
  // 400, 398, ..., 2 ms. Those lower bounds hold on any machine; the
  // generator can only make them larger. Ideal p90: 0.75 x the stall.
  auto clock = troupe::default_clock();
  auto svc = load::stall_service::starting_now(clock, 0ms, 300ms, 400ms);
  auto t = load::sync_target(svc, 8);
  load::result r =
      load::run(load::open_loop{load::plan::constant(500, 1s)}, t, {.timeout = 30s, .clock = clock});
  EXPECT_EQ(r.total.offered, 500u);
  EXPECT_EQ(r.total.ok, 500u);
  // The first request of the window waited for all of it (less one period).
  EXPECT_GE(r.latency.max(), 398'000'000u);
  EXPECT_GE(r.latency.value_at_percentile(90), 0.7 * 400'000'000);
}

}  // namespace
