#pragma once
// Registration of the actor workloads, shared by troupe's and CAF's files so
// names and quick-mode rules cannot drift apart. Their sizes (message, hop,
// actor and ask counts) come from sizes() of workload_sizes.hpp.

#include <benchmark/benchmark.h>
#include <initializer_list>
#include <string>

#include "bench_registry.hpp"
#include "workload_sizes.hpp"  // sizes(): the message and actor counts of this run

namespace troupe::bench {

struct actor_workload {
  const char* id;  // e.g. "actor.ring"
  void (*fn)(benchmark::State&, int threads);
  int iterations;  // per repetition, outside quick mode
};

// Registers "<id>/<system>/threads:<N>" for every workload and thread count.
inline void register_actor_workloads(const config& cfg, const char* system,
                                     std::initializer_list<actor_workload> workloads) {
  for (const auto& w : workloads)
    for (int threads : cfg.threads) {
      const std::string name = std::string(w.id) + "/" + system + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), w.fn, threads)
          ->UseRealTime()
          ->Iterations(cfg.quick ? 1 : w.iterations);
    }
}

}  // namespace troupe::bench
