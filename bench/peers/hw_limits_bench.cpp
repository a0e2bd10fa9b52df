// The physical limits of the machine (system "hw"), printed under the table
// so that every figure can be read against the hardware (docs/benchmarks.md).
// The raw context switch is fiber.switch/boost_context (boost_fiber_bench.cpp).
// Each is reported as the minimum over many short repetitions: a floor is
// what the machine does when nothing else disturbs it.
//
//   hw.cache_line_round_trip  two threads ping-pong one atomic cache line;
//                             the fastest of many timed batches of 100 round
//                             trips (both threads must be on a core at once:
//                             on a shared machine most batches are not)
//   hw.atomic_rmw             uncontended seq_cst fetch_add
//   hw.malloc_free            malloc(64) + free, glibc
//   hw.futex_wake             one thread wakes another through a futex and is
//                             woken back: both sleep in the kernel each time

#include <algorithm>
#include <atomic>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <linux/futex.h>
#include <new>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "bench_registry.hpp"

namespace {

constexpr std::size_t kLine = 64;  // hardware_destructive_interference_size is not stable in GCC 12
constexpr int kBatch = 64;         // operations per benchmark iteration, to amortise the loop

// Spins until `line` differs from `v`. On an oversubscribed machine the
// other thread may not be running at all: after a long spin, yield, so a
// round trip then costs a context switch rather than a whole time slice.
std::uint64_t wait_change(const std::atomic<std::uint64_t>& line, std::uint64_t v) {
  for (int spins = 0;; ++spins) {
    std::uint64_t now = line.load(std::memory_order_acquire);
    if (now != v) return now;
    if (spins >= (1 << 14)) std::this_thread::yield();
  }
}

// Manual time: each iteration times kBatches batches of kRoundTrips round
// trips and reports its fastest batch, so one iteration's figure is a round
// trip while both threads ran, not a time slice of whatever else runs.
constexpr int kRoundTrips = 100;    // per timed batch
constexpr int kBatches = 100;       // per iteration
constexpr int kLineIterations = 5;  // per repetition: 50,000 round trips, ~8 ms when quiet

void bm_cache_line_round_trip(benchmark::State& state) {
  using clk = std::chrono::steady_clock;
  alignas(kLine) std::atomic<std::uint64_t> line{0};
  // The partner answers every odd value v with v + 1; ~0 stops it.
  std::thread partner([&line] {
    std::uint64_t seen = 0;
    for (;;) {
      const std::uint64_t v = wait_change(line, seen);
      if (v == ~std::uint64_t{0}) return;
      seen = v + 1;
      line.store(seen, std::memory_order_release);
    }
  });
  std::uint64_t v = 0;
  for (auto _ : state) {
    std::chrono::duration<double> fastest = std::chrono::duration<double>::max();
    for (int b = 0; b < kBatches; ++b) {
      const auto t0 = clk::now();
      for (int i = 0; i < kRoundTrips; ++i) {
        line.store(++v, std::memory_order_release);
        v = wait_change(line, v);
      }
      fastest = std::min<std::chrono::duration<double>>(fastest, clk::now() - t0);
    }
    state.SetIterationTime(fastest.count());
  }
  line.store(~std::uint64_t{0}, std::memory_order_release);
  partner.join();
  state.SetItemsProcessed(state.iterations() * kRoundTrips);
}

void bm_atomic_rmw(benchmark::State& state) {
  std::atomic<std::uint64_t> counter{0};
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) counter.fetch_add(1, std::memory_order_seq_cst);
  }
  benchmark::DoNotOptimize(counter.load());
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void bm_malloc_free(benchmark::State& state) {
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      void* p = std::malloc(64);
      benchmark::DoNotOptimize(p);
      std::free(p);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, nullptr, nullptr, 0);
}

// Waits until *word is non-zero, sleeping in the kernel, then clears it.
void futex_take(std::atomic<std::uint32_t>& word) {
  while (word.load(std::memory_order_acquire) == 0) futex(&word, FUTEX_WAIT_PRIVATE, 0);
  word.store(0, std::memory_order_relaxed);
}

void futex_give(std::atomic<std::uint32_t>& word) {
  word.store(1, std::memory_order_release);
  futex(&word, FUTEX_WAKE_PRIVATE, 1);
}

void bm_futex_wake(benchmark::State& state) {
  alignas(kLine) std::atomic<std::uint32_t> to_partner{0};
  alignas(kLine) std::atomic<std::uint32_t> to_main{0};
  std::atomic<bool> stop{false};
  std::thread partner([&] {
    for (;;) {
      futex_take(to_partner);
      if (stop.load(std::memory_order_acquire)) return;
      futex_give(to_main);
    }
  });
  for (auto _ : state) {
    futex_give(to_partner);
    futex_take(to_main);
  }
  stop.store(true, std::memory_order_release);
  futex_give(to_partner);
  partner.join();
  state.SetItemsProcessed(state.iterations());
}

void register_hw_limits(const troupe::bench::config&) {
  // Machine properties: independent of the worker counts asked for, and the
  // same in quick and full runs. Each is the minimum of kLimitRepetitions
  // repetitions of 0.05 s (bench_registry.hpp: as_physical_limit).
  constexpr double kRepetitionSeconds = 0.05;
  auto limit = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->MinTime(kRepetitionSeconds);
    troupe::bench::as_physical_limit(b);
    return b;
  };
  troupe::bench::as_physical_limit(
      benchmark::RegisterBenchmark("hw.cache_line_round_trip/hw/threads:2", bm_cache_line_round_trip)
          ->UseManualTime()
          ->Iterations(kLineIterations));
  limit(benchmark::RegisterBenchmark("hw.atomic_rmw/hw", bm_atomic_rmw));
  limit(benchmark::RegisterBenchmark("hw.malloc_free/hw", bm_malloc_free));
  limit(benchmark::RegisterBenchmark("hw.futex_wake/hw/threads:2", bm_futex_wake))
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

TROUPE_BENCHMARKS(register_hw_limits);
