#pragma once
// The one source of time. A runtime is constructed with a clock (the steady
// clock by default) and everything that tells time reads it: sleeps, timed
// waits, ask deadlines, actor timers, supervisor backoff, the patterns. No
// other part of the library reads a clock of its own, so a test that hands a
// runtime a manual_clock controls time completely.
//
//   auto clk = std::make_shared<troupe::manual_clock>();
//   troupe::runtime rt({.workers = 2, .clock = clk});
//   ... clk->advance(5s);   // due timers fire, sleepers wake
//
// Time points are std::chrono::steady_clock::time_point for every clock, so
// deadlines keep one type; a manual clock's points are simply not related to
// the real steady clock.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace troupe {

namespace detail {
// Told when a virtual clock moves, so that timers due at the new time fire
// and workers parked without a timeout wake up.
class clock_listener {
 public:
  virtual void clock_advanced() noexcept = 0;

 protected:
  ~clock_listener() = default;
};
}  // namespace detail

class clock {
 public:
  using duration = std::chrono::steady_clock::duration;  // nanoseconds
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~clock() = default;
  clock(const clock&) = delete;
  clock& operator=(const clock&) = delete;

  // The current time. Thread-safe.
  virtual time_point now() const noexcept = 0;

  // True for a clock that moves only when told (manual_clock): waits on it
  // cannot be handed to the operating system as timeouts.
  bool is_virtual() const noexcept { return virtual_; }

  // t + d, saturated: a timeout too large to represent (hours::max()) gives
  // time_point::max(), which every API reads as "no deadline". Negative d
  // saturates at time_point::min(). Any thread.
  template <class Rep, class Period>
  static time_point after(time_point t, std::chrono::duration<Rep, Period> d) noexcept {
    using wide = std::chrono::duration<long double, std::nano>;
    // In long double: differences of extreme time points overflow int64.
    const long double want = wide(d).count();
    const long double at = wide(t.time_since_epoch()).count();
    const long double up = wide(time_point::max().time_since_epoch()).count() - at;
    const long double down = wide(time_point::min().time_since_epoch()).count() - at;
    if (!(want < up)) return time_point::max();  // also catches NaN
    if (!(want > down)) return time_point::min();
    return t + std::chrono::ceil<duration>(wide(want));
  }

  // Internal: the runtime subscribes while it uses a virtual clock.
  // Thread-safe.
  void subscribe(detail::clock_listener* l);
  void unsubscribe(detail::clock_listener* l) noexcept;

 protected:
  explicit clock(bool is_virtual) noexcept : virtual_(is_virtual) {}
  // Tells every subscriber that time moved. Call without holding locks the
  // subscribers could need.
  void notify_advanced() noexcept;

 private:
  const bool virtual_;
  mutable std::mutex listeners_mutex_;
  std::vector<detail::clock_listener*> listeners_;
};

// std::chrono::steady_clock: the default of every runtime.
class steady_time_source final : public clock {
 public:
  steady_time_source() noexcept : clock(false) {}
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told, for deterministic tests: timers and
// deadlines fire exactly when advance() passes them, never on their own.
// Starts at one hour past the steady clock's epoch, so that deadlines a
// little in the past stay representable.
class manual_clock final : public clock {
 public:
  explicit manual_clock(time_point start = time_point{} + std::chrono::hours(1)) noexcept
      : clock(true), now_ns_(start.time_since_epoch().count()) {}

  time_point now() const noexcept override {
    // acquire: pairs with advance(), so whoever sees the new time also sees
    // what the advancing thread did before.
    return time_point(duration(now_ns_.load(std::memory_order_acquire)));
  }
  // Moves time forward by d (d < 0 is ignored); due timers then fire on the
  // runtime's workers. Thread-safe.
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    if (d <= std::chrono::duration<Rep, Period>::zero()) return;
    set(after(now(), d));
  }
  // Moves time to t; a t earlier than now() is ignored (time never goes
  // back). Thread-safe.
  void set(time_point t) noexcept;

 private:
  std::atomic<duration::rep> now_ns_;
};

// The steady-clock source shared by every runtime built without a clock.
std::shared_ptr<clock> default_clock();

}  // namespace troupe
