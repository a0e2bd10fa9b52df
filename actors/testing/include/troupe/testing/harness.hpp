#pragma once
// A deterministic world for testing actor code: a driven runtime (no worker
// threads; the test's thread runs every item), a manual clock (time moves
// only when the test says so) and an actor system on them. Timers, ask
// deadlines, coroutine handlers, delays, breakers, retries and limiters all
// read that clock, so a test of a timeout takes no real time, and a test that
// something did not happen advances the clock past it instead of sleeping.
//
// With a seed, each step runs a runnable item picked at random from that
// seed: explore() runs a test body over many seeds to find an interleaving
// that breaks it, and the failing seed replays it exactly (trace() gives the
// same text, byte for byte).
//
//   troupe::testing::harness h;              // or harness({.seed = 42})
//   auto counter = h.system().spawn<counter_actor>();
//   auto reply = counter.ask(get_count{}, 1s);
//   EXPECT_EQ(h.await(std::move(reply)).value(), 0);
//   h.advance(5s);                           // timers due within 5 s fire, in order
//
// One thread uses a harness (the one that made it): it is the only thread
// that runs the runtime, so it must not block on it (a blocking get() throws
// error(would_deadlock)); use await() or run_until().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "troupe/actors/ask.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::testing {

struct harness_options {
  // 0: run items in the order they became runnable. Otherwise: pick each
  // step's item at random from this seed.
  std::uint64_t seed = 0;
  // Keep the step log that trace() returns.
  bool trace = true;
  // The actor system's options (its shutdown timeout is real time).
  system_options system{};
};

class harness {
 public:
  // Throws what the runtime or the system throws for bad options.
  explicit harness(const harness_options& options = {});
  // Shuts the system down (running what is left), then the runtime.
  ~harness();
  harness(const harness&) = delete;
  harness& operator=(const harness&) = delete;

  troupe::runtime& runtime() noexcept { return *runtime_; }
  troupe::actor_system& system() noexcept { return *system_; }
  troupe::manual_clock& clock() noexcept { return *clock_; }
  clock::time_point now() const noexcept { return clock_->now(); }
  std::uint64_t seed() const noexcept { return seed_; }

  // Runs what is runnable at the current time until nothing is; returns the
  // number of steps. Time does not move.
  std::size_t run_until_idle();
  // Runs one runnable item; false if there was none.
  bool step();
  // Moves time forward by d, stopping at each timer's deadline on the way to
  // run what became runnable (so a timer armed by a timer fires in order if
  // it is due within d); ends with run_until_idle() at now() + d.
  void advance(clock::duration d);
  // Runs, moving time to the next timer's deadline whenever nothing is
  // runnable, until done() is true (true), or nothing is runnable and no
  // timer is due within `limit` from now (false).
  bool run_until(const std::function<bool()>& done, clock::duration limit = std::chrono::hours(24));

  // Runs until the ask completes, moving time as needed (at the latest its
  // deadline ends it: actor_errc::timeout), and returns its result. An ask
  // without a deadline that nothing will answer throws
  // error(would_deadlock).
  template <class T>
  result<T> await(ask_future<T> f) {
    if (!run_until([&] { return f.is_ready(); }, clock::duration::max()) &&
        f.deadline() != clock::time_point::max()) {
      clock_->set(f.deadline());  // no timer watches a plain ask's deadline
      run_until_idle();
    }
    return f.get_result();
  }

  // The log of every step run so far: its number, the virtual time since
  // the first, what ran (an actor's turn names its class; events such as a
  // breaker's transitions and asks sent and completed follow on its line).
  std::string trace() const;

 private:
  std::uint64_t seed_;
  std::shared_ptr<troupe::manual_clock> clock_;
  std::unique_ptr<troupe::runtime> runtime_;
  std::unique_ptr<troupe::actor_system> system_;
};

// What explore() found.
struct exploration {
  std::size_t runs = 0;                       // seeds tried
  std::optional<std::uint64_t> failing_seed;  // the first seed whose run failed
  std::string failure;                        // its exception's what()
  std::string trace;                          // its harness's trace()
};

// Runs `body` on a fresh harness for seeds first, first+1, ... (count of
// them), stopping at the first whose body throws (a failed check should
// throw: a gtest body can use ASSERT_* inside a helper that throws, or
// return normally and be checked by the caller). Replay the failing seed
// with harness({.seed = *failing_seed}). Thread: the caller's.
exploration explore(std::uint64_t first, std::size_t count, const std::function<void(harness&)>& body,
                    const harness_options& base = {});

}  // namespace troupe::testing
