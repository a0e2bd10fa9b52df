#pragma once
// Adaptive concurrency limits (Netflix concurrency-limits: AIMD and
// Gradient2) and a limiter that admits requests up to the current limit and
// sheds the rest at once with errc::overloaded, critical requests last.
//
// A limit algorithm learns from samples (round-trip time, requests in flight
// when the request started, whether it was dropped: timed out or refused
// downstream) and exposes current(). The limiter keeps the in-flight count
// and feeds the algorithm as requests complete.
//
// Priority classes: each class may fill only its fraction of the limit
// (by default critical 100%, normal 80%, best effort 60%), so as load rises
// best-effort requests are shed first and the last stretch of the limit is
// kept for critical ones. The critical reserve (20%) is larger than one AIMD
// decrease (10%), so one decrease does not leave the normal traffic already
// in flight above the new limit and shed every critical request until it
// drains.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "troupe/patterns/outcome.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::patterns {

enum class priority : std::uint8_t { critical, normal, best_effort };
inline constexpr std::size_t priority_count = 3;
const char* to_string(priority p) noexcept;

struct limit_sample {
  clock::time_point start{};  // when the request was admitted
  clock::duration rtt{};
  std::uint32_t in_flight = 0;  // requests in flight when this one started (itself included)
  bool dropped = false;         // timed out, or refused as overloaded downstream
};

// Additive increase, multiplicative decrease (Netflix AIMDLimit): a drop, or
// an rtt above `timeout`, multiplies the limit by `backoff_ratio`; any other
// sample adds one, but only while the limit is in use (in_flight at least
// half of it), so an idle service does not grow a limit it never tested.
// Unlike Netflix's, it backs off at most once per congestion episode, as TCP
// does once per window: a drop of a request admitted before the last
// decrease is already accounted for. Otherwise the burst of late answers
// that one overload produces multiplies the limit by 0.9 for each of them
// and collapses it to the minimum.
struct aimd_config {
  std::uint32_t initial = 20;
  std::uint32_t min = 1;
  std::uint32_t max = 1000;
  double backoff_ratio = 0.9;  // (0, 1)
  clock::duration timeout = std::chrono::seconds(5);
};

// Thread-safe, lock-free.
class aimd_limit {
 public:
  explicit aimd_limit(const aimd_config& cfg = {});
  // relaxed: the limit is a lone value; admissions need nothing else to agree with it.
  std::uint32_t current() const noexcept { return limit_.load(std::memory_order_relaxed); }
  void on_sample(const limit_sample& s) noexcept;

 private:
  aimd_config cfg_;
  std::atomic<std::uint32_t> limit_;
  // When the last decrease happened (ns since the clock's epoch). relaxed: a
  // lone value; two samples racing over it can at worst both decrease.
  std::atomic<clock::duration::rep> decreased_at_;
};

// Gradient (Netflix GradientLimit / Gradient2Limit): compares a baseline rtt
// with the latest one. gradient = clamp(tolerance * baseline / rtt, 0.5, 1),
// or 0.5 for a drop; the new limit is limit * gradient + queue_size,
// smoothed by `smoothing`. Rising latency (queueing) shrinks the limit by up
// to half per sample; latency near the baseline lets it grow by the queue
// allowance. As in Netflix's, the limit does not grow while under half used.
//
// The baseline is the minimum rtt over the last `baseline_window` samples
// (a ring of 10 bucket minima, O(1)), like Gradient v1's rtt_noload and
// BBR's windowed min_rtt, not Gradient2's long-term average: under sustained
// overload that average follows the queueing delay up, the gradient stays
// near 1, and the limit grows until requests time out (measured in
// limits_test's simulated 2x overload before this choice: about 20% of
// critical requests failed that way). A
// minimum keeps measuring the service without the queue, as long as some
// requests still find no queue, which the limit itself ensures.
struct gradient_config {
  std::uint32_t initial = 20;
  std::uint32_t min = 1;
  std::uint32_t max = 1000;
  double smoothing = 0.2;
  double rtt_tolerance = 1.5;
  std::uint32_t baseline_window = 1000;  // samples; >= 10
  double queue_size = 4;
};

// Thread-safe: current() lock-free, on_sample under a short spinlock (it
// updates the baseline and the limit together).
class gradient_limit {
 public:
  explicit gradient_limit(const gradient_config& cfg = {});
  // relaxed: the limit is a lone value; admissions need nothing else to agree with it.
  std::uint32_t current() const noexcept { return limit_.load(std::memory_order_relaxed); }
  void on_sample(const limit_sample& s) noexcept;
  clock::duration baseline_rtt() const noexcept;

 private:
  static constexpr std::size_t kBuckets = 10;
  double baseline_locked() const noexcept;

