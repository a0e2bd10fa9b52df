// The type-erased half of protected_ref's pipeline: cancellation, the
// reading of errors as outcomes, and the layers. See detail/pipeline.hpp and
// detail/layers.hpp.

#include <algorithm>
#include <mutex>

#include "troupe/patterns/detail/layers.hpp"
#include "troupe/patterns/detail/time.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace troupe::patterns::detail {

// ------------------------------------------------------------------ outcomes

outcome outcome_of(actor_errc code) noexcept {
  switch (code) {
    case actor_errc::ok:
      return outcome::success;
    case actor_errc::timeout:
    case actor_errc::deadline_passed:
      return outcome::timeout;
    // The callee (or its mailbox) pushed back: it protects itself.
    case actor_errc::overloaded:
    case actor_errc::mailbox_full:
    case actor_errc::dropped:
      return outcome::overloaded;
    case actor_errc::circuit_open:
      return outcome::circuit_open;
    case actor_errc::cancelled:
    case actor_errc::system_stopped:
      return outcome::cancelled;
    default:
      return outcome::failure;
  }
}

// -------------------------------------------------------------- cancel_scope

bool cancel_scope::add(cancellable* c) noexcept {
  std::lock_guard g(lock_);
  if (cancelled_.load(std::memory_order_relaxed)) return false;  // relaxed: written under lock_
  c->prev_ = nullptr;
  c->next_ = head_;
  if (head_) head_->prev_ = c;
  head_ = c;
  return true;
}

void cancel_scope::remove(cancellable* c) noexcept {
  std::lock_guard g(lock_);
  // Not linked (never added, or taken by cancel()): head_ != c and no prev.
  if (c->prev_) {
    c->prev_->next_ = c->next_;
  } else if (head_ == c) {
    head_ = c->next_;
  } else {
    return;
  }
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
}

void cancel_scope::cancel() noexcept {
  cancellable* won = nullptr;  // those that will never fire, linked through next_
  {
    std::lock_guard g(lock_);
    // release: see is_cancelled().
    if (cancelled_.exchange(true, std::memory_order_release)) return;
    cancellable* c = head_;
    head_ = nullptr;
    while (c) {
      cancellable* next = c->next_;
      c->prev_ = c->next_ = nullptr;
      // Lost the race (fired, or firing: it will find itself unlinked and
      // answer normally): never touched again from here.
      if (c->try_cancel()) {
        c->next_ = won;
        won = c;
      }
      c = next;
    }
  }
  while (cancellable* c = won) {
    won = c->next_;
    c->next_ = nullptr;
    c->cancelled();
  }
}

namespace {

using stats = protection_stats;

void out_of_memory(const hop& h) noexcept {
  h.up->done(answer::refusal(outcome::failure, actor_errc::handler_failed, "protected ask: out of memory"));
}

// ------------------------------------------------------------------- breaker

time_point read_now(const void* call) noexcept { return static_cast<const call_base*>(call)->now(); }

class breaker_layer final : public layer {
 public:
  breaker_layer(std::shared_ptr<circuit_breaker> b, stats_ptr s)
      : layer(layer_kind::breaker), b_(std::move(b)), stats_(std::move(s)) {}

  void enter(const hop& h) noexcept override {
    const time_point now = h.now;
    // A probe must report by the pass's deadline (its ask times out there).
    circuit_breaker::permit p = b_->try_acquire(now, h.deadline);
    if (!p) {
      stats::bump(stats_->rejected);
      h.up->done(
          answer::refusal(outcome::circuit_open, to_actor_errc(errc::circuit_open), "circuit breaker open"));
      return;
    }
    struct held {
      circuit_breaker* b;
      circuit_breaker::permit p;
      time_point start;
    };
    sink* f;
    try {
      f = new_holding_frame(h, held{b_.get(), p, now}, [](held& r, const answer& a, call_base& c) {
        r.b->record(r.p, a.o, r.start, circuit_breaker::time_source{&read_now, &c});
      });
    } catch (...) {
      // The permit must still be reported, or a probe would hold its slot
      // until its deadline.
      b_->record(p, outcome::cancelled, clock::duration::zero(), now);
      out_of_memory(h);
      return;
    }
    h.call->pass_inward(h, f, h.deadline);
  }

