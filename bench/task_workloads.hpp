#pragma once
// Sizes and expected results of the task workloads of docs/benchmarks.md,
// shared by troupe's and every peer's implementation so they cannot drift
// apart. The sizes themselves are in workload_sizes.hpp (full and quick).

#include <cstdint>

#include "workload_sizes.hpp"

namespace troupe::bench {

inline constexpr int kFibCutoff = 16;  // fib.cutoff16: serial below n < 16, in both size sets

// fib(n) computed serially: fib.cutoff16's leaves, one function for every
// system (task_workloads.cpp says why). Any thread.
long serial_fib(int n);

inline std::int64_t switches() { return sizes().switches; }        // fiber.switch
inline std::int64_t spawn_joins() { return sizes().spawn_joins; }  // spawn.join
inline int fib_n() { return sizes().fib_n; }                       // fib, fib.cutoff16
inline long fib_expected() { return static_cast<long>(fib_result(sizes().fib_n)); }
inline std::uint64_t skynet_leaves() { return sizes().skynet_leaves; }
inline std::uint64_t skynet_expected() { return skynet_result(sizes().skynet_leaves); }

}  // namespace troupe::bench
