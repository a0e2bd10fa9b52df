#pragma once
// Seedable random sources for the patterns: jitter, random and p2c picks,
// slow-start admission. Every pattern takes its randomness from one of these,
// never from std::random_device or a global generator, so a test that fixes
// the seed gets the same decisions every run.
//
// Both generators are SplitMix64 (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): the state is a counter that
// advances by a fixed odd constant, and each output is a bijective mix of the
// counter. That makes it the one well-known generator whose state update is a
// single addition, so it can be shared between threads with one fetch_add and
// no lock (shared_random_source). It passes BigCrush; its period of 2^64 and
// 64-bit outputs are more than jitter and load balancing need. Both classes
// are UniformRandomBitGenerators, so <random>'s distributions work on them.

#include <atomic>
#include <cstdint>
#include <limits>

namespace troupe::patterns {

namespace detail {
__extension__ typedef unsigned __int128 uint128;  // GCC and Clang; __extension__ keeps -Wpedantic quiet

inline constexpr std::uint64_t splitmix_gamma = 0x9e3779b97f4a7c15ULL;

constexpr std::uint64_t splitmix_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) from the top 53 bits.
constexpr double to_unit(std::uint64_t x) noexcept { return static_cast<double>(x >> 11) * 0x1.0p-53; }

// A uniform integer in [0, n) from x, by Lemire's multiply-shift ("Fast
// random integer generation in an interval", 2019) without the rejection
// step: the bias is at most n / 2^64, far below anything a balancer or a
// jitter can show, and it keeps below() branch-free. n == 0 gives 0.
constexpr std::uint64_t scale_below(std::uint64_t x, std::uint64_t n) noexcept {
  return static_cast<std::uint64_t>((static_cast<uint128>(x) * n) >> 64);
}
}  // namespace detail

// A generator owned by one caller. Not thread-safe: one per thread, per actor
// or per request (copying one forks an identical stream; use split() for an
// independent one).
class random_source {
 public:
  using result_type = std::uint64_t;

  explicit constexpr random_source(std::uint64_t seed = 0) noexcept : state_(seed) {}

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  constexpr result_type operator()() noexcept {
    state_ += detail::splitmix_gamma;
    return detail::splitmix_mix(state_);
  }
  // Uniform in [0, 1).
  constexpr double uniform() noexcept { return detail::to_unit((*this)()); }
  // Uniform in [0, n); 0 when n == 0.
  constexpr std::uint64_t below(std::uint64_t n) noexcept { return detail::scale_below((*this)(), n); }
  // An independent generator seeded from this one's next output.
  constexpr random_source split() noexcept {
    return random_source(detail::splitmix_mix((*this)() ^ 0x5851f42d4c957f2dULL));
  }

 private:
  std::uint64_t state_;
};

// The same generator shared by many threads: each draw is one fetch_add on
// the counter, so draws never repeat or get lost, and with one thread (or a
// fixed interleaving) the sequence equals random_source's for the same seed.
// Thread-safe, lock-free. Under contention the counter's cache line moves
// between cores on every draw; give each thread its own random_source where
// a hot path allows it.
class shared_random_source {
 public:
  using result_type = std::uint64_t;

  explicit shared_random_source(std::uint64_t seed = 0) noexcept : state_(seed) {}

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    // relaxed: the counter is the whole state and publishes nothing else;
    // atomicity alone makes every draw take a distinct counter value.
    return detail::splitmix_mix(state_.fetch_add(detail::splitmix_gamma, std::memory_order_relaxed) +
                                detail::splitmix_gamma);
  }
  double uniform() noexcept { return detail::to_unit((*this)()); }
  std::uint64_t below(std::uint64_t n) noexcept { return detail::scale_below((*this)(), n); }
  // An independent single-owner generator, e.g. one per worker thread.
  random_source split() noexcept {
    return random_source(detail::splitmix_mix((*this)() ^ 0x5851f42d4c957f2dULL));
  }

 private:
  std::atomic<std::uint64_t> state_;
};

}  // namespace troupe::patterns
