#pragma once
// The load generator: drives a target (request.hpp) open-loop from a plan,
// or closed-loop with N workers for comparison, and reports.
//
//   using namespace std::chrono_literals;
//   namespace load = troupe::load;
//   load::result r = load::run(load::open_loop{load::plan::constant(1000, 10s)}, my_target,
//                              {.timeout = 1s, .progress = &std::cerr});
//   load::write_json(r, file);
//
// Open loop (docs/design/load.md): request k is issued at its intended start
// time from the plan, whether or not earlier requests have ended, and its
// latency is measured from that intended time. When the issuer cannot keep
// up (a slow machine, a target that blocks the driving thread) it issues the
// overdue requests as fast as it can, still stamped with their intended
// times, so the backlog shows up as latency, and the report says how far
// behind it got. Nothing the target does slows the schedule.
//
// Closed loop: N workers, each sending its next request when its previous
// one ends (optionally no sooner than its pacing slot), latency measured from
// the actual send. This is what most load tools do and it omits exactly the
// requests that would have seen a stall ("coordinated omission"); it is here
// to show the difference, and every report of it says "closed-loop".
//
// Driving: run() drives on the calling thread until every request has ended.
// Time comes from the options' clock. With a real clock, run() sleeps (or
// spins, for gaps below spin_below) until the next due time, and wakes early
// when a completion arrives that it is waiting for. With a virtual clock
// (troupe::manual_clock), run() moves the clock itself from one due time to
// the next, which suits targets that complete inline or never; a simulation
// whose target completes from its own events drives the generator with
// start()/poll() instead, advancing the clock between polls.
//
// The generator itself is not thread-safe: one thread drives it (run or
// poll). Completions (request::done) may come from any thread at any time,
// even after the generator is gone.

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <variant>

#include "troupe/load/plan.hpp"
#include "troupe/load/report.hpp"
#include "troupe/load/request.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::load {

namespace detail {
class engine;
}  // namespace detail

struct open_loop {
  plan schedule;
};

struct closed_loop {
  std::uint32_t workers = 1;  // > 0
  duration length{};          // > 0: no request is sent after it
  // Pacing, requests per second over all workers (each worker: rate/workers,
  // and a missed slot is never made up: a worker whose request took longer
  // sends the next one at once). 0: each worker sends as soon as its
  // previous request ends.
  double rate = 0;
};

struct run_options {
  // Per request: the generator gives up `timeout` after sending it, and
  // counts it as timed out at that time. > 0.
  duration timeout = std::chrono::seconds(1);
  // Length of a report interval. > 0.
  duration interval = std::chrono::seconds(1);
  // The source of time; null: the steady clock (troupe::default_clock()).
  std::shared_ptr<troupe::clock> clock{};
  // Called on the driving thread as each interval closes.
  std::function<void(const interval_report&)> on_interval{};
  // If set, run() keeps one progress line on it, rewritten in place with
  // '\r' about every `progress_every` (and cleared before on_interval runs
  // and at the end). Must outlive the run.
  std::ostream* progress = nullptr;
  duration progress_every = std::chrono::milliseconds(250);
  // If set, every interval's latency histogram is appended to it as an
  // HdrHistogram interval log (HistogramLogAnalyzer reads it; values in ns).
  // Must outlive the run.
  std::ostream* hdr_log = nullptr;
  // run() with a real clock spins (instead of sleeping) when the next due
  // time is closer than this: a sleep overshoots by tens of microseconds,
  // which would show up as issuer lag.
  duration spin_below = std::chrono::microseconds(100);
  // The most requests one poll() issues before it accounts completions,
  // gives up overdue requests and closes intervals. > 0.
  std::uint32_t max_batch = 1024;
};

class generator {
 public:
  // Throws troupe::error (invalid_argument) on bad options, an empty target,
  // or zero workers. Sends nothing yet.
  generator(open_loop cfg, target t, run_options opts = {});
  generator(closed_loop cfg, target t, run_options opts = {});
  ~generator();
  generator(generator&&) noexcept;
  generator& operator=(generator&&) noexcept;

  // Runs the whole load on the calling thread and returns the result. Call
  // once, instead of the step-wise calls below. Throws troupe::error
  // (invalid_argument) with a virtual clock that is not a manual_clock, or
  // if a virtual run could only go on by waiting for a completion (nothing
  // due and requests in flight that never time out).
  result run();

  // --- Step-wise driving (a simulation, or the caller's own event loop).
  // Driving thread only.

  // Starts the run at the clock's current time (poll() does it if needed).
  void start();
  // Does everything due at the clock's current time: accounts completions,
  // gives up overdue requests, issues due requests, closes intervals. Returns
  // when it next has something to do; it also has something to do as soon as
  // a completion arrives while in_flight() > 0. Returns time_point::max()
  // when only completions can move it on, and the current time when it
  // stopped at max_batch with more due.
  troupe::clock::time_point poll();
  // True once every request has ended and been accounted, and the plan (or
  // the closed loop's length) is over.
  bool done() const noexcept;
  // Issued and not yet accounted.
  std::uint64_t in_flight() const noexcept;
  // The result, once done(). Throws troupe::error (invalid_argument) before.
  result take_result();

  // The one progress line run() shows (no '\r'): mode, time, counts, rate,
  // last interval's p99, how far behind.
  std::string progress_line() const;

 private:
  std::unique_ptr<detail::engine> engine_;
};

// Shorthands: generator(cfg, std::move(t), opts).run().
result run(open_loop cfg, target t, run_options opts = {});
result run(closed_loop cfg, target t, run_options opts = {});

}  // namespace troupe::load
