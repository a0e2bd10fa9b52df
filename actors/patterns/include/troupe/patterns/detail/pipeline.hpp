#pragma once
// Internal: the asynchronous pipeline behind protected_ref (protect.hpp).
//
// A request passes inward through a stack of layers (the first added is the
// outermost, as in tower's ServiceBuilder) and, at the bottom, is asked of
// the target; the answer comes back outward through the same layers. Nothing
// blocks: a layer either answers at once (a refusal), passes the request on
// once (breaker, limit, bulkhead, timeout: they take something before and
// give it back after), or several times (retry: one pass after another, on
// the timer wheel; hedge: a second pass beside the first). Each pass is a
// `hop`; whoever receives its answer is a `sink`.
//
//   protected_ref::ask ─► call ─► layer 0 ─► layer 1 ─► ... ─► attempt: target.ask
//                          ▲        │frame      │frame                │ completion hook
//        outer reply ◄── finish ◄───┴───────────┴──── answer ◄────────┘
//
// Everything here is type-erased except the two ends: the typed call (the
// message, the outer reply, the fallback) and the typed attempt (the ask's
// reply, classified into an `outcome`). An answer carries the outcome and,
// when one came back, the typed result in a box; refusals carry only an
// error code. So layers are plain virtual classes, compiled once.
//
// Lifetimes: the call is reference-counted. The request's own reference
// goes when the outermost answer is given; retry and hedge frames (which may
// outlive it: a hedge's losing copy) and answer boxes (which travel past it)
// hold one each. The frames of single-pass layers hold none: each answers
// inside a pass whose starter holds one until then. Frames free themselves
// after answering. A hedge's losing pass is cancelled through a cancel_scope:
// attempts abandon their ask (a late reply then counts as `unanswered`),
// retry frames waiting on their backoff timer stop; both answer `cancelled`.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "troupe/actors/ask.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/patterns/error.hpp"
#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/small_alloc.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::patterns {

// How a refusal of the patterns layer reaches a caller through an ask
// (result<T>::error_code()), so callers tell "a protection said no" from a
// failure of the callee: circuit_open as circuit_open; overloaded and a full
// bulkhead as overloaded; no routee as actor_stopped (nobody can handle it).
// retry_budget_exhausted never refuses a call by itself (the request gets
// its last attempt's error), so it maps to ok, as does ok.
constexpr actor_errc to_actor_errc(errc e) noexcept {
  switch (e) {
    case errc::circuit_open:
      return actor_errc::circuit_open;
    case errc::overloaded:
    case errc::bulkhead_full:
      return actor_errc::overloaded;
    case errc::no_routee:
      return actor_errc::actor_stopped;
    case errc::ok:
    case errc::retry_budget_exhausted:
      return actor_errc::ok;
  }
  return actor_errc::ok;
}

}  // namespace troupe::patterns

namespace troupe {

// What a protected_ref chain has done, since it was built (one counter set
// per protect() call, shared by every handle built from it). Each field is
// read on its own: a snapshot taken while requests run may be a few
// requests out of step between fields.
struct protection_counters {
  std::uint64_t requests = 0;           // asks made through the handle
  std::uint64_t successes = 0;          // answered with a success (per the classifier)
  std::uint64_t failures = 0;           // answered with anything else: failures, timeouts, refusals
  std::uint64_t rejected = 0;           // passes refused by an open breaker (circuit_open)
  std::uint64_t shed = 0;               // passes shed by the concurrency limit (overloaded)
  std::uint64_t bulkhead_rejected = 0;  // passes refused by a full bulkhead (overloaded)
  std::uint64_t retries = 0;            // retries scheduled
  std::uint64_t budget_exhausted = 0;   // retries and hedges the retry budget refused
  std::uint64_t hedges = 0;             // second copies sent
  std::uint64_t hedge_losers = 0;       // copies whose answer lost the race, dropped (one per hedge)
  std::uint64_t fallbacks = 0;          // requests answered by the fallback
  std::uint64_t fallback_failures = 0;  // fallbacks that gave no value (the original error is answered)
  std::uint64_t sends_refused = 0;      // sends refused by a layer (circuit_open or overloaded)
};

}  // namespace troupe

