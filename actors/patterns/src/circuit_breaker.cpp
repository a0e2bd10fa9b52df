// See troupe/patterns/circuit_breaker.hpp.

#include "troupe/patterns/circuit_breaker.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "troupe/runtime/detail/trace.hpp"

namespace troupe::patterns {

const char* to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::disabled:
      return "disabled";
    case breaker_state::forced_open:
      return "forced_open";
  }
  return "unknown";
}

const char* to_string(transition_reason r) noexcept {
  switch (r) {
    case transition_reason::consecutive_failures:
      return "consecutive_failures";
    case transition_reason::failure_rate:
      return "failure_rate";
    case transition_reason::slow_call_rate:
      return "slow_call_rate";
    case transition_reason::open_elapsed:
      return "open_elapsed";
    case transition_reason::probe_failed:
      return "probe_failed";
    case transition_reason::probe_timed_out:
      return "probe_timed_out";
    case transition_reason::probes_succeeded:
      return "probes_succeeded";
    case transition_reason::forced_open:
      return "forced_open";
    case transition_reason::disabled:
      return "disabled";
    case transition_reason::reset:
      return "reset";
  }
  return "unknown";
}

namespace {

const circuit_breaker_config& validated(const circuit_breaker_config& c) {
  auto bad = [](const char* what) { throw std::invalid_argument(std::string("circuit_breaker: ") + what); };
  auto rate_ok = [](double r) { return r >= 0.0 && r <= 1.0; };
  if (c.failure_rate && !rate_ok(c.failure_rate->threshold)) bad("failure_rate.threshold must be in [0, 1]");
  if (c.slow_calls && !rate_ok(c.slow_calls->threshold)) bad("slow_calls.threshold must be in [0, 1]");
  if (c.consecutive_failures && c.consecutive_failures->threshold == 0)
    bad("consecutive_failures.threshold must be > 0");
  if (c.half_open_probes < 1 || c.half_open_probes > 64) bad("half_open_probes must be in [1, 64]");
  if (c.window.size == 0) bad("window.size must be > 0");
  if (c.window.type == window_config::kind::time_based && c.window.bucket_width <= clock::duration::zero())
    bad("window.bucket_width must be > 0");
  if (c.open.base <= clock::duration::zero() || c.open.cap < c.open.base) bad("open: need 0 < base <= cap");
  if (!(c.open.multiplier >= 1.0)) bad("open.multiplier must be >= 1");
  if (!rate_ok(c.open.jitter)) bad("open.jitter must be in [0, 1]");
  return c;
}

constexpr breaker_state state_of(std::uint64_t word) noexcept {
  return static_cast<breaker_state>(word & 7u);
}

}  // namespace

circuit_breaker::circuit_breaker(circuit_breaker_config cfg)
    : cfg_(validated(cfg)), window_(cfg_.window), rng_(cfg_.seed) {}

circuit_breaker::permit circuit_breaker::try_acquire(clock::time_point now,
                                                     clock::time_point probe_deadline) {
  // acquire: pairs with the release store of a transition, so that an open
  // state is read together with its open_until_ns_.
  const std::uint64_t w = word_.load(std::memory_order_acquire);
  permit p;
  p.sequence_ = w >> kStateBits;
  switch (state_of(w)) {
    case breaker_state::closed:
      p.kind_ = permit::kind::call;
      return p;
    case breaker_state::disabled:
      p.kind_ = permit::kind::passthrough;
      return p;
    case breaker_state::forced_open:
      break;
    case breaker_state::open:
      // relaxed: ordered after the acquire load above; a newer value only
      // sends us down the locked path, which re-checks everything.
      if (now.time_since_epoch().count() >= open_until_ns_.load(std::memory_order_relaxed))
        return acquire_slow(now, probe_deadline);
      break;
    case breaker_state::half_open:
      return acquire_slow(now, probe_deadline);
  }
  // relaxed: a statistic; nothing is published through it.
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return permit{};
}