  gradient_config cfg_;
  mutable troupe::detail::spinlock lock_;
  double estimate_;                      // under lock_
  std::array<double, kBuckets> minima_;  // under lock_: ns, +inf when empty
  std::size_t bucket_ = 0;               // under lock_
  std::uint32_t in_bucket_ = 0;          // under lock_
  std::atomic<std::uint32_t> limit_;     // written under lock_, read lock-free
};

// A limit that never changes, for tests and for a fixed bulkhead-like cap.
class fixed_limit {
 public:
  explicit fixed_limit(std::uint32_t n) : n_(n) {}
  std::uint32_t current() const noexcept { return n_; }
  void on_sample(const limit_sample&) noexcept {}

 private:
  std::uint32_t n_;
};

struct limiter_config {
  // The fraction of the limit each class may fill: critical, normal, best effort.
  std::array<double, priority_count> admit_fraction{1.0, 0.8, 0.6};
};

struct limiter_counters {
  std::array<std::uint64_t, priority_count> admitted{};
  std::array<std::uint64_t, priority_count> shed{};
};

// Admits requests while in-flight < limit * fraction(class), sheds the rest.
// Limit: aimd_limit, gradient_limit, fixed_limit or anything with
// current() and on_sample(). Thread-safe; lock-free admission (one CAS loop
// on the in-flight count, so the bound is exact under any race).
template <class Limit>
class concurrency_limiter {
 public:
  // One admitted request. Move-only; complete() it, or its destructor
  // releases it without a sample.
  class ticket {
   public:
    ticket() = default;
    ticket(ticket&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), start_(o.start_), in_flight_(o.in_flight_) {}
    ticket& operator=(ticket&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        start_ = o.start_;
        in_flight_ = o.in_flight_;
      }
      return *this;
    }
    ~ticket() { release(); }
    explicit operator bool() const noexcept { return owner_ != nullptr; }

    // The request ended at `now`: success teaches the limit its rtt;
    // timeout and overloaded teach it a drop; other outcomes teach nothing.
    void complete(outcome o, clock::time_point now) noexcept {
      if (!owner_) return;
      if (o == outcome::success || o == outcome::timeout || o == outcome::overloaded)
        owner_->limit_.on_sample({start_, now - start_, in_flight_, o != outcome::success});
      release();
    }
    void release() noexcept {
      // relaxed: the count is a lone value; try_acquire's CAS bounds it.
      if (owner_) std::exchange(owner_, nullptr)->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    }

   private:
    friend class concurrency_limiter;
    concurrency_limiter* owner_ = nullptr;
    clock::time_point start_{};
    std::uint32_t in_flight_ = 0;
  };

  // The limit is built in place from `limit_arg` (an aimd_config, a
  // gradient_config, a number for fixed_limit).
  template <class LimitArg>  // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): not copyable (atomics)
  explicit concurrency_limiter(LimitArg&& limit_arg, limiter_config cfg = {})
      : limit_(std::forward<LimitArg>(limit_arg)), cfg_(cfg) {
    for (double f : cfg_.admit_fraction)
      if (!(f > 0 && f <= 1)) throw std::invalid_argument("concurrency_limiter: admit fractions in (0, 1]");
  }
  concurrency_limiter(const concurrency_limiter&) = delete;
  concurrency_limiter& operator=(const concurrency_limiter&) = delete;

  // An empty ticket means shed: answer errc::overloaded at once.
  ticket try_acquire(priority p, clock::time_point now) noexcept {
    const auto c = static_cast<std::size_t>(p);
    const auto cap =
        static_cast<std::uint32_t>(static_cast<double>(limit_.current()) * cfg_.admit_fraction[c]);
    // relaxed: the count is a lone value; the CAS alone makes the bound exact.
    std::uint32_t n = in_flight_.load(std::memory_order_relaxed);
    while (n < std::max<std::uint32_t>(cap, p == priority::critical ? 1u : 0u)) {
      if (in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
        admitted_[c].fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        ticket t;
        t.owner_ = this;
        t.start_ = now;
        t.in_flight_ = n + 1;
        return t;
      }
    }
    shed_[c].fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return {};
  }

  // relaxed throughout: lone counts and statistics.
  std::uint32_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  const Limit& limit() const noexcept { return limit_; }
  limiter_counters counters() const noexcept {
    limiter_counters c;
    for (std::size_t i = 0; i < priority_count; ++i) {
      c.admitted[i] = admitted_[i].load(std::memory_order_relaxed);
      c.shed[i] = shed_[i].load(std::memory_order_relaxed);
    }
    return c;
  }

 private:
  Limit limit_;
  limiter_config cfg_;
  std::atomic<std::uint32_t> in_flight_{0};
  std::array<std::atomic<std::uint64_t>, priority_count> admitted_{}, shed_{};
};

}  // namespace troupe::patterns
