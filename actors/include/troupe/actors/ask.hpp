#pragma once
// Request/response: ask_future<T> (the asker's end) and reply_promise<T> (a
// handler's deferred reply).
//
// Every ask has a deadline. It travels with the request: a request still
// queued when its deadline passes is not handed to the handler (it is counted
// as an `expired` dead letter and the asker gets actor_errc::timeout). An ask
// made inside a handler inherits the deadline of the message being handled
// (a longer one is clamped to it). A reply that arrives after the asker gave
// up is counted as `unanswered`.
//
// The reply can be taken in four ways, and each says where it runs:
//  - get(): waits (a fiber suspends, a foreign thread blocks; inside a plain
//    handler the whole actor waits). Never from the asked actor's own turn:
//    that could only end at the deadline, so it fails at once
//    (actor_errc::would_deadlock).
//  - co_await, in a coroutine handler (task.hpp): the handler suspends, the
//    actor keeps no stack, and the handler resumes in a later turn.
//  - then(f), in a handler: f(result<T>) runs later as a message to the
//    asking actor, which meanwhile goes on with other messages.
//  - on_complete(f) or on_complete(executor, f), from any thread: f runs
//    once, on the thread that completes the ask or through the executor.
// All four end at the deadline at the latest, with actor_errc::timeout.

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/detail/unique_function.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/timer.hpp"
#include "troupe/runtime/detail/trace.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe {

template <class T>
class ask_future;
template <class T>
class reply_promise;

// The move-only job an executor of on_complete(executor, f) is handed: call
// it once, where the completion should run.
using job = detail::unique_function<void()>;

// What a sender does when the target's mailbox is full under the `block`
// policy (other policies decide by themselves).
enum class when_full : std::uint8_t {
  wait,  // back-pressure: wait for room until the deadline, then mailbox_full
  fail,  // mailbox_full at once
};

namespace detail {

template <class T>
inline constexpr char type_tag = 0;  // &type_tag<T> identifies T

enum class reply_status : std::uint8_t { pending, done, abandoned };

// Told once, outside the state's lock, when the state completes (with the
// reply, an error, or the deadline's timeout): a continuation to post, a
// coroutine to resume, a callback to run. Owns itself from then on.
struct completion_hook {
  void (*run)(completion_hook*, reply_state_base*) noexcept;
};

// Shared by the asker's future, the request envelope, reply_promise copies
// and a registered hook. One allocation per ask.
struct reply_state_base {
  reply_state_base(system_impl* s, time_point d, const void* t, actor_cell* target_cell,
                   void (*destroy)(reply_state_base*) noexcept,
                   void (*error)(reply_state_base*, actor_errc) noexcept)
      : sys(s), deadline(d), type(t), target(target_cell), destroy_fn(destroy), error_fn(error) {}
  reply_state_base(const reply_state_base&) = delete;
  reply_state_base& operator=(const reply_state_base&) = delete;

  std::atomic<std::uint32_t> refs{1};
  std::atomic<std::uint32_t> promises{0};  // live reply_promise handles
  std::atomic<bool> ready{false};          // release-stored once the result is written
  spinlock lock;
  reply_status status = reply_status::pending;  // guarded by lock
  bool delivered = false;                       // a real reply was given (guarded)
  // Completed by the real reply, not by a timeout, refusal or broken
  // promise. Written once, with status, under the lock, and never after, so
  // a completion hook may read it without the lock (unlike `delivered`,
  // which a reply arriving after the deadline still sets).
  bool replied = false;
  bool timer_armed = false;  // the deadline timer holds a reference (guarded)
  wait_list waiters;         // blocked get()
  system_impl* sys;
  time_point deadline;
  const void* type;
  actor_cell* target;               // the asked actor: identity only, for self-ask checks
  std::uint64_t flow_id = 0;        // tracing only: this ask's flow arrow
  completion_hook* hook = nullptr;  // guarded by lock
  timer_entry timer;                // the deadline, armed while a hook waits
  void (*destroy_fn)(reply_state_base*) noexcept;
  // Completes a pending state with an error of the actors layer (timeout at
  // the deadline, actor_stopped for a handler destroyed with its actor).
  void (*error_fn)(reply_state_base*, actor_errc) noexcept;

  void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }  // relaxed: from a held ref
  void release() noexcept {
    // acq_rel: the last holder must see every other holder's writes.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_fn(this);
  }
};

template <class T>
struct reply_state final : reply_state_base, small_object {
  reply_state(system_impl* s, time_point d, actor_cell* target_cell)
      : reply_state_base(s, d, &type_tag<T>, target_cell, &destroy, &fail_with) {}
  static void destroy(reply_state_base* b) noexcept { delete static_cast<reply_state*>(b); }
  static void fail_with(reply_state_base* b, actor_errc code) noexcept;
  result<T> value;
};

