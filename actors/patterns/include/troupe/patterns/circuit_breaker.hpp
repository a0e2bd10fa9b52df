#pragma once
// The circuit breaker's core: decides whether a call may go, learns from how
// calls end, and moves between states. It knows nothing of actors; the
// wrapper asks try_acquire before sending, replies errc::circuit_open
// (or the fallback) when refused, and reports every permitted call's end with
// record().
//
//   closed ──trip──▶ open ──open period over (next acquire)──▶ half_open
//      ▲                ▲                                          │
//      └─N probes succeed─┴──────────── a probe fails ◀────────────┘
//   disabled (everything passes, nothing counted), forced_open (everything
//   refused): entered and left only by disable(), force_open(), reset().
//
// Trip conditions, any combination (the first that holds trips): consecutive
// failures; failure rate over the sliding window; slow-call rate over the
// window. Each has its own minimum number of calls before it may trip. What
// counts as a failure comes from the config's failure_classifier (by default
// "overloaded" and "circuit_open" are ignored).
//
// Open: every call is refused at once, without the lock. The open period
// starts at `open.base`, grows by `open.multiplier` with each consecutive
// trip (a failed half-open counts as one) up to `open.cap`, and is shortened
// by a random fraction up to `open.jitter`, so that breakers that tripped
// together do not probe together. It resets when the breaker closes.
//
// Half-open: exactly `half_open_probes` probe permits are handed out, each
// with its own deadline; every other call is refused. N successful probes
// close the breaker; one failed (or, with a slow-call condition, slow) probe
// opens it again. A probe that has not reported by its deadline is recorded
// as outcome::timeout at the next acquire or record after the deadline (an
// O(1) check of the earliest deadline), so a lost probe never keeps the
// breaker half-open (resilience4j issue #903). A probe whose outcome is
// ignored frees its slot for another probe.
//
// Thread-safety: every member function is thread-safe. try_acquire in the
// closed state (and a refusal while open) reads one atomic word and takes no
// lock. record() and the half-open path take a short spinlock: a record
// changes the window, the counters and maybe the state together, and one
// uncontended lock is cheaper than the three or four atomic RMWs a lock-free
// window would need. Nothing under the lock blocks or allocates.
//
// Time comes only from the `now` arguments (troupe::clock time points);
// randomness (the jitter) from a random_source seeded by the config.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "troupe/patterns/detail/sliding_window.hpp"
#include "troupe/patterns/detail/time.hpp"
#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::patterns {

enum class breaker_state : std::uint8_t { closed, open, half_open, disabled, forced_open };
inline constexpr std::size_t breaker_state_count = 5;
const char* to_string(breaker_state s) noexcept;

enum class transition_reason : std::uint8_t {
  consecutive_failures,  // closed -> open
  failure_rate,          // closed -> open
  slow_call_rate,        // closed -> open
  open_elapsed,          // open -> half_open
  probe_failed,          // half_open -> open: a probe reported a failure (or was slow)
  probe_timed_out,       // half_open -> open: a probe did not report by its deadline
  probes_succeeded,      // half_open -> closed
  forced_open,           // force_open()
  disabled,              // disable()
  reset,                 // reset()
};
const char* to_string(transition_reason r) noexcept;

// One state change, as listeners see it.
struct breaker_transition {
  breaker_state from;
  breaker_state to;
  transition_reason reason;
  std::uint64_t sequence;      // 1 for the first transition, then 2, 3, ...: no gaps, no repeats
  clock::time_point at;        // the `now` of the call that made the change
  clock::duration open_for{};  // to == open: the (jittered) open period
};

// Trip when `threshold` counted calls in a row failed, once at least
// `min_calls` counted calls were made since the breaker last closed.
struct consecutive_failures_trip {
  std::uint32_t threshold = 5;
  std::uint32_t min_calls = 0;
};

// Trip when failures / calls in the window reach `threshold` (0..1), once
// the window holds at least `min_calls` counted calls (for a count window at
// most its size).
struct failure_rate_trip {
  double threshold = 0.5;
  std::uint32_t min_calls = 20;
};

// A call whose latency is at least `slow_after` is slow, whether it failed or
// not. Trip when slow / calls in the window reach `threshold`, once the
// window holds at least `min_calls` counted calls.
struct slow_call_trip {
  double threshold = 0.5;
  clock::duration slow_after = std::chrono::seconds(1);
  std::uint32_t min_calls = 20;
};