namespace troupe::patterns::detail {

using time_point = clock::time_point;
using troupe::detail::system_impl;

// ---------------------------------------------------------------------------
// Answers

// A typed result<T> travelling outward. The most derived class sets
// `destroy`; box_ptr owns one.
struct reply_box {
  void (*destroy)(reply_box*) noexcept = nullptr;
};
struct box_deleter {
  void operator()(reply_box* b) const noexcept { b->destroy(b); }
};
using box_ptr = std::unique_ptr<reply_box, box_deleter>;

template <class T>
struct typed_box : reply_box {
  result<T> value;
};

// What one pass gives back.
struct answer {
  outcome o = outcome::failure;
  // No box: why the pass was refused (circuit_open, overloaded, cancelled...).
  actor_errc code = actor_errc::ok;
  const char* what = nullptr;
  // The callee's answer (its value or its handler's exception), or an error
  // of the actors layer (timeout, mailbox_full...) in a typed_box.
  box_ptr reply;
  bool replied = false;  // the box holds what the callee's handler gave

  static answer refusal(outcome o, actor_errc code, const char* what) noexcept {
    answer a;
    a.o = o;
    a.code = code;
    a.what = what;
    return a;
  }
};

// Receives the answer of a pass. done() is called exactly once per pass, on
// any thread.
class sink {
 public:
  virtual void done(answer&& a) noexcept = 0;

 protected:
  ~sink() = default;
};

// The default reading of a reply: a value is a success; errors by code
// (mailbox_full and dropped say the callee is overloaded too).
outcome outcome_of(actor_errc code) noexcept;
template <class T>
outcome default_outcome(const result<T>& r) noexcept {
  return r.has_value() ? outcome::success : outcome_of(r.error_code());
}

// ---------------------------------------------------------------------------
// Cancellation of a hedge's losing pass

// Something a pass is waiting on that a cancel can stop: an attempt's ask,
// a retry's backoff timer.
class cancellable {
 public:
  // Under the scope's lock: stop it if it has not fired yet, without running
  // user code or taking other locks than the thing's own. True: it will
  // never fire, and cancelled() is called next (outside the lock).
  virtual bool try_cancel() noexcept = 0;
  // Answer the pass with `cancelled`.
  virtual void cancelled() noexcept = 0;

 protected:
  ~cancellable() = default;

 private:
  friend class cancel_scope;
  cancellable* prev_ = nullptr;
  cancellable* next_ = nullptr;
};

// One pass that may be cancelled, and what in it is waiting. Reference
// counted. Thread-safe.
class cancel_scope : public troupe::detail::small_object {
 public:
  cancel_scope() = default;
  cancel_scope(const cancel_scope&) = delete;
  cancel_scope& operator=(const cancel_scope&) = delete;

  void add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);
  }  // relaxed: from a held reference
  void release() noexcept {
    // acq_rel: the last holder sees the others' writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // acquire: pairs with cancel()'s release, so a waiter that sees the flag
  // also sees what the canceller did before (the winner's answer).
  bool is_cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }

  // Registers c; false if the scope is already cancelled (c is not added).
  bool add(cancellable* c) noexcept;
  // Unregisters c if it is still registered (a cancel may have taken it).
  void remove(cancellable* c) noexcept;
  // Cancels every registered waiter that has not fired, and refuses new ones.
  void cancel() noexcept;

 private:
  std::atomic<std::uint32_t> refs_{1};
  std::atomic<bool> cancelled_{false};
  troupe::detail::spinlock lock_;
  cancellable* head_ = nullptr;  // under lock_
};

// ---------------------------------------------------------------------------
// Calls, hops and layers

class call_base;

// One pass through the layers from `depth` inward.
struct hop {
  call_base* call;
  std::uint32_t depth;
  time_point deadline;  // of this pass (a timeout layer shortens it)
  time_point now;       // when the pass began, as read by whoever began it (one clock read per pass)
  cancel_scope* scope;  // null: nothing cancels this pass
  sink* up;             // gets the answer
};

// What the layers share per protected_ref chain: its counters. Each is a
// lone statistic, read on its own (relaxed). Two cache lines: what the
// caller's thread bumps as a request starts, and what the thread that
// completes it bumps (often another core).
struct protection_stats {
  alignas(64) std::atomic<std::uint64_t> requests{0}, rejected{0}, shed{0}, bulkhead_rejected{0},
      sends_refused{0};
  alignas(64) std::atomic<std::uint64_t> successes{0}, failures{0}, retries{0},
      budget_exhausted{0}, hedges{0}, hedge_losers{0}, fallbacks{0}, fallback_failures{0};
  static void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
};

