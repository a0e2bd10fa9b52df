#pragma once
// Request/response: ask_future<T> (the asker's end) and reply_promise<T> (a
// handler's deferred reply).
//
// Every ask has a deadline. It travels with the request: a request still
// queued when its deadline passes is not handed to the handler (it is counted
// as an `expired` dead letter and the asker gets actor_errc::timeout). A
// reply that arrives after the asker gave up is counted as `unanswered`.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe {

template <class T>
class ask_future;
template <class T>
class reply_promise;

namespace detail {

template <class T>
inline constexpr char type_tag = 0;  // &type_tag<T> identifies T

enum class reply_status : std::uint8_t { pending, done, abandoned };

// Shared by the asker's future, the request envelope, reply_promise copies
// and a pending continuation. One allocation per ask.
struct reply_state_base {
  reply_state_base(system_impl* s, clock::time_point d, const void* t, void (*destroy)(reply_state_base*) noexcept)
      : sys(s), deadline(d), type(t), destroy_fn(destroy) {}

  std::atomic<std::uint32_t> refs{1};
  std::atomic<std::uint32_t> promises{0};  // live reply_promise handles
  std::atomic<bool> ready{false};           // release-stored once the result is written
  spinlock lock;
  reply_status status = reply_status::pending;  // guarded by lock
  bool delivered = false;                       // a real reply was given (guarded)
  wait_list waiters;
  system_impl* sys;
  clock::time_point deadline;
  const void* type;
  actor_cell* then_cell = nullptr;   // continuation target (one reference), guarded
  sys_message* then_msg = nullptr;   // the continuation, posted on completion, guarded
  void (*destroy_fn)(reply_state_base*) noexcept;
  void (*timeout_fn)(reply_state_base*) noexcept = nullptr;  // completes with actor_errc::timeout

  void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }  // relaxed: from a held ref
  void release() noexcept {
    // acq_rel: the last holder must see every other holder's writes.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_fn(this);
  }
};

template <class T>
struct reply_state final : reply_state_base {
  reply_state(system_impl* s, clock::time_point d)
      : reply_state_base(s, d, &type_tag<T>, &destroy) {
    timeout_fn = &time_out;
  }
  static void destroy(reply_state_base* b) noexcept { delete static_cast<reply_state*>(b); }
  static void time_out(reply_state_base* b) noexcept;
  result<T> value;
};

// --- ask.cpp -----------------------------------------------------------------

// Completes the state if it is still pending: `fill` writes the result under
// the lock. is_reply: this is the actual reply (handler or reply_promise):
// returns false if one was delivered before; if the asker already gave up it
// counts an `unanswered` dead letter. Otherwise (timeout, rejection, broken
// promise) it only completes a pending state. Posts a registered
// continuation. Thread-safe.
bool complete_reply(reply_state_base* s, bool is_reply, void (*fill)(reply_state_base*, void*), void* arg) noexcept;
// Waits until done (true) or the deadline (false: marks it abandoned).
// Throws actor_error(cancelled) if runtime shutdown cancels the wait.
bool wait_reply(reply_state_base* s);
// The future was dropped unconsumed: a later reply is `unanswered`.
void abandon_reply(reply_state_base* s) noexcept;
// Registers `m` to be posted to `owner` on completion (now, if done), and
// arms a timer that completes the state with a timeout at its deadline.
// Takes over the caller's reference to `s`.
void register_then(reply_state_base* s, actor_cell* owner, sys_message* m);

template <class T>
void fill_result(reply_state_base* s, void* arg) {
  static_cast<reply_state<T>*>(s)->value = std::move(*static_cast<result<T>*>(arg));
}
template <class T>
bool complete_with(reply_state_base* s, bool is_reply, result<T>&& r) noexcept {
  return complete_reply(s, is_reply, &fill_result<T>, &r);
}
template <class T>
bool complete_error(reply_state_base* s, actor_errc code, const char* what) noexcept {
  result<T> r(std::make_exception_ptr(actor_error(code, what)));
  return complete_reply(s, false, &fill_result<T>, &r);
}

template <class T>
void reply_state<T>::time_out(reply_state_base* b) noexcept {
  complete_error<T>(b, actor_errc::timeout, "ask: no reply before the deadline");
}

// The continuation of ask(...).then(f): runs f(result<T>) in the asker's turn.
template <class T, class F>
struct continuation final : sys_message {
  continuation(reply_state<T>* s, F&& fn) : st(s), f(std::move(fn)) { this->fn = &run; }
  static void run(sys_message* m, actor_cell* c, bool deliver) {
    auto* self = static_cast<continuation*>(m);
    struct cleanup {
      continuation* p;
      ~cleanup() {
        p->st->release();
        p->~continuation();
        actor_free(p, sizeof(continuation));
      }
    } guard{self};
    if (deliver)
      std::invoke(self->f, std::move(self->st->value));
    else
      note_dead_letter(c ? c->sys : self->st->sys, c, dead_letter_reason::unanswered, typeid(T).name());
  }
  reply_state<T>* st;
  F f;
};

}  // namespace detail

// The asker's end of an ask. Move-only. Dropping it unconsumed makes a later
// reply an `unanswered` dead letter.
template <class T>
class ask_future {
 public:
  ask_future() = default;
  ask_future(ask_future&& o) noexcept : st_(std::exchange(o.st_, nullptr)), owner_(o.owner_) {}
  ask_future& operator=(ask_future&& o) noexcept {
    if (this != &o) {
      reset();
      st_ = std::exchange(o.st_, nullptr);
      owner_ = o.owner_;
    }
    return *this;
  }
  ~ask_future() { reset(); }

