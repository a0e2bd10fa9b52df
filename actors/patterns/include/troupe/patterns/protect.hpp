#pragma once
// troupe::protect: the resilience patterns around an actor (or a router of
// actors), keeping the send / ask / co_await surface of a plain actor_ref,
// so that protecting a dependency changes one line:
//
//   troupe::actor_ref<payment> pay = sys.spawn<payment>();
//   auto pay = troupe::protect(sys.spawn<payment>())          // the one line
//                  .breaker({.failure_rate = {{.threshold = 0.5, .min_calls = 20}}})
//                  .retry({.max_attempts = 3})
//                  .limit(troupe::patterns::aimd_config{});
//   auto r = co_await pay.ask(charge{42}, 1s);     // same ask_future<T> as before
//   pay.send(audit{...});                          // refused (circuit_open) while open
//
// Composition, as tower's ServiceBuilder: each builder call adds a layer
// *inside* the ones before it, so the first is the outermost. A request
// passes inward through the layers to the actor and its answer comes back
// outward through the same layers. `.breaker(b).retry(r).limit(l)` means
//
//   breaker ( retry ( limit ( actor ) ) )
//
// and that is the order to use by default:
//  - the breaker is outermost, so an open breaker refuses a request at once,
//    before it costs anything: no retry budget, no limiter slot, no timer,
//    and the actor's mailbox is never touched. It judges requests as the
//    caller sees them, after retries: a failure a retry hid is not a failure
//    of the dependency, and once retries can no longer hide failures (or the
//    budget runs out) they show, and the breaker trips. A half-open probe is
//    one request: its retries share the probe's deadline.
//  - retries sit inside the breaker and outside the limit: each retry is a
//    new pass through the limit, so it waits for (or is shed by) the limit
//    like any call, and a shed attempt (`overloaded`) is not retried.
//  - the limit is innermost: it counts and times real attempts in flight at
//    the dependency (retries and hedges included, backoff excluded), which
//    is what an adaptive limit must measure.
// Other orders compose too. `.retry(r).breaker(b)` gives the per-attempt
// breaker of resilience4j and Polly: every attempt is counted, and an open
// breaker stops the retries (circuit_open is not retried). `.retry(r)
// .timeout(d)` bounds each attempt by d; `.hedge(h)` inside `.retry(r)` hedges
// each attempt. Each layer kind may appear more than once.
//
// Properties of the whole handle (not layers; any position in the chain):
// `.fallback(...)` (applies last, to the answer the outermost layer gives),
// `.classify(...)`, `.seed(...)`. `.budget(...)` is shared by the retry and
// hedge layers added after it (call it before them; afterwards it throws).
//
// How outcomes flow: each attempt is a plain ask of the target whose
// completion (a hook, never a blocked thread) is classified into an outcome
// (success, failure, timeout, overloaded, circuit_open, cancelled; by the
// `.classify` predicate for the reply type if one is given, else: a value is
// a success, errors by their actor_errc), recorded by each layer on its way
// out (breaker.record, ticket.complete...), and retried or hedged by the
// layers that do; the outermost answer completes the future the caller
// holds, which is the same troupe::ask_future<T> a plain ask returns. A
// refusal is an error the caller can tell apart from a failure:
// actor_errc::circuit_open (breaker) or actor_errc::overloaded (limit,
// bulkhead); patterns::to_actor_errc() maps the patterns' own errc so.
// Backoffs and hedges wait on the runtime's timer wheel; no retry is sent
// past the request's deadline.
//
// Sends: a send has no answer, so it cannot be recorded, retried or
// hedged. Each layer only admits it or refuses it: the breaker refuses
// unless closed (or disabled), with circuit_open; the limit and the
// bulkhead refuse, with overloaded, when no slot of the message's class is
// free (and take none); retry, hedge and timeout let it through. A refused
// send is counted in counters().sends_refused, not as a dead letter (it never
// reached a mailbox).
//
// Thread-safety: a protected_ref is a handle like actor_ref: cheap to copy
// (one shared pointer), every member thread-safe. The builder calls return
// a new handle and leave this one as it was; the handles share the layers
// (and so the breaker, the limiter, the budget) that both contain.
//
// Time comes only from the runtime's clock (a manual_clock in tests) and
// randomness from a seeded source (`.seed`, and each core's config seed).

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/ask.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/patterns/bulkhead.hpp"
#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/patterns/detail/layers.hpp"
#include "troupe/patterns/detail/pipeline.hpp"
#include "troupe/patterns/hedging.hpp"
#include "troupe/patterns/limits.hpp"
#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/patterns/retry.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace troupe {

