#pragma once
// Handles to actors.
//
// actor_addr: an untyped handle (identity, stop, stats, watch). actor_ref<A>:
// adds typed send/try_send/send_async/ask and timers, checked at compile
// time: sending a message type that A has no handler for does not compile
// (the `handles` concept). Both are one pointer, cheap to copy (one relaxed
// atomic increment) and safe to use from any thread, inside or outside the
// runtime. A handle keeps the actor's cell (mailbox and counters) alive,
// never the actor itself: sends to a stopped actor are refused and counted
// as dead letters. Handles must not be used after their actor_system is
// destroyed.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actors/ask.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/actors/task.hpp"
#include "troupe/actors/timer.hpp"

namespace troupe {

// True when actor class A has a handler for message type M: a public member
// `on` callable with an rvalue M (`R on(M)`, `R on(const M&)` or `R on(M&&)`).
// The reply to an ask is the handler's return value; or, for a handler
// returning task<R> or reentrant_task<R>, its co_return value; a handler
// returning reply_promise<T> replies later.
template <class A, class M>
concept handles = requires(A& a, M&& m) {
  a.on(std::forward<M>(m));
};

class actor_addr;

namespace detail {

template <class A, class M>
using handler_result_t = decltype(std::declval<A&>().on(std::declval<M&&>()));

template <class R>
struct reply_of {
  using type = std::decay_t<R>;
};
template <>
struct reply_of<void> {
  using type = void;
};
template <class T>
struct reply_of<reply_promise<T>> {
  using type = T;
};
template <class T>
struct reply_of<task<T>> {
  using type = T;
};
template <class T>
struct reply_of<reentrant_task<T>> {
  using type = T;
};
template <class R>
inline constexpr bool is_reply_promise = false;
template <class T>
inline constexpr bool is_reply_promise<reply_promise<T>> = true;

// The reply type of asking an A with an M.
template <class A, class M>
using reply_t = typename reply_of<std::remove_cvref_t<handler_result_t<A, M>>>::type;

// What every actor object carries (8 bytes): its cell.
class actor_base {
 public:
  actor_base();  // takes the cell being constructed; throws if not made by spawn
  actor_base(const actor_base&) = delete;
  actor_base& operator=(const actor_base&) = delete;