  bool valid() const noexcept { return st_ != nullptr; }
  // acquire: pairs with the release store made after the result was written.
  bool is_ready() const noexcept { return st_ && st_->ready.load(std::memory_order_acquire); }
  std::chrono::steady_clock::time_point deadline() const noexcept {
    return st_ ? st_->deadline : std::chrono::steady_clock::time_point{};
  }

  // Waits for the reply until the deadline (a fiber suspends; a foreign
  // thread blocks; inside a handler the whole actor waits) and returns it.
  // Throws actor_error(timeout) at the deadline, the handler's own exception
  // if it threw, or actor_error with the reason the request was not handled
  // (actor_stopped, mailbox_full, dropped, deadline_passed...). Consumes the
  // future. Thread-safe with respect to the replier; one caller at a time.
  T get() {
    result<T> r = get_result();
    if constexpr (std::is_void_v<T>)
      r.value();
    else
      return std::move(r).value();
  }
  // Like get() but returns errors as a result instead of throwing (except
  // actor_error(cancelled) when runtime shutdown cancels the wait).
  result<T> get_result() {
    if (!st_) throw actor_error(actor_errc::invalid_argument, "ask_future::get: no state (already consumed?)");
    bool done = detail::wait_reply(st_);
    holder h{std::exchange(st_, nullptr)};
    if (!done)
      return result<T>(std::make_exception_ptr(actor_error(actor_errc::timeout, "ask: no reply before the deadline")));
    return std::move(h.s->value);
  }

  // Continuation form: f(result<T>) runs later as a message to the asking
  // actor, in its turn, so the actor goes on with other messages meanwhile.
  // Runs exactly once: with the reply, or with actor_errc::timeout at the
  // deadline. If the asking actor is gone by then it is an `unanswered` dead
  // letter. Only for futures from actor::ask() (a handler's own ask); throws
  // actor_error(not_in_actor) otherwise. Consumes the future.
  template <class F>
    requires std::is_invocable_v<std::decay_t<F>&, result<T>&&>
  void then(F&& f) {
    if (!st_) throw actor_error(actor_errc::invalid_argument, "ask_future::then: no state (already consumed?)");
    if (!owner_)
      throw actor_error(actor_errc::not_in_actor,
                        "ask_future::then: only for asks made by an actor (use this->ask(...) in a handler)");
    using cont = detail::continuation<T, std::decay_t<F>>;
    void* mem = detail::actor_alloc(sizeof(cont));
    auto* m = new (mem) cont(st_, std::decay_t<F>(std::forward<F>(f)));
    detail::register_then(std::exchange(st_, nullptr), owner_, m);
  }

  // Internal: made by ask().
  ask_future(detail::reply_state<T>* s, detail::actor_cell* owner) noexcept : st_(s), owner_(owner) {}

 private:
  struct holder {
    detail::reply_state<T>* s;
    ~holder() { s->release(); }
  };
  void reset() noexcept {
    if (st_) {
      detail::abandon_reply(st_);
      std::exchange(st_, nullptr)->release();
    }
  }
  detail::reply_state<T>* st_ = nullptr;
  detail::actor_cell* owner_ = nullptr;  // the asking actor, for then() (not a reference)
};

// A deferred reply. A handler whose return type is reply_promise<T> answers
// asks with T later: it gets the promise from actor::reply_later<T>(), keeps
// a copy (e.g. in a continuation) and calls deliver() once. Copyable,
// thread-safe. If every copy is destroyed without a reply the asker gets
// actor_errc::broken_reply. For a plain send (no asker) the promise is empty
// and deliver() does nothing.
template <class T>
class reply_promise {
 public:
  reply_promise() = default;
  reply_promise(const reply_promise& o) noexcept : st_(o.st_) { acquire(); }
  reply_promise(reply_promise&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  reply_promise& operator=(reply_promise o) noexcept {
    std::swap(st_, o.st_);
    return *this;
  }
  ~reply_promise() { drop(); }

  bool valid() const noexcept { return st_ != nullptr; }

  // Delivers the reply. Throws actor_error(already_replied) on a second
  // delivery (through any copy). Thread-safe.
  template <class... V>
  void deliver(V&&... v) {
    if (!st_) return;
    result<T> r = make(std::forward<V>(v)...);
    if (!detail::complete_with<T>(st_, true, std::move(r)))
      throw actor_error(actor_errc::already_replied, "reply_promise::deliver: a reply was already delivered");
  }
  // Replies with an error (the asker's get() rethrows it).
  void fail(std::exception_ptr e) {
    if (!st_) return;
    if (!detail::complete_with<T>(st_, true, result<T>(std::move(e))))
      throw actor_error(actor_errc::already_replied, "reply_promise::fail: a reply was already delivered");
  }

  // Internal: made by actor::reply_later().
  explicit reply_promise(detail::reply_state<T>* s) noexcept : st_(s) { acquire(); }

 private:
  template <class... V>
  static result<T> make(V&&... v) {
    if constexpr (std::is_void_v<T>)
      return result<T>::ok();
    else
      return result<T>(T(std::forward<V>(v)...));
  }
  void acquire() noexcept {
    if (!st_) return;
    st_->add_ref();
    // relaxed: only the count matters; drop() orders with acq_rel.
    st_->promises.fetch_add(1, std::memory_order_relaxed);
  }
  void drop() noexcept {
    if (!st_) return;
    // acq_rel: the last copy decides "broken" after every other copy's use.
    if (st_->promises.fetch_sub(1, std::memory_order_acq_rel) == 1)
      detail::complete_error<T>(st_, actor_errc::broken_reply, "reply_promise destroyed without a reply");
    std::exchange(st_, nullptr)->release();
  }
  detail::reply_state<T>* st_ = nullptr;
};

}  // namespace troupe