// --- ask.cpp -----------------------------------------------------------------

// Completes the state if it is still pending: `fill` writes the result under
// the lock. is_reply: this is the actual reply (handler or reply_promise):
// returns false if one was delivered before; if the asker already gave up it
// counts an `unanswered` dead letter. Otherwise (timeout, rejection, broken
// promise) it only completes a pending state. Then runs the hook, if any,
// and disarms the deadline timer. Thread-safe.
bool complete_reply(reply_state_base* s, bool is_reply, void (*fill)(reply_state_base*, void*),
                    void* arg) noexcept;
// Waits until done (true) or the deadline (false: marks it abandoned).
// Throws actor_error(cancelled) if runtime shutdown cancels the wait, and
// actor_error(would_deadlock), at once, from the asked actor's own turn.
bool wait_reply(reply_state_base* s);
// The future was dropped unconsumed: a later reply is `unanswered`.
void abandon_reply(reply_state_base* s) noexcept;
// Registers `h`, which takes over the caller's reference: run at completion,
// or now if the state is already complete. Arms the deadline timer.
void register_hook(reply_state_base* s, completion_hook* h) noexcept;
// Takes back a hook registered by an awaiter whose frame is being destroyed:
// true if it had not run (the state is then abandoned: a late reply counts as
// `unanswered`), and the caller owns the hook's references again.
bool cancel_hook(reply_state_base* s, completion_hook* h) noexcept;
// is_ready(): complete, or its deadline has passed.
bool reply_ready(const reply_state_base* s) noexcept;
// A completion callback threw: counted in system_stats::failures.
void note_callback_failure(reply_state_base* s) noexcept;
// Tracing only: the flow arrow of an ask starts here.
void trace_ask(reply_state_base* s) noexcept;
// The calling actor, for then(); throws actor_error(not_in_actor) elsewhere.
actor_cell* asking_actor(const char* what);

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
  result<T> r(code, std::make_exception_ptr(actor_error(code, what)));
  return complete_reply(s, false, &fill_result<T>, &r);
}

template <class T>
void reply_state<T>::fail_with(reply_state_base* b, actor_errc code) noexcept {
  complete_error<T>(b, code,
                    code == actor_errc::timeout ? "ask: no reply before the deadline" : to_string(code));
}

// then(f): posts itself to the asking actor when the state completes;
// f(result<T>) runs in the asker's turn, with the asking request's deadline
// in force. Dropped (an `unanswered` dead letter) if the asker is gone or
// was restarted since: f would run on an object that did not register it.
struct continuation_base : sys_message, completion_hook {
  actor_cell* owner;          // one reference
  std::uint32_t incarnation;  // of the owner when registered
  time_point deadline;        // the asking request's
};
void post_continuation(continuation_base* c, reply_state_base* s) noexcept;
// The continuation's sys_message::fn half: true if f should run now (the
// turn context is then set for it).
bool continuation_runnable(continuation_base* c, actor_cell* cell, bool deliver, const char* type) noexcept;

template <class T, class F>
struct continuation final : continuation_base, small_object {
  continuation(reply_state<T>* s, F&& fn) : st(s), f(std::move(fn)) {
    this->fn = &run_message;
    this->run = &on_complete;
    this->user_code = true;
  }
  static void on_complete(completion_hook* h, reply_state_base* s) noexcept {
    post_continuation(static_cast<continuation*>(h), s);
  }
  static void run_message(sys_message* m, actor_cell* c, bool deliver) {
    std::unique_ptr<continuation> self(static_cast<continuation*>(m));
    struct release_state {
      reply_state<T>* s;
      ~release_state() { s->release(); }
    } keep{self->st};
    if (continuation_runnable(self.get(), c, deliver, typeid(T).name()))
      std::invoke(self->f, std::move(self->st->value));
  }
  reply_state<T>* st;
  F f;
};

// on_complete(f): runs f(result<T>) where the state completes.
template <class T, class F>
struct callback final : completion_hook, small_object {
  explicit callback(F&& fn) : f(std::move(fn)) { this->run = &fire; }
  static void fire(completion_hook* h, reply_state_base* s) noexcept {
    std::unique_ptr<callback> self(static_cast<callback*>(h));
    try {
      std::invoke(self->f, std::move(static_cast<reply_state<T>*>(s)->value));
    } catch (...) {
      note_callback_failure(s);
    }
    s->release();
  }
  F f;
};

