// Workloads deque.push_pop and deque.steal of docs/benchmarks.md (system "troupe").
// No peer row: none of the peers exposes its work-stealing deque publicly.
//
//   deque.push_pop/troupe  the owner pushes one pointer and pops it again, no
//                          thieves. Items = push+pop pairs, so ns/item is the
//                          figure ("ns per push+pop pair").
//   deque.steal/troupe     per iteration the owner pushes 1M pointers (not
//                          timed), then pops while one thief thread steals,
//                          until the deque is empty (timed). Items = 1M per
//                          iteration. Every item must be taken exactly once:
//                          the count and the sum of item indices are checked,
//                          and a mismatch is reported with SkipWithError.

#include <atomic>
#include <benchmark/benchmark.h>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "bench_registry.hpp"

#include "troupe/runtime/detail/chase_lev_deque.hpp"
#include "troupe/runtime/detail/spinlock.hpp"  // cpu_relax

namespace {

using troupe::detail::chase_lev_deque;
using troupe::detail::steal_status;

void push_pop(benchmark::State& state) {
  chase_lev_deque<std::uint64_t*> dq;
  std::uint64_t item = 0;
  std::uint64_t* out = nullptr;
  for (auto _ : state) {
    dq.push(&item);
    out = dq.pop();
    benchmark::DoNotOptimize(out);
  }
  if (out != &item) state.SkipWithError("pop did not return the pushed item");
  state.SetItemsProcessed(state.iterations());
}

constexpr std::int64_t kStealItems = 1'000'000;

// One thief thread for the whole benchmark run, started once and released
// once per iteration, so thread creation stays out of the timing.
class steal_rig {
 public:
  explicit steal_rig(std::uint64_t* base) : base_(base), thread_([this] { run(); }) {}
  ~steal_rig() {
    stop_.store(true, std::memory_order_relaxed);
    round_.fetch_add(1, std::memory_order_release);
    thread_.join();
  }
  steal_rig(const steal_rig&) = delete;
  steal_rig& operator=(const steal_rig&) = delete;

  chase_lev_deque<std::uint64_t*>& deque() { return dq_; }

  // Owner: lets the thief steal, pops until empty, waits for the thief.
  // Returns {items taken, sum of their indices} over both threads.
  std::pair<std::int64_t, std::int64_t> drain() {
    thief_done_.store(false, std::memory_order_relaxed);
    owner_done_.store(false, std::memory_order_relaxed);
    round_.fetch_add(1, std::memory_order_release);
    std::int64_t count = 0;
    std::int64_t sum = 0;
    while (std::uint64_t* p = dq_.pop()) {
      ++count;
      sum += p - base_;
    }
    owner_done_.store(true, std::memory_order_release);
    while (!thief_done_.load(std::memory_order_acquire)) troupe::detail::cpu_relax();
    return {count + thief_count_, sum + thief_sum_};
  }

 private:
  void run() {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t r;
      while ((r = round_.load(std::memory_order_acquire)) == seen) troupe::detail::cpu_relax();
      seen = r;
      if (stop_.load(std::memory_order_relaxed)) return;
      std::int64_t count = 0;
      std::int64_t sum = 0;
      for (;;) {
        std::uint64_t* p = nullptr;
        const steal_status s = dq_.steal(p);
        if (s == steal_status::success) {
          ++count;
          sum += p - base_;
        } else if (s == steal_status::empty && owner_done_.load(std::memory_order_acquire)) {
          // The owner pops until empty and never pushes again this round,
          // so once it is done "empty" is final.
          break;
        }
      }
      thief_count_ = count;
      thief_sum_ = sum;
      thief_done_.store(true, std::memory_order_release);
    }
  }

  chase_lev_deque<std::uint64_t*> dq_;
  std::uint64_t* const base_;
  std::atomic<std::uint64_t> round_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> owner_done_{false};
  std::atomic<bool> thief_done_{false};
  std::int64_t thief_count_ = 0;  // published by thief_done_
  std::int64_t thief_sum_ = 0;
  std::thread thread_;  // last: starts after every other member exists
};

void steal(benchmark::State& state) {
  std::vector<std::uint64_t> items(kStealItems);
  steal_rig rig(items.data());
  constexpr std::int64_t expected_sum = kStealItems * (kStealItems - 1) / 2;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& item : items) rig.deque().push(&item);
    state.ResumeTiming();
    const auto [count, sum] = rig.drain();
    if (count != kStealItems || sum != expected_sum) {
      state.SkipWithError("an item was lost or taken twice");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kStealItems);
}

void register_deque_benchmarks([[maybe_unused]] const troupe::bench::config& cfg) {
  // Single-owner workloads: the worker count of `cfg` does not apply.
  benchmark::RegisterBenchmark("deque.push_pop/troupe", push_pop)->UseRealTime();
  benchmark::RegisterBenchmark("deque.steal/troupe", steal)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

TROUPE_BENCHMARKS(register_deque_benchmarks);
