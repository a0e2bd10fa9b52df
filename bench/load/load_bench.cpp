// Workload load.overhead of docs/benchmarks.md (system "troupe"): the open-loop
// generator's own cost per request at 1 M requests/s, against a no-op target
// that completes each request inline (troupe::load::noop_target).
//
//   load.overhead/troupe   one iteration = one real run of the generator,
//                          1,000,000 requests at 1 M req/s (1 s), on the
//                          steady clock. The figure is the driving thread's
//                          busy time -- inside poll(): the schedule, issuing,
//                          the target call and its completion, accounting,
//                          the latency histogram, interval reports -- per
//                          request, given to Google Benchmark as manual
//                          time, so ns/item = busy ns per request. The
//                          waiting between intended start times (spinning,
//                          at 1 µs apart) is not the generator's cost and is
//                          left out.
//   counter lag_p99        whether it kept up: the 99th percentile of how
//                          late requests were sent (send - intended start),
//                          in µs. Near zero: it kept up; the requests it
//                          sent late have that lag in their latency.
//
// A run that loses a request, or whose requests are not all ok, fails with
// SkipWithError.

#include <benchmark/benchmark.h>
#include <chrono>

#include "bench_registry.hpp"

#include "troupe/load/generator.hpp"
#include "troupe/load/services.hpp"

namespace {

using namespace std::chrono_literals;
namespace load = troupe::load;

constexpr double kRate = 1'000'000;
constexpr auto kLength = 1s;

void overhead(benchmark::State& state) {
  std::uint64_t requests = 0;
  troupe::histogram lag = load::make_latency_histogram();
  for (auto _ : state) {
    load::result r = load::run(load::open_loop{load::plan::constant(kRate, kLength)}, load::noop_target(),
                               {.timeout = 1s});
    if (r.total.offered != 1'000'000 || r.total.ok != r.total.offered) {
      state.SkipWithError("the generator lost or failed requests");
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(r.busy).count());
    requests += r.total.offered;
    lag.add(r.issuer_lag);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.counters["lag_p99"] = static_cast<double>(lag.value_at_percentile(99)) / 1e3;
}

void register_load_benchmarks([[maybe_unused]] const troupe::bench::config& cfg) {
  // One generator thread by design: the figure is per request, independent
  // of --threads. Each iteration is a whole one-second run.
  benchmark::RegisterBenchmark("load.overhead/troupe", overhead)->UseManualTime()->Iterations(1);
}

}  // namespace

TROUPE_BENCHMARKS(register_load_benchmarks);