circuit_breaker::permit circuit_breaker::acquire_slow(clock::time_point now,
                                                      clock::time_point probe_deadline) {
  pending_events ev;
  permit p;
  {
    std::lock_guard lk(lock_);
    std::uint64_t w = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
    if (state_of(w) == breaker_state::open &&
        now.time_since_epoch().count() >= open_until_ns_.load(std::memory_order_relaxed)) {
      transition_locked(breaker_state::half_open, transition_reason::open_elapsed, now, ev);
      w = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
    }
    if (state_of(w) == breaker_state::half_open) {
      expire_probes_locked(now, ev);
      w = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
    }
    p.sequence_ = w >> kStateBits;
    switch (state_of(w)) {
      case breaker_state::closed:
        p.kind_ = permit::kind::call;
        break;
      case breaker_state::disabled:
        p.kind_ = permit::kind::passthrough;
        break;
      case breaker_state::half_open: {
        const std::uint64_t all = cfg_.half_open_probes == 64 ? ~0ULL : ((1ULL << cfg_.half_open_probes) - 1);
        const std::uint64_t free = all & ~(busy_ | done_);
        if (free != 0) {
          const auto slot = static_cast<std::uint8_t>(std::countr_zero(free));
          busy_ |= 1ULL << slot;
          probe_slot& s = slots_[slot];
          s.deadline = probe_deadline;
          ++s.seq;
          earliest_deadline_ = std::min(earliest_deadline_, probe_deadline);
          p.kind_ = permit::kind::probe;
          p.slot_ = slot;
          p.slot_seq_ = s.seq;
        }
        break;
      }
      case breaker_state::open:
      case breaker_state::forced_open:
        break;
    }
  }
  if (!p) rejected_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  notify(ev);
  return p;
}

void circuit_breaker::record(const permit& p, outcome o, clock::duration latency, clock::time_point now) {
  if (!p) return;
  const verdict v = cfg_.classify(o);
  const bool slow = cfg_.slow_calls && v != verdict::ignored && latency >= cfg_.slow_calls->slow_after;
  pending_events ev;
  {
    std::lock_guard lk(lock_);
    const std::uint64_t w = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
    if (state_of(w) == breaker_state::half_open) expire_probes_locked(now, ev);
    const std::uint64_t cur = word_.load(std::memory_order_relaxed);
    if ((cur >> kStateBits) != p.sequence_) {
      stale_.bump_locked();
    } else {
      switch (p.kind_) {
        case permit::kind::call:
          count_verdict_locked(v, slow);
          record_closed_locked(v, slow, now, ev);
          break;
        case permit::kind::passthrough:
          count_verdict_locked(v, slow);
          break;
        case permit::kind::probe:
          if ((busy_ >> p.slot_ & 1) == 0 || slots_[p.slot_].seq != p.slot_seq_) {
            stale_.bump_locked();  // expired at its deadline already
          } else {
            count_verdict_locked(v, slow);
            probe_result_locked(p.slot_, slow && v == verdict::success ? verdict::failure : v, now, ev,
                                transition_reason::probe_failed);
          }
          break;
        case permit::kind::refused:
          break;
      }
    }
  }
  notify(ev);
}

void circuit_breaker::record(const permit& p, outcome o, clock::time_point started, time_source now) {
  if (!p) return;
  if (cfg_.slow_calls || cfg_.window.type == window_config::kind::time_based ||
      p.kind_ != permit::kind::call) {
    const clock::time_point t = now();
    record(p, o, t - started, t);
    return;
  }
  // A call permit on a count window without a slow-call condition: the
  // window ignores time, so only a transition needs it. A half-open
  // breaker's overdue probes are left for the next acquire or record that
  // has the time (the permit is stale then anyway).
  const verdict v = cfg_.classify(o);
  pending_events ev;
  {
    std::lock_guard lk(lock_);
    const std::uint64_t cur = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
    if ((cur >> kStateBits) != p.sequence_) {
      stale_.bump_locked();
    } else {
      count_verdict_locked(v, false);
      if (const auto why = closed_trip_locked(v, false, started))
        transition_locked(breaker_state::open, *why, now(), ev);
    }
  }
  notify(ev);
}

void circuit_breaker::count_verdict_locked(verdict v, bool slow) {
  calls_.bump_locked();
  switch (v) {
    case verdict::success:
      successes_.bump_locked();
      break;
    case verdict::failure:
      failures_.bump_locked();
      break;
    case verdict::ignored:
      ignored_.bump_locked();
      break;
  }
  if (slow) slow_.bump_locked();
}

void circuit_breaker::record_closed_locked(verdict v, bool slow, clock::time_point now, pending_events& ev) {
  if (const auto why = closed_trip_locked(v, slow, now))
    transition_locked(breaker_state::open, *why, now, ev);
}

