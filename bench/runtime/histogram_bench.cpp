// Workload histogram.record of docs/benchmarks.md (system "troupe"): the cost of
// recording one value. No peer row: none of the peers has a histogram.
//
//   histogram.record/troupe         troupe::histogram at HdrHistogram's
//                                   canonical 1 ns .. 1 h, 3 digits (33,792
//                                   slots, 264 KiB), values taken in turn
//                                   from a precomputed array of 64 Ki
//                                   log-normal latencies (median ~60 us,
//                                   p99 ~1 ms), so the cost includes the
//                                   scattered counter updates of real data.
//                                   Items = records: ns/item is the figure.
//   histogram.record.writer/troupe  the same through a histogram_recorder
//                                   writer (the concurrent path: relaxed
//                                   load+store per record), one writer.
//
// After the loop the recorded count is checked against the iterations
// (SkipWithError on a mismatch), so a loop the compiler dropped would fail.

#include <benchmark/benchmark.h>
#include <cstdint>
#include <random>
#include <vector>

#include "bench_registry.hpp"

#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/histogram_recorder.hpp"

namespace {

constexpr std::uint64_t kHighest = 3'600'000'000'000;  // 1 h in ns
constexpr std::size_t kValues = 1 << 16;

const std::vector<std::uint64_t>& latencies() {
  static const std::vector<std::uint64_t> v = [] {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(11.0, 1.2);  // e^11 ns ~ 60 us
    std::vector<std::uint64_t> out(kValues);
    for (auto& x : out) x = static_cast<std::uint64_t>(dist(rng));
    return out;
  }();
  return v;
}

void record(benchmark::State& state) {
  const std::uint64_t* values = latencies().data();
  troupe::histogram h(1, kHighest, 3);
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & (kValues - 1)]);
  }
  benchmark::DoNotOptimize(h);
  if (h.count() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("lost records");
  state.SetItemsProcessed(state.iterations());
}

void record_writer(benchmark::State& state) {
  const std::uint64_t* values = latencies().data();
  troupe::histogram_recorder rec(1, kHighest, 3);
  auto w = rec.make_writer();
  std::size_t i = 0;
  for (auto _ : state) {
    w.record(values[i++ & (kValues - 1)]);
  }
  if (rec.take_interval().count() != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("lost records");
  state.SetItemsProcessed(state.iterations());
}

void register_histogram_benchmarks([[maybe_unused]] const troupe::bench::config& cfg) {
  // Single-threaded: the figure is a per-record cost, independent of --threads.
  benchmark::RegisterBenchmark("histogram.record/troupe", record)->UseRealTime();
  benchmark::RegisterBenchmark("histogram.record.writer/troupe", record_writer)->UseRealTime();
}

}  // namespace

TROUPE_BENCHMARKS(register_histogram_benchmarks);
