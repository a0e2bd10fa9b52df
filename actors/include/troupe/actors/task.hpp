#pragma once
// Coroutine handlers: a handler may be a C++20 coroutine returning
// troupe::task<R>, which co_awaits asks, delays, other tasks, when_all and
// when_any. Its co_return value is the reply; an exception escaping it reaches
// the asker and the supervisor exactly as from a plain handler.
//
//   struct api : troupe::actor<api> {
//     troupe::actor_ref<pricing> prices;
//     troupe::task<quote> on(get_quote q) {
//       int price = co_await prices.ask(price_of{q.item}, 50ms);  // suspends, holds no stack
//       co_await troupe::delay(1ms);
//       co_return quote{price};
//     }
//   };
//
// While a handler is suspended the actor holds no stack (only the coroutine
// frame, allocated from the small-object cache) and its worker runs other
// work; the handler resumes in a later turn of its actor, on any worker.
//
// What the actor does meanwhile (docs/design/coroutines.md):
//  - by default it handles no other user message until the handler finishes
//    (turn-based, as in Orleans): state is consistent across co_await. System
//    messages (stops, down, supervision) still run; continuations (.then),
//    timer messages and other handlers' resumptions wait until it finishes.
//  - opt in to interleaving per handler by returning reentrant_task<R>, or for
//    every coroutine handler of an actor with `static constexpr bool
//    reentrant = true;` in its class: other messages are then handled while
//    the handler is suspended, and state may change across co_await.
// A cycle of non-reentrant actors awaiting each other ends at the requests'
// deadlines with timeouts; a non-reentrant handler awaiting an ask to its own
// actor fails at once with actor_errc::would_deadlock.
//
// Tasks are lazy and run only inside an actor: as a handler, or awaited by a
// task that is. Awaiting anything from a coroutine that no actor runs throws
// actor_error(not_in_actor).
//
// Compiler notes: GCC 12 (Debian 12's) miscompiles two common shapes; clang
// is not affected (the `clang` preset builds troupe with it).
//  - An aggregate temporary with a non-trivial member (a struct holding a
//    std::string, built with braces) created inside a co_await expression
//    is copied bitwise into the frame and its string freed twice:
//    `co_await ref.ask(msg{name}, 1s)`. Make the ask (or the message) in a
//    statement before the co_await, or give the message a constructor.
//  - A co_await directly in the condition of an if, while or switch
//    (`if (co_await ref.ask(q, 1s) > 0)`): the frame loses its resume point
//    and the coroutine crashes or hangs when resumed. Await into a local
//    first: `const int n = co_await ref.ask(q, 1s); if (n > 0) ...`.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "troupe/actors/ask.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/runtime/detail/small_alloc.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace troupe {

template <class T = void>
class task;
template <class T = void>
class reentrant_task;

namespace detail {

// --- coroutine.cpp ----------------------------------------------------------

// A suspended coroutine handler of an actor: its frame, the reply it owes,
// and the context (deadline) its resumptions run in.
struct coroutine_root {
  actor_cell* cell;
  std::coroutine_handle<> frame;  // the handler's own task frame
  reply_state_base* reply;        // one reference, or null for a send
  // Replies from the finished frame; returns the handler's exception, if any.
  std::exception_ptr (*finish)(coroutine_root*) noexcept;
  turn_context ctx;
  std::uint32_t incarnation;
  bool reentrant;
  bool holding = false;  // this handler holds the actor's user lane
  coroutine_root* prev = nullptr;
  coroutine_root* next = nullptr;
};

// Starts a handler's coroutine in the current turn (from its envelope):
// runs it to its first suspension; if it finished, replies at once. Takes
// over `reply` (one reference). The handler's exception is rethrown to the
// turn after the asker got it.
void start_root(actor_cell* cell, coroutine_root* root);
// Resumes `h`, a frame of `root`'s tree, in the current turn; replies and
// cleans up if the root finished.
void resume_in_turn(coroutine_root* root, std::coroutine_handle<> h) noexcept;
// The coroutine handler running now; throws actor_error(not_in_actor) if none.
coroutine_root& running_root(const char* what);

// Resumes a suspended coroutine through its actor's mailbox, once: posted
// when what it awaits is ready. Shared by the awaiter (in the frame) and the
// completion (a reply's hook, a timer), so either may go first: the awaiter
// clears `handle` if its frame is destroyed before the resumption runs.
struct resume_record : sys_message, completion_hook, small_object {
  resume_record(coroutine_root* r, std::coroutine_handle<> h) noexcept;
  virtual ~resume_record();
  // Posts itself to the actor (or disposes of itself if the actor is gone).
  void post() noexcept;
  // The awaiter is done with it: resumed, or its frame destroyed.
  void drop_awaiter() noexcept;
  void release() noexcept;