// Open period after the k-th consecutive trip (k = 1, 2, ...):
//   min(cap, base * multiplier^(k-1)) * (1 - jitter * u), u uniform in [0, 1).
// The jitter only shortens, so the cap holds.
struct open_backoff {
  clock::duration base = std::chrono::seconds(5);
  clock::duration cap = std::chrono::minutes(5);
  double multiplier = 2.0;
  double jitter = 0.2;  // 0..1
};

struct circuit_breaker_config {
  std::optional<consecutive_failures_trip> consecutive_failures;
  std::optional<failure_rate_trip> failure_rate = failure_rate_trip{};
  std::optional<slow_call_trip> slow_calls;
  window_config window{};
  open_backoff open{};
  std::uint32_t half_open_probes = 1;  // 1..64
  failure_classifier classify{};
  std::uint64_t seed = 0x7b1d5c3e9a2f4681ULL;  // of the open-period jitter
};

// Counters since construction. Each is read on its own (relaxed), so a
// snapshot taken while calls run may be a few calls out of step between
// fields.
struct breaker_counters {
  std::uint64_t calls = 0;  // permitted calls whose outcome was recorded (stale ones excluded)
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::uint64_t ignored = 0;
  std::uint64_t slow = 0;            // counted calls at or above slow_after
  std::uint64_t rejected = 0;        // try_acquire refusals
  std::uint64_t stale = 0;           // records that arrived after the state they were permitted in
  std::uint64_t probe_timeouts = 0;  // probes recorded as timeout at their deadline
  std::array<std::uint64_t, breaker_state_count> entered{};  // transitions into each state
};

class circuit_breaker {
 public:
  // The answer of try_acquire. Pass it back to record() when the call ends.
  class permit {
   public:
    permit() noexcept = default;
    explicit operator bool() const noexcept { return kind_ != kind::refused; }
    bool is_probe() const noexcept { return kind_ == kind::probe; }

   private:
    friend class circuit_breaker;
    enum class kind : std::uint8_t { refused, call, probe, passthrough };
    std::uint64_t sequence_ = 0;  // the state word's transition count when issued
    std::uint32_t slot_seq_ = 0;  // probe: which issue of the slot
    std::uint8_t slot_ = 0;       // probe: the slot
    kind kind_ = kind::refused;
  };

  using listener = std::function<void(const breaker_transition&)>;

  // Throws std::invalid_argument for an invalid config (thresholds outside
  // 0..1, half_open_probes outside 1..64, a cap below the base...).
  explicit circuit_breaker(circuit_breaker_config cfg = {});
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  // May a call go now? Closed or disabled: yes. Open: no, until the open
  // period ends, when the first caller moves the breaker to half-open and
  // becomes a probe. Half-open: yes for a free probe slot, which must report
  // by `probe_deadline`. Thread-safe; lock-free when closed, disabled, open
  // or forced open.
  permit try_acquire(clock::time_point now, clock::time_point probe_deadline);

  // How the call of `p` ended, after `latency`. A refused permit, or one
  // issued before the breaker's latest transition, changes nothing but the
  // `stale` counter. May make a transition (and call the listeners, on this
  // thread, after the lock is released). Thread-safe.
  void record(const permit& p, outcome o, clock::duration latency, clock::time_point now);

  // The current time, read only when asked (a clock read is ~45 ns on a VM,
  // a good part of an ask's round trip).
  struct time_source {
    clock::time_point (*read)(const void* ctx) noexcept;
    const void* ctx;
    clock::time_point operator()() const noexcept { return read(ctx); }
  };
  // As record(p, o, now() - started, now()), reading the time only when the
  // breaker needs it: for a slow-call condition (the latency), a time-based
  // window, a probe, or a transition. So the common case, a call recorded
  // by a closed breaker with a count window and no slow-call condition,
  // reads no clock unless it trips the breaker. Thread-safe.
  void record(const permit& p, outcome o, clock::time_point started, time_source now);

  // Operator controls. force_open and disable are transitions unless the
  // breaker is already there; reset is always one (closed -> closed too),
  // clearing the window, the backoff and any probes. Thread-safe.
  void force_open(clock::time_point now);
  void disable(clock::time_point now);
  void reset(clock::time_point now);