inline protection_counters read_counters(const protection_stats& s) noexcept {
  // relaxed: each counter is a lone statistic (see protection_counters).
  auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  protection_counters c;
  c.requests = r(s.requests);
  c.successes = r(s.successes);
  c.failures = r(s.failures);
  c.rejected = r(s.rejected);
  c.shed = r(s.shed);
  c.bulkhead_rejected = r(s.bulkhead_rejected);
  c.retries = r(s.retries);
  c.budget_exhausted = r(s.budget_exhausted);
  c.hedges = r(s.hedges);
  c.hedge_losers = r(s.hedge_losers);
  c.fallbacks = r(s.fallbacks);
  c.fallback_failures = r(s.fallback_failures);
  c.sends_refused = r(s.sends_refused);
  return c;
}

enum class layer_kind : std::uint8_t { breaker, retry, hedge, limit, bulkhead, timeout };

// A request as a send sees it (a send has no answer: only admission).
struct send_info {
  system_impl* sys;
  message_priority prio;
};

class layer {
 public:
  explicit layer(layer_kind k) noexcept : kind_(k) {}
  virtual ~layer() = default;
  layer(const layer&) = delete;
  layer& operator=(const layer&) = delete;

  // Takes the pass `h` (at this layer's depth) and must answer h.up exactly
  // once, now or later. Any thread.
  virtual void enter(const hop& h) noexcept = 0;
  // May a send go through? ok, or the code that refuses it. Any thread.
  virtual actor_errc admit_send(const send_info&) noexcept { return actor_errc::ok; }
  layer_kind kind() const noexcept { return kind_; }

 private:
  layer_kind kind_;
};

// The request: what every pass needs. Reference counted; the typed
// subclass (protect.hpp) holds the message, the target and the outer reply.
class call_base {
 public:
  call_base(const std::vector<std::shared_ptr<layer>>* layers, shared_random_source* rng, system_impl* sys,
            time_point deadline, message_priority prio, when_full full, bool safe) noexcept
      : layers_(layers), rng_(rng), sys_(sys), deadline_(deadline), prio_(prio), full_(full), safe_(safe) {}
  call_base(const call_base&) = delete;
  call_base& operator=(const call_base&) = delete;

  void add_ref() noexcept {
    refs_.fetch_add(1, std::memory_order_relaxed);
  }  // relaxed: from a held reference
  void release() noexcept {
    // acq_rel: the last holder sees every other holder's writes.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  // Runs pass `h`: the layer at h.depth, or the target below the last one.
  void pass(const hop& h) noexcept {
    if (h.depth < layers_->size())
      (*layers_)[h.depth]->enter(h);
    else
      launch(h);
  }
  // The next layer inward, with `up` receiving its answer.
  void pass_inward(const hop& h, sink* up, time_point deadline) noexcept {
    pass(hop{h.call, h.depth + 1, deadline, h.now, h.scope, up});
  }

  time_point now() const noexcept { return troupe::detail::now_of(sys_); }
  system_impl* sys() const noexcept { return sys_; }
  time_point deadline() const noexcept { return deadline_; }
  message_priority priority() const noexcept { return prio_; }
  when_full full() const noexcept { return full_; }
  // The request may be sent more than once (retried, hedged).
  bool safe() const noexcept { return safe_; }
  // An independent generator from the handle's seeded source (retry jitter).
  random_source split_rng() const noexcept { return rng_->split(); }
  // Somebody still waits for the outer reply.
  virtual bool waiting() const noexcept = 0;

 protected:
  virtual ~call_base() = default;
  // Asks the target once; h.up gets the classified answer.
  virtual void launch(const hop& h) noexcept = 0;
  virtual void destroy() noexcept = 0;

 private:
  std::atomic<std::uint32_t> refs_{1};
  const std::vector<std::shared_ptr<layer>>* layers_;  // kept alive by the typed call's stack
  shared_random_source* rng_;                          // likewise
  system_impl* sys_;
  time_point deadline_;
  message_priority prio_;
  when_full full_;
  bool safe_;
};

// A reference to a call (frames and attempts hold one).
class call_ref {
 public:
  call_ref() = default;
  explicit call_ref(call_base* c) noexcept : c_(c) {
    if (c_) c_->add_ref();
  }
  call_ref(call_ref&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  call_ref& operator=(call_ref&& o) noexcept {
    if (this != &o) {
      if (c_) c_->release();
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  ~call_ref() {
    if (c_) c_->release();
  }
  call_base* operator->() const noexcept { return c_; }
  call_base* get() const noexcept { return c_; }

 private:
  call_base* c_ = nullptr;
};

}  // namespace troupe::patterns::detail
