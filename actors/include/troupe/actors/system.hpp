#pragma once
// The actor system: spawns actors on a runtime, counts dead letters, keeps
// the registry of names, and shuts everything down in order.
//
// Shutdown rule (shutdown() or the destructor):
//  1. New sends from threads outside the runtime are refused
//     (system_stopped, counted as dead letters); spawns are refused
//     everywhere. Sends between actors go on, so accepted work completes.
//  2. Actor timers are cancelled.
//  3. Every top-level actor is stopped (graceful: it handles every message it
//     already accepted; supervisors stop their children first, then
//     themselves). A message is either handled or counted as a dead letter:
//     after shutdown, accepted == processed + dead letters of the accepted
//     kinds (dropped_oldest, expired, shed, unprocessed), exactly.
//  4. shutdown() waits until every actor has stopped, for at most
//     `shutdown_timeout` (system_options). Actors still running then (one
//     waiting forever on something that never comes, such as a blocking
//     wait on itself) are abandoned: the report names them, they are asked
//     to stop immediately, and their state lives on until the runtime shuts
//     down (which cancels blocked waits). If the runtime is shutting down
//     or shut down already, shutdown() does not wait: nothing would run the
//     actors' stops from then on but the runtime's own shutdown.
// A runtime shut down under a live system: sends and spawns from threads
// outside the runtime are refused with system_stopped, as in 1.
// The system's internal state outlives the actor_system object until its
// runtime shuts down, so late timers and replies never reach freed memory;
// handles must still not be used after their actor_system is destroyed.
//
// From one of the runtime's workers (inside a handler), shutdown() only
// begins shutdown and returns an empty report: a worker cannot wait for the
// actors it may be running. The destructor called there does the same.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/unique_function.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/actors/metrics.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe {

class supervisor_ref;
struct supervisor_options;

// Handed to the dead-letter hook.
struct dead_letter {
  dead_letter_reason reason;
  actor_addr target;         // may be empty (e.g. an unanswered reply to a gone asker)
  const char* message_type;  // the message's (or the reply's) type, demangled
};

struct system_options {
  // Called for every dead letter, synchronously, on the thread where it
  // happens (any thread). Must be thread-safe, quick and must not throw or
  // block; it must not send to an actor with a `block` mailbox.
  std::function<void(const dead_letter&)> dead_letter_hook = nullptr;
  // How long shutdown() waits for actors to stop before it abandons them.
  std::chrono::milliseconds shutdown_timeout{10'000};
};

// What shutdown() left behind.
struct shutdown_report {
  bool complete = true;             // every actor stopped in time
  std::size_t abandoned = 0;        // top-level actors still running at the timeout
  std::vector<std::string> actors;  // their classes (demangled), at most 32
};

class actor_system {
 public:
  // Thread-safe to construct; throws actor_error(invalid_argument) for a
  // negative shutdown_timeout.
  explicit actor_system(runtime& rt, system_options options = {});
  // shutdown(graceful). See "From one of the runtime's workers" above.
  ~actor_system();
  actor_system(const actor_system&) = delete;
  actor_system& operator=(const actor_system&) = delete;

  // Spawns a top-level actor of class A, constructed from args on the
  // calling thread (its exception propagates). Thread-safe. Throws
  // actor_error(system_stopped) once shutdown began (of the system, or of
  // the runtime from a thread outside it), actor_error(
  // invalid_argument) for bad options (zero capacity, zero budget).
  template <class A, class... Args>
  requires(std::is_base_of_v<actor<A>, A> &&
           (sizeof...(Args) == 0 || !(std::is_same_v<std::remove_cvref_t<Args>, spawn_options> ||
                                      ...))) actor_ref<A> spawn(Args&&... args) {
    return spawn<A>(spawn_options{}, std::forward<Args>(args)...);
  }
  template <class A, class... Args>
  requires std::is_base_of_v<actor<A>, A> actor_ref<A> spawn(const spawn_options& options, Args&&... args) {
    return detail::spawn_cell<A>(impl_.get(), nullptr, options,
                                 [&](void* mem) { new (mem) A(std::forward<Args>(args)...); }, {});
  }

  // A top-level supervisor (see supervisor.hpp). Thread-safe.
  supervisor_ref spawn_supervisor(const supervisor_options& options);

  // See the shutdown rule above. Thread-safe, idempotent (a later call waits
  // again, for at most the timeout, and reports).
  shutdown_report shutdown(stop_mode mode = stop_mode::graceful);
  bool stopping() const noexcept;

  // The system's totals (system_stats: metrics.hpp). Thread-safe.
  system_stats stats() const;

  // Metrics (metrics.hpp, docs/design/metrics.md): the runtime's workers,
  // the system's totals, every actor class, the actors named in `options`
  // and the metric sources' families, as one value that renders itself as
  // JSON and Prometheus text. Takes the registry of sources' lock and walks
  // the live actors (O(actors), a few ns each, holding each list's lock
  // only while it reads that list). Thread-safe; not from inside a metric
  // source.
  system_metrics metrics(const metrics_options& options = {}) const;
  // Handler time and mailbox sojourn histograms, per actor class. Off by
  // default: off, a send and a handled message each pay one predictable
  // branch; on, a send reads the clock once and a handled message twice,
  // plus two records (a few ns each) into per-worker histograms (about
  // 17 KiB per class and worker, made on first use). Takes effect for
  // messages sent and handled from soon after the call; what was recorded
  // stays in later snapshots. Thread-safe.
  void enable_histograms(bool on) noexcept;
  bool histograms_enabled() const noexcept;
  // Adds a metric source: `collect` appends metric families on every
  // snapshot (metrics(), and the Prometheus collectable on each scrape),
  // after the system's own. The extension point for layers above: a
  // pattern wrapper adds its counters here. `name` identifies the source
  // (e.g. "patterns.breaker.payments"); throws actor_error(invalid_argument)
  // if it is empty or taken. The source lives until the returned handle is
  // destroyed or removed. Thread-safe.
  [[nodiscard]] metric_source add_metric_source(std::string name, metric_source::collect_fn collect);

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

  runtime& rt() const noexcept;
  // The runtime clock's current time. Thread-safe.
  clock::time_point now() const noexcept;
  detail::system_impl* impl() const noexcept { return impl_.get(); }

 private:
  std::shared_ptr<detail::system_impl> impl_;
};

}  // namespace troupe