  // The state as of the last call: an open breaker whose period has passed
  // still says open until a call moves it. Thread-safe, lock-free.
  breaker_state state() const noexcept;
  // When the current open period ends (meaningful while open).
  clock::time_point open_until() const noexcept;

  // Listeners are called once per transition, synchronously on the thread
  // that made it, with no breaker lock held. Transitions made on different
  // threads may reach a listener concurrently or out of order: `sequence`
  // orders them. A listener may call the breaker. Thread-safe; returns an id
  // for unsubscribe.
  std::uint64_t subscribe(listener l);
  bool unsubscribe(std::uint64_t id);

  breaker_counters counters() const noexcept;
  const circuit_breaker_config& config() const noexcept { return cfg_; }

 private:
  struct counter {
    std::atomic<std::uint64_t> n{0};
    // Under lock_ only: every other writer of this counter holds the lock,
    // so a plain load and store cannot lose an increment (no RMW needed);
    // relaxed, because readers want the number, nothing published with it.
    void bump_locked() noexcept { n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  };
  struct probe_slot {
    clock::time_point deadline{};
    std::uint32_t seq = 0;
  };
  struct pending_events {
    std::array<breaker_transition, 3> ev{};
    std::size_t n = 0;
  };
  static constexpr std::uint64_t kStateBits = 3;
  static constexpr std::uint64_t kStateMask = (1u << kStateBits) - 1;

  permit acquire_slow(clock::time_point now, clock::time_point probe_deadline);
  void transition_locked(breaker_state to, transition_reason why, clock::time_point now, pending_events& ev);
  void count_verdict_locked(verdict v, bool slow);
  void record_closed_locked(verdict v, bool slow, clock::time_point now, pending_events& ev);
  // Adds a counted call to the window; the reason to trip, if it must.
  std::optional<transition_reason> closed_trip_locked(verdict v, bool slow, clock::time_point now);
  void probe_result_locked(std::uint8_t slot, verdict v, clock::time_point now, pending_events& ev,
                           transition_reason on_failure);
  void expire_probes_locked(clock::time_point now, pending_events& ev);
  void control(breaker_state to, transition_reason why, clock::time_point now);
  clock::duration open_period_locked();
  void notify(const pending_events& ev);
  static void trace_transitions(const pending_events& ev) noexcept;

  const circuit_breaker_config cfg_;
  // (transitions << 3) | state. Written only under lock_ (release: a reader
  // that sees the new state also sees open_until_ns_ and the other fields
  // set before it); read lock-free (acquire) by try_acquire and state().
  std::atomic<std::uint64_t> word_{static_cast<std::uint64_t>(breaker_state::closed)};
  std::atomic<clock::duration::rep> open_until_ns_{0};

  // On its own cache line: record() writes the lock and the fields after it
  // on every call, often from another core than the try_acquire() that reads
  // word_ above.
  alignas(64) mutable troupe::detail::spinlock lock_;
  // --- under lock_ ---
  detail::sliding_window window_;
  std::uint32_t consecutive_failures_ = 0;
  std::uint64_t calls_since_closed_ = 0;
  std::uint32_t trips_ = 0;  // consecutive trips without a close
  random_source rng_;
  std::array<probe_slot, 64> slots_{};
  std::uint64_t busy_ = 0;  // probe slots out, waiting for a result
  std::uint64_t done_ = 0;  // probe slots that succeeded
  clock::time_point earliest_deadline_ = clock::time_point::max();
  // ---

  counter calls_, successes_, failures_, ignored_, slow_, stale_, probe_timeouts_;
  std::atomic<std::uint64_t> rejected_{0};
  std::array<counter, breaker_state_count> entered_;

  std::mutex listeners_mutex_;
  std::uint64_t next_listener_id_ = 1;  // under listeners_mutex_
  // Replaced, never modified, under listeners_mutex_; notify() copies the
  // pointer and calls the listeners without the mutex.
  std::shared_ptr<const std::vector<std::pair<std::uint64_t, listener>>> listeners_;
  // relaxed: a hint to skip the mutex when nobody listens. A subscriber that
  // races with a transition may miss that one transition, as it would had it
  // subscribed a moment later.
  std::atomic<bool> has_listeners_{false};
};

}  // namespace troupe::patterns