// on_complete(executor, f): hands a job running f(result<T>) to the executor.
template <class T, class E, class F>
struct executor_callback final : completion_hook, small_object {
  executor_callback(E&& e, F&& fn) : ex(std::move(e)), f(std::move(fn)) { this->run = &fire; }
  static void fire(completion_hook* h, reply_state_base* s) noexcept {
    std::unique_ptr<executor_callback> self(static_cast<executor_callback*>(h));
    try {
      auto* st = static_cast<reply_state<T>*>(s);
      std::invoke(self->ex,
                  unique_function<void()>([f = std::move(self->f), r = std::move(st->value)]() mutable {
                    std::invoke(f, std::move(r));
                  }));
    } catch (...) {
      note_callback_failure(s);
    }
    s->release();
  }
  E ex;
  F f;
};

}  // namespace detail

// The asker's end of an ask. Move-only. Dropping it unconsumed makes a later
// reply an `unanswered` dead letter.
template <class T>
class ask_future {
 public:
  using value_type = T;

  ask_future() = default;
  ask_future(ask_future&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  ask_future& operator=(ask_future&& o) noexcept {
    if (this != &o) {
      reset();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  ~ask_future() { reset(); }

  bool valid() const noexcept { return st_ != nullptr; }
  // True once the reply (or an error) is in, or the deadline has passed (a
  // get() then returns at once). Thread-safe.
  bool is_ready() const noexcept { return st_ && detail::reply_ready(st_); }
  clock::time_point deadline() const noexcept { return st_ ? st_->deadline : clock::time_point{}; }

  // Waits for the reply until the deadline (a fiber suspends; a foreign
  // thread blocks; inside a plain handler the whole actor waits) and returns
  // it. Throws actor_error(timeout) at the deadline, the handler's own
  // exception if it threw, or actor_error with the reason the request was
  // not handled (actor_stopped, mailbox_full, dropped, deadline_passed...).
  // Consumes the future. Thread-safe with respect to the replier.
  T get() {
    result<T> r = get_result();
    if constexpr (std::is_void_v<T>)
      r.value();
    else
      return std::move(r).value();
  }
  // Like get() but returns errors as a result instead of throwing (except
  // actor_error(cancelled) when runtime shutdown cancels the wait, and
  // actor_error(would_deadlock) from the asked actor's own turn, and
  // troupe::error(would_deadlock) on the thread that drives a driven
  // runtime, whose wait nothing could end; the future is consumed then too).
  result<T> get_result() {
    auto* s = take("ask_future::get");
    struct holder {
      detail::reply_state<T>* s;
      ~holder() { s->release(); }
    } h{s};
    if (!detail::wait_reply(s))
      return result<T>(actor_errc::timeout, std::make_exception_ptr(actor_error(
                                                actor_errc::timeout, "ask: no reply before the deadline")));
    return std::move(s->value);
  }

  // Continuation form, in a handler: f(result<T>) runs later as a message to
  // the asking actor, in its turn, so the actor goes on with other messages
  // meanwhile; asks made in f inherit the deadline of the request that made
  // this one. Runs exactly once: with the reply, or with actor_errc::timeout
  // at the deadline. If the asking actor has stopped or been restarted by
  // then, f does not run and an `unanswered` dead letter is counted.
  // Actor context only: throws actor_error(not_in_actor) elsewhere. Never
  // blocks. Consumes the future.
  template <class F>
  requires std::is_invocable_v < std::decay_t<F>
  &, result<T>&& > void then(F&& f) {
    detail::actor_cell* owner = detail::asking_actor("ask_future::then");
    auto* s = take("ask_future::then");
    auto* c = new detail::continuation<T, std::decay_t<F>>(s, std::decay_t<F>(std::forward<F>(f)));
    c->owner = owner;
    detail::add_ref(owner);
    c->incarnation = owner->incarnation;
    c->deadline = detail::current_turn() ? detail::current_turn()->deadline : detail::no_deadline;
    s->add_ref();  // the hook's
    detail::register_hook(s, c);
    s->release();  // the future's
  }

  // Completion callback, from any thread: f(result<T>) runs exactly once,
  // on the thread that completes the ask (a worker: keep f short and never
  // block in it), or at once on this thread if the ask is already complete.
  // At the deadline it runs with actor_errc::timeout. An exception from f is
  // counted in system_stats::failures. Consumes the future.
  template <class F>
  requires std::is_invocable_v < std::decay_t<F>
  &, result<T>&& > void on_complete(F&& f) {
    auto* s = take("ask_future::on_complete");
    detail::register_hook(s, new detail::callback<T, std::decay_t<F>>(std::decay_t<F>(std::forward<F>(f))));
  }
  // The same, but f runs where `executor` puts it: executor(troupe::job) is
  // called once, where the ask completes, with a move-only job whose call
  // runs f. For example, answering on an Asio io_context:
  //   fut.on_complete([&io](troupe::job j) { boost::asio::post(io, std::move(j)); }, f);
  template <class E, class F>
  requires std::is_invocable_v < std::decay_t<F>
  &, result<T>&& >
         &&std::is_invocable_v<std::decay_t<E>&, detail::unique_function<void()>&&> void on_complete(
             E&& executor, F&& f) {
    auto* s = take("ask_future::on_complete");
    detail::register_hook(
        s, new detail::executor_callback<T, std::decay_t<E>, std::decay_t<F>>(
               std::decay_t<E>(std::forward<E>(executor)), std::decay_t<F>(std::forward<F>(f))));
  }

  // Internal: made by ask(); used by the awaiters of task.hpp.
  explicit ask_future(detail::reply_state<T>* s) noexcept : st_(s) {}
  detail::reply_state<T>* release_state() noexcept { return std::exchange(st_, nullptr); }
  detail::reply_state<T>* state() const noexcept { return st_; }

 private:
  detail::reply_state<T>* take(const char* what) {
    if (!st_)
      throw actor_error(actor_errc::invalid_argument, std::string(what) + ": no state (already consumed?)");
    return std::exchange(st_, nullptr);
  }
  void reset() noexcept {
    if (st_) {
      detail::abandon_reply(st_);
      std::exchange(st_, nullptr)->release();
    }
  }
  detail::reply_state<T>* st_ = nullptr;
};

namespace detail {

// A reply that code of its own completes, rather than a handler: a wrapper
// around asks (the patterns layer's protected_ref and routers) returns
// take_future() from its own ask() and completes the reply when its
// attempts end. The future behaves exactly like a plain ask's (get,
// co_await, then, on_complete, the deadline). Move-only; holds one reference
// to the state, the future the other. Destroyed without a completion, it
// completes the ask with actor_errc::broken_reply. Thread-safe: complete(),
// fail() and waiting() may be called from any thread, and the first
// completion wins (a later one, or one after the asker gave up, is a no-op).
template <class T>
class pending_reply {
 public:
  pending_reply() = default;
  // `target`: the actor being asked, if there is one (an actor that waits
  // on it from its own turn fails with would_deadlock), else null.
  pending_reply(system_impl* sys, time_point deadline, actor_cell* target)
      : st_(new reply_state<T>(sys, deadline, target)) {
    st_->add_ref();  // ours; the constructor's is the future's
  }
  pending_reply(pending_reply&& o) noexcept : st_(std::exchange(o.st_, nullptr)), taken_(o.taken_) {}
  pending_reply& operator=(pending_reply&& o) noexcept {
    if (this != &o) {
      reset();
      st_ = std::exchange(o.st_, nullptr);
      taken_ = o.taken_;
    }
    return *this;
  }
  ~pending_reply() { reset(); }

  explicit operator bool() const noexcept { return st_ != nullptr; }
  // The asker's end. Call exactly once.
  ask_future<T> take_future() noexcept {
    taken_ = true;
    return ask_future<T>(st_);
  }
  // Completes with `r`. `is_reply`: r is an answer from the callee (a value
  // or its handler's exception): if the asker already gave up it counts as
  // an `unanswered` dead letter, like any late reply. An error of the
  // wrapper's own (a refusal, a timeout) passes false. False if the ask was
  // already complete.
  bool complete(result<T>&& r, bool is_reply) noexcept {
    return complete_with<T>(st_, is_reply, std::move(r));
  }
  bool fail(actor_errc code, const char* what) noexcept { return complete_error<T>(st_, code, what); }
  // Still pending: nobody has completed it, its asker has not given up
  // (dropped the future, or a get() reached the deadline).
  bool waiting() const noexcept {
    std::lock_guard g(st_->lock);
    return st_->status == reply_status::pending;
  }
  time_point deadline() const noexcept { return st_->deadline; }

 private:
  void reset() noexcept {
    if (!st_) return;
    // acquire: pairs with complete_reply's release of `ready`. Completed
    // (the usual case): no error to build.
    if (!st_->ready.load(std::memory_order_acquire))
      complete_error<T>(st_, actor_errc::broken_reply, "the wrapper's ask ended without a reply");
    if (!taken_) st_->release();  // the future's, never handed out
    std::exchange(st_, nullptr)->release();
  }
  reply_state<T>* st_ = nullptr;
  bool taken_ = false;
};

}  // namespace detail

// A deferred reply. A handler whose return type is reply_promise<T> answers
// asks with T later: it gets the promise from this_actor::reply_later<T>(),
// keeps a copy (e.g. in a continuation) and calls deliver() once. Copyable,
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

  // Internal: made by this_actor::reply_later().
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