std::optional<transition_reason> circuit_breaker::closed_trip_locked(verdict v, bool slow,
                                                                     clock::time_point now) {
  if (v == verdict::ignored) return std::nullopt;
  const bool failed = v == verdict::failure;
  ++calls_since_closed_;
  consecutive_failures_ = failed ? consecutive_failures_ + 1 : 0;
  window_.add(failed, slow, now);

  if (const auto& c = cfg_.consecutive_failures;
      c && consecutive_failures_ >= c->threshold && calls_since_closed_ >= c->min_calls)
    return transition_reason::consecutive_failures;
  if (!cfg_.failure_rate && !cfg_.slow_calls) return std::nullopt;
  const detail::window_totals t = window_.totals(now);
  auto min_calls = [&](std::uint32_t m) -> std::uint64_t {
    return cfg_.window.type == window_config::kind::count_based ? std::min(m, cfg_.window.size) : m;
  };
  auto reached = [&](std::uint64_t part, double threshold) {
    // part / calls >= threshold, without dividing.
    return static_cast<double>(part) >= threshold * static_cast<double>(t.calls);
  };
  if (const auto& c = cfg_.failure_rate;
      c && t.calls > 0 && t.calls >= min_calls(c->min_calls) && reached(t.failures, c->threshold))
    return transition_reason::failure_rate;
  if (const auto& c = cfg_.slow_calls;
      c && t.calls > 0 && t.calls >= min_calls(c->min_calls) && reached(t.slow, c->threshold))
    return transition_reason::slow_call_rate;
  return std::nullopt;
}

void circuit_breaker::probe_result_locked(std::uint8_t slot, verdict v, clock::time_point now,
                                          pending_events& ev, transition_reason on_failure) {
  const std::uint64_t bit = 1ULL << slot;
  busy_ &= ~bit;
  switch (v) {
    case verdict::failure:
      transition_locked(breaker_state::open, on_failure, now, ev);
      return;
    case verdict::success:
      done_ |= bit;
      if (std::popcount(done_) >= static_cast<int>(cfg_.half_open_probes)) {
        transition_locked(breaker_state::closed, transition_reason::probes_succeeded, now, ev);
        return;
      }
      break;
    case verdict::ignored:
      break;  // the slot is free for another probe
  }
  // The earliest deadline may have been this slot's: recompute (at most 64).
  earliest_deadline_ = clock::time_point::max();
  for (std::uint64_t b = busy_; b != 0; b &= b - 1)
    earliest_deadline_ =
        std::min(earliest_deadline_, slots_[static_cast<std::size_t>(std::countr_zero(b))].deadline);
}

void circuit_breaker::expire_probes_locked(clock::time_point now, pending_events& ev) {
  // O(1) unless a deadline has passed: only then look for which slot it was.
  while (busy_ != 0 && now >= earliest_deadline_) {
    std::uint8_t slot = 0;
    for (std::uint64_t b = busy_; b != 0; b &= b - 1) {
      const auto i = static_cast<std::uint8_t>(std::countr_zero(b));
      if (slots_[i].deadline == earliest_deadline_) {
        slot = i;
        break;
      }
    }
    probe_timeouts_.bump_locked();
    const verdict v = cfg_.classify(outcome::timeout);
    count_verdict_locked(v, false);
    probe_result_locked(slot, v, now, ev, transition_reason::probe_timed_out);
    // relaxed: only written under lock_, which we hold.
    if (state_of(word_.load(std::memory_order_relaxed)) != breaker_state::half_open) return;
  }
}

clock::duration circuit_breaker::open_period_locked() {
  using secs = std::chrono::duration<double>;
  const double base = secs(cfg_.open.base).count();
  const double cap = secs(cfg_.open.cap).count();
  const double grown = base * std::pow(cfg_.open.multiplier, static_cast<double>(trips_ - 1));
  const double capped = std::min(cap, grown);  // also catches inf
  const double jittered = capped * (1.0 - cfg_.open.jitter * rng_.uniform());
  return std::max(clock::duration(1), std::chrono::duration_cast<clock::duration>(secs(jittered)));
}

void circuit_breaker::transition_locked(breaker_state to, transition_reason why, clock::time_point now,
                                        pending_events& ev) {
  const std::uint64_t w = word_.load(std::memory_order_relaxed);  // relaxed: only written under lock_
  breaker_transition t{state_of(w), to, why, (w >> kStateBits) + 1, now, {}};
  switch (to) {
    case breaker_state::open: {
      ++trips_;
      t.open_for = open_period_locked();
      // relaxed: published by the release store of word_ below.
      open_until_ns_.store(detail::add_saturated(now, t.open_for).time_since_epoch().count(),
                           std::memory_order_relaxed);
      break;
    }
    case breaker_state::closed:
      trips_ = 0;
      window_.clear();
      consecutive_failures_ = 0;
      calls_since_closed_ = 0;
      break;
    case breaker_state::half_open:
    case breaker_state::disabled:
    case breaker_state::forced_open:
      break;
  }
  busy_ = done_ = 0;
  earliest_deadline_ = clock::time_point::max();
  entered_[static_cast<std::size_t>(to)].bump_locked();
  // release: whoever loads this word (acquire) sees open_until_ns_ and the
  // counters written above.
  word_.store((t.sequence << kStateBits) | static_cast<std::uint64_t>(to), std::memory_order_release);
  if (ev.n < ev.ev.size()) ev.ev[ev.n++] = t;
}