// Per-call override of the message type's safe_to_retry trait (retry.hpp).
using patterns::retry_safety;

// protection_counters (what a chain has done): detail/pipeline.hpp, beside its storage.

// How the pipeline asks a target. Specialised for actor_ref<A> here and
// for the routers in actor_router.hpp.
template <class Target>
struct protect_target;

template <class A>
struct protect_target<actor_ref<A>> {
  using actor_type = A;
  static detail::system_impl* system(const actor_ref<A>& r) noexcept { return r.cell()->sys; }
  static detail::actor_cell* cell(const actor_ref<A>& r) noexcept { return r.cell(); }
  // One attempt: an ask with exactly this deadline; `now` was just read.
  template <class M, class X>
  static detail::reply_state<detail::reply_t<A, M>>* start(const actor_ref<A>& r, X&& m,
                                                           clock::time_point deadline, when_full full,
                                                           message_priority p, clock::time_point now) {
    return detail::start_ask<A, M>(r.cell(), std::forward<X>(m), deadline, full, p, now);
  }
};

namespace patterns::detail {

// The reply type of a callable's first parameter, for classify/fallback.
template <class F>
struct first_param : first_param<decltype(&F::operator())> {};
template <class R, class Arg, class... Rest>
struct first_param<R (*)(Arg, Rest...)> {
  using type = Arg;
};
template <class C, class R, class Arg, class... Rest>
struct first_param<R (C::*)(Arg, Rest...) const> {
  using type = Arg;
};
template <class C, class R, class Arg, class... Rest>
struct first_param<R (C::*)(Arg, Rest...)> {
  using type = Arg;
};
template <class F>
using first_param_t = std::remove_cvref_t<typename first_param<std::decay_t<F>>::type>;

template <class R>
struct result_value;
template <class T>
struct result_value<result<T>> {
  using type = T;
};

template <class F>
struct is_ask_future : std::false_type {};
template <class T>
struct is_ask_future<ask_future<T>> : std::true_type {};

// A user's reading of replies of one type: result<T> -> outcome.
struct classifier_entry {
  const void* type;  // &troupe::detail::type_tag<T>
  std::function<outcome(const void*)> fn;
};

// What a fallback gets and gives: the failed result; a value now (ready)
// or an ask to wait for (pending, one reference).
template <class T>
struct fallback_io {
  const result<T>* failed;
  time_point deadline;
  message_priority prio;
  std::optional<result<T>> ready;
  troupe::detail::reply_state<T>* pending = nullptr;
};

// A fallback for one message type M: fn(const M*, fallback_io<reply>*).
struct fallback_entry {
  const void* type;  // &troupe::detail::type_tag<M>
  std::function<void(const void*, void*)> fn;
};

// The layers and properties of one handle. Immutable once built: the
// builder calls copy it and add to the copy.
struct stack {
  std::vector<std::shared_ptr<layer>> layers;
  std::shared_ptr<protection_stats> stats = std::make_shared<protection_stats>();
  std::shared_ptr<circuit_breaker> breaker;  // the outermost breaker, for state and events
  std::shared_ptr<retry_budget> budget;      // of the retry and hedge layers
  std::shared_ptr<hedging_policy> hedging;   // the outermost hedge layer's
  std::shared_ptr<shared_random_source> rng = std::make_shared<shared_random_source>(0x8c3f5d9a1e7b2640ULL);
  std::vector<classifier_entry> classifiers;
  std::vector<fallback_entry> fallbacks;
  actor_addr fallback_actor;  // of the target's class: a fallback for every message
  bool multi = false;         // a retry or hedge layer: a request may be sent more than once