  std::atomic<int> refs{2};  // the awaiter's and the completion's
  coroutine_root* root;
  std::coroutine_handle<> handle;  // cleared if the frame is destroyed first
  actor_cell* cell;                // one reference
};

// --- promise ------------------------------------------------------------------

struct promise_base {
  std::coroutine_handle<> continuation;  // who awaits this task (null for a root)
  std::exception_ptr error;

  static void* operator new(std::size_t n) { return small_alloc::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { small_alloc::deallocate(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      // Back to whoever awaits us (symmetric transfer, no stack growth); a
      // root goes back to the turn that resumed it, which finishes it.
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct task_promise : promise_base {
  std::optional<T> value;
  template <class V>
  requires std::is_convertible_v<V&&, T>
  void return_value(V&& v) { value.emplace(std::forward<V>(v)); }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
  result<T> take_result() {
    if (error) return handler_error<T>(error);
    return result<T>(std::move(*value));
  }
};
template <>
struct task_promise<void> : promise_base {
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
  result<void> take_result() { return error ? handler_error<void>(error) : result<void>::ok(); }
};

template <class T, class Task>
struct promise_of final : task_promise<T> {
  Task get_return_object() noexcept { return Task(std::coroutine_handle<promise_of>::from_promise(*this)); }
};

// The frame of a task, type-erased over its promise's Task type.
template <class T>
using frame_of = std::coroutine_handle<task_promise<T>>;

template <class T>
class task_base {
 public:
  using value_type = T;

  task_base(task_base&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  task_base& operator=(task_base&& o) noexcept {
    if (this != &o) {
      destroy();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~task_base() { destroy(); }

  // co_await a task inside a task: runs it (in the same actor, the same
  // turn) to its end and returns its value or rethrows its exception.
  auto operator co_await() && noexcept {
    struct awaiter {
      frame_of<T> child;
      bool await_ready() noexcept { return !child || child.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
        child.promise().continuation = parent;
        return child;  // start it: symmetric transfer
      }
      T await_resume() {
        if (!child) throw actor_error(actor_errc::invalid_argument, "co_await: an empty task");
        return child.promise().take();
      }
    };
    return awaiter{h_};
  }

  // Internal: the frame, for the turn and the combinators.
  frame_of<T> frame() const noexcept { return h_; }
  frame_of<T> release_frame() noexcept { return std::exchange(h_, nullptr); }

 protected:
  task_base() noexcept = default;
  explicit task_base(frame_of<T> h) noexcept : h_(h) {}
  void destroy() noexcept {
    if (h_) std::exchange(h_, nullptr).destroy();
  }
  frame_of<T> h_;
};

template <class R>
inline constexpr bool is_task = false;
template <class T>
inline constexpr bool is_task<task<T>> = true;
template <class T>
inline constexpr bool is_task<reentrant_task<T>> = true;
template <class R>
inline constexpr bool is_reentrant_task = false;
template <class T>
inline constexpr bool is_reentrant_task<reentrant_task<T>> = true;

// Replies from a finished root frame of result type T (the frame's promise
// derives from task_promise<T> and adds nothing, so it has its alignment:
// the handle conversion finds the same promise).
template <class T>
std::exception_ptr finish_root_as(coroutine_root* r) noexcept {
  auto frame = frame_of<T>::from_address(r->frame.address());
  std::exception_ptr error = frame.promise().error;
  if (r->reply) {
    try {
      result<T> res = frame.promise().take_result();
      complete_with<T>(r->reply, true, std::move(res));
    } catch (...) {
      complete_with<T>(r->reply, true,
                       handler_error<T>(std::current_exception()));  // the value would not move
    }
  }
  return error;
}

}  // namespace detail

// A coroutine handler's (or helper's) result: a lazy coroutine. Move-only.
// Awaited inside a task with co_await; returned by a handler, it is run by
// the actor, and its co_return value is the reply.
template <class T>
class task : public detail::task_base<T> {
 public:
  using promise_type = detail::promise_of<T, task>;
  task(task&&) noexcept = default;
  task& operator=(task&&) noexcept = default;

 private:
  friend promise_type;
  explicit task(std::coroutine_handle<promise_type> h) noexcept
      : detail::task_base<T>(detail::frame_of<T>::from_address(h.address())) {}
};

// A handler that lets its actor go on with other messages while it is
// suspended (see the header comment). Otherwise a task.
template <class T>
class reentrant_task : public detail::task_base<T> {
 public:
  using promise_type = detail::promise_of<T, reentrant_task>;
  reentrant_task(reentrant_task&&) noexcept = default;
  reentrant_task& operator=(reentrant_task&&) noexcept = default;
  // A reentrant_task can be awaited like any task.

 private:
  friend promise_type;
  explicit reentrant_task(std::coroutine_handle<promise_type> h) noexcept
      : detail::task_base<T>(detail::frame_of<T>::from_address(h.address())) {}
};

// --- awaiting an ask --------------------------------------------------------

namespace detail {

template <class T, bool AsResult>
struct reply_awaiter {
  reply_state<T>* s;  // one reference
  resume_record* record = nullptr;

  explicit reply_awaiter(reply_state<T>* st) noexcept : s(st) {}
  reply_awaiter(const reply_awaiter&) = delete;
  ~reply_awaiter() {
    if (record) {  // the frame is destroyed while suspended: abandon the ask
      if (cancel_hook(s, record)) {
        record->release();  // the completion's: it will never run
        s->release();       // the hook's
      }
      record->drop_awaiter();
    }
    if (s) {
      abandon_reply(s);
      s->release();
    }
  }
  bool await_ready() {
    if (!s) throw actor_error(actor_errc::invalid_argument, "co_await: an empty ask_future");
    return s->ready.load(std::memory_order_acquire);
  }
  bool await_suspend(std::coroutine_handle<> h) {
    coroutine_root& root = running_root("co_await ask");
    if (s->target == root.cell && !root.reentrant)
      throw actor_error(actor_errc::would_deadlock,
                        "co_await ask: a non-reentrant handler awaiting its own actor could only time out");
    record = new resume_record(&root, h);
    s->add_ref();  // the hook's
    register_hook(s, record);
    return true;
  }
  auto await_resume() {
    if (record) std::exchange(record, nullptr)->drop_awaiter();
    result<T> r = std::move(s->value);
    if constexpr (AsResult) {
      return r;
    } else if constexpr (std::is_void_v<T>) {
      r.value();
    } else {
      return std::move(r).value();
    }
  }
};

}  // namespace detail

// In a coroutine handler: the reply, or the error thrown as an exception.
template <class T>
auto operator co_await(ask_future<T>&& f) {
  return detail::reply_awaiter<T, false>(f.release_state());
}

// co_await as_result(ask): the reply or the error as a result<T>, never
// throwing for an error reply.
template <class T>
struct as_result_t {
  ask_future<T> f;
};
template <class T>
as_result_t<T> as_result(ask_future<T>&& f) {
  return {std::move(f)};
}
template <class T>
auto operator co_await(as_result_t<T>&& a) {
  return detail::reply_awaiter<T, true>(a.f.release_state());
}

// --- delay -------------------------------------------------------------------

namespace detail {
// A delay's timer: posts the resumption when it fires.
struct delay_record final : resume_record, timer_entry {
  delay_record(coroutine_root* r, std::coroutine_handle<> h) noexcept;
};
void arm_delay(delay_record* d, time_point until) noexcept;
bool cancel_delay(delay_record* d) noexcept;
time_point turn_now(const char* what);
}  // namespace detail

// co_await delay(d): suspends the coroutine handler for d on the runtime's
// clock, holding no stack. Actor coroutine context only.
class delay {
 public:
  template <class Rep, class Period>
  explicit delay(std::chrono::duration<Rep, Period> d) : until_(clock::after(detail::turn_now("delay"), d)) {}
  explicit delay(clock::time_point until) noexcept : until_(until) {}
  delay(delay&& o) noexcept : until_(o.until_), record_(std::exchange(o.record_, nullptr)) {}
  delay(const delay&) = delete;
  ~delay() {
    if (record_) {  // the frame is destroyed while suspended
      if (detail::cancel_delay(record_)) record_->release();
      record_->drop_awaiter();
    }
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    record_ = new detail::delay_record(&detail::running_root("co_await delay"), h);
    detail::arm_delay(record_, until_);
  }
  void await_resume() noexcept {
    if (record_) std::exchange(record_, nullptr)->drop_awaiter();
  }

 private:
  clock::time_point until_;
  detail::delay_record* record_ = nullptr;
};

// --- when_all / when_any ----------------------------------------------------

// A deadline for a whole when_all / when_any, as its first argument:
// co_await when_all(within(50ms), a, b). Capped by the request's deadline,
// which applies without it.
struct within {
  template <class Rep, class Period>
  explicit within(std::chrono::duration<Rep, Period> d)
      : until(clock::after(detail::turn_now("within"), d)) {}
  clock::time_point until;
};

namespace detail {

template <class A>
struct awaited_value;
template <class T>
struct awaited_value<ask_future<T>> {
  using type = T;
};
template <class T>
struct awaited_value<task<T>> {
  using type = T;
};
template <class T>
struct awaited_value<reentrant_task<T>> {
  using type = T;
};
template <>
struct awaited_value<delay> {
  using type = void;
};
template <class A>
using awaited_t = typename awaited_value<std::remove_cvref_t<A>>::type;

// Runs one participant and stores its outcome as a result.
template <class T, class A>
task<void> participate(A a, std::optional<result<T>>& out) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(a);
      out.emplace(result<void>::ok());
    } else {
      out.emplace(result<T>(co_await std::move(a)));
    }
  } catch (...) {
    out.emplace(result<T>(std::current_exception()));
  }
}

// The join point of when_all / when_any: children finish into it, and the
// last one (when_all) or the first (when_any) continues the awaiting
// coroutine by symmetric transfer: all of it runs in the actor's turn.
struct join_state {
  std::size_t pending = 0;
  bool any = false;
  bool starting = true;  // children are being started: never transfer then
  bool resumed = false;  // the waiter was continued (or timed out)
  std::size_t winner = static_cast<std::size_t>(-1);
  std::coroutine_handle<> waiter;
  // A child finished: the coroutine to continue.
  std::coroutine_handle<> child_done(std::size_t i) noexcept {
    if (any && winner == static_cast<std::size_t>(-1)) winner = i;
    if (pending > 0) --pending;
    const bool complete = any || pending == 0;
    if (!complete || starting || resumed) return std::noop_coroutine();
    resumed = true;
    return waiter;
  }
};

// A child: runs one participant, then tells the join point (its frame is
// destroyed by the combinator, finished or not).
struct child_task {
  struct promise_type {
    join_state* join;
    std::size_t index;
    promise_type(task<void>&, join_state& j, std::size_t i) noexcept : join(&j), index(i) {}
    static void* operator new(std::size_t n) { return small_alloc::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { small_alloc::deallocate(p, n); }
    child_task get_return_object() noexcept {
      return child_task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        return h.promise().join->child_done(h.promise().index);
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {}  // participate() catches everything
  };
  std::coroutine_handle<promise_type> h;
  explicit child_task(std::coroutine_handle<promise_type> hh) noexcept : h(hh) {}
  child_task(child_task&& o) noexcept : h(std::exchange(o.h, nullptr)) {}
  child_task(const child_task&) = delete;
  ~child_task() {
    if (h) h.destroy();
  }
};

inline child_task run_child(task<void> t, join_state&, std::size_t) { co_await std::move(t); }

// Starts every child; suspends the caller until the join point continues it
// or the current request's deadline passes. At the end of the co_await, the
// unfinished children are destroyed: abandoned, their asks' late replies
// counted as `unanswered`.
class join_awaiter {
 public:
  join_awaiter(std::vector<task<void>> parts, bool any, time_point deadline = no_deadline);
  join_awaiter(const join_awaiter&) = delete;
  ~join_awaiter();
  bool await_ready() const noexcept { return children_.empty(); }
  bool await_suspend(std::coroutine_handle<> h);
  // Index of the first to finish (when_any), or npos if none did before the
  // deadline. The children's results are in the caller's storage.
  std::size_t await_resume() noexcept;

 private:
  join_state join_;
  std::vector<child_task> children_;
  time_point until_;
  delay_record* deadline_ = nullptr;
};

template <class... A>
task<std::tuple<result<awaited_t<A>>...>> when_all_impl(time_point until, A... a) {
  std::tuple<std::optional<result<awaited_t<A>>>...> out;
  {
    std::vector<task<void>> parts;
    parts.reserve(sizeof...(A));
    std::apply([&](auto&... slot) { (parts.push_back(participate<awaited_t<A>>(std::move(a), slot)), ...); },
               out);
    co_await join_awaiter(std::move(parts), false, until);
  }
  co_return std::apply(
      [](auto&... slot) {
        return std::tuple<result<awaited_t<A>>...>(
            (slot ? std::move(*slot)
                  : result<awaited_t<A>>(std::make_exception_ptr(
                        actor_error(actor_errc::timeout, "when_all: no result before the deadline"))))...);
      },
      out);
}

}  // namespace detail

// co_await when_all(a, b, ...): runs every participant (asks, tasks, delays)
// at once and resumes when all have finished, with each outcome as a
// result<T> (result<void> for void). The request's deadline applies to the
// whole: a participant unfinished at the deadline gives actor_errc::timeout
// and is abandoned. Actor coroutine context only.
template <class... A>
requires(sizeof...(A) > 0) task<std::tuple<result<detail::awaited_t<A>>...>> when_all(A&&... a) {
  return detail::when_all_impl<std::remove_cvref_t<A>...>(detail::no_deadline, std::forward<A>(a)...);
}
template <class... A>
requires(sizeof...(A) > 0) task<std::tuple<result<detail::awaited_t<A>>...>> when_all(within w, A&&... a) {
  return detail::when_all_impl<std::remove_cvref_t<A>...>(w.until, std::forward<A>(a)...);
}

// Over a range of asks of one type: results in the same order.
template <class T>
task<std::vector<result<T>>> when_all(std::vector<ask_future<T>> asks) {
  std::vector<std::optional<result<T>>> out(asks.size());
  {
    std::vector<task<void>> parts;
    parts.reserve(asks.size());
    for (std::size_t i = 0; i < asks.size(); ++i)
      parts.push_back(detail::participate<T>(std::move(asks[i]), out[i]));
    co_await detail::join_awaiter(std::move(parts), false);
  }
  std::vector<result<T>> r;
  r.reserve(out.size());
  for (auto& o : out)
    r.push_back(o ? std::move(*o)
                  : result<T>(std::make_exception_ptr(
                        actor_error(actor_errc::timeout, "when_all: no result before the deadline"))));
  co_return r;
}

// The outcome of when_any: which participant finished first and its result.
template <class... T>
struct when_any_result {
  std::size_t index;  // which participant finished first
  std::variant<result<T>...> value;
};

namespace detail {
template <class... A>
task<when_any_result<awaited_t<A>...>> when_any_impl(time_point until, A... a) {
  std::tuple<std::optional<result<awaited_t<A>>>...> out;
  std::size_t winner;
  {
    std::vector<task<void>> parts;
    std::apply([&](auto&... slot) { (parts.push_back(participate<awaited_t<A>>(std::move(a), slot)), ...); },
               out);
    winner = co_await join_awaiter(std::move(parts), true, until);
  }
  using R = when_any_result<awaited_t<A>...>;
  if (winner == static_cast<std::size_t>(-1))
    co_return R{winner, std::variant<result<awaited_t<A>>...>(
                            std::in_place_index<0>,
                            std::make_exception_ptr(actor_error(
                                actor_errc::timeout, "when_any: nothing finished before the deadline")))};
  std::optional<R> r;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((I == winner ? (void)r.emplace(R{winner, std::variant<result<awaited_t<A>>...>(
                                                  std::in_place_index<I>, std::move(*std::get<I>(out)))})
                  : (void)0),
     ...);
  }
  (std::index_sequence_for<A...>{});
  co_return std::move(*r);
}
}  // namespace detail

// co_await when_any(a, b, ...): runs every participant at once and resumes
// when the first finishes (with a value or an error), giving its index and
// result. The others are abandoned: destroyed at once, their asks' late
// replies counted as `unanswered`, never leaked. At the request's deadline
// with none finished: index npos and actor_errc::timeout. Actor coroutine
// context only.
template <class... A>
requires(sizeof...(A) > 0) task<when_any_result<detail::awaited_t<A>...>> when_any(A&&... a) {
  return detail::when_any_impl<std::remove_cvref_t<A>...>(detail::no_deadline, std::forward<A>(a)...);
}
template <class... A>
requires(sizeof...(A) > 0) task<when_any_result<detail::awaited_t<A>...>> when_any(within w, A&&... a) {
  return detail::when_any_impl<std::remove_cvref_t<A>...>(w.until, std::forward<A>(a)...);
}

}  // namespace troupe
