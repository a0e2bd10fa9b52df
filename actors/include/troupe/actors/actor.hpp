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
// no locking. A handler may also be a coroutine returning task<R> (task.hpp).
//
// Names an actor class inherits: exactly one, `self()`. Everything else a
// handler may need is a free function in troupe::this_actor, so message types
// may be called stop, link, monitor or anything else.
//
// Names the runtime looks for in an actor class (all optional):
//  - `on(M)` handlers, one per message type;
//  - `void on_start()`: runs in the actor's first turn, before any message;
//  - `void on_stop()`: runs when the actor stops (and before a restart
//    replaces the object);
//  - `on(down)` and `on(exit_signal)`: make monitoring and trapping links
//    possible (actor_ref.hpp);
//  - `static constexpr bool reentrant = true;`: coroutine handlers do not
//    hold the actor while suspended (task.hpp).
//
// "Actor context": the actor's constructor, on_start, its handlers (and the
// continuations and coroutines they start) and on_stop — the code its turns
// run. Calls below marked so throw actor_error(not_in_actor) elsewhere.

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

actor_system& system_of(system_impl* s);
void set_factory(actor_cell* c, unique_function<void(void*)> f);
// Builds the object from the factory (the first time and on restarts).
void construct_from_factory(actor_cell* c, void* storage);
// Validates options, fills the cell's mailbox fields. Throws actor_error.
void init_cell(actor_cell* c, system_impl* s, const spawn_options& o, const cell_vtable* vt);
// Throws actor_error(system_stopped) once shutdown began.
void check_can_spawn(system_impl* s);
// Makes a freshly built cell live: top level (parent null) or a supervisor's
// child. On failure it frees the cell itself and throws.
void start_cell(actor_cell* c, actor_cell* parent);
// The cell whose object the calling thread is constructing, around which
// actor_base takes it. The constructor is actor context: this_actor names
// the actor being built (not the one whose handler spawns it).
struct constructing_scope {
  explicit constructing_scope(actor_cell* c) noexcept;
  ~constructing_scope();
  actor_cell* saved;
  turn_context turn;
  turn_context* saved_turn;
};
// A cell that never started: destroy what was built, free it (and its
// extension block).
void abandon_cell(actor_cell* c) noexcept;

template <class A>
concept has_on_stop = requires(A& a) {
  a.on_stop();
};
template <class A>
concept has_on_start = requires(A& a) {
  a.on_start();
};
template <class A>
concept declares_reentrant = requires {
  A::reentrant;
};

template <class A>
struct vtable_of {
  static constexpr bool is_supervisor = requires { A::troupe_is_supervisor; };
  static constexpr bool is_reentrant = [] {
    if constexpr (declares_reentrant<A>)
      return static_cast<bool>(A::reentrant);
    else
      return false;
  }();
  static void* storage(actor_cell* c) noexcept { return static_cast<cell_impl<A>*>(c)->storage; }
  static void destroy_object(actor_cell* c) noexcept { object_of<A>(c).~A(); }
  static void free_cell(actor_cell* c) noexcept {
    // A supervisor's object outlives its stop (spawns from other threads
    // still look at its children list); it goes with the cell.
    if constexpr (is_supervisor)
      if (c->flags & flag_alive) object_of<A>(c).~A();
    static_cast<cell_impl<A>*>(c)->~cell_impl<A>();
    actor_free(c, sizeof(cell_impl<A>));
  }
  static void on_start(actor_cell* c) {
    if constexpr (has_on_start<A>) object_of<A>(c).on_start();
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
      type_name(typeid(A)),
      &storage,
      &destroy_object,
      &free_cell,
      has_on_start<A> ? &on_start : nullptr,
      has_on_stop<A> ? &on_stop : nullptr,
      handles<A, down> ? &on_down : nullptr,
      handles<A, exit_signal> ? &on_exit : nullptr,
      is_supervisor,
      is_reentrant,
  };
};

// Builds and starts an actor: one allocation for cell and object. The
// constructor runs on the calling thread; its exception propagates (nothing
// is leaked). `factory`: supervised children are (re)built from it.
template <class A, class Make>
actor_ref<A> spawn_cell(system_impl* s, actor_cell* parent, const spawn_options& o, Make&& make,
                        unique_function<void(void*)> factory) {
  check_can_spawn(s);
  void* mem = actor_alloc(sizeof(cell_impl<A>));
  auto* c = new (mem) cell_impl<A>();
  // Two references from the start: the running actor's and the returned
  // ref's; self() in the constructor takes more, never fewer.
  c->refs.store(2, std::memory_order_relaxed);
  struct undo {
    actor_cell* c;
    ~undo() {
      if (c) abandon_cell(c);
    }
  } u{c};
  init_cell(c, s, o, &vtable_of<A>::table);
  if (factory) {
    set_factory(c, std::move(factory));
    construct_from_factory(c, c->storage);
  } else {
    constructing_scope scope(c);
    make(static_cast<void*>(c->storage));
  }
  u.c = nullptr;
  start_cell(c, parent);  // frees c itself if it throws
  return actor_ref<A>(c, actor_addr::adopt_t{});
}

}  // namespace detail

template <class Derived>
class actor : public detail::actor_base {
 public:
  // This actor's own ref. Actor context only (including the constructor).
  actor_ref<Derived> self() const { return actor_ref<Derived>(troupe_cell_); }
};

// What a handler may ask about the turn it runs in. Each is actor context
// only unless it says otherwise.
namespace this_actor {

// True inside an actor's turn (any thread may call it).
bool active() noexcept;
// The system of the running actor. Throws actor_error(not_in_actor) outside
// a turn, and actor_error(system_stopped) in an actor that its shutdown
// abandoned (shutdown_timeout) once the actor_system object is gone.
actor_system& system();
// The running actor's handle.
actor_addr self();
// The deadline of the request being handled: time_point::max() if it has
// none (and outside actors). Asks made now inherit it. Any thread.
clock::time_point deadline() noexcept;
// The runtime clock's current time, in the running actor's system.
clock::time_point now();
// Stops the running actor (as actor_addr::stop); an immediate stop takes
// effect right after the current message.
void stop(stop_mode mode = stop_mode::graceful);

// For a handler declared to return reply_promise<T>: the promise that
// answers the current ask. Call it in the handler, before it returns;
// outside an ask it is empty. Throws actor_error(invalid_argument) if T is
// not the reply type of the current ask.
template <class T>
reply_promise<T> reply_later() {
  detail::turn_context* t = detail::current_turn();
  if (!t || !t->cell) throw actor_error(actor_errc::not_in_actor, "this_actor::reply_later: not in an actor");
  if (!t->current || !t->current->reply) return reply_promise<T>();
  if (t->current->reply->type != &detail::type_tag<T>)
    throw actor_error(actor_errc::invalid_argument,
                      "this_actor::reply_later<T>: T is not the reply type of this ask");
  return reply_promise<T>(static_cast<detail::reply_state<T>*>(t->current->reply));
}

}  // namespace this_actor

}  // namespace troupe