void circuit_breaker::control(breaker_state to, transition_reason why, clock::time_point now) {
  pending_events ev;
  {
    std::lock_guard lk(lock_);
    // relaxed: only written under lock_, which we hold.
    if (to == breaker_state::closed || state_of(word_.load(std::memory_order_relaxed)) != to)
      transition_locked(to, why, now, ev);
  }
  notify(ev);
}

void circuit_breaker::force_open(clock::time_point now) {
  control(breaker_state::forced_open, transition_reason::forced_open, now);
}
void circuit_breaker::disable(clock::time_point now) {
  control(breaker_state::disabled, transition_reason::disabled, now);
}
void circuit_breaker::reset(clock::time_point now) {
  control(breaker_state::closed, transition_reason::reset, now);
}

breaker_state circuit_breaker::state() const noexcept {
  return state_of(word_.load(std::memory_order_acquire));  // acquire: pairs with transition_locked's store
}

clock::time_point circuit_breaker::open_until() const noexcept {
  // acquire on word_ first, so the value belongs to the state we report.
  (void)word_.load(std::memory_order_acquire);
  return clock::time_point(clock::duration(open_until_ns_.load(std::memory_order_relaxed)));
}

std::uint64_t circuit_breaker::subscribe(listener l) {
  std::lock_guard lk(listeners_mutex_);
  auto next = std::make_shared<std::vector<std::pair<std::uint64_t, listener>>>();
  if (listeners_) *next = *listeners_;
  const std::uint64_t id = next_listener_id_++;
  next->emplace_back(id, std::move(l));
  listeners_ = std::move(next);
  has_listeners_.store(true, std::memory_order_relaxed);  // relaxed: see the member's comment
  return id;
}

bool circuit_breaker::unsubscribe(std::uint64_t id) {
  std::lock_guard lk(listeners_mutex_);
  if (!listeners_) return false;
  auto next = std::make_shared<std::vector<std::pair<std::uint64_t, listener>>>(*listeners_);
  const auto it = std::find_if(next->begin(), next->end(), [&](const auto& e) { return e.first == id; });
  if (it == next->end()) return false;
  next->erase(it);
  has_listeners_.store(!next->empty(), std::memory_order_relaxed);  // relaxed: a hint
  listeners_ = std::move(next);
  return true;
}

void circuit_breaker::notify(const pending_events& ev) {
  if (ev.n == 0) return;
  // Off: one relaxed load and a branch (troupe/runtime/detail/trace.hpp).
  if (troupe::detail::tracing()) [[unlikely]]
    trace_transitions(ev);
  if (!has_listeners_.load(std::memory_order_relaxed)) return;  // relaxed: a hint
  std::shared_ptr<const std::vector<std::pair<std::uint64_t, listener>>> ls;
  {
    std::lock_guard lk(listeners_mutex_);
    ls = listeners_;
  }
  if (!ls) return;
  for (std::size_t i = 0; i < ev.n; ++i)
    for (const auto& [id, l] : *ls) l(ev.ev[i]);
}

// An instant per transition, "breaker closed→open (failure_rate)", on the
// trace of the runtime whose worker made the change (or on the "outside the
// runtime" track of every tracing runtime): a breaker has no runtime of its own.
void circuit_breaker::trace_transitions(const pending_events& ev) noexcept {
  for (std::size_t i = 0; i < ev.n; ++i) {
    const breaker_transition& t = ev.ev[i];
    try {
      std::string name = "breaker ";
      name += to_string(t.from);
      name += "\u2192";
      name += to_string(t.to);
      name += " (";
      name += to_string(t.reason);
      name += ')';
      troupe::detail::trace_instant_anywhere_slow(name);
    } catch (...) {  // out of memory: the instant is lost, as with a full trace buffer
    }
  }
}

breaker_counters circuit_breaker::counters() const noexcept {
  // relaxed throughout: independent statistics (see breaker_counters).
  auto r = [](const counter& c) { return c.n.load(std::memory_order_relaxed); };
  breaker_counters c;
  c.calls = r(calls_);
  c.successes = r(successes_);
  c.failures = r(failures_);
  c.ignored = r(ignored_);
  c.slow = r(slow_);
  c.rejected = rejected_.load(std::memory_order_relaxed);  // relaxed: a statistic
  c.stale = r(stale_);
  c.probe_timeouts = r(probe_timeouts_);
  for (std::size_t i = 0; i < breaker_state_count; ++i) c.entered[i] = r(entered_[i]);
  return c;
}

}  // namespace troupe::patterns