  actor_errc admit_send(const send_info&) noexcept override {
    const breaker_state s = b_->state();
    if (s == breaker_state::closed || s == breaker_state::disabled) return actor_errc::ok;
    return to_actor_errc(errc::circuit_open);
  }

 private:
  std::shared_ptr<circuit_breaker> b_;
  stats_ptr stats_;
};

// ------------------------------------------------------------------ bulkhead

class bulkhead_layer final : public layer {
 public:
  bulkhead_layer(std::shared_ptr<bulkhead> b, stats_ptr s)
      : layer(layer_kind::bulkhead), b_(std::move(b)), stats_(std::move(s)) {}

  void enter(const hop& h) noexcept override {
    bulkhead::permit p = b_->try_acquire();
    if (!p) {
      stats::bump(stats_->bulkhead_rejected);
      h.up->done(answer::refusal(outcome::overloaded, to_actor_errc(errc::bulkhead_full), "bulkhead full"));
      return;
    }
    sink* f;
    try {
      f = new_holding_frame(h, std::move(p),
                            [](bulkhead::permit& r, const answer&, call_base&) { r.release(); });
    } catch (...) {
      out_of_memory(h);
      return;
    }
    h.call->pass_inward(h, f, h.deadline);
  }
  actor_errc admit_send(const send_info&) noexcept override {
    return b_->try_acquire() ? actor_errc::ok : to_actor_errc(errc::bulkhead_full);
  }

 private:
  std::shared_ptr<bulkhead> b_;
  stats_ptr stats_;
};

// ------------------------------------------------------------------- timeout

class timeout_layer final : public layer {
 public:
  explicit timeout_layer(clock::duration d) : layer(layer_kind::timeout), d_(d) {}
  void enter(const hop& h) noexcept override {
    const time_point at = add_saturated(h.now, d_);
    h.call->pass_inward(h, h.up, std::min(at, h.deadline));
  }

 private:
  clock::duration d_;
};

// --------------------------------------------------------------------- retry

class retry_layer;

// One pass through the retry layer: attempts one after another, each after
// its backoff on the timer wheel, until retry_state says stop.
class retry_frame final : public sink,
                          public troupe::detail::timer_entry,
                          public cancellable,
                          public troupe::detail::small_object {
 public:
  retry_frame(const hop& h, const retry_layer& l, random_source rng);
  ~retry_frame() {
    if (h_.scope) h_.scope->release();
  }
  void start() noexcept { h_.call->pass_inward(h_, this, h_.deadline); }
  void done(answer&& a) noexcept override;

 private:
  static void on_timer(troupe::detail::timer_entry* t) noexcept;
  bool try_cancel() noexcept override { return troupe::detail::cancel_timer(this); }
  void cancelled() noexcept override {
    finish(answer::refusal(outcome::cancelled, actor_errc::cancelled, "retry: the pass was cancelled"));
  }
  void finish(answer&& a) noexcept {
    sink* up = h_.up;
    call_ref keep = std::move(call_);
    delete this;
    up->done(std::move(a));
  }

  const retry_layer& l_;
  call_ref call_;
  hop h_;
  random_source rng_;
  retry_state state_;
};

class retry_layer final : public layer {
 public:
  retry_layer(const retry_config& cfg, std::shared_ptr<retry_budget> b, stats_ptr s)
      : layer(layer_kind::retry), cfg_(cfg), budget_(std::move(b)), stats_(std::move(s)) {
    backoff check(cfg_.backoff);  // throws std::invalid_argument for a bad backoff now, not per request
    (void)check;
  }
  void enter(const hop& h) noexcept override {
    retry_frame* f;
    try {
      f = new retry_frame(h, *this, h.call->split_rng());
    } catch (...) {
      out_of_memory(h);
      return;
    }
    f->start();
  }

