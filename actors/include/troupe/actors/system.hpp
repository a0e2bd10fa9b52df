#pragma once
// The actor system: spawns actors on a runtime, counts dead letters, keeps
// the registry of names and the timers, and shuts everything down in order.
//
// Shutdown rule (shutdown() or the destructor):
//  1. New sends from threads outside the runtime are refused
//     (system_stopped, counted as dead letters); spawns are refused
//     everywhere. Sends between actors go on, so accepted work completes.
//  2. Pending timers are cancelled.
//  3. Every top-level actor is stopped (graceful: it handles every message it
//     already accepted; supervisors stop their children first, then
//     themselves). A message is either handled or counted as a dead letter:
//     after shutdown, accepted == processed + dead letters of the accepted
//     kinds (dropped_oldest, expired, unprocessed), exactly.
//  4. shutdown() returns when every actor has stopped.
// The actor system must be shut down (or destroyed) before its runtime.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/unique_function.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe {

class supervisor_ref;
struct supervisor_options;

// Handed to the dead-letter hook.
struct dead_letter {
  dead_letter_reason reason;
  actor_addr target;         // may be empty (e.g. an unanswered reply to a gone asker)
  const char* message_type;  // typeid name of the message (or of the reply)
};

struct system_options {
  // Called for every dead letter, synchronously, on the thread where it
  // happens (any thread). Must be thread-safe, quick and must not throw or
  // block; it must not send to an actor with a `block` mailbox.
  std::function<void(const dead_letter&)> dead_letter_hook;
};

struct system_stats {
  dead_letter_counts dead_letters;
  std::uint64_t spawned = 0;       // actors spawned
  std::uint64_t failures = 0;      // handler exceptions (and linked failures)
  std::uint64_t restarts = 0;      // restarts made by supervisors
  std::uint64_t escalations = 0;   // top-level supervisors that gave up (restart intensity)
  std::uint64_t live_actors = 0;   // top-level actors not yet stopped (supervised children not counted)
};

// A cancellable timer. Copyable; cancel() from any thread; the timer is not
// cancelled when the handle is dropped.
class timer_handle {
 public:
  struct state;
  timer_handle() = default;
  explicit timer_handle(std::shared_ptr<state> s) noexcept : s_(std::move(s)) {}
  // True if the timer will not fire (any more) after this returns, i.e. it
  // was still pending; false if it already fired (one-shot) or was cancelled.
  // Thread-safe.
  bool cancel() noexcept;
  bool active() const noexcept;

 private:
  std::shared_ptr<state> s_;
};

namespace detail {
struct system_impl;
timer_handle add_timer(system_impl* s, clock::time_point first, clock::duration period,
                       unique_function<bool()> action);
}  // namespace detail

class actor_system {
 public:
  explicit actor_system(runtime& rt, system_options options = {});
  // shutdown(graceful). Must not run on a worker of the runtime.
  ~actor_system();
  actor_system(const actor_system&) = delete;
  actor_system& operator=(const actor_system&) = delete;

  // Spawns a top-level actor of class A, constructed from args on the
  // calling thread (its exception propagates). Thread-safe. Throws
  // actor_error(system_stopped) once shutdown began, actor_error(
  // invalid_argument) for bad options (zero capacity, zero budget).
  template <class A, class... Args>
    requires(std::is_base_of_v<actor<A>, A> &&
             (sizeof...(Args) == 0 || !(std::is_same_v<std::remove_cvref_t<Args>, spawn_options> || ...)))
  actor_ref<A> spawn(Args&&... args) {
    return spawn<A>(spawn_options{}, std::forward<Args>(args)...);
  }
  template <class A, class... Args>
    requires std::is_base_of_v<actor<A>, A>
  actor_ref<A> spawn(const spawn_options& options, Args&&... args) {
    return detail::spawn_cell<A>(
        impl_.get(), nullptr, options,
        [&](void* mem) { new (mem) A(std::forward<Args>(args)...); }, {});
  }

  // A top-level supervisor (see supervisor.hpp). Thread-safe.
  supervisor_ref spawn_supervisor(const supervisor_options& options);

  // See the shutdown rule above. Thread-safe, idempotent. From a worker of
  // the runtime (e.g. inside a handler) it only begins shutdown and returns.
  void shutdown(stop_mode mode = stop_mode::graceful);
  bool stopping() const noexcept;

  system_stats stats() const;

  // Registry of names. register_name: false if the name is taken or the
  // actor is stopped. A name is released when its actor stops. Thread-safe.
  bool register_name(const std::string& name, const actor_addr& a);
  bool unregister_name(const std::string& name);
  actor_addr whereis(const std::string& name) const;
  // The named actor if it is of class A; an empty ref otherwise.
  template <class A>
  actor_ref<A> find(const std::string& name) const {
    actor_addr a = whereis(name);
    if (!a || a.cell()->vt->type != &detail::type_tag<A>) return {};
    return actor_ref<A>(a.cell());
  }

  // Timers. The message is sent with try_send semantics from the timer
  // thread (a full mailbox gives a `mailbox_full` dead letter; it never
  // waits). Cancellable through the handle; all are cancelled at shutdown.
  // Thread-safe.
  template <class A, class M, class Rep, class Period>
    requires handles<A, std::decay_t<M>>
  timer_handle send_after(const actor_ref<A>& to, M&& m, std::chrono::duration<Rep, Period> delay) {
    detail::check_ref(to.cell(), "actor_system::send_after");
    return detail::add_timer(impl_.get(), detail::now() + std::chrono::ceil<detail::clock::duration>(delay),
                             detail::clock::duration::zero(),
                             [to, m = std::decay_t<M>(std::forward<M>(m))]() mutable {
                               (void)to.try_send(std::move(m));
                               return false;
                             });
  }
  // Sends a copy of m every period (the first after one period). Stops by
  // itself once the target has stopped.
  template <class A, class M, class Rep, class Period>
    requires handles<A, std::decay_t<M>> && std::is_copy_constructible_v<std::decay_t<M>>
  timer_handle send_periodic(const actor_ref<A>& to, M&& m, std::chrono::duration<Rep, Period> period) {
    detail::check_ref(to.cell(), "actor_system::send_periodic");
    auto p = std::chrono::ceil<detail::clock::duration>(period);
    if (p <= detail::clock::duration::zero())
      throw actor_error(actor_errc::invalid_argument, "send_periodic: the period must be positive");
    return detail::add_timer(impl_.get(), detail::now() + p, p,
                             [to, m = std::decay_t<M>(std::forward<M>(m))]() {
                               (void)to.try_send(m);
                               return !to.stopped();
                             });
  }

  runtime& rt() const noexcept;
  detail::system_impl* impl() const noexcept { return impl_.get(); }

 private:
  std::unique_ptr<detail::system_impl> impl_;
};

}  // namespace troupe
