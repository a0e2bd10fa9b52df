#pragma once
// How benchmark files plug into troupe-bench.
//
// Each *_bench.cpp defines a function that registers its Google Benchmark
// cases for a given configuration, and hands it to TROUPE_BENCHMARKS. The
// runner parses its command line first, then calls every registration with
// the thread counts the user asked for, so one binary serves any machine.
//
// Naming contract (the runner parses it):
//   "<workload>/<system>"              e.g. "deque.push_pop/troupe"
//   "<workload>/<system>/threads:<N>"  e.g. "skynet/tbb/threads:2"
// <workload> is an id of docs/benchmarks.md (a variant adds a suffix:
// "fib.cutoff16"); <system> is troupe, caf, tbb, boost_fiber, boost_context,
// hw or naive_md5. Extra figures of one workload are user counters whose
// name is the suffix: counter "idle_bytes" on actor.spawn becomes
// "actor.spawn.idle_bytes".

#include <benchmark/benchmark.h>
#include <string>
#include <vector>

namespace troupe::bench {

struct config {
  std::vector<int> threads{1, 2};  // worker counts to register
  // Quick mode: the quick sizes of workload_sizes.hpp for every system, one
  // iteration per repetition for whole-run workloads, fewer repetitions.
  // main() selects the sizes (select_sizes) before calling registrations.
  bool quick = false;
};

using registration = void (*)(const config&);

// A physical limit of the machine (systems hw and boost_context) is a floor:
// the runner reports the minimum over its repetitions, not the median, since
// on a shared machine any one run may be descheduled. as_physical_limit
// gives a benchmark kLimitRepetitions repetitions and has Google Benchmark
// report each of them to the runner (which takes the fastest). Keep each
// repetition short (MinTime(0.05) or a small fixed iteration count): short
// runs are the ones likely to fit between other processes' time slices.
inline constexpr int kLimitRepetitions = 10;
void as_physical_limit(benchmark::internal::Benchmark* b);

// Adds a registration; returns a dummy so it can initialise a static.
int add_registration(registration r);
const std::vector<registration>& registrations();

// A measurement that needs a fresh process, such as RSS: in a process that
// has already run other benchmarks, freed memory (glibc's and each runtime's
// caches) is reused, so RSS neither starts from a clean baseline nor grows
// as it would. The runner re-executes itself with
// `--probe NAME --probe-threads N [--probe-quick]` (the last selects the
// quick sizes of workload_sizes.hpp, as in the parent); the probe's numbers
// are read back from its standard output. A probe returns an empty vector on
// failure.
using probe = std::vector<double> (*)(int threads);
int add_probe(const char* name, probe p);
// Runs probe `name` in a fresh copy of this executable; empty if it failed.
std::vector<double> run_probe_in_fresh_process(const char* name, int threads);
// For main(): if the arguments ask for a probe, runs it, prints its number
// and returns true (the process should then exit).
bool run_probe_if_requested(int argc, char** argv);

}  // namespace troupe::bench

#define TROUPE_BENCHMARKS(fn) \
  [[maybe_unused]] static const int fn##_registered = ::troupe::bench::add_registration(&fn)