 protected:
  actor_cell* troupe_cell_;
  template <class A>
  friend actor_cell* cell_of(A& a) noexcept;
};
template <class A>
actor_cell* cell_of(A& a) noexcept {
  return static_cast<actor_base&>(a).troupe_cell_;
}

// Whether a handler's coroutine may interleave with other messages.
bool actor_reentrant(const actor_cell* c) noexcept;

template <class A, class M>
struct user_envelope final : envelope {
  template <class X>  // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): envelopes are never copied
  explicit user_envelope(X&& x) : msg(std::forward<X>(x)) {
    this->fn = &run;
  }
  static void free(user_envelope* e) noexcept {
    if (e->reply) e->reply->release();
    e->~user_envelope();
    actor_free(e, sizeof(user_envelope));
  }
  static void run(envelope* base, actor_cell* c, envelope_op op, dead_letter_reason why);
  M msg;
};

inline actor_errc error_for(dead_letter_reason why) noexcept {
  switch (why) {
    case dead_letter_reason::mailbox_full:
      return actor_errc::mailbox_full;
    case dead_letter_reason::dropped_newest:
    case dead_letter_reason::dropped_oldest:
      return actor_errc::dropped;
    case dead_letter_reason::expired:
      return actor_errc::timeout;
    case dead_letter_reason::deadline_passed:
      return actor_errc::deadline_passed;
    case dead_letter_reason::system_stopped:
      return actor_errc::system_stopped;
    case dead_letter_reason::shed:
      return actor_errc::overloaded;
    default:
      return actor_errc::actor_stopped;
  }
}

// The name of a message type for dead letters and metrics (demangled once).
const char* type_name(const std::type_info& t) noexcept;

template <class A, class M>
void user_envelope<A, M>::run(envelope* base, actor_cell* c, envelope_op op, dead_letter_reason why) {
  auto* e = static_cast<user_envelope*>(base);
  using R = handler_result_t<A, M>;
  using T = reply_t<A, M>;
  struct guard {
    user_envelope* e;
    turn_context* t = nullptr;
    ~guard() {
      if (t) {
        t->current = nullptr;
        t->deadline = no_deadline;
      }
      free(e);
    }
  } g{e};
  if (op == envelope_op::reject) {
    note_dead_letter(c->sys, c, why, type_name(typeid(M)));
    if (e->reply) complete_error<T>(e->reply, error_for(why), to_string(error_for(why)));
    return;
  }
  A& a = object_of<A>(c);
  turn_context* t = current_turn();
  t->current = e;
  t->deadline = e->deadline;
  g.t = t;
  reply_state_base* rs = e->reply;
  if constexpr (is_task<std::remove_cvref_t<R>>) {
    // A coroutine handler: the root takes over the reply; it answers when
    // the coroutine finishes, now or in a later turn.
    auto* root = new coroutine_root{c,
                                    a.on(std::move(e->msg)).release_frame(),
                                    std::exchange(e->reply, nullptr),
                                    &finish_root_as<T>,
                                    turn_context{c, nullptr, e->deadline, nullptr},
                                    c->incarnation,
                                    actor_reentrant(c) || is_reentrant_task<std::remove_cvref_t<R>>};
    start_root(c, root);
  } else {
    try {
      if constexpr (std::is_void_v<R>) {
        a.on(std::move(e->msg));
        if (rs) complete_with<void>(rs, true, result<void>::ok());
      } else if constexpr (is_reply_promise<std::remove_cvref_t<R>>) {
        { auto discard = a.on(std::move(e->msg)); }
        // No promise was ever taken: nobody can reply.
        if (rs && rs->promises.load(std::memory_order_acquire) == 0)
          complete_error<T>(rs, actor_errc::broken_reply, "handler returned a reply_promise it never took");
      } else if (rs) {
        complete_with<T>(rs, true, result<T>(T(a.on(std::move(e->msg)))));
      } else {
        (void)a.on(std::move(e->msg));
      }
    } catch (...) {
      if (rs) complete_with<T>(rs, true, handler_error<T>(std::current_exception()));
      throw;
    }
  }
}

template <class A, class M, class X>
envelope* new_envelope(X&& x) {
  using env = user_envelope<A, M>;
  void* mem = actor_alloc(sizeof(env));
  try {
    envelope* e = new (mem) env(std::forward<X>(x));
    if constexpr (priority_of_v<M> != message_priority::normal) e->stamp.set_priority(priority_of_v<M>);
    return e;
  } catch (...) {
    actor_free(mem, sizeof(env));
    throw;
  }
}

// Sends an ask of `m` to `c` with exactly `deadline` (no capping by the
// current request's: the caller has decided it) and returns its state, with
// one reference for the caller (an ask_future's). What actor_ref::ask does
// after computing the deadline; also the patterns layer's way to make each
// attempt of a request it retries or hedges. Never throws for a refused
// request (the state then holds the error). Thread-safe.
// `now`: the runtime clock's time, read by the caller just before.
template <class A, class M, class X>
reply_state<reply_t<A, M>>* start_ask(actor_cell* c, X&& m, time_point deadline, when_full full,
                                      message_priority prio, time_point now) {
  using T = reply_t<A, M>;
  auto* s = new reply_state<T>(c->sys, deadline, c);
  if (tracing()) [[unlikely]]
    trace_ask(s);
  if (deadline <= now) {
    note_dead_letter(c->sys, c, dead_letter_reason::deadline_passed, type_name(typeid(M)));
    complete_error<T>(s, actor_errc::deadline_passed, "ask: the deadline is already in the past");
    return s;
  }
  envelope* e;
  try {
    e = new_envelope<A, M>(std::forward<X>(m));
  } catch (...) {
    s->release();
    throw;
  }
  e->stamp.set_priority(prio);
  s->add_ref();
  e->reply = s;
  e->deadline = deadline;
  post_user(c, e, full == when_full::wait ? send_mode::queue : send_mode::fail, deadline);
  return s;
}
template <class A, class M, class X>
reply_state<reply_t<A, M>>* start_ask(actor_cell* c, X&& m, time_point deadline, when_full full,
                                      message_priority prio) {
  return start_ask<A, M>(c, std::forward<X>(m), deadline, full, prio, now_of(c->sys));
}

// --- cell.cpp ------------------------------------------------------------------
bool cell_stopped(const actor_cell* c) noexcept;
actor_stats cell_stats(const actor_cell* c);
// Registers a watcher state completed with the exit_reason when c stops.
void add_watch(actor_cell* c, reply_state_base* s);
void request_stop(actor_cell* c, stop_mode mode, exit_kind why) noexcept;
void add_monitor(actor_cell* target, actor_cell* watcher);
void add_link(actor_cell* a, actor_cell* b);
void remove_link(actor_cell* a, actor_cell* b) noexcept;
// The deadline of a send or ask made now with `timeout` (saturated), capped
// by the current request's deadline for asks.
time_point ask_deadline(const actor_cell* target, time_point requested) noexcept;
// The runtime clock's now() + d for the system of c, saturated.
template <class Rep, class Period>
time_point after(const actor_cell* c, std::chrono::duration<Rep, Period> d) noexcept {
  return clock::after(now_of(c->sys), d);
}

// --- timers.cpp ------------------------------------------------------------------
// An actor timer (timer.hpp): delivers `make_delivery()` on the target's
// system lane when it fires.
struct actor_timer : timer_entry {
  explicit actor_timer(actor_cell* target, clock::duration period) noexcept;
  virtual ~actor_timer();
  virtual sys_message* make_delivery() = 0;