  const classifier_entry* classifier(const void* type) const noexcept {
    for (const auto& c : classifiers)
      if (c.type == type) return &c;
    return nullptr;
  }
  const fallback_entry* fallback(const void* type) const noexcept {
    for (const auto& f : fallbacks)
      if (f.type == type) return &f;
    return nullptr;
  }
};

// A stack and the target below it: what a handle and each of its requests
// hold (one shared pointer).
template <class Target>
struct target_stack : stack {
  Target target;
};

// One attempt at the bottom of the pipeline: the completion hook of one ask
// of the target, and then the box carrying its classified result upward.
template <class T>
class attempt final : public typed_box<T>,
                      public troupe::detail::completion_hook,
                      public cancellable,
                      public troupe::detail::small_object {
 public:
  // `embedded`: built in the call's own storage (a request with one attempt
  // only), so destroying the box frees no memory but gives back the call
  // reference the attempt holds.
  attempt(call_base* c, const hop& h, const classifier_entry* cls, bool embedded) noexcept
      : call_(c), up_(h.up), scope_(h.scope), cls_(cls) {
    this->destroy = embedded ? &destroy_embedded : &destroy_box;
    this->run = &fire;
    if (scope_) scope_->add_ref();
  }

  // The ask is out (s: its state, our reference): wait for it.
  void arm(troupe::detail::reply_state<T>* s) noexcept {
    st_ = s;
    if (scope_ && !scope_->add(this)) {  // the pass was already cancelled
      troupe::detail::abandon_reply(st_);
      return cancelled();
    }
    troupe::detail::register_hook(st_, this);  // may run fire() at once
  }
  // Starting the ask threw.
  void fail_now(std::exception_ptr e) noexcept {
    this->value = result<T>(std::move(e));
    send_up(outcome::failure, false);
  }

 private:
  static void destroy_box(reply_box* b) noexcept { delete static_cast<attempt*>(b); }
  static void destroy_embedded(reply_box* b) noexcept {
    auto* self = static_cast<attempt*>(b);
    call_ref keep = std::move(self->call_);  // the storage is the call's: destroy first, release after
    self->~attempt();
  }

  static void fire(troupe::detail::completion_hook* h, troupe::detail::reply_state_base* s) noexcept {
    auto* self = static_cast<attempt*>(h);
    if (self->scope_) self->scope_->remove(self);
    auto* st = static_cast<troupe::detail::reply_state<T>*>(s);
    self->value = std::move(st->value);
    // Written under the state's lock before the hook runs (on this thread,
    // or before register_hook took that lock), and never again: visible
    // here. Not `delivered`: a reply arriving after the deadline sets that
    // meanwhile, under the lock, on another thread.
    const bool replied = st->replied;
    st->release();  // the hook's reference
    self->st_ = nullptr;
    outcome o;
    try {
      o = self->cls_ ? self->cls_->fn(&self->value) : default_outcome(self->value);
    } catch (...) {
      o = outcome::failure;
    }
    self->send_up(o, replied);
  }

  bool try_cancel() noexcept override { return troupe::detail::cancel_hook(st_, this); }
  void cancelled() noexcept override {
    if (st_) std::exchange(st_, nullptr)->release();  // cancel_hook gave the hook's reference back
    this->value = result<T>(
        std::make_exception_ptr(actor_error(actor_errc::cancelled, "the pass was cancelled (a hedge lost)")));
    send_up(outcome::cancelled, false);
  }

  void send_up(outcome o, bool replied) noexcept {
    answer a;
    a.o = o;
    a.replied = replied;
    sink* up = up_;
    a.reply = box_ptr(this);  // from here the answer owns this attempt
    up->done(std::move(a));
  }

  ~attempt() {
    if (scope_) scope_->release();
  }

  call_ref call_;
  sink* up_;
  cancel_scope* scope_;
  const classifier_entry* cls_;
  troupe::detail::reply_state<T>* st_ = nullptr;
};

// One request through a protected_ref: holds the message (for retries,
// hedges and the fallback), the target and the caller's reply.
template <class A, class M, class Target>
class call final : public call_base, public sink, public troupe::detail::small_object {
  using T = troupe::detail::reply_t<A, M>;
  using traits = protect_target<Target>;

 public:
  template <class X>
  call(std::shared_ptr<const target_stack<Target>> st, time_point deadline, message_priority p, when_full f,
       bool safe, X&& m)
      : call_base(&st->layers, st->rng.get(), traits::system(st->target), deadline, p, f, safe),
        st_(std::move(st)),
        outer_(traits::system(st_->target), deadline, traits::cell(st_->target)),
        cls_(st_->classifier(&troupe::detail::type_tag<T>)),
        fallback_(st_->fallback(&troupe::detail::type_tag<M>)),
        msg_(std::forward<X>(m)) {
    keep_ = (st_->multi && safe) || fallback_ || st_->fallback_actor;
  }

  // Starts the request (`now`: just read); the caller's future.
  ask_future<T> start(time_point now) noexcept {
    ask_future<T> f = outer_.take_future();
    protection_stats::bump(st_->stats->requests);
    if (st_->budget) st_->budget->on_request(now);
    pass(hop{this, 0, deadline(), now, nullptr, this});  // may complete (and free) the call at once
    return f;
  }

  bool waiting() const noexcept override { return outer_.waiting(); }

