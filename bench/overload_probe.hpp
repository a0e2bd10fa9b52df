#pragma once
// The actor.overload benchmark body shared by every system: each iteration
// runs the system's overload probe in a fresh process (see add_probe), so
// its peak RSS is the workload's own, not what earlier benchmarks left.

#include <algorithm>
#include <benchmark/benchmark.h>

#include "bench_registry.hpp"
#include "workload_sizes.hpp"

namespace troupe::bench {

// `probe` returns {peak RSS MiB, mailbox high-water mark, producer msgs/s}.
inline void overload_in_fresh_processes(benchmark::State& state, const char* probe, int threads) {
  double peak_mib = 0, high_water = 0, rate = 0;
  for (auto _ : state) {
    const auto r = run_probe_in_fresh_process(probe, threads);
    if (r.size() != 3) {
      state.SkipWithError("overload: not all messages accepted and processed, or timeout");
      return;
    }
    peak_mib = std::max(peak_mib, r[0]);
    high_water = std::max(high_water, r[1]);
    rate = r[2];
  }
  state.SetItemsProcessed(sizes().overload_messages * state.iterations());
  state.counters["rss"] = peak_mib;
  state.counters["high_water"] = high_water;
  state.counters["rate"] = rate;
}

}  // namespace troupe::bench
