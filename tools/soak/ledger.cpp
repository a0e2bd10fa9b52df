#include "ledger.hpp"

#include <cstdio>
#include <fmt/format.h>

namespace soak {

namespace {
constexpr std::size_t max_logged_violations = 50;

bool accepted_kind(troupe::dead_letter_reason r) noexcept {
  using R = troupe::dead_letter_reason;
  return r == R::dropped_oldest || r == R::expired || r == R::shed || r == R::unprocessed;
}
std::int64_t ms(duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
}  // namespace

void ledger::violation(invariant what, const std::string& detail) {
  violations_[static_cast<std::size_t>(what)].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard g(log_mutex_);
  if (log_.size() >= max_logged_violations) return;
  const double at = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  log_.push_back(
      fmt::format("[{:.1f}s] {}: {}", at, invariant_names[static_cast<std::size_t>(what)], detail));
  std::fprintf(stderr, "troupe-soak: VIOLATION %s\n", log_.back().c_str());
}

std::vector<std::string> ledger::violation_log() const {
  std::lock_guard g(log_mutex_);
  return log_;
}

void ledger::ask_completed(probe& p, outcome o, time_point now) {
  // acq_rel: two completions racing see each other (one gets 1).
  if (p.completions.fetch_add(1, std::memory_order_acq_rel) != 0) {
    violation(invariant::double_completion,
              fmt::format("an ask completed again, as {}", outcome_names[static_cast<std::size_t>(o)]));
    return;
  }
  bump(asks_completed_);
  bump(outcomes_[static_cast<std::size_t>(o)]);
  pending_at(p.due).fetch_sub(1, std::memory_order_relaxed);
  checked(2);
  if (o == outcome::abandoned) return;  // its handler was destroyed: no answer was due to it
  const duration late = now - p.due;
  std::int64_t worst = worst_late_ns_.load(std::memory_order_relaxed);
  while (late.count() > worst &&
         !worst_late_ns_.compare_exchange_weak(worst, late.count(), std::memory_order_relaxed)) {}
  if (late > late_bound_)
    violation(invariant::late_completion, fmt::format("an ask completed ({}) {} ms after its deadline",
                                                      outcome_names[static_cast<std::size_t>(o)], ms(late)));
  if (o == outcome::timeout && now < p.deadline && !shutting_down_.load(std::memory_order_relaxed))
    violation(invariant::early_timeout,
              fmt::format("an ask timed out {} us before its deadline",
                          std::chrono::duration_cast<std::chrono::microseconds>(p.deadline - now).count()));
}

void ledger::blocking_send_returned(time_point deadline, time_point now) {
  checked();
  if (now - deadline > late_bound_)
    violation(invariant::late_completion,
              fmt::format("a blocked send returned {} ms after its deadline", ms(now - deadline)));
}

void ledger::check_running(time_point now) {
  for (std::size_t k = 0; k < kind_count; ++k) {
    const kind_books& b = per_kind_[k];
    // Handled and dead letters first, issued last (all seq_cst): whatever a
    // handler or the hook counted was issued before (see issued()).
    std::uint64_t done = b.handled.load(std::memory_order_seq_cst);
    for (std::size_t r = 0; r < troupe::dead_letter_reason_count; ++r)
      if (static_cast<troupe::dead_letter_reason>(r) != troupe::dead_letter_reason::unanswered)
        done += b.dead_letters[r].load(std::memory_order_seq_cst);
    const std::uint64_t issued = b.issued.load(std::memory_order_seq_cst);
    checked();
    if (done > issued)
      violation(invariant::accounting, fmt::format("{}: {} handled or dead-lettered but only {} issued",
                                                   kind_names[k], done, issued));
  }
  // Buckets whose every deadline (+ the bound) has passed must be empty.
  const std::int64_t last = bucket_of(now - late_bound_) - 1;
  for (; next_overdue_bucket_ <= last; ++next_overdue_bucket_) {
    auto& slot = pending_[static_cast<std::size_t>(next_overdue_bucket_) % ring_seconds];
    // relaxed: every ask of this bucket was issued (and counted) more than
    // a bound ago; one still counted is overdue.
    const std::int64_t still = slot.load(std::memory_order_relaxed);
    checked();
    if (still > 0) {
      violation(invariant::overdue_ask,
                fmt::format("{} asks due in second {} still pending more than {} ms later", still,
                            next_overdue_bucket_, ms(late_bound_)));
      slot.fetch_sub(still, std::memory_order_relaxed);  // reported once; the slot is reused later
    }
  }
}

void ledger::check_final(const troupe::dead_letter_counts& stats) {
  using R = troupe::dead_letter_reason;
  for (std::size_t k = 0; k < kind_count; ++k) {
    const kind_figures f = figures(static_cast<kind>(k));
    checked();
    if (f.issued - f.withdrawn != f.handled + f.dead_letters)
      violation(invariant::accounting,
                fmt::format("{}: issued {} - withdrawn {} != handled {} + dead letters {}", kind_names[k],
                            f.issued, f.withdrawn, f.handled, f.dead_letters));
  }
  // `work` is only ever sent, never asked: its sends' own reports must
  // match the dead letters, refusal for refusal, and what was accepted was
  // handled or dead-lettered with an accepted-kind reason.
  const kind_books& w = per_kind_[static_cast<std::size_t>(kind::work)];
  std::uint64_t refused_letters = 0, accepted_letters = 0;
  for (std::size_t r = 0; r < troupe::dead_letter_reason_count; ++r) {
    const auto reason = static_cast<R>(r);
    if (reason == R::unanswered) continue;
    (accepted_kind(reason) ? accepted_letters : refused_letters) += w.dead_letters[r].load();
  }
  checked(2);
  if (w.send_refused.load() != refused_letters)
    violation(invariant::refusal_mismatch, fmt::format("work: {} sends refused but {} refusal dead letters",
                                                       w.send_refused.load(), refused_letters));
  if (w.send_accepted.load() != w.handled.load() + accepted_letters)
    violation(invariant::accounting,
              fmt::format("work: {} accepted != {} handled + {} dead letters of accepted kinds",
                          w.send_accepted.load(), w.handled.load(), accepted_letters));
  for (std::size_t r = 0; r < troupe::dead_letter_reason_count; ++r) {
    checked();
    if (hook_total_[r].load() != stats.by_reason[r])
      violation(invariant::hook_vs_stats,
                fmt::format("{}: the hook saw {}, system_stats says {}", troupe::to_string(static_cast<R>(r)),
                            hook_total_[r].load(), stats.by_reason[r]));
  }
  checked();
  if (asks_issued() != asks_completed())
    violation(invariant::never_completed,
              fmt::format("{} asks issued, {} completed", asks_issued(), asks_completed()));
}

ledger::kind_figures ledger::figures(kind k) const noexcept {
  const kind_books& b = per_kind_[idx(k)];
  kind_figures f{b.issued.load(),        b.withdrawn.load(),   b.handled.load(), 0,
                 b.send_accepted.load(), b.send_refused.load()};
  for (std::size_t r = 0; r < troupe::dead_letter_reason_count; ++r)
    if (static_cast<troupe::dead_letter_reason>(r) != troupe::dead_letter_reason::unanswered)
      f.dead_letters += b.dead_letters[r].load();
  return f;
}

std::uint64_t ledger::issued_total() const noexcept {
  std::uint64_t n = 0;
  for (const auto& b : per_kind_) n += b.issued.load(std::memory_order_relaxed);
  return n;
}
std::uint64_t ledger::handled_total() const noexcept {
  std::uint64_t n = 0;
  for (const auto& b : per_kind_) n += b.handled.load(std::memory_order_relaxed);
  return n;
}
std::uint64_t ledger::dead_letters_total() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : hook_total_) n += c.load(std::memory_order_relaxed);
  return n;
}
std::uint64_t ledger::faults_total() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : faults_) n += c.load(std::memory_order_relaxed);
  return n;
}
std::uint64_t ledger::violations() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : violations_) n += c.load(std::memory_order_relaxed);
  return n;
}

}  // namespace soak