 private:
  friend class retry_frame;
  retry_config cfg_;
  std::shared_ptr<retry_budget> budget_;
  stats_ptr stats_;
};

retry_frame::retry_frame(const hop& h, const retry_layer& l, random_source rng)
    : timer_entry(&on_timer), l_(l), call_(h.call), h_(h), rng_(rng), state_(l.cfg_, h.call->safe()) {
  if (h_.scope) h_.scope->add_ref();
}

void retry_frame::done(answer&& a) noexcept {
  // A cancelled pass, or a request nobody waits for, is not retried.
  if ((h_.scope && h_.scope->is_cancelled()) || !h_.call->waiting()) return finish(std::move(a));
  const time_point now = h_.call->now();
  const retry_decision d = state_.on_outcome(a.o, now, h_.deadline, rng_, l_.budget_.get());
  if (!d) {
    if (d.stop == retry_stop::budget_exhausted) stats::bump(l_.stats_->budget_exhausted);
    return finish(std::move(a));
  }
  stats::bump(l_.stats_->retries);
  a = answer{};  // the failed attempt's result is not needed any more
  // Registered before arming: a cancel in between finds the timer not yet
  // pending (try_cancel fails), and on_timer then sees the scope cancelled.
  if (h_.scope && !h_.scope->add(this)) return cancelled();
  troupe::detail::arm_timer(troupe::detail::scheduler_of(h_.call->sys()), this, d.at);
}

void retry_frame::on_timer(troupe::detail::timer_entry* t) noexcept {
  auto* f = static_cast<retry_frame*>(t);
  if (f->h_.scope) {
    f->h_.scope->remove(f);
    if (f->h_.scope->is_cancelled()) return f->cancelled();
  }
  f->h_.now = f->h_.call->now();
  f->start();
}

// --------------------------------------------------------------------- hedge

class hedge_layer;

// One pass through the hedge layer: the first copy now, a second one at the
// hedge delay if the first has not answered; the first answer wins and the
// other copy is cancelled, its answer dropped and counted.
class hedge_frame final : public troupe::detail::timer_entry, public troupe::detail::small_object {
 public:
  hedge_frame(const hop& h, const hedge_layer& l);
  void start() noexcept;

 private:
  struct branch final : sink {
    hedge_frame* f = nullptr;
    int index = 0;
    cancel_scope* scope = nullptr;  // owned (one reference)
    void done(answer&& a) noexcept override { f->branch_done(index, std::move(a)); }
  };
  static void on_timer(troupe::detail::timer_entry* t) noexcept;
  void launch(int i, time_point now) noexcept;
  void branch_done(int i, answer&& a) noexcept;
  void release() noexcept {
    // acq_rel: the last owner sees the others' writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      for (auto& b : branches_)
        if (b.scope) b.scope->release();
      delete this;
    }
  }

  const hedge_layer& l_;
  call_ref call_;
  hop h_;
  time_point sent_at_{};
  branch branches_[2];
  // Owners: each launched branch until it answers, and the timer while armed.
  std::atomic<int> refs_{1};
  troupe::detail::spinlock lock_;
  bool settled_ = false;  // under lock_: a branch answered and was passed up
  bool hedged_ = false;   // under lock_: the second copy was launched
};

class hedge_layer final : public layer {
 public:
  hedge_layer(std::shared_ptr<hedging_policy> p, std::shared_ptr<retry_budget> b, stats_ptr s)
      : layer(layer_kind::hedge), budget_(std::move(b)), policy_(std::move(p)), stats_(std::move(s)) {}
  void enter(const hop& h) noexcept override {
    // A request that is not safe to send twice is never hedged.
    if (!h.call->safe()) return h.call->pass_inward(h, h.up, h.deadline);
    hedge_frame* f;
    try {
      f = new hedge_frame(h, *this);
    } catch (...) {
      out_of_memory(h);
      return;
    }
    f->start();
  }

 private:
  friend class hedge_frame;
  std::shared_ptr<retry_budget> budget_;  // the policy's, which refers to it: destroyed after it
  std::shared_ptr<hedging_policy> policy_;
  stats_ptr stats_;
};

hedge_frame::hedge_frame(const hop& h, const hedge_layer& l)
    : timer_entry(&on_timer), l_(l), call_(h.call), h_(h) {
  for (int i = 0; i < 2; ++i) {
    branches_[i].f = this;
    branches_[i].index = i;
  }
}

