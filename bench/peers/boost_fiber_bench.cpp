// Boost.Fiber 1.74 peer for the scheduler workloads of docs/benchmarks.md
// (fiber.switch, spawn.join, fib, fib.cutoff16, skynet), and the raw
// Boost.Context switch (system boost_context, the floor of fiber.switch).
//
// Set-up follows Boost.Fiber's own work-stealing examples
// (performance/fiber/skynet_stealing_join.cpp): N threads each call
// use_scheduling_algorithm<algo::work_stealing>(N) and meet at a barrier;
// children are launched with launch::dispatch (the child runs at once, the
// parent is the one left for thieves) on small fixed-size stacks; results
// come back through fiber::join.
//
// Two constraints of Boost 1.74 shape the pool:
//  * work_stealing keeps process-wide static state (an id counter, the
//    scheduler table sized once, a static barrier), so it can be set up once
//    per process, for one thread count. The pool for that count is created on
//    first use and kept; another count > 1 in the same run is skipped with an
//    error saying so (run troupe-bench again with --threads N).
//  * With one thread work_stealing has no victim to steal from, so one
//    thread uses Boost.Fiber's default round_robin scheduler.
// Between runs the pool threads block on a std::condition_variable (their
// schedulers do not spin), so they do not disturb other benchmarks; during a
// run the helpers wait on a fiber condition variable and steal, as in the
// Boost example.

#include <algorithm>
#include <array>
#include <benchmark/benchmark.h>
#include <boost/context/fiber.hpp>
#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/all.hpp>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <fmt/format.h>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

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
using troupe::bench::switches;

namespace fibers = boost::fibers;

// 16 KiB stacks: Boost's skynet example uses 8 KiB; fib keeps up to ~16
// frames of serial recursion plus fiber launches on one stack.
fibers::fixedsize_stack& stack_allocator() {
  static fibers::fixedsize_stack salloc{16 * 1024};
  return salloc;
}

class fiber_pool {
 public:
  explicit fiber_pool(unsigned threads) : threads_(threads) {
    std::latch registered(threads);
    for (unsigned i = 0; i < threads; ++i)
      workers_.emplace_back([this, i, &registered] { work(i, registered); });
    registered.wait();
  }