  // The outermost answer.
  void done(answer&& a) noexcept override {
    // A fallback only for a caller still waiting (not after its deadline).
    if (a.o != outcome::success && (fallback_ || st_->fallback_actor) && outer_.waiting() && try_fallback(a))
      return;
    finish(std::move(a));
  }

  void finish(answer&& a) noexcept {
    protection_stats::bump(a.o == outcome::success ? st_->stats->successes : st_->stats->failures);
    if (a.reply)
      outer_.complete(std::move(static_cast<typed_box<T>&>(*a.reply).value), a.replied);
    else
      outer_.fail(a.code, a.what ? a.what : to_string(a.code));
    release();  // the request's own reference
  }
  void finish_fallback(result<T>&& r) noexcept {
    protection_stats::bump(st_->stats->fallbacks);
    outer_.complete(std::move(r), true);
    release();
  }
  void fallback_failed() noexcept { protection_stats::bump(st_->stats->fallback_failures); }

 private:
  // Waits for a fallback's ask; gives the original answer if it fails.
  struct fallback_wait final : troupe::detail::completion_hook, troupe::detail::small_object {
    fallback_wait(call* c, answer&& a) noexcept : owner(c), original(std::move(a)) { this->run = &fire; }
    static void fire(troupe::detail::completion_hook* h, troupe::detail::reply_state_base* s) noexcept {
      std::unique_ptr<fallback_wait> self(static_cast<fallback_wait*>(h));
      result<T> r = std::move(static_cast<troupe::detail::reply_state<T>*>(s)->value);
      s->release();
      if (r.has_value()) return self->owner->finish_fallback(std::move(r));
      self->owner->fallback_failed();
      self->owner->finish(std::move(self->original));
    }
    call* owner;
    answer original;
  };

  bool try_fallback(answer& a) noexcept {
    std::optional<result<T>> made;
    const result<T>* failed;
    if (a.reply) {
      failed = &static_cast<typed_box<T>&>(*a.reply).value;
    } else {
      made.emplace(std::make_exception_ptr(actor_error(a.code, a.what ? a.what : to_string(a.code))));
      failed = &*made;
    }
    fallback_io<T> io{failed, deadline(), priority(), std::nullopt, nullptr};
    try {
      if (fallback_) {
        fallback_->fn(&*msg_, &io);
      } else if constexpr (std::is_copy_constructible_v<M>) {
        io.pending = troupe::detail::start_ask<A, M>(st_->fallback_actor.cell(), static_cast<const M&>(*msg_),
                                                     deadline(), when_full::wait, priority());
      }
    } catch (...) {
      fallback_failed();
      return false;
    }
    if (io.ready) {
      if (io.ready->has_value()) {
        finish_fallback(std::move(*io.ready));
        return true;
      }
      fallback_failed();
      return false;
    }
    if (!io.pending) return false;
    fallback_wait* w;
    try {
      w = new fallback_wait(this, std::move(a));
    } catch (...) {
      troupe::detail::abandon_reply(io.pending);
      io.pending->release();
      fallback_failed();
      return false;
    }
    troupe::detail::register_hook(io.pending, w);
    return true;
  }

  void launch(const hop& h) noexcept override {
    attempt<T>* a;
    if (!st_->multi && !embedded_used_) {
      // Without retry or hedge layers a request makes one attempt: it lives
      // in the call's storage (one allocation fewer per request).
      embedded_used_ = true;
      a = ::new (static_cast<void*>(embedded_)) attempt<T>(this, h, cls_, true);
    } else {
      try {
        a = new attempt<T>(this, h, cls_, false);
      } catch (...) {
        h.up->done(
            answer::refusal(outcome::failure, actor_errc::handler_failed, "protected ask: out of memory"));
        return;
      }
    }
    troupe::detail::reply_state<T>* s;
    try {
      if constexpr (std::is_copy_constructible_v<M>) {
        if (keep_) {
          s = traits::template start<M>(st_->target, static_cast<const M&>(*msg_), h.deadline, full(),
                                        priority(), h.now);
        } else {
          s = traits::template start<M>(st_->target, std::move(*msg_), h.deadline, full(), priority(), h.now);
        }
      } else {
        s = traits::template start<M>(st_->target, std::move(*msg_), h.deadline, full(), priority(), h.now);
      }
    } catch (...) {
      a->fail_now(std::current_exception());
      return;
    }
    a->arm(s);
  }
  void destroy() noexcept override { delete this; }

