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
// <workload> is an id of BENCHMARKS.md (a variant adds a suffix:
// "fib.cutoff16"); <system> is troupe, caf, tbb, boost_fiber, boost_context,
// hw or naive_md5. Extra figures of one workload are user counters whose
// name is the suffix: counter "idle_bytes" on actor.spawn becomes
// "actor.spawn.idle_bytes".

#include <vector>

namespace troupe::bench {

struct config {
  std::vector<int> threads{1, 2};  // worker counts to register
  bool quick = false;              // fewer repetitions, same workloads
};

using registration = void (*)(const config&);

// Adds a registration; returns a dummy so it can initialise a static.
int add_registration(registration r);
const std::vector<registration>& registrations();

}  // namespace troupe::bench

#define TROUPE_BENCHMARKS(fn) \
  [[maybe_unused]] static const int fn##_registered = ::troupe::bench::add_registration(&fn)
