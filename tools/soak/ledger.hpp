#pragma once
// The soak's books: what was sent, handled, dead-lettered and answered, and
// the invariants checked against them (docs/soak.md). Every member is
// thread-safe: actors, foreign threads, the chaos thread and the checker
// update and read it at once.
//
// Counters are relaxed atomics except where a check compares two of them
// while both still move; those say why their ordering is enough.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/actors/mailbox.hpp"
#include "troupe/runtime/clock.hpp"

namespace soak {

using time_point = troupe::clock::time_point;
using duration = troupe::clock::duration;

// The soak's message types, one bucket each in the books. The dead-letter
// hook tells them apart by their demangled names.
enum class kind : std::uint8_t { work, query, fan, charge };
inline constexpr std::size_t kind_count = 4;
inline constexpr std::array<const char*, kind_count> kind_names{"work", "query", "fan", "charge"};
inline constexpr std::array<std::string_view, kind_count> kind_type_names{"soak::work", "soak::query",
                                                                          "soak::fan", "soak::charge"};

// Injected faults, by kind.
enum class fault : std::uint8_t {
  crash,            // a handler told to throw
  stop_graceful,    // an actor stopped gracefully by the chaos thread
  stop_immediate,   // ... immediately (its queue becomes `unprocessed`)
  supervisor_stop,  // a whole subtree stopped
  crash_storm,      // crashes aimed at one supervisor until it escalates
  overload_burst,   // a burst of sends beyond a small mailbox's capacity
  slow_handler,     // a handler that suspends for a while (asks behind it time out)
  flaky_phase,      // the breaker-protected service turned bad (it fails and stalls)
  unsupervised,     // a top-level (unsupervised) actor crashed
  hang,             // --inject-hang: a handler that waits forever (a self-test of the watchdog)
};
inline constexpr std::size_t fault_count = 10;
inline constexpr std::array<const char*, fault_count> fault_names{
    "crash",          "stop_graceful", "stop_immediate", "supervisor_stop",    "crash_storm",
    "overload_burst", "slow_handler",  "flaky_phase",    "unsupervised_crash", "hang"};

// Ask outcomes as the asker saw them.
enum class outcome : std::uint8_t { value, timeout, refused, failed, circuit_open, abandoned };
inline constexpr std::size_t outcome_count = 6;
inline constexpr std::array<const char*, outcome_count> outcome_names{"value",  "timeout",      "refused",
                                                                      "failed", "circuit_open", "abandoned"};

// Which invariant a violation broke.
enum class invariant : std::uint8_t {
  accounting,         // issued != handled + dead letters (or more handled than issued, mid-run)
  refusal_mismatch,   // a refused send without its dead letter (or the other way round)
  hook_vs_stats,      // the dead-letter hook and system_stats disagree
  double_completion,  // an ask completed twice
  late_completion,    // an ask or a blocked send ended after its deadline plus the bound
  early_timeout,      // an ask timed out before its deadline
  overdue_ask,        // an ask still pending after its deadline plus the bound
  never_completed,    // an ask still pending at the end
  wrong_reply,        // a reply with the wrong value
  memory,             // RSS above the bound after warm-up
  stall,              // no progress for the stall window
  shutdown,           // the actor system did not stop in time
};
inline constexpr std::size_t invariant_count = 12;
inline constexpr std::array<const char*, invariant_count> invariant_names{
    "accounting",      "refusal_mismatch", "hook_vs_stats", "double_completion",
    "late_completion", "early_timeout",    "overdue_ask",   "never_completed",
    "wrong_reply",     "memory",           "stall",         "shutdown"};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.fetch_add(n, std::memory_order_relaxed);  // relaxed: a count, read for reports and checks below
}

class ledger {
 public:
  ledger(time_point start, duration late_bound) : start_(start), late_bound_(late_bound) {}

  // --- messages --------------------------------------------------------------
  // Counted before the send or ask is made, so that a handler can never
  // count a message the books have not seen yet (see check_running).
  void issued(kind k) noexcept {
    // seq_cst: ordered before the send that publishes the message, so a
    // reader that sees the handler's count (seq_cst) also sees this one.
    per_kind_[idx(k)].issued.fetch_add(1, std::memory_order_seq_cst);
  }
  // Issued, then refused by a protection before it reached a mailbox
  // (circuit_open): no dead letter, no handler.
  void withdrawn(kind k) noexcept { bump(per_kind_[idx(k)].withdrawn); }
  void handled(kind k) noexcept { per_kind_[idx(k)].handled.fetch_add(1, std::memory_order_seq_cst); }
  // A send that returned an error: the send's own report of a refusal.
  void send_refused(kind k) noexcept { bump(per_kind_[idx(k)].send_refused); }
  void send_accepted(kind k) noexcept { bump(per_kind_[idx(k)].send_accepted); }
  // The dead-letter hook.
  void dead_letter(troupe::dead_letter_reason r, const char* type) noexcept {
    const auto reason = static_cast<std::size_t>(r);
    bump(hook_total_[reason]);
    const std::size_t k = kind_of(type);
    if (k < kind_count) per_kind_[k].dead_letters[reason].fetch_add(1, std::memory_order_seq_cst);
  }

