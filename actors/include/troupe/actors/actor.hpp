#pragma once
// The base class of every actor.
//
//   struct counter : troupe::actor<counter> {
//     int n = 0;
//     void on(add a) { n += a.k; }     // send(add{..}) compiles
//     int on(get) { return n; }        // ask(get{}, 1s) -> ask_future<int>
//   };
//   auto c = system.spawn<counter>();
//
// A turn handles one message at a time, never two at once, so handlers need
// no locking. Optional hooks: `void on_stop()` runs when the actor stops
// (also before a restart replaces the object). Handlers of `down` and
// `exit_signal` make monitor() and trapping links possible.
//
// Calls on the base are "actor context only": from the actor's own
// constructor or handlers (the turn that runs them), never from another
// thread.

#include <chrono>
#include <memory>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/ask.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/detail/unique_function.hpp"

namespace troupe {

class actor_system;

namespace detail {

actor_system& system_of(system_impl* s) noexcept;
void add_monitor(actor_cell* target, actor_cell* watcher);
void add_link(actor_cell* a, actor_cell* b);
void remove_link(actor_cell* a, actor_cell* b) noexcept;
void set_factory(actor_cell* c, unique_function<void(void*)> f);
// Builds the object from the factory (the first time and on restarts).
void construct_from_factory(actor_cell* c, void* storage);

template <class A>
concept has_on_stop = requires(A& a) { a.on_stop(); };

template <class A>
struct vtable_of {
  static constexpr bool is_supervisor = requires { A::troupe_is_supervisor; };
  static void* storage(actor_cell* c) noexcept { return static_cast<cell_impl<A>*>(c)->storage; }
  static void destroy_object(actor_cell* c) noexcept { object_of<A>(c).~A(); }
  static void free_cell(actor_cell* c) noexcept {
    // A supervisor's object outlives its stop (spawns from other threads
    // still look at it); it goes with the cell.
    if constexpr (is_supervisor)
      if (c->flags & flag_alive) object_of<A>(c).~A();
    static_cast<cell_impl<A>*>(c)->~cell_impl<A>();
    actor_free(c, sizeof(cell_impl<A>));
  }
  static void on_stop(actor_cell* c) {
    if constexpr (has_on_stop<A>) object_of<A>(c).on_stop();
  }
  static void on_down(actor_cell* c, void* m) {
    if constexpr (handles<A, down>) (void)object_of<A>(c).on(std::move(*static_cast<down*>(m)));
  }
  static void on_exit(actor_cell* c, void* m) {
    if constexpr (handles<A, exit_signal>) (void)object_of<A>(c).on(std::move(*static_cast<exit_signal*>(m)));
  }
  static inline const cell_vtable table{
      &type_tag<A>,
      typeid(A).name(),
      &storage,
      &destroy_object,
      &free_cell,
      has_on_stop<A> ? &on_stop : nullptr,
      handles<A, down> ? &on_down : nullptr,
      handles<A, exit_signal> ? &on_exit : nullptr,
      is_supervisor,
  };
};

// Builds and starts an actor: one allocation for cell and object. The
// constructor runs on the calling thread; its exception propagates.
// `factory`: supervised children are (re)built from it.
template <class A, class Make>
actor_ref<A> spawn_cell(system_impl* s, actor_cell* parent, const spawn_options& o, Make&& make,
                        unique_function<void(void*)> factory) {
  check_can_spawn(s);
  void* mem = actor_alloc(sizeof(cell_impl<A>));
  auto* c = new (mem) cell_impl<A>();
  struct undo {
    cell_impl<A>* c;
    ~undo() {
      if (c) vtable_of<A>::free_cell(c);
    }
  } u{c};
  init_cell(c, s, o, &vtable_of<A>::table);
  if (factory) {
    set_factory(c, std::move(factory));
    construct_from_factory(c, c->storage);
  } else {
    actor_cell*& slot = constructing_cell();
    actor_cell* saved = std::exchange(slot, c);
    struct restore {
      actor_cell*& slot;
      actor_cell* saved;
      ~restore() { slot = saved; }
    } r{slot, saved};
    make(static_cast<void*>(c->storage));
  }
  c->flags |= flag_alive;
  u.c = nullptr;
  c->refs.store(2, std::memory_order_relaxed);  // the running actor + the returned ref
  start_cell(c, parent);                        // throws after finalising c itself
  return actor_ref<A>(c, actor_addr::adopt_t{});
}

}  // namespace detail

template <class Derived>
class actor : public detail::actor_base {
 public:
  // This actor's own ref. Actor context only.
  actor_ref<Derived> self() const { return actor_ref<Derived>(cell_); }
  actor_system& system() const { return detail::system_of(cell_->sys); }

  // Stops this actor (see actor_addr::stop). An immediate self-stop takes
  // effect right after the current message. Actor context only.
  void stop(stop_mode mode = stop_mode::graceful) {
    detail::request_stop(cell_, mode, mode == stop_mode::graceful ? exit_kind::normal : exit_kind::killed);
  }

  // Asks another actor. The deadline is now + timeout, capped by the
  // deadline of the message being handled (deadlines propagate). Two ways
  // to use the reply:
  //  - get(): this actor waits (its turn suspends on its fiber; it handles no
  //    other message until the reply or the deadline);
  //  - then(f): returns at once; f(result<R>) runs later as a message to
  //    this actor, which meanwhile goes on with other messages.
  // Actor context only.
  template <class B, class M, class Rep, class Period>
    requires handles<B, std::decay_t<M>>
  auto ask(const actor_ref<B>& target, M&& m, std::chrono::duration<Rep, Period> timeout) {
    auto d = detail::now() + std::chrono::ceil<detail::clock::duration>(timeout);
    if (current_ && current_->deadline < d) d = current_->deadline;
    return target.ask_from(cell_, std::forward<M>(m), d);
  }

  // The deadline of the message being handled (time_point::max() if none).
  detail::clock::time_point current_deadline() const noexcept {
    return current_ ? current_->deadline : detail::clock::time_point::max();
  }

  // For a handler declared to return reply_promise<T>: the promise that
  // answers the current ask. Call it in the handler (before it returns);
  // outside an ask it is empty. Throws actor_error(invalid_argument) if T
  // is not the reply type of the current ask. Actor context only.
  template <class T>
  reply_promise<T> reply_later() {
    if (!current_ || !current_->reply) return reply_promise<T>();
    if (current_->reply->type != &detail::type_tag<T>)
      throw actor_error(actor_errc::invalid_argument, "reply_later<T>: T is not the reply type of this ask");
    return reply_promise<T>(static_cast<detail::reply_state<T>*>(current_->reply));
  }

  // When `target` stops, this actor gets down{target, reason} (at once if it
  // already has). Requires a handler for `down`. Actor context only.
  void monitor(const actor_addr& target)
    requires handles<Derived, down>
  {
    detail::check_ref(target.cell(), "actor::monitor");
    detail::add_monitor(target.cell(), cell_);
  }

  // Links this actor with `other` (both ways): when one stops, the other
  // gets exit_signal if it has a handler for it; otherwise an abnormal exit
  // makes it fail with exit_kind::linked (restarted by its supervisor, or
  // stopped). Actor context only.
  void link(const actor_addr& other) {
    detail::check_ref(other.cell(), "actor::link");
    detail::add_link(cell_, other.cell());
  }
  void unlink(const actor_addr& other) noexcept {
    if (other) detail::remove_link(cell_, other.cell());
  }
};

}  // namespace troupe