  std::shared_ptr<const target_stack<Target>> st_;
  troupe::detail::pending_reply<T> outer_;
  const classifier_entry* cls_;
  const fallback_entry* fallback_;
  std::optional<M> msg_;
  bool keep_ = false;
  bool embedded_used_ = false;
  alignas(attempt<T>) unsigned char embedded_[sizeof(attempt<T>)];
};

// The options an ask takes after its deadline, in any order.
struct ask_options {
  when_full full = when_full::wait;
  retry_safety safety = retry_safety::by_type;
  std::optional<message_priority> prio;
  void set(when_full f) noexcept { full = f; }
  void set(retry_safety s) noexcept { safety = s; }
  void set(message_priority p) noexcept { prio = p; }
};
template <class O>
concept ask_option =
    std::same_as<O, when_full> || std::same_as<O, retry_safety> || std::same_as<O, message_priority>;

}  // namespace patterns::detail

// A dependency behind resilience layers, with the surface of actor_ref<A>.
// Target: actor_ref<A> (from protect(actor_ref)) or a router of A
// (actor_router.hpp). See the header comment for the composition order.
template <class A, class Target = actor_ref<A>>
class protected_ref {
  using stack = patterns::detail::target_stack<Target>;
  using traits = protect_target<Target>;

 public:
  using actor_type = A;
  using target_type = Target;

  protected_ref() = default;
  // No layers yet: behaves as the target itself. Throws
  // actor_error(invalid_argument) for an empty target.
  explicit protected_ref(Target target) {
    if (!target) throw actor_error(actor_errc::invalid_argument, "protect: an empty target");
    auto s = std::make_shared<stack>();
    s->target = std::move(target);
    st_ = std::move(s);
  }

  // ------------------------------------------------------------- builder
  // Each returns a new handle with one more layer inside the existing ones
  // (or one more property); this handle is unchanged. Not for the hot path:
  // build once, keep the handle. Thread-safe.

  // A circuit breaker (circuit_breaker.hpp). Throws std::invalid_argument
  // for a bad config. The shared_ptr form shares one breaker between handles.
  protected_ref breaker(patterns::circuit_breaker_config cfg = {}) const {
    return breaker(std::make_shared<patterns::circuit_breaker>(std::move(cfg)));
  }
  protected_ref breaker(std::shared_ptr<patterns::circuit_breaker> b) const {
    return with([&](stack& s) {
      if (!s.breaker) s.breaker = b;
      s.layers.push_back(patterns::detail::make_breaker_layer(std::move(b), s.stats));
    });
  }
  // Retries (retry.hpp) under the handle's retry budget (by default, one per
  // chain: ratio 0.2 per request, 10 tokens a second, 10 to start with, at
  // most 100). Only requests safe to retry are retried: the message type's
  // trait, or retry_safety::safe per ask.
  protected_ref retry(patterns::retry_config cfg = {}) const {
    return with([&](stack& s) {
      ensure_budget(s);
      s.multi = true;
      s.layers.push_back(patterns::detail::make_retry_layer(cfg, s.budget, s.stats));
    });
  }
  // The retry budget of the retry and hedge layers added after this call:
  // shared with other handles (one budget per destination) through the
  // shared_ptr form. Throws std::logic_error after a retry or hedge layer.
  protected_ref budget(patterns::retry_budget_config cfg) const {
    return budget(std::make_shared<patterns::retry_budget>(cfg, patterns::detail::time_point(now())));
  }
  protected_ref budget(std::shared_ptr<patterns::retry_budget> b) const {
    if (st_ && st_->multi)
      throw std::logic_error("protect: .budget() must come before .retry() and .hedge()");
    return with([&](stack& s) { s.budget = std::move(b); });
  }
  // Hedged requests (hedging.hpp): a second copy after the delay, charged
  // to the retry budget, for requests safe to retry; the first answer wins,
  // the other copy is cancelled (its ask abandoned: a late reply is an
  // `unanswered` dead letter) and counted in hedge_losers.
  protected_ref hedge(patterns::hedging_config cfg = {}) const {
    return with([&](stack& s) {
      ensure_budget(s);
      auto h = std::make_shared<patterns::hedging_policy>(cfg, *s.budget);
      if (!s.hedging) s.hedging = h;
      s.multi = true;
      s.layers.push_back(patterns::detail::make_hedge_layer(std::move(h), s.budget, s.stats));
    });
  }
  // An adaptive concurrency limit (limits.hpp); above it requests are shed
  // at once with actor_errc::overloaded, best effort first, critical last.
  // The shared_ptr form puts one limit in front of several handles (a group).
  protected_ref limit(patterns::aimd_config cfg, patterns::limiter_config lc = {}) const {
    return limit(std::make_shared<patterns::concurrency_limiter<patterns::aimd_limit>>(cfg, lc));
  }
  protected_ref limit(patterns::gradient_config cfg, patterns::limiter_config lc = {}) const {
    return limit(std::make_shared<patterns::concurrency_limiter<patterns::gradient_limit>>(cfg, lc));
  }
  protected_ref limit(patterns::fixed_limit cfg, patterns::limiter_config lc = {}) const {
    return limit(std::make_shared<patterns::concurrency_limiter<patterns::fixed_limit>>(cfg, lc));
  }
  template <class Limit>
  protected_ref limit(std::shared_ptr<patterns::concurrency_limiter<Limit>> l) const {
    return with([&](stack& s) {
      s.layers.push_back(std::make_shared<patterns::detail::limit_layer<Limit>>(std::move(l), s.stats));
    });
  }
  // At most n passes in flight at once (bulkhead.hpp); more: overloaded at once.
  protected_ref bulkhead(std::uint32_t n) const { return bulkhead(std::make_shared<patterns::bulkhead>(n)); }
  protected_ref bulkhead(std::shared_ptr<patterns::bulkhead> b) const {
    return with(
        [&](stack& s) { s.layers.push_back(patterns::detail::make_bulkhead_layer(std::move(b), s.stats)); });
  }
  // Every pass inside this layer ends by now + d (an ask inside it times
  // out then), within the request's deadline: a per-attempt timeout when
  // placed inside .retry().
  template <class Rep, class Period>
  protected_ref timeout(std::chrono::duration<Rep, Period> d) const {
    const auto ns = std::chrono::ceil<clock::duration>(d);
    return with([&](stack& s) { s.layers.push_back(patterns::detail::make_timeout_layer(ns)); });
  }