  // --- asks ------------------------------------------------------------------
  // One ask, from issue to completion. complete() says whether this was the
  // first completion; a second is a violation.
  // `due`: the deadline, or the time of issue for a deadline already past
  // (such an ask must fail at once).
  struct probe {
    time_point deadline;
    time_point due;
    std::atomic<int> completions{0};
  };
  std::shared_ptr<probe> ask_issued(time_point deadline, time_point now) {
    auto p = std::make_shared<probe>();
    p->deadline = deadline;
    p->due = std::max(deadline, now);
    bump(asks_issued_);
    pending_at(p->due).fetch_add(1, std::memory_order_relaxed);  // relaxed: a count; see check_running
    return p;
  }
  void ask_completed(probe& p, outcome o, time_point now);

  // A send that may wait for room (when_full::wait) returned at `now`.
  void blocking_send_returned(time_point deadline, time_point now);

  // --- faults, checks, violations -------------------------------------------
  void injected(fault f) noexcept { bump(faults_[static_cast<std::size_t>(f)]); }
  void checked(std::uint64_t n = 1) noexcept { bump(checks_, n); }
  void violation(invariant what, const std::string& detail);

  // Once a second, from the checker thread: no kind has more handled and
  // dead-lettered than issued; no ask pending past its deadline + bound.
  void check_running(time_point now);
  // After the actor system and the runtime have shut down: exact books.
  // `stats_dead_letters`: system_stats::dead_letters.
  void check_final(const troupe::dead_letter_counts& stats_dead_letters);
  // The shutdown phase began: the runtime may now fire deadline timers
  // early (runtime.hpp, shutdown step 3), so early timeouts stop counting.
  void shutting_down() noexcept { shutting_down_.store(true, std::memory_order_relaxed); }

  // --- reading -----------------------------------------------------------------
  std::uint64_t issued_total() const noexcept;
  std::uint64_t handled_total() const noexcept;
  std::uint64_t dead_letters_total() const noexcept;
  std::uint64_t asks_issued() const noexcept { return asks_issued_.load(std::memory_order_relaxed); }
  std::uint64_t asks_completed() const noexcept { return asks_completed_.load(std::memory_order_relaxed); }
  std::uint64_t faults_total() const noexcept;
  std::uint64_t fault_count_of(fault f) const noexcept {
    return faults_[static_cast<std::size_t>(f)].load(std::memory_order_relaxed);
  }
  std::uint64_t checks() const noexcept { return checks_.load(std::memory_order_relaxed); }
  std::uint64_t violations() const noexcept;
  std::uint64_t violations_of(invariant i) const noexcept {
    return violations_[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
  }
  std::uint64_t outcome_count_of(outcome o) const noexcept {
    return outcomes_[static_cast<std::size_t>(o)].load(std::memory_order_relaxed);
  }
  std::uint64_t hook_count(troupe::dead_letter_reason r) const noexcept {
    return hook_total_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  duration worst_lateness() const noexcept {
    return duration(worst_late_ns_.load(std::memory_order_relaxed));
  }
  struct kind_figures {
    std::uint64_t issued, withdrawn, handled, dead_letters, send_accepted, send_refused;
  };
  kind_figures figures(kind k) const noexcept;
  // The first violations' details (at most 50), for the report.
  std::vector<std::string> violation_log() const;

 private:
  static std::size_t idx(kind k) noexcept { return static_cast<std::size_t>(k); }
  static std::size_t kind_of(const char* type) noexcept {
    if (!type) return kind_count;
    const std::string_view t(type);
    for (std::size_t k = 0; k < kind_count; ++k)
      if (t == kind_type_names[k]) return k;
    return kind_count;
  }
  // Pending asks, bucketed by the second (since start) of their deadline:
  // the checker finds asks overdue without a list of them. Deadlines are at
  // most a few seconds out, far below the ring's span.
  static constexpr std::size_t ring_seconds = 1024;
  std::atomic<std::int64_t>& pending_at(time_point deadline) noexcept {
    return pending_[bucket_of(deadline) % ring_seconds];
  }
  std::int64_t bucket_of(time_point t) const noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(t - start_).count();
  }

  struct kind_books {
    std::atomic<std::uint64_t> issued{0}, withdrawn{0}, handled{0}, send_accepted{0}, send_refused{0};
    std::array<std::atomic<std::uint64_t>, troupe::dead_letter_reason_count> dead_letters{};
  };

  const time_point start_;
  const duration late_bound_;
  std::array<kind_books, kind_count> per_kind_{};
  std::array<std::atomic<std::uint64_t>, troupe::dead_letter_reason_count> hook_total_{};
  std::array<std::atomic<std::uint64_t>, fault_count> faults_{};
  std::array<std::atomic<std::uint64_t>, outcome_count> outcomes_{};
  std::array<std::atomic<std::uint64_t>, invariant_count> violations_{};
  std::array<std::atomic<std::int64_t>, ring_seconds> pending_{};
  std::atomic<std::uint64_t> asks_issued_{0}, asks_completed_{0}, checks_{0};
  std::atomic<std::int64_t> worst_late_ns_{0};
  std::atomic<bool> shutting_down_{false};
  std::int64_t next_overdue_bucket_ = 0;  // checker thread only
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_;  // guarded by log_mutex_
};

}  // namespace soak