  std::atomic<std::uint32_t> refs{1};  // handles, plus one while armed
  std::atomic<bool> cancelled{false};
  std::atomic<bool> queued{false};  // a delivery waits in the mailbox (periodic ticks coalesce)
  actor_cell* target;               // one reference
  clock::duration period;
  actor_timer* live_prev = nullptr;  // the system's live timers (shutdown cancels them),
  actor_timer* live_next = nullptr;  // guarded by its timers_lock
  bool listed = false;               // on that list (guarded by the same lock)
};
// Arms `t` at `first` and returns its handle. An actor system that is
// shutting down refuses (the handle is inactive).
timer_handle start_timer(actor_timer* t, time_point first);
// A delivery ran or was disposed of: the next periodic tick may queue.
void delivery_done(actor_timer* t, bool delivered) noexcept;

template <class A, class M>
struct typed_timer final : actor_timer, small_object {
  template <class X>
  typed_timer(actor_cell* c, clock::duration p, X&& x) : actor_timer(c, p), msg(std::forward<X>(x)) {}
  struct delivery final : sys_message, small_object {
    delivery(typed_timer* t, M&& m) : owner(t), msg(std::move(m)) {
      this->fn = &run;
      this->user_code = true;
      retain_timer(owner);
    }
    static void run(sys_message* m, actor_cell* c, bool deliver) {
      std::unique_ptr<delivery> self(static_cast<delivery*>(m));
      struct done {
        actor_timer* t;
        bool delivered;
        ~done() {
          delivery_done(t, delivered);
          release_timer(t);
        }
      } d{self->owner, deliver};
      if (!deliver) {
        note_dead_letter(c ? c->sys : nullptr, c, dead_letter_reason::actor_stopped, type_name(typeid(M)));
        return;
      }
      (void)object_of<A>(c).on(std::move(self->msg));
    }
    typed_timer* owner;
    M msg;
  };
  sys_message* make_delivery() override {
    // A periodic timer sends copies; a one-shot one gives its message away.
    if constexpr (std::is_copy_constructible_v<M>) {
      if (period > clock::duration::zero()) return new delivery(this, M(msg));
    }
    return new delivery(this, std::move(msg));
  }
  M msg;
};

}  // namespace detail

// An untyped handle. Thread-safe.
class actor_addr {
 public:
  actor_addr() = default;
  actor_addr(const actor_addr& o) noexcept : c_(o.c_) {
    if (c_) detail::add_ref(c_);
  }
  actor_addr(actor_addr&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  actor_addr& operator=(actor_addr o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~actor_addr() {
    if (c_) detail::release_cell(c_);
  }

  explicit operator bool() const noexcept { return c_ != nullptr; }
  // Stopping or stopped: new messages are refused. Thread-safe.
  bool stopped() const noexcept { return c_ && detail::cell_stopped(c_); }
  // User messages accepted and not yet handled (or being handled): the
  // `depth` of stats(), as one relaxed load of the mailbox word, for
  // balancers reading many mailboxes per pick (stats() takes several loads
  // and the extension block). A recent value, not a synchronised one.
  // Thread-safe; 0 on an empty handle.
  std::size_t depth() const noexcept { return c_ ? detail::mailbox_depth(c_) : 0; }
  // Thread-safe snapshot. Throws actor_error(invalid_argument) on an empty handle.
  actor_stats stats() const {
    detail::check_ref(c_, "actor_addr::stats");
    return detail::cell_stats(c_);
  }
  // Asks the actor to stop. Graceful: it refuses new messages, handles every
  // accepted one, then stops; a supervisor stops its children first.
  // Immediate: queued messages become `unprocessed` dead letters (it takes
  // effect after the message being handled, at most `budget` messages
  // later; from the actor's own turn, right after the current message).
  // Thread-safe; idempotent.
  void stop(stop_mode mode = stop_mode::graceful) const {
    detail::check_ref(c_, "actor_addr::stop");
    detail::request_stop(c_, mode, mode == stop_mode::graceful ? exit_kind::normal : exit_kind::killed);
  }
  // A future completed with the exit reason when the actor has stopped (at
  // once if it already has), or actor_errc::timeout after `timeout`.
  // Thread-safe.
  template <class Rep, class Period>
  ask_future<exit_reason> watch(std::chrono::duration<Rep, Period> timeout) const {
    detail::check_ref(c_, "actor_addr::watch");
    auto* s = new detail::reply_state<exit_reason>(c_->sys, detail::after(c_, timeout), nullptr);
    s->add_ref();
    detail::add_watch(c_, s);
    return ask_future<exit_reason>(s);
  }
  // Links this actor with `other` (both ways): when one stops, the other
  // gets exit_signal if it has a handler for it; otherwise an abnormal exit
  // makes it fail with exit_kind::linked (restarted by its supervisor, or
  // stopped). Thread-safe.
  void link(const actor_addr& other) const {
    detail::check_ref(c_, "actor_addr::link");
    detail::check_ref(other.c_, "actor_addr::link");
    detail::add_link(c_, other.c_);
  }
  void unlink(const actor_addr& other) const noexcept {
    if (c_ && other.c_) detail::remove_link(c_, other.c_);
  }

  friend bool operator==(const actor_addr& a, const actor_addr& b) noexcept { return a.c_ == b.c_; }
  std::size_t hash() const noexcept { return std::hash<const void*>{}(c_); }

  // Internal.
  detail::actor_cell* cell() const noexcept { return c_; }
  struct adopt_t {};
  actor_addr(detail::actor_cell* c, adopt_t) noexcept : c_(c) {}
  explicit actor_addr(detail::actor_cell* c) noexcept : c_(c) {
    if (c_) detail::add_ref(c_);
  }

 protected:
  detail::actor_cell* c_ = nullptr;
};

// The message a monitoring actor gets when the monitored one stops.
struct down {
  actor_addr actor;
  exit_reason reason;
};
// The message a linked actor that traps exits (has `on(exit_signal)`) gets
// when its peer stops; without such a handler, an abnormal exit of a peer
// makes it fail too (exit_kind::linked).
struct exit_signal {
  actor_addr from;
  exit_reason reason;
};

// A typed handle to an actor of class A. Thread-safe.
template <class A>
class actor_ref : public actor_addr {
 public:
  actor_ref() = default;
  using actor_addr::actor_addr;

  // Fire and forget. When the mailbox is full, the actor's overflow policy
  // applies; under `block` the caller waits up to the actor's block_timeout
  // (a fiber suspends, a foreign thread blocks; in a plain handler the whole
  // actor waits, so prefer send_async or when_full::fail there). Returns ok
  // when accepted; otherwise the reason (also counted as a dead letter).
  // Throws actor_error(invalid_argument) on an empty ref, and
  // troupe::error(would_deadlock) when it would wait on the thread that
  // drives a driven runtime (the message is then a mailbox_full dead letter).
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m)
  const {
    detail::check_ref(c_, "actor_ref::send");
    return detail::post_user(c_, detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m)),
                             detail::send_mode::block, detail::no_deadline);
  }
  // With a deadline: the message expires at it (never handed to the handler
  // after it), and a `block` sender waits at most until it (when_full::wait)
  // or not at all (when_full::fail). A deadline already past returns
  // deadline_passed.
  // `prio` overrides the message type's priority class for this call
  // (dequeue_policy.hpp).
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m, clock::time_point deadline,
                                                        when_full full = when_full::wait,
                                                        message_priority prio = priority_of_v<M>)
  const {
    detail::check_ref(c_, "actor_ref::send");
    detail::envelope* e = detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m));
    e->deadline = deadline;
    e->stamp.set_priority(prio);
    return detail::post_user(
        c_, e, full == when_full::wait ? detail::send_mode::block : detail::send_mode::fail, deadline);
  }
  // Never waits: a full mailbox under `block` or `fail` gives mailbox_full
  // (drop policies apply as usual).
  template <class M>
  requires handles<A, std::decay_t<M>> send_result try_send(M&& m)
  const {
    detail::check_ref(c_, "actor_ref::try_send");
    return detail::post_user(c_, detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m)),
                             detail::send_mode::fail, detail::no_deadline);
  }
  // Back-pressure without blocking anyone: never waits here. Under `block`,
  // a full mailbox keeps the message waiting for room (in order, behind
  // earlier waiting senders) until `deadline` (default: the actor's
  // block_timeout). The future completes when the message is accepted, or
  // with the reason it was refused (mailbox_full at the deadline,
  // actor_stopped, dropped...). In a coroutine handler: co_await it.
  // Thread-safe.
  template <class M>
  requires handles<A, std::decay_t<M>> ask_future<void> send_async(
      M&& m, clock::time_point deadline = clock::time_point::max())
  const {
    detail::check_ref(c_, "actor_ref::send_async");
    auto* s = new detail::reply_state<void>(c_->sys, deadline, c_);
    s->add_ref();  // the mailbox's, completed on acceptance or refusal
    detail::envelope* e = detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m));
    if (deadline != clock::time_point::max()) e->deadline = deadline;
    detail::post_accepted(c_, e, deadline, s);
    return ask_future<void>(s);
  }

  // Request/response. The reply is the handler's return value (or its
  // coroutine's co_return value). The deadline travels with the request;
  // made inside a handler, the ask inherits the deadline of the message
  // being handled (a later one is clamped to it). Never waits here, even
  // for a full `block` mailbox: the request then waits for room until its
  // deadline (when_full::wait) or fails at once (when_full::fail). Never
  // throws for a refused request: the future holds the error
  // (actor_stopped, mailbox_full, dropped, deadline_passed if the deadline
  // is already past, ...). Thread-safe.
  // `prio` overrides the message type's priority class for this call
  // (dequeue_policy.hpp).
  template <class M>
  requires handles<A, std::decay_t<M>>
  auto ask(M&& m, clock::time_point deadline, when_full full = when_full::wait,
           message_priority prio = priority_of_v<M>) const {
    using T = detail::reply_t<A, std::decay_t<M>>;
    detail::check_ref(c_, "actor_ref::ask");
    return ask_future<T>(detail::start_ask<A, std::decay_t<M>>(
        c_, std::forward<M>(m), detail::ask_deadline(c_, deadline), full, prio));
  }
  template <class M, class Rep, class Period>
  requires handles<A, std::decay_t<M>>
  auto ask(M&& m, std::chrono::duration<Rep, Period> timeout, when_full full = when_full::wait,
           message_priority prio = priority_of_v<M>) const {
    detail::check_ref(c_, "actor_ref::ask");
    return ask(std::forward<M>(m), detail::after(c_, timeout), full, prio);
  }

  // Timers: sends m after `delay` (once) or every `period` (the first after
  // one period), on the actor's system lane (timer.hpp). A periodic timer
  // ends by itself when the actor stops; all end at actor system shutdown
  // (sent after it began: an inactive handle). Thread-safe.
  template <class M, class Rep, class Period>
  requires handles<A, std::decay_t<M>> timer_handle send_after(M&& m,
                                                               std::chrono::duration<Rep, Period> delay)
  const {
    detail::check_ref(c_, "actor_ref::send_after");
    auto* t = new detail::typed_timer<A, std::decay_t<M>>(c_, clock::duration::zero(), std::forward<M>(m));
    return detail::start_timer(t, detail::after(c_, delay));
  }
  // Throws actor_error(invalid_argument) for a period that is not positive.
  template <class M, class Rep, class Period>
  requires handles<A, std::decay_t<M>> && std::is_copy_constructible_v<std::decay_t<M>> timer_handle
  send_periodic(M&& m, std::chrono::duration<Rep, Period> period)
  const {
    detail::check_ref(c_, "actor_ref::send_periodic");
    if (period <= std::chrono::duration<Rep, Period>::zero())
      throw actor_error(actor_errc::invalid_argument, "send_periodic: the period must be positive");
    const auto p = std::chrono::ceil<clock::duration>(std::min<std::chrono::duration<long double, std::nano>>(
        period, std::chrono::duration<long double, std::nano>(clock::duration::max())));
    auto* t = new detail::typed_timer<A, std::decay_t<M>>(c_, p, std::forward<M>(m));
    return detail::start_timer(t, detail::after(c_, p));
  }

  // This actor monitors `target`: when it stops, this actor gets
  // down{target, reason} (at once if it already has). Requires a handler
  // for `down`. Thread-safe.
  void monitor(const actor_addr& target) const requires handles<A, down> {
    detail::check_ref(c_, "actor_ref::monitor");
    detail::check_ref(target.cell(), "actor_ref::monitor");
    detail::add_monitor(target.cell(), c_);
  }
};

}  // namespace troupe

template <>
struct std::hash<troupe::actor_addr> {
  std::size_t operator()(const troupe::actor_addr& a) const noexcept { return a.hash(); }
};
