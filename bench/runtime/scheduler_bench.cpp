// troupe's scheduler workloads of docs/benchmarks.md: fiber.switch, spawn.join,
// fib, fib.cutoff16 and skynet. The peers (tbb, boost_fiber, boost_context)
// run the same workloads in bench/peers/.
//
// Each benchmark call builds a runtime with the worker count of its name
// (outside the timed loop); each timed iteration submits one root task from
// the benchmark thread and joins it, so a whole run is measured, including
// the wake-up of parked workers.

#include <array>
#include <benchmark/benchmark.h>
#include <cstdint>
#include <fmt/format.h>
#include <numeric>

#include "bench_registry.hpp"
#include "task_workloads.hpp"

#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/this_fiber.hpp"

namespace {

using troupe::bench::fib_expected;
using troupe::bench::fib_n;
using troupe::bench::kFibCutoff;
using troupe::bench::serial_fib;
using troupe::bench::skynet_expected;
using troupe::bench::skynet_leaves;
using troupe::bench::spawn_joins;
using troupe::bench::switches;

troupe::runtime_options with_workers(int n) {
  troupe::runtime_options o;
  o.workers = static_cast<std::size_t>(n);
  return o;
}

// Each call with n >= 2 (or >= cutoff) spawns fib(n-1) into a task group,
// computes fib(n-2) itself, then waits.
long fib(troupe::runtime& rt, int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return serial_fib(n);
  long a = 0;
  troupe::task_group g(rt);
  g.spawn([&a, &rt, n, cutoff] { a = fib(rt, n - 1, cutoff); });
  long b = fib(rt, n - 2, cutoff);
  g.wait();
  return a + b;
}

std::uint64_t skynet(troupe::runtime& rt, std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::array<std::uint64_t, 10> sums{};
  troupe::task_group g(rt);
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i)
    g.spawn([&sums, &rt, i, num, child] { sums[i] = skynet(rt, num + i * child, child); });
  g.wait();
  return std::accumulate(sums.begin(), sums.end(), std::uint64_t{0});
}

// Two fibers on one worker yield to each other; each yield is one switch.
// A parent task spawns both before either runs, then joins them.
void bm_fiber_switch(benchmark::State& state) {
  troupe::runtime rt(with_workers(1));
  const std::int64_t n = switches();
  for (auto _ : state) {
    troupe::spawn(rt, [&rt, n] {
      auto yielder = [n] {
        for (std::int64_t i = 0; i < n / 2; ++i) troupe::this_fiber::yield();
      };
      auto a = troupe::spawn(rt, yielder);
      auto b = troupe::spawn(rt, yielder);
      a.join();
      b.join();
    }).join();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void bm_spawn_join(benchmark::State& state, int threads) {
  troupe::runtime rt(with_workers(threads));
  const std::int64_t n = spawn_joins();
  for (auto _ : state) {
    troupe::spawn(rt, [&rt, n] {
      for (std::int64_t i = 0; i < n; ++i) troupe::spawn(rt, [] {}).join();
    }).join();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void bm_fib(benchmark::State& state, int threads, int cutoff) {
  troupe::runtime rt(with_workers(threads));
  const int n = fib_n();
  const long expected = fib_expected();
  for (auto _ : state) {
    long r = troupe::spawn(rt, [&rt, n, cutoff] { return fib(rt, n, cutoff); }).join();
    if (r != expected) {
      state.SkipWithError(fmt::format("fib({}) = {}, expected {}", n, r, expected).c_str());
      break;
    }
  }
}

void bm_skynet(benchmark::State& state, int threads) {
  troupe::runtime rt(with_workers(threads));
  const std::uint64_t leaves = skynet_leaves();
  const std::uint64_t expected = skynet_expected();
  for (auto _ : state) {
    std::uint64_t r = troupe::spawn(rt, [&rt, leaves] { return skynet(rt, 0, leaves); }).join();
    if (r != expected) {
      state.SkipWithError(fmt::format("skynet = {}, expected {}", r, expected).c_str());
      break;
    }
  }
}

void register_scheduler_benchmarks(const troupe::bench::config& cfg) {
  // Whole-run workloads: one iteration per repetition in quick mode.
  auto whole_run = [&](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    if (cfg.quick) b->Iterations(1);
  };
  // fiber.switch runs on one worker by definition: no thread count.
  whole_run(benchmark::RegisterBenchmark("fiber.switch/troupe", bm_fiber_switch));
  for (int n : cfg.threads) {
    whole_run(benchmark::RegisterBenchmark(fmt::format("spawn.join/troupe/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_spawn_join(s, n); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib/troupe/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_fib(s, n, 0); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib.cutoff16/troupe/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_fib(s, n, kFibCutoff); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("skynet/troupe/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_skynet(s, n); }));
  }
}

}  // namespace

TROUPE_BENCHMARKS(register_scheduler_benchmarks);