  // A fallback for one message type M, answering when the request's answer
  // is not a success (a failure, a timeout, a refusal). f is called as
  // f(const M&) or f(const M&, const result<T>& failed), on the thread where
  // the request ended (keep it short), and returns T, result<T>, or an
  // ask_future<T> (e.g. a cache actor's ask). If it gives no value, the
  // caller gets the original error. Counted in fallbacks.
  template <class F>
  requires(!std::is_convertible_v<F, actor_addr>) protected_ref fallback(F f)
  const {
    using M = patterns::detail::first_param_t<F>;
    using T = detail::reply_t<A, M>;
    static_assert(handles<A, M>, "fallback: the first parameter must be a message the actor handles");
    static_assert(std::is_copy_constructible_v<M>,
                  "fallback: the message must be copyable (it is kept for it)");
    auto fn = [f = std::move(f)](const void* msg, void* io_) {
      auto& io = *static_cast<patterns::detail::fallback_io<T>*>(io_);
      const M& m = *static_cast<const M*>(msg);
      auto call = [&]() -> decltype(auto) {
        if constexpr (std::is_invocable_v<const F&, const M&, const result<T>&>)
          return std::invoke(f, m, *io.failed);
        else
          return std::invoke(f, m);
      };
      using R = std::remove_cvref_t<decltype(call())>;
      if constexpr (patterns::detail::is_ask_future<R>::value) {
        io.pending = call().release_state();
      } else if constexpr (std::is_same_v<R, result<T>>) {
        io.ready.emplace(call());
      } else if constexpr (std::is_void_v<T>) {
        call();
        io.ready.emplace(result<void>::ok());
      } else {
        io.ready.emplace(T(call()));
      }
    };
    return with([&](stack& s) { s.fallbacks.push_back({&detail::type_tag<M>, std::move(fn)}); });
  }
  // Another actor of the same class (a cache, a replica) asked with the same
  // message whenever a request fails, for every message type.
  protected_ref fallback(actor_ref<A> other) const {
    if (!other) throw actor_error(actor_errc::invalid_argument, "protect: an empty fallback actor");
    return with([&](stack& s) { s.fallback_actor = std::move(other); });
  }
  // An actor of another class, for the message types listed (each must
  // have the same reply type there): fallback<get_price, get_stock>(cache).
  template <class... Ms, class C>
  requires(sizeof...(Ms) > 0 && !std::is_same_v<C, A>) protected_ref fallback(actor_ref<C> other)
  const {
    static_assert((handles<C, Ms> && ...), "fallback: the fallback actor must handle every listed message");
    static_assert((std::is_same_v<detail::reply_t<C, Ms>, detail::reply_t<A, Ms>> && ...),
                  "fallback: the fallback actor must reply with the same type");
    if (!other) throw actor_error(actor_errc::invalid_argument, "protect: an empty fallback actor");
    return with([&](stack& s) { (add_actor_fallback<Ms>(s, other), ...); });
  }

