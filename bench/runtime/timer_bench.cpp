// The timer service and the parker (system "troupe"):
//  - timer.arm_cancel: ns per arm+cancel pair of a timer on one worker's
//    wheel; with 2 workers, each cancels timers the other armed.
//  - park.timed_wake: how late a timed wait wakes after its deadline, for a
//    fiber (its worker's wheel, then a parked worker's futex) and for a
//    thread outside the runtime (the futex parker): p50 and p99 in us.

#include <atomic>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_registry.hpp"

#include "troupe/runtime.hpp"
#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/detail/timer.hpp"
#include "troupe/runtime/histogram.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::detail::timer_entry;

void nothing(timer_entry*) noexcept {}

void bm_arm_cancel(benchmark::State& state, int threads) {
  constexpr int kPairs = 1'000'000;
  troupe::runtime rt(troupe::runtime_options{.workers = static_cast<std::size_t>(threads)});
  auto& sched = troupe::detail::scheduler_of(rt);
  for (auto _ : state) {
    if (threads == 1) {
      // Arm a batch of 64 with spread deadlines, then cancel them: the wheel
      // holds a realistic mix of levels, as asks' deadlines do.
      auto h = troupe::spawn(rt, [&] {
        std::vector<timer_entry> entries(64);
        for (auto& e : entries) e.on_fire = &nothing;
        const auto now = rt.now();
        long cancelled = 0;
        for (int i = 0; i < kPairs; i += 64) {
          for (int k = 0; k < 64; ++k)
            troupe::detail::arm_timer(sched, &entries[k],
                                      now + std::chrono::milliseconds(1 + (i + k) % 30'000));
          for (auto& e : entries) cancelled += troupe::detail::cancel_timer(&e);
        }
        return cancelled;
      });
      if (h.join() != kPairs) state.SkipWithError("arm_cancel: a cancel failed");
    } else {
      // Two tasks (on two workers when they spread, as they usually do):
      // each arms a batch on its own wheel, then each cancels the batch the
      // other armed, so the cancels cross cores.
      constexpr int kBatch = 4096;  // per side and round: spawning and joining stay a small share
      std::vector<timer_entry> batches[2]{std::vector<timer_entry>(kBatch), std::vector<timer_entry>(kBatch)};
      for (auto& b : batches)
        for (auto& e : b) e.on_fire = &nothing;
      long cancelled = 0;
      for (int i = 0; i < kPairs; i += 2 * kBatch) {
        const auto now = rt.now() + 1s;  // never due while we run
        auto arm = [&](int side) {
          return troupe::spawn(rt, [&, side] {
            for (int k = 0; k < kBatch; ++k)
              troupe::detail::arm_timer(sched, &batches[side][static_cast<std::size_t>(k)],
                                        now + std::chrono::milliseconds(1 + (i + k) % 30'000));
            return 0L;
          });
        };
        auto cancel = [&](int side) {
          return troupe::spawn(rt, [&, side] {
            long n = 0;
            for (auto& e : batches[side]) n += troupe::detail::cancel_timer(&e);
            return n;
          });
        };
        auto a = arm(0), b = arm(1);
        a.join();
        b.join();
        auto x = cancel(1), y = cancel(0);
        cancelled += x.join() + y.join();
      }
      if (cancelled != (kPairs + 2 * kBatch - 1) / (2 * kBatch) * (2 * kBatch))
        state.SkipWithError("arm_cancel: a cancel failed");
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(kPairs) * state.iterations());
}

// Lateness of timed waits woken by their deadline.
void bm_timed_wake(benchmark::State& state, bool fiber) {
  constexpr int kWaits = 200;
  troupe::runtime rt(troupe::runtime_options{.workers = 2});
  troupe::latency_histogram late;  // ns
  for (auto _ : state) {
    auto one_round = [&] {
      troupe::counting_semaphore never(0);
      for (int i = 0; i < kWaits; ++i) {
        const auto deadline = rt.now() + std::chrono::microseconds(500 + (i * 37) % 1500);
        (void)never.try_acquire_until(deadline);
        const auto ns = (rt.now() - deadline).count();
        late.record(static_cast<std::uint64_t>(ns < 0 ? 0 : ns));
      }
    };
    if (fiber)
      troupe::spawn(rt, one_round).join();
    else
      one_round();
  }
  state.SetItemsProcessed(kWaits * state.iterations());
  state.counters["p50"] = static_cast<double>(late.value_at_percentile(50.0)) / 1000.0;  // us
  state.counters["p99"] = static_cast<double>(late.value_at_percentile(99.0)) / 1000.0;
}

void register_timers(const troupe::bench::config& cfg) {
  for (int t : cfg.threads)
    benchmark::RegisterBenchmark(("timer.arm_cancel/troupe/threads:" + std::to_string(t)).c_str(),
                                 &bm_arm_cancel, t)
        ->UseRealTime()
        ->Iterations(cfg.quick ? 1 : 5);
  benchmark::RegisterBenchmark("park.timed_wake.fiber/troupe", &bm_timed_wake, true)
      ->UseRealTime()
      ->Iterations(cfg.quick ? 1 : 3);
  benchmark::RegisterBenchmark("park.timed_wake.thread/troupe", &bm_timed_wake, false)
      ->UseRealTime()
      ->Iterations(cfg.quick ? 1 : 3);
}

}  // namespace

TROUPE_BENCHMARKS(register_timers);
