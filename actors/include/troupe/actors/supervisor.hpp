#pragma once
// Supervision trees, in the manner of Erlang/OTP, with Akka-style restarts in
// place (a restarted child keeps its ref and its mailbox).
//
// A child whose handler throws (or that dies of a linked failure) is
// suspended: it stops taking user messages (they queue, up to capacity) and
// its supervisor decides, by strategy:
//  - one_for_one: restart that child;
//  - one_for_all: restart every child;
//  - rest_for_one: restart that child and the ones spawned after it.
// A restart destroys the object (on_stop runs first) and builds a new one
// from the arguments given at spawn (they must be copyable). Restart
// intensity: more than max_restarts restarts within `within` makes the
// supervisor give up and escalate: a supervised supervisor fails in turn
// (its parent restarts it: all its children restart); a top-level one stops
// with its children (exit_kind::restart_limit, counted in
// system_stats::escalations). Restarts are delayed by a capped exponential
// backoff: backoff_initial * multiplier^(n-1), at most backoff_max, for the
// n-th restart within the window (0 = at once).
// A child that stops normally (or is stopped) is removed, not restarted.
// Stopping a supervisor stops its children first (in reverse spawn order,
// all at once), then the supervisor.

#include <chrono>
#include <cstddef>
#include <deque>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe {

enum class restart_strategy : std::uint8_t { one_for_one, one_for_all, rest_for_one };

struct supervisor_options {
  restart_strategy strategy = restart_strategy::one_for_one;
  std::size_t max_restarts = 3;                  // intensity: N restarts ...
  std::chrono::milliseconds within{5000};        // ... within T
  std::chrono::milliseconds backoff_initial{0};  // 0: restart at once
  std::chrono::milliseconds backoff_max{1000};
  double backoff_multiplier = 2.0;
};

// The built-in supervisor actor. It has no user handlers; talk to it through
// supervisor_ref.
class supervisor final : public actor<supervisor> {
 public:
  static constexpr bool troupe_is_supervisor = true;
  explicit supervisor(const supervisor_options& o) : options(o) {}

  // Internal state (touched by supervisor.cpp only).
  supervisor_options options;
  detail::spinlock children_lock;             // guards children
  std::vector<detail::actor_cell*> children;  // spawn order, one reference each
  std::deque<clock::time_point> restarts;     // within the intensity window
  bool escalated = false;
  bool closed = false;  // no more children (guarded by children_lock)
};

namespace detail {
void check_supervisor_options(const supervisor_options& o);
}

class supervisor_ref : public actor_ref<supervisor> {
 public:
  supervisor_ref() = default;
  explicit supervisor_ref(actor_ref<supervisor> r) : actor_ref<supervisor>(std::move(r)) {}

  // Spawns a child of class A under this supervisor. The arguments are kept
  // (copied) to rebuild the child on restart. Thread-safe. Throws
  // actor_error(actor_stopped) if the supervisor is stopping,
  // actor_error(system_stopped) during shutdown.
  template <class A, class... Args>
  requires(std::is_base_of_v<actor<A>, A> &&
           (sizeof...(Args) == 0 || !(std::is_same_v<std::remove_cvref_t<Args>, spawn_options> ||
                                      ...))) actor_ref<A> spawn(Args&&... args)
  const { return spawn<A>(spawn_options{}, std::forward<Args>(args)...); }
  template <class A, class... Args>
  requires std::is_base_of_v<actor<A>, A> actor_ref<A> spawn(const spawn_options& options, Args&&... args)
  const {
    static_assert((std::is_copy_constructible_v<std::decay_t<Args>> && ...),
                  "supervisor_ref::spawn: a supervised actor is rebuilt from copies of its constructor "
                  "arguments on every restart, so each argument must be copyable (pass a shared_ptr or "
                  "a copyable handle instead of a move-only value)");
    detail::check_ref(c_, "supervisor_ref::spawn");
    detail::unique_function<void(void*)> factory =
        [tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)](void* mem) {
          std::apply([mem](const auto&... a) { new (mem) A(a...); }, tup);
        };
    return detail::spawn_cell<A>(
        c_->sys, c_, options, [](void*) {}, std::move(factory));
  }
  // A child supervisor. Thread-safe.
  supervisor_ref spawn_supervisor(const supervisor_options& options) const {
    detail::check_supervisor_options(options);
    return supervisor_ref(spawn<supervisor>(options));
  }
  std::size_t child_count() const;
};

}  // namespace troupe
