#pragma once
// Handles to actors.
//
// actor_addr: an untyped handle (identity, stop, stats, watch). actor_ref<A>:
// adds typed send/try_send/ask, checked at compile time: sending a message
// type that A has no handler for does not compile (the `handles` concept).
// Both are one pointer, cheap to copy (one relaxed atomic increment) and safe
// to use from any thread, inside or outside the runtime. A handle keeps the
// actor's cell (mailbox and counters) alive, never the actor itself: sends to
// a stopped actor are refused and counted as dead letters.

#include <chrono>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actors/ask.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"

namespace troupe {

// True when actor class A has a handler for message type M: a public member
// `on` callable with an rvalue M (`R on(M)`, `R on(const M&)` or `R on(M&&)`).
// A handler's return value is the reply to an ask; return reply_promise<T>
// to reply later.
template <class A, class M>
concept handles = requires(A& a, M&& m) { a.on(std::forward<M>(m)); };

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
template <class R>
inline constexpr bool is_reply_promise = false;
template <class T>
inline constexpr bool is_reply_promise<reply_promise<T>> = true;

// The reply type of asking an A with an M.
template <class A, class M>
using reply_t = typename reply_of<std::remove_cvref_t<handler_result_t<A, M>>>::type;

// What every actor object carries (16 bytes): its cell, and the envelope
// being handled (for the deadline and a deferred reply).
class actor_base {
 public:
  actor_base();  // takes constructing_cell(); throws if not made by spawn
  actor_base(const actor_base&) = delete;
  actor_base& operator=(const actor_base&) = delete;

  actor_cell* cell_;
  envelope* current_ = nullptr;
};

template <class A, class M>
struct user_envelope final : envelope {
  template <class X>
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
    case dead_letter_reason::mailbox_full: return actor_errc::mailbox_full;
    case dead_letter_reason::dropped_newest:
    case dead_letter_reason::dropped_oldest: return actor_errc::dropped;
    case dead_letter_reason::expired: return actor_errc::timeout;
    case dead_letter_reason::system_stopped: return actor_errc::system_stopped;
    default: return actor_errc::actor_stopped;
  }
}

template <class A, class M>
void user_envelope<A, M>::run(envelope* base, actor_cell* c, envelope_op op, dead_letter_reason why) {
  auto* e = static_cast<user_envelope*>(base);
  using R = handler_result_t<A, M>;
  using T = reply_t<A, M>;
  struct guard {
    user_envelope* e;
    actor_base* b;
    ~guard() {
      if (b) b->current_ = nullptr;
      free(e);
    }
  } g{e, nullptr};
  if (op == envelope_op::reject) {
    note_dead_letter(c->sys, c, why, typeid(M).name());
    if (e->reply) complete_error<T>(e->reply, error_for(why), to_string(error_for(why)));
    return;
  }
  A& a = object_of<A>(c);
  actor_base& b = a;
  b.current_ = e;
  g.b = &b;
  reply_state_base* rs = e->reply;
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
    if (rs) complete_with<T>(rs, true, result<T>(std::current_exception()));
    throw;
  }
}

template <class A, class M, class X>
envelope* new_envelope(X&& x) {
  using env = user_envelope<A, M>;
  void* mem = actor_alloc(sizeof(env));
  try {
    return new (mem) env(std::forward<X>(x));
  } catch (...) {
    actor_free(mem, sizeof(env));
    throw;
  }
}

// --- actor.cpp -----------------------------------------------------------------
bool cell_stopped(const actor_cell* c) noexcept;
actor_stats cell_stats(const actor_cell* c);
// Registers a watcher state completed with the exit_reason when c stops.
void add_watch(actor_cell* c, reply_state_base* s);
void check_ref(const actor_cell* c, const char* what);

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
  // Thread-safe snapshot.
  actor_stats stats() const {
    detail::check_ref(c_, "actor_addr::stats");
    return detail::cell_stats(c_);
  }
  // Asks the actor to stop. Graceful: it refuses new messages, handles every
  // accepted one, then stops; a supervisor stops its children first.
  // Immediate: queued messages become `unprocessed` dead letters (it takes
  // effect after the message being handled, at most `budget` messages
  // later). Thread-safe; idempotent.
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
    auto* s = new detail::reply_state<exit_reason>(
        c_->sys, detail::now() + std::chrono::ceil<detail::clock::duration>(timeout));
    s->add_ref();
    detail::add_watch(c_, s);
    return ask_future<exit_reason>(s, nullptr);
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

