#pragma once
// What a run reports: one interval_report per interval (default 1 s) while
// it runs, and a result at the end, which can be written as JSON or printed.
// How to read them: docs/design/load.md, "Reading the report".
//
// Counting rules (the same for intervals and totals):
//   offered    requests issued. Open loop: by intended start time, so an
//              interval's offered is the plan's rate x its length even when
//              the issuer fell behind. Closed loop: by send time.
//   ok, failed, shed, rejected, timed_out
//              requests that ended, by the time they ended (a completion's
//              time, or the deadline for one given up). Each request is in
//              exactly one of these buckets, exactly once.
//   completed  ok + failed + shed + rejected + timed_out.
//   latency    every ended request, whatever its outcome, from its intended
//              start (open loop) or its send (closed loop) to its end: a
//              request given up is recorded at its deadline, never skipped.
// Over a whole run, offered == completed (every request ends: a completion
// that never comes is given up at the deadline).
//
// All durations are nanoseconds. Reports are values: thread safety is the
// caller's.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "troupe/load/outcome.hpp"
#include "troupe/load/plan.hpp"
#include "troupe/runtime/histogram.hpp"

namespace troupe::load {

enum class mode : std::uint8_t { open_loop, closed_loop };
// "open-loop" or "closed-loop": the label every report carries.
const char* to_string(mode m) noexcept;

// The histogram every latency is recorded in: values in ns, 1 µs to 1 h, 3
// significant digits (HdrHistogram's parameters 1000, 3.6e12, 3). Values
// below 1 µs are kept (in the first slot, 0 .. 511 ns); values above 1 h
// are clamped and counted in clamped(). Thread-safe.
troupe::histogram make_latency_histogram();

struct counts {
  std::uint64_t offered = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;     // outcome::error, and abandoned requests
  std::uint64_t shed = 0;       // outcome::overloaded
  std::uint64_t rejected = 0;   // outcome::rejected (circuit open)
  std::uint64_t timed_out = 0;  // outcome::timeout, and requests given up at their deadline
  std::uint64_t completed() const noexcept { return ok + failed + shed + rejected + timed_out; }
  counts& operator+=(const counts& o) noexcept;
  friend bool operator==(const counts&, const counts&) = default;
};

// Percentiles of a latency histogram, in ns (HdrHistogram's definition; 0 if
// the histogram is empty).
struct latency_summary {
  std::uint64_t count = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double mean = 0;
  static latency_summary of(const troupe::histogram& h);
};

struct interval_report {
  std::uint64_t index = 0;  // 0, 1, 2, ...
  duration start{};         // from the run's start
  duration length{};        // the run's interval; the last one may be shorter
  double target_rate = 0;   // the plan's rate at the interval's start (closed loop: its pacing rate, or 0)
  counts n;
  latency_summary latency;
  std::uint64_t given_up = 0;   // of timed_out: given up by the generator at the deadline
  std::uint64_t late = 0;       // of given_up: whose completion did come, after the deadline
  std::uint64_t abandoned = 0;  // of failed: completions destroyed without being called
  std::uint64_t in_flight = 0;  // issued and not yet ended when the interval closed
  // Open loop: how late the issuer sent this interval's requests at worst
  // (send - intended start), and how far behind its schedule it was when the
  // interval closed. 0 in closed loop.
  duration max_lag{};
  duration behind{};
};

struct closed_loop_config {
  std::uint32_t workers = 1;
  duration length{};
  double rate = 0;  // pacing, requests per second over all workers; 0: none
};

struct result {
  enum mode mode = mode::open_loop;
  std::optional<plan> schedule;              // open loop
  std::optional<closed_loop_config> closed;  // closed loop
  duration timeout{};
  duration interval{};
  std::chrono::system_clock::time_point started_at;  // wall time of the start
  duration elapsed{};  // from the start to the end of the last request (or the plan's end, if later)
  std::vector<interval_report> intervals;
  counts total;
  std::uint64_t given_up = 0, late = 0, abandoned = 0;
  // Completions that came after the generator had given up and accounted the
  // request, counted until the run ended (already in `late`).
  troupe::histogram latency = make_latency_histogram();
  // Open loop: send - intended start of every request (how late the issuer
  // was). Empty in closed loop.
  troupe::histogram issuer_lag = make_latency_histogram();
  // Time the driving thread spent working (issuing, accounting, reporting),
  // as opposed to waiting for the next due time: the generator's own cost.
  duration busy{};
};

// --- JSON (docs/design/load.md has the schema). Thread-safe.

// {"mode": "open-loop" | "closed-loop", "plan" | "closed_loop": {...},
//  "timeout_ns", "interval_ns", "started_at", "elapsed_ns", "busy_ns",
//  "intervals": [{...}], "totals": {...}, "issuer_lag_ns": {...},
//  "latency_histogram": <troupe::to_json of the histogram>}.
// `indent` < 0: one line.
std::string to_json(const result& r, int indent = 2);
// The same, written to `out`.
void write_json(const result& r, std::ostream& out, int indent = 2);

// --- Text, for a terminal. Thread-safe.

// Human-readable duration: "512ns", "12.3µs", "4.56ms", "1.23s".
std::string format_duration(duration d);
// The column header of interval lines, with the mode label on its own line
// above it (a closed-loop header says what it hides).
std::string format_interval_header(enum mode m);
// One line per interval, under format_interval_header().
std::string format_interval(const interval_report& r);
// The end-of-run summary: totals, percentiles, issuer lag, mode label.
std::string format_summary(const result& r);

}  // namespace troupe::load