  // How replies of type T count: pred(const result<T>&) returning an
  // outcome, or a bool (true: success, false: failure). Replaces the
  // default (a value is a success, errors by their code) for that type.
  template <class F>
  protected_ref classify(F pred) const {
    using R = patterns::detail::first_param_t<F>;
    using T = typename patterns::detail::result_value<R>::type;
    auto fn = [pred = std::move(pred)](const void* r) -> patterns::outcome {
      const auto& res = *static_cast<const result<T>*>(r);
      if constexpr (std::is_same_v<std::invoke_result_t<const F&, const result<T>&>, patterns::outcome>)
        return std::invoke(pred, res);
      else
        return std::invoke(pred, res) ? patterns::outcome::success : patterns::outcome::failure;
    };
    return with([&](stack& s) { s.classifiers.push_back({&detail::type_tag<T>, std::move(fn)}); });
  }
  // Seeds the handle's random source (retry jitter, for every retry layer of
  // the handle wherever this call is; each core's own seed is in its
  // config). Fixed by default, so runs repeat.
  protected_ref seed(std::uint64_t s) const {
    return with([&](stack& st) { st.rng = std::make_shared<patterns::shared_random_source>(s); });
  }

  // ------------------------------------------------------------- surface

  // Request/response through the layers: the same ask_future<T> a plain ask
  // gives (get, co_await, then, on_complete). After the deadline, any of
  // when_full (the target's full mailbox: wait or fail), retry_safety (this
  // request may or may not be retried or hedged, overriding the type's
  // trait) and message_priority (for limits and the callee's shedder), in
  // any order. Made inside a handler, the deadline is capped by the
  // request being handled, as with actor_ref. Never blocks, never throws
  // for a refused request (the future holds circuit_open, overloaded...).
  // Thread-safe.
  template <class M, class... Opts>
  requires handles<A, std::decay_t<M>> &&
      (patterns::detail::ask_option<Opts>&&...) auto ask(M&& m, clock::time_point deadline,
                                                         Opts... opts) const {
    check("protected_ref::ask");
    return ask_at(std::forward<M>(m), deadline, detail::now_of(traits::system(st_->target)), opts...);
  }
  template <class M, class Rep, class Period, class... Opts>
  requires handles<A, std::decay_t<M>> &&
      (patterns::detail::ask_option<Opts>&&...) auto ask(M&& m, std::chrono::duration<Rep, Period> timeout,
                                                         Opts... opts) const {
    check("protected_ref::ask");
    const clock::time_point now = detail::now_of(traits::system(st_->target));
    return ask_at(std::forward<M>(m), clock::after(now, timeout), now, opts...);
  }