  ~fiber_pool() {
    {
      std::lock_guard lk(gate_m_);
      exit_ = true;
    }
    gate_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  unsigned threads() const { return threads_; }

  // Runs `job` on the main fiber of pool thread 0 while the other threads
  // steal its fibers; blocks the caller until it returns, rethrows its error.
  void run(std::function<void()> job) {
    std::unique_lock lk(gate_m_);
    job_ = std::move(job);
    error_ = nullptr;
    const std::uint64_t gen = ++generation_;
    gate_cv_.notify_all();
    done_cv_.wait(lk, [&] { return completed_ == gen; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(unsigned index, std::latch& registered) {
    if (threads_ > 1) fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads_);
    registered.count_down();
    std::uint64_t seen = 0;
    for (;;) {
      {
        // Asleep between runs: this blocks the whole thread, scheduler included.
        std::unique_lock lk(gate_m_);
        gate_cv_.wait(lk, [&] { return exit_ || generation_ != seen; });
        if (exit_) return;
        seen = generation_;
      }
      if (index == 0) {
        std::exception_ptr err;
        try {
          job_();
        } catch (...) {
          err = std::current_exception();
        }
        {
          std::lock_guard lk(run_m_);
          finished_ = seen;
        }
        run_cv_.notify_all();
        {
          std::lock_guard lk(gate_m_);
          error_ = err;
          completed_ = seen;
        }
        done_cv_.notify_all();
      } else {
        // A fiber wait: the scheduler of this thread keeps stealing.
        std::unique_lock lk(run_m_);
        run_cv_.wait(lk, [&] { return finished_ >= seen; });
      }
    }
  }

  const unsigned threads_;
  std::vector<std::thread> workers_;

  std::mutex gate_m_;
  std::condition_variable gate_cv_;  // wakes the pool for a run (or exit)
  std::condition_variable done_cv_;  // tells the caller the run is over
  std::uint64_t generation_ = 0, completed_ = 0;
  bool exit_ = false;
  std::function<void()> job_;
  std::exception_ptr error_;

  std::mutex run_m_;
  fibers::condition_variable_any run_cv_;  // releases the helpers after a run
  std::uint64_t finished_ = 0;
};

// The pools of this process: one for one thread, and at most one for a count
// above one (see the header comment). Null if `threads` cannot be served.
fiber_pool* pool_for(unsigned threads) {
  static std::mutex m;
  static std::map<unsigned, std::unique_ptr<fiber_pool>> pools;
  std::lock_guard lk(m);
  if (auto it = pools.find(threads); it != pools.end()) return it->second.get();
  if (threads > 1)
    for (const auto& [n, _] : pools)
      if (n > 1) return nullptr;
  return pools.emplace(threads, std::make_unique<fiber_pool>(threads)).first->second.get();
}

fiber_pool* pool_or_skip(benchmark::State& state, unsigned threads) {
  fiber_pool* pool = pool_for(threads);
  if (!pool)
    state.SkipWithError(
        fmt::format("Boost.Fiber's work_stealing can be set up for one thread count per process; "
                    "run troupe-bench again with --threads {}",
                    threads)
            .c_str());
  return pool;
}

template <class F>
fibers::fiber launch(F&& f) {
  return fibers::fiber(fibers::launch::dispatch, std::allocator_arg, stack_allocator(), std::forward<F>(f));
}

long fib(int n, int cutoff) {
  if (n < 2) return n;
  if (n < cutoff) return serial_fib(n);
  long a = 0;
  fibers::fiber child = launch([&a, n, cutoff] { a = fib(n - 1, cutoff); });
  long b = fib(n - 2, cutoff);
  child.join();
  return a + b;
}

std::uint64_t skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  std::array<std::uint64_t, 10> sums{};
  std::array<fibers::fiber, 10> children;
  const std::uint64_t child = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i)
    children[i] = launch([&sums, i, num, child] { sums[i] = skynet(num + i * child, child); });
  for (auto& c : children) c.join();
  return std::accumulate(sums.begin(), sums.end(), std::uint64_t{0});
}

// Two fibers on one thread yield to each other; each yield is one switch.
void bm_fiber_switch(benchmark::State& state) {
  fiber_pool* pool = pool_or_skip(state, 1);
  if (!pool) return;
  const std::int64_t n = switches();
  for (auto _ : state) {
    pool->run([n] {
      auto yielder = [n] {
        for (std::int64_t i = 0; i < n / 2; ++i) boost::this_fiber::yield();
      };
      // launch::post: both are ready before either runs.
      fibers::fiber a(fibers::launch::post, std::allocator_arg, stack_allocator(), yielder);
      fibers::fiber b(fibers::launch::post, std::allocator_arg, stack_allocator(), yielder);
      a.join();
      b.join();
    });
  }
  state.SetItemsProcessed(state.iterations() * n);
}

// The floor: raw boost::context::fiber resume ping-pong, no scheduler.
void bm_context_switch(benchmark::State& state) {
  namespace ctx = boost::context;
  const std::int64_t n = switches();
  for (auto _ : state) {
    bool stop = false;
    ctx::fiber peer{[&stop](ctx::fiber&& back) {
      while (!stop) back = std::move(back).resume();
      return std::move(back);
    }};
    // Each resume is two switches: there and back.
    for (std::int64_t i = 0; i < n / 2; ++i) peer = std::move(peer).resume();
    stop = true;
    peer = std::move(peer).resume();  // lets the peer return
    benchmark::DoNotOptimize(peer);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void bm_spawn_join(benchmark::State& state, unsigned threads) {
  fiber_pool* pool = pool_or_skip(state, threads);
  if (!pool) return;
  const std::int64_t n = spawn_joins();
  for (auto _ : state) {
    pool->run([n] {
      for (std::int64_t i = 0; i < n; ++i) launch([] {}).join();
    });
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void bm_fib(benchmark::State& state, unsigned threads, int cutoff) {
  fiber_pool* pool = pool_or_skip(state, threads);
  if (!pool) return;
  const int n = fib_n();
  const long expected = fib_expected();
  for (auto _ : state) {
    long r = 0;
    pool->run([&r, n, cutoff] { r = fib(n, cutoff); });
    if (r != expected) {
      state.SkipWithError(fmt::format("fib({}) = {}, expected {}", n, r, expected).c_str());
      break;
    }
  }
}

void bm_skynet(benchmark::State& state, unsigned threads) {
  fiber_pool* pool = pool_or_skip(state, threads);
  if (!pool) return;
  const std::uint64_t leaves = skynet_leaves();
  const std::uint64_t expected = skynet_expected();
  for (auto _ : state) {
    std::uint64_t r = 0;
    pool->run([&r, leaves] { r = skynet(0, leaves); });
    if (r != expected) {
      state.SkipWithError(fmt::format("skynet = {}, expected {}", r, expected).c_str());
      break;
    }
  }
}

void register_boost_fiber_benchmarks(const troupe::bench::config& cfg) {
  // Whole-run workloads: one iteration per repetition in quick mode.
  auto whole_run = [&](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
    if (cfg.quick) b->Iterations(1);
    return b;
  };
  // fiber.switch runs on one worker by definition: no thread count.
  whole_run(benchmark::RegisterBenchmark("fiber.switch/boost_fiber", bm_fiber_switch));
  // The raw switch is a floor: the minimum over its repetitions.
  troupe::bench::as_physical_limit(
      whole_run(benchmark::RegisterBenchmark("fiber.switch/boost_context", bm_context_switch)));
  for (int n : cfg.threads) {
    const auto t = static_cast<unsigned>(n);
    whole_run(benchmark::RegisterBenchmark(fmt::format("spawn.join/boost_fiber/threads:{}", n).c_str(),
                                           [t](benchmark::State& s) { bm_spawn_join(s, t); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib/boost_fiber/threads:{}", n).c_str(),
                                           [t](benchmark::State& s) { bm_fib(s, t, 0); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("fib.cutoff16/boost_fiber/threads:{}", n).c_str(),
                                           [t](benchmark::State& s) { bm_fib(s, t, kFibCutoff); }));
    whole_run(benchmark::RegisterBenchmark(fmt::format("skynet/boost_fiber/threads:{}", n).c_str(),
                                           [t](benchmark::State& s) { bm_skynet(s, t); }));
  }
}

}  // namespace

TROUPE_BENCHMARKS(register_boost_fiber_benchmarks);
