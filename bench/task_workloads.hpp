#pragma once
// Sizes and expected results of the task workloads of BENCHMARKS.md, shared
// by troupe's and every peer's implementation so they cannot drift apart.

#include <cstdint>

namespace troupe::bench {

inline constexpr long kSwitches = 10'000'000;       // fiber.switch
inline constexpr int kSpawnJoins = 1'000'000;       // spawn.join
inline constexpr int kFibN = 32;                    // fib
inline constexpr long kFibResult = 2'178'309;       // fib(32)
inline constexpr int kFibCutoff = 16;               // fib.cutoff16: serial below n < 16
inline constexpr std::uint64_t kSkynetLeaves = 1'000'000;
inline constexpr std::uint64_t kSkynetResult = 499'999'500'000;

}  // namespace troupe::bench
