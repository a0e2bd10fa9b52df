// oneTBB peer for the scheduler workloads of docs/benchmarks.md: spawn.join, fib,
// fib.cutoff16 and skynet, each as tbb::task_group fork-join inside a
// tbb::task_arena of N threads (the calling thread plus N-1 workers).
// TBB has no user-visible fiber switch, so it has no fiber.switch row.

#include <algorithm>
#include <array>
#include <benchmark/benchmark.h>
#include <cstdint>
#include <fmt/format.h>
#include <numeric>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <thread>

#include "bench_registry.hpp"
#include "task_workloads.hpp"

namespace {

using troupe::bench::fib_expected;
using troupe::bench::fib_n;
using troupe::bench::kFibCutoff;
using troupe::bench::serial_fib;
using troupe::bench::skynet_expected;
using troupe::bench::skynet_leaves;
using troupe::bench::spawn_joins;

// Each call with n >= 2 (or >= cutoff) runs fib(n-1) as a task, computes
// fib(n-2) itself, then waits.
long fib(int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return serial_fib(n);
  long a = 0;
  tbb::task_group g;
  g.run([&] { a = fib(n - 1, cutoff); });
  long b = fib(n - 2, cutoff);
  g.wait();
  return a + b;
}

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::array<std::uint64_t, 10> sums{};
  tbb::task_group g;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i)
    g.run([&sums, i, num, child] { sums[i] = skynet(num + i * child, child); });
  g.wait();
  return std::accumulate(sums.begin(), sums.end(), std::uint64_t{0});
}

// An arena of exactly n threads; global_control lets n exceed the default
// (hardware) limit so the same binary can draw a scaling curve.
struct tbb_pool {
  explicit tbb_pool(int n)
      : limit(tbb::global_control::max_allowed_parallelism,
              std::max<std::size_t>(static_cast<std::size_t>(n), std::thread::hardware_concurrency())),
        arena(n) {
    arena.initialize();
  }
  tbb::global_control limit;
  tbb::task_arena arena;
};

void bm_spawn_join(benchmark::State& state, int threads) {
  tbb_pool pool(threads);
  const std::int64_t n = spawn_joins();
  for (auto _ : state) {
    pool.arena.execute([n] {
      tbb::task_group g;
      for (std::int64_t i = 0; i < n; ++i) {
        g.run([] {});
        g.wait();
      }
    });
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void bm_fib(benchmark::State& state, int threads, int cutoff) {
  tbb_pool pool(threads);
  const int n = fib_n();
  const long expected = fib_expected();
  for (auto _ : state) {
    long r = pool.arena.execute([n, cutoff] { return fib(n, cutoff); });
    if (r != expected) {
      state.SkipWithError(fmt::format("fib({}) = {}, expected {}", n, r, expected).c_str());
      break;
    }
  }
}

void bm_skynet(benchmark::State& state, int threads) {
  tbb_pool pool(threads);
  const std::uint64_t leaves = skynet_leaves();
  const std::uint64_t expected = skynet_expected();
  for (auto _ : state) {
    std::uint64_t r = pool.arena.execute([leaves] { return skynet(0, leaves); });
    if (r != expected) {
      state.SkipWithError(fmt::format("skynet = {}, expected {}", r, expected).c_str());
      break;
    }
  }
}

void register_tbb_benchmarks(const troupe::bench::config& cfg) {
  // Whole-run workloads: one iteration per repetition in quick mode.
  auto whole_run = [&](benchmark::internal::Benchmark* b, benchmark::TimeUnit unit) {
    b->UseRealTime()->Unit(unit);
    if (cfg.quick) b->Iterations(1);
  };
  for (int n : cfg.threads) {
    whole_run(benchmark::RegisterBenchmark(fmt::format("spawn.join/tbb/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_spawn_join(s, n); }),
              benchmark::kMillisecond);
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib/tbb/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_fib(s, n, 0); }),
              benchmark::kMillisecond);
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib.cutoff16/tbb/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_fib(s, n, kFibCutoff); }),
              benchmark::kMillisecond);
    whole_run(benchmark::RegisterBenchmark(fmt::format("skynet/tbb/threads:{}", n).c_str(),
                                           [n](benchmark::State& s) { bm_skynet(s, n); }),
              benchmark::kMillisecond);
  }
}

}  // namespace

TROUPE_BENCHMARKS(register_tbb_benchmarks);