// A typed handle to an actor of class A. Thread-safe.
template <class A>
class actor_ref : public actor_addr {
 public:
  actor_ref() = default;
  using actor_addr::actor_addr;

  // Fire and forget. When the mailbox is full, the actor's overflow policy
  // applies; under `block` the caller waits up to the actor's block_timeout
  // (a fiber suspends, a foreign thread blocks, a handler's whole actor
  // waits). Returns ok when accepted; otherwise the reason (also counted as a
  // dead letter). Throws actor_error(invalid_argument) on an empty ref.
  template <class M>
    requires handles<A, std::decay_t<M>>
  send_result send(M&& m) const {
    detail::check_ref(c_, "actor_ref::send");
    return detail::post_user(c_, detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m)), true,
                             detail::clock::time_point::max());
  }
  // With a deadline: a `block` sender waits at most until it, and the
  // message expires at it (not handed to the handler after it). A deadline
  // already past returns deadline_passed.
  template <class M>
    requires handles<A, std::decay_t<M>>
  send_result send(M&& m, detail::clock::time_point deadline) const {
    detail::check_ref(c_, "actor_ref::send");
    detail::envelope* e = detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m));
    e->deadline = deadline;
    return detail::post_user(c_, e, true, deadline);
  }
  // Never waits: a full mailbox under `block` or `fail` gives mailbox_full
  // (drop policies apply as usual).
  template <class M>
    requires handles<A, std::decay_t<M>>
  send_result try_send(M&& m) const {
    detail::check_ref(c_, "actor_ref::try_send");
    return detail::post_user(c_, detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m)), false,
                             detail::clock::time_point::max());
  }

  // Request/response. The handler's return value is the reply. The deadline
  // travels with the request. Never throws for a refused request: the
  // future holds the error (actor_stopped, mailbox_full, dropped,
  // deadline_passed if the deadline is already past, ...). Thread-safe.
  template <class M>
    requires handles<A, std::decay_t<M>>
  auto ask(M&& m, detail::clock::time_point deadline) const {
    return ask_from(nullptr, std::forward<M>(m), deadline);
  }
  template <class M, class Rep, class Period>
    requires handles<A, std::decay_t<M>>
  auto ask(M&& m, std::chrono::duration<Rep, Period> timeout) const {
    return ask_from(nullptr, std::forward<M>(m),
                    detail::now() + std::chrono::ceil<detail::clock::duration>(timeout));
  }

  // Internal: ask on behalf of an actor (the future can then()).
  template <class M>
  auto ask_from(detail::actor_cell* owner, M&& m, detail::clock::time_point deadline) const {
    using T = detail::reply_t<A, std::decay_t<M>>;
    detail::check_ref(c_, "actor_ref::ask");
    auto* s = new detail::reply_state<T>(c_->sys, deadline);
    ask_future<T> f(s, owner);
    if (deadline <= detail::now()) {
      detail::note_dead_letter(c_->sys, c_, dead_letter_reason::expired, typeid(std::decay_t<M>).name());
      detail::complete_error<T>(s, actor_errc::deadline_passed, "ask: the deadline is already in the past");
      return f;
    }
    detail::envelope* e = detail::new_envelope<A, std::decay_t<M>>(std::forward<M>(m));
    s->add_ref();
    e->reply = s;
    e->deadline = deadline;
    detail::post_user(c_, e, true, deadline);
    return f;
  }
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

}  // namespace troupe

template <>
struct std::hash<troupe::actor_addr> {
  std::size_t operator()(const troupe::actor_addr& a) const noexcept { return a.hash(); }
};