  // Fire and forget, as actor_ref::send, if every layer admits it (see the
  // header comment); otherwise circuit_open or overloaded at once.
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m)
  const {
    if (const actor_errc c = admit_send<std::decay_t<M>>(); c != actor_errc::ok) return c;
    return st_->target.send(std::forward<M>(m));
  }
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m, clock::time_point deadline,
                                                        when_full full = when_full::wait)
  const {
    if (const actor_errc c = admit_send<std::decay_t<M>>(); c != actor_errc::ok) return c;
    return st_->target.send(std::forward<M>(m), deadline, full);
  }
  template <class M>
  requires handles<A, std::decay_t<M>> send_result try_send(M&& m)
  const {
    if (const actor_errc c = admit_send<std::decay_t<M>>(); c != actor_errc::ok) return c;
    return st_->target.try_send(std::forward<M>(m));
  }
  // A refusal completes the future at once with its code.
  template <class M>
  requires handles<A, std::decay_t<M>> ask_future<void> send_async(
      M&& m, clock::time_point deadline = clock::time_point::max())
  const {
    if (const actor_errc c = admit_send<std::decay_t<M>>(); c != actor_errc::ok) {
      detail::pending_reply<void> r(traits::system(st_->target), deadline, nullptr);
      ask_future<void> f = r.take_future();
      r.fail(c, to_string(c));
      return f;
    }
    return st_->target.send_async(std::forward<M>(m), deadline);
  }

  // ----------------------------------------------------------- observation

  explicit operator bool() const noexcept { return st_ != nullptr; }
  // The target; only on a non-empty handle.
  const Target& target() const noexcept { return st_->target; }
  protection_counters counters() const noexcept {
    return st_ ? patterns::detail::read_counters(*st_->stats) : protection_counters{};
  }
  // Internal (pattern_metrics): the counters' storage, shared by every
  // handle built from the same protect() call; null on an empty handle.
  std::shared_ptr<const patterns::detail::protection_stats> stats_storage() const noexcept {
    return st_ ? st_->stats : nullptr;
  }
  // The outermost breaker (state(), counters(), force_open()...), the
  // retry budget and the outermost hedge policy; null if there is none.
  patterns::circuit_breaker* breaker_core() const noexcept { return st_ ? st_->breaker.get() : nullptr; }
  patterns::retry_budget* budget_core() const noexcept { return st_ ? st_->budget.get() : nullptr; }
  patterns::hedging_policy* hedging_core() const noexcept { return st_ ? st_->hedging.get() : nullptr; }
  // Breaker state changes (circuit_breaker::subscribe): called on the thread
  // that made the change. Throws std::logic_error without a breaker.
  std::uint64_t subscribe(patterns::circuit_breaker::listener l) const {
    if (!breaker_core()) throw std::logic_error("protected_ref::subscribe: no breaker");
    return st_->breaker->subscribe(std::move(l));
  }
  bool unsubscribe(std::uint64_t id) const { return breaker_core() && st_->breaker->unsubscribe(id); }

  // The runtime clock of the target's system.
  clock::time_point now() const {
    check("protected_ref");
    return detail::now_of(traits::system(st_->target));
  }

 private:
  void check(const char* what) const {
    if (!st_) throw actor_error(actor_errc::invalid_argument, std::string(what) + ": an empty handle");
  }
  template <class F>
  protected_ref with(F&& change) const {
    check("protect");
    auto next = std::make_shared<stack>(*st_);
    change(*next);
    protected_ref r;
    r.st_ = std::move(next);
    return r;
  }
  void ensure_budget(stack& s) const {
    if (!s.budget)
      s.budget = std::make_shared<patterns::retry_budget>(
          patterns::retry_budget_config{
              .ratio = 0.2, .floor_per_second = 10.0, .max_tokens = 100.0, .initial_tokens = 10.0},
          now());
  }
  template <class M, class C>
  static void add_actor_fallback(stack& s, const actor_ref<C>& other) {
    using T = detail::reply_t<A, M>;
    s.fallbacks.push_back({&detail::type_tag<M>, [other](const void* msg, void* io_) {
                             auto& io = *static_cast<patterns::detail::fallback_io<T>*>(io_);
                             io.pending = detail::start_ask<C, M>(other.cell(), *static_cast<const M*>(msg),
                                                                  io.deadline, when_full::wait, io.prio);
                           }});
  }
  template <class M>
  actor_errc admit_send() const {
    check("protected_ref::send");
    const patterns::detail::send_info info{traits::system(st_->target), priority_of_v<M>};
    for (const auto& l : st_->layers) {
      if (const actor_errc c = l->admit_send(info); c != actor_errc::ok) {
        patterns::detail::protection_stats::bump(st_->stats->sends_refused);
        return c;
      }
    }
    return actor_errc::ok;
  }

  template <class M, class... Opts>
  auto ask_at(M&& m, clock::time_point deadline, clock::time_point now, Opts... opts) const {
    using Msg = std::decay_t<M>;
    using T = detail::reply_t<A, Msg>;
    patterns::detail::ask_options o;
    (o.set(opts), ...);
    const message_priority prio = o.prio ? *o.prio : priority_of_v<Msg>;
    const bool safe = patterns::may_retry<Msg>(o.safety) && std::is_copy_constructible_v<Msg>;
    detail::system_impl* sys = traits::system(st_->target);
    detail::actor_cell* cell = traits::cell(st_->target);
    deadline = detail::ask_deadline(cell, deadline);
    if (deadline <= now) {
      detail::note_dead_letter(sys, cell, dead_letter_reason::deadline_passed,
                               detail::type_name(typeid(Msg)));
      detail::pending_reply<T> r(sys, deadline, cell);
      ask_future<T> f = r.take_future();
      r.fail(actor_errc::deadline_passed, "ask: the deadline is already in the past");
      return f;
    }
    auto* c =
        new patterns::detail::call<A, Msg, Target>(st_, deadline, prio, o.full, safe, std::forward<M>(m));
    return c->start(now);
  }

  std::shared_ptr<const stack> st_;
};

// Starts a protection chain around `ref`: no layers yet; add them with the
// builder calls. Throws actor_error(invalid_argument) for an empty ref.
template <class A>
protected_ref<A> protect(actor_ref<A> ref) {
  return protected_ref<A>(std::move(ref));
}

}  // namespace troupe
