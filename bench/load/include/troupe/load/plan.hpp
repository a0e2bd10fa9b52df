#pragma once
// The schedule of an open-loop run: when each request is meant to start.
//
//   auto p = troupe::load::plan::constant(1000, 10s);            // 1,000 req/s for 10 s
//   auto s = troupe::load::plan::spike(100, 100'000, 5s, 1s, 5s);  // 100 -> 100k -> 100 req/s
//   auto q = troupe::load::plan::poisson(1000, 10s, 42);          // Poisson arrivals, seed 42
//
// A plan is a list of stages (a rate held for a length of time) and an
// arrival process. Intended start times are offsets from the run's start,
// computed from the plan alone: never from when an earlier request ended,
// so the schedule does not slow down when the target does.
//
//   uniform arrivals: request k of a stage that starts at offset b with
//     rate r starts at b + round(k * 1e9 / r) ns, for every k whose offset
//     is before the stage's end. Each offset is computed from k, not by
//     adding periods, so rounding never accumulates.
//   Poisson arrivals: inter-arrival gaps are exponential with mean 1/r,
//     drawn from a std::mt19937_64 seeded with the plan's seed by inversion
//     (-log(1 - u) / r with u from the top 53 bits of one draw), so the same
//     seed gives the same times with any standard library. A gap that
//     crosses into the next stage restarts at that stage's start with the
//     new rate (the exponential is memoryless, so this is exactly a Poisson
//     process whose rate changes by stages).
//
// A stage with rate 0 is a pause. Thread safety: a plan is a value; a cursor
// belongs to one thread.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "troupe/runtime/clock.hpp"

namespace troupe::load {

using duration = troupe::clock::duration;  // nanoseconds (also in request.hpp)

struct stage {
  double rate = 0;    // requests per second, >= 0
  duration length{};  // > 0
};

enum class arrivals : std::uint8_t { uniform, poisson };

class plan {
 public:
  // Each throws troupe::error (invalid_argument) on a negative or non-finite
  // rate, a non-positive length, or no stage.
  static plan constant(double rate, duration length);
  // Stages one after another (a step: {{100, 5s}, {1000, 5s}}).
  static plan steps(std::vector<stage> stages);
  // `base` for `before`, `peak` for `length`, then `base` for `after` (a
  // zero `before` or `after` is left out).
  static plan spike(double base, double peak, duration before, duration length, duration after);
  // Constant rate, Poisson arrivals.
  static plan poisson(double rate, duration length, std::uint64_t seed);

  // The same stages with Poisson arrivals from `seed`.
  plan with_poisson_arrivals(std::uint64_t seed) const;

  const std::vector<stage>& stages() const noexcept { return stages_; }
  enum arrivals arrivals() const noexcept { return arrivals_; }
  std::uint64_t seed() const noexcept { return seed_; }
  // "constant", "step", "spike" or "poisson": how it was made (for reports).
  const std::string& kind() const noexcept { return kind_; }
  // Sum of the stages' lengths.
  duration length() const noexcept;
  // The rate of the stage that contains `offset` (0 outside the plan).
  double rate_at(duration offset) const noexcept;
  // Uniform arrivals: the exact number of requests. Poisson: the expected
  // number (sum of rate x length).
  double expected_requests() const noexcept;

  // Walks the intended start offsets in order. Not thread-safe.
  class cursor {
   public:
    // The next offset (from the run's start), or nullopt after the last.
    std::optional<duration> next();

   private:
    friend class plan;
    explicit cursor(const plan& p);
    void enter_stage(std::size_t i);

    const plan* plan_;
    std::size_t stage_ = 0;
    duration stage_begin_{};
    duration stage_end_{};
    std::uint64_t k_ = 0;         // uniform: index within the stage
    long double poisson_at_ = 0;  // Poisson: offset of the last arrival, in ns
    std::mt19937_64 rng_;
  };
  // A cursor at the first request. The plan must outlive it.
  cursor begin() const { return cursor(*this); }

 private:
  plan() = default;
  static void check(const std::vector<stage>& stages, const char* who);

  std::vector<stage> stages_;
  enum arrivals arrivals_ = arrivals::uniform;
  std::uint64_t seed_ = 0;
  std::string kind_;
};

}  // namespace troupe::load
