#pragma once
// The sizes of the whole-run workloads of docs/benchmarks.md, in one table
// that troupe's and every peer's implementation read, so that `--quick`
// shrinks every system alike and no two systems can drift apart.
//
// `full_sizes` are the sizes of docs/benchmarks.md and the default of
// troupe-bench. `quick_sizes` (troupe-bench --quick, scripts/bench.sh) are a
// tenth of them (fib: 27 instead of 32, about an eleventh of the tasks), so
// that the whole quick pass takes a few minutes on 2 cores. A quick figure is
// not a full one: the runner prints the sizes in its header and records them
// in the JSON context (`context.sizes`), keyed by workload id.
//
// Sizes that define a workload's shape rather than its length stay the same
// in both: fib's serial cutoff (16), actor.spawn's window of 1,000
// outstanding actors, fan-out to 1,000 actors, a ring of 1,000 actors, the
// overload consumer's 1 µs per message and mailbox of 1,024.
//
// Thread-safety: sizes() is set once by main() (or by a probe process from
// its command line) before any benchmark is registered, and only read after.

#include <cstdint>

namespace troupe::bench {

struct workload_sizes {
  // Task workloads (bench/runtime/scheduler_bench.cpp, bench/peers/{tbb,boost_fiber}_bench.cpp)
  std::int64_t switches;        // fiber.switch: switches per run
  std::int64_t spawn_joins;     // spawn.join: spawn+join pairs per run
  int fib_n;                    // fib, fib.cutoff16: fib(n)
  std::uint64_t skynet_leaves;  // skynet: leaves of the 10-ary tree, a power of 10
  // Actor workloads (bench/actors/actor_bench.cpp, bench/peers/caf_bench.cpp)
  std::int64_t ping_pong_rounds;   // actor.ping_pong: round trips per run
  std::int64_t spawn_actors;       // actor.spawn: actors spawned per run
  std::int64_t idle_actors;        // actor.spawn.idle_bytes: idle actors alive at once
  std::int64_t fan_out_messages;   // actor.fan_out: messages per run
  std::int64_t ring_hops;          // actor.ring: hops of the token per run
  std::int64_t overload_messages;  // actor.overload: messages the producer sends
  std::int64_t asks;               // actor.ask: round trips per run
};

inline constexpr workload_sizes full_sizes{
    .switches = 10'000'000,
    .spawn_joins = 1'000'000,
    .fib_n = 32,
    .skynet_leaves = 1'000'000,
    .ping_pong_rounds = 1'000'000,
    .spawn_actors = 1'000'000,
    .idle_actors = 1'000'000,
    .fan_out_messages = 10'000'000,
    .ring_hops = 10'000'000,
    .overload_messages = 10'000'000,
    .asks = 100'000,
};

inline constexpr workload_sizes quick_sizes{
    .switches = 1'000'000,
    .spawn_joins = 100'000,
    .fib_n = 27,
    .skynet_leaves = 100'000,
    .ping_pong_rounds = 100'000,
    .spawn_actors = 100'000,
    .idle_actors = 100'000,
    .fan_out_messages = 1'000'000,
    .ring_hops = 1'000'000,
    .overload_messages = 1'000'000,
    .asks = 10'000,
};

// The sizes of this run: full_sizes unless quick ones were selected.
const workload_sizes& sizes();
// Selects the sizes of this run (main() and probe processes only, before
// any benchmark is registered).
void select_sizes(bool quick);
// Whether quick sizes are selected (passed on to probe processes).
bool quick_sizes_selected();

// fib(n) by iteration: the result every fib implementation must return.
constexpr std::int64_t fib_result(int n) {
  std::int64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const std::int64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}
static_assert(fib_result(32) == 2'178'309 && fib_result(27) == 196'418);

// skynet's result: the sum of the leaf indices 0 .. leaves-1.
constexpr std::uint64_t skynet_result(std::uint64_t leaves) { return leaves * (leaves - 1) / 2; }
static_assert(skynet_result(1'000'000) == 499'999'500'000 && skynet_result(100'000) == 4'999'950'000);

}  // namespace troupe::bench