void hedge_frame::start() noexcept {
  sent_at_ = h_.now;
  const time_point at = add_saturated(sent_at_, l_.policy_->delay());
  cancel_scope* s0 = nullptr;
  try {
    s0 = new cancel_scope;
    branches_[1].scope = new cancel_scope;
  } catch (...) {
    if (s0) s0->release();
    // No way to cancel a loser: pass through unhedged.
    auto up = h_.up;
    call_ref keep = std::move(call_);
    const hop h = h_;
    delete this;
    return h.call->pass_inward(h, up, h.deadline);
  }
  branches_[0].scope = s0;
  refs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: from a held reference. Branch 0's.
  if (at < h_.deadline) {
    refs_.fetch_add(1, std::memory_order_relaxed);  // the timer's
    troupe::detail::arm_timer(troupe::detail::scheduler_of(h_.call->sys()), this, at);
  }
  launch(0, sent_at_);
  release();  // start()'s own
}

void hedge_frame::launch(int i, time_point now) noexcept {
  hop h = h_;
  h.now = now;
  h.scope = branches_[i].scope;
  h_.call->pass_inward(h, &branches_[i], h_.deadline);
}

void hedge_frame::on_timer(troupe::detail::timer_entry* t) noexcept {
  auto* f = static_cast<hedge_frame*>(t);
  bool go = false;
  const time_point now = f->h_.call->now();
  {
    std::lock_guard g(f->lock_);
    if (!f->settled_) {
      const hedge_decision d = f->l_.policy_->should_hedge(f->sent_at_, now, f->h_.deadline);
      if (d == hedge_decision::hedge) {
        f->hedged_ = go = true;
        f->refs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: from the timer's reference. Branch 1's.
      } else if (d == hedge_decision::budget_exhausted) {
        stats::bump(f->l_.stats_->budget_exhausted);
      }
    }
  }
  if (go) {
    stats::bump(f->l_.stats_->hedges);
    f->launch(1, now);
  }
  f->release();  // the timer's
}

void hedge_frame::branch_done(int i, answer&& a) noexcept {
  bool win = false;
  bool other_running = false;
  bool timer_cancelled = false;
  {
    std::lock_guard g(lock_);
    if (!settled_) {
      settled_ = win = true;
      other_running = i == 0 ? hedged_ : true;
      // No second copy after this: stop the timer (if it already fired,
      // on_timer finds settled_ and does nothing).
      if (!hedged_) timer_cancelled = troupe::detail::cancel_timer(this);
    }
  }
  if (win) {
    if (a.o == outcome::success || a.o == outcome::failure) l_.policy_->record(h_.call->now() - sent_at_);
    if (timer_cancelled) release();  // the timer's
    // The other copy lost: stop what it waits on (it answers `cancelled`,
    // or its late answer is dropped below).
    if (other_running) branches_[1 - i].scope->cancel();
    sink* up = h_.up;
    call_ref keep(call_.get());
    release();  // this branch's
    up->done(std::move(a));
    return;
  }
  stats::bump(l_.stats_->hedge_losers);
  a = answer{};
  release();  // this branch's
}

}  // namespace

std::shared_ptr<layer> make_breaker_layer(std::shared_ptr<circuit_breaker> b, stats_ptr s) {
  return std::make_shared<breaker_layer>(std::move(b), std::move(s));
}
std::shared_ptr<layer> make_retry_layer(const retry_config& cfg, std::shared_ptr<retry_budget> budget,
                                        stats_ptr s) {
  return std::make_shared<retry_layer>(cfg, std::move(budget), std::move(s));
}
std::shared_ptr<layer> make_hedge_layer(std::shared_ptr<hedging_policy> h,
                                        std::shared_ptr<retry_budget> budget, stats_ptr s) {
  return std::make_shared<hedge_layer>(std::move(h), std::move(budget), std::move(s));
}
std::shared_ptr<layer> make_bulkhead_layer(std::shared_ptr<bulkhead> b, stats_ptr s) {
  return std::make_shared<bulkhead_layer>(std::move(b), std::move(s));
}
std::shared_ptr<layer> make_timeout_layer(clock::duration d) { return std::make_shared<timeout_layer>(d); }

}  // namespace troupe::patterns::detail
