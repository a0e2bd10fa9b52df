#pragma once
// Routers over actors: one handle with the send / ask surface of an
// actor_ref<A>, forwarding each message to one of a changing set of actors
// of class A, picked by the routers of router.hpp, p2c_router.hpp and
// consistent_hash.hpp.
//
//   troupe::router<worker, troupe::routing::p2c> pool(sys);
//   for (int i = 0; i < 4; ++i) pool.add(sys.spawn<worker>());
//   auto r = co_await pool.ask(job{7}, 1s);   // to the cheaper of two random workers
//   pool.remove(old);                          // safe while messages flow
//
// Policies (troupe::routing):
//   round_robin        each message to the next routee in turn
//   random             uniformly at random (seeded)
//   consistent_hash    by a key taken from the message (key(m) -> an integer
//                      or a string), on a ring with virtual nodes; optional
//                      bounded loads (a routee's load is its asks in flight)
//   p2c                power of two choices by peak-EWMA latency, asks in
//                      flight and recent errors, with slow start: every ask's
//                      completion feeds its latency and outcome back
//   smallest_mailbox   the routee with the fewest queued messages, read from
//                      each mailbox word (actor_ref::depth(): one relaxed
//                      load per routee, not stats())
//
// Membership: add() and remove() are thread-safe and may run while
// messages flow (the cores publish a new snapshot and wait for picks still
// reading the old one; they are for membership changes, not per message).
// A pick returns a routee that was a member when the pick read the set; an
// ask already sent to a removed routee is answered by it as usual.
//
// Sends and asks: a send goes to one routee (p2c and bounded loads learn
// nothing from it: it has no end). An ask goes to one routee; under p2c and
// bounded consistent hashing its completion is observed (one more reply
// state and hook per ask) to release the routee's in-flight count and, for
// p2c, record latency and outcome (overloaded counts as a failure there, so
// a shedding routee gets less traffic). With no routee, sends return
// actor_stopped and asks fail with actor_stopped ("router: no routee"),
// counted as dead letters. Not retried here: put the router under
// troupe::protect(router).retry(...) for that (a retry is a new pick).
//
// Shares: every pick counts one message for the routee it returns (one
// relaxed increment on that routee's own cache line); shares() reads them,
// and patterns::pattern_metrics exposes them as troupe_router_routed_total.
//
// A router is a handle: cheap to copy (one shared pointer), every member
// thread-safe. Time comes from the actor system's runtime clock.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/ask.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/patterns/consistent_hash.hpp"
#include "troupe/patterns/detail/pipeline.hpp"
#include "troupe/patterns/p2c_router.hpp"
#include "troupe/patterns/protect.hpp"
#include "troupe/patterns/router.hpp"

namespace troupe {

namespace routing {

struct round_robin {};
struct random {
  std::uint64_t seed = 0x2545f4914f6cdd1dULL;
};
// key(const M&) for every message type sent through the router: an integer
// or something convertible to std::string_view (a generic lambda works).
template <class KeyFn>
struct consistent_hash {
  KeyFn key;
  patterns::consistent_hash_config config{};
};
template <class KeyFn>
consistent_hash<KeyFn> by_key(KeyFn key, patterns::consistent_hash_config config = {}) {
  return {std::move(key), config};
}
struct p2c {
  patterns::p2c_config config{};
};
struct smallest_mailbox {
  patterns::smallest_mailbox_config config{};
};

}  // namespace routing

namespace patterns::detail {

// How many messages a router gave one routee (troupe_router_routed_total).
// On its own cache line: routees picked by different threads do not share one.
struct alignas(64) routee_share {
  std::atomic<std::uint64_t> routed{0};
};

// A routee as the router cores hold it: the actor and its share, counted by
// each pick that returns it (note_pick, router.hpp), inside the snapshot
// read, so remove() returning means nobody counts into the share any more.
template <class A>
struct routed {
  actor_ref<A> ref;
  routee_share* share;  // owned by the router's state while `ref` is a member
  // relaxed: a lone statistic, read on its own by metrics; it orders nothing.
  void note_pick() const noexcept { share->routed.fetch_add(1, std::memory_order_relaxed); }
};

// What a pick holds until the ask it was made for ends.
struct no_lease {};

template <class K>
std::uint64_t hash_routing_key(const K& k) noexcept {
  if constexpr (std::is_integral_v<K> || std::is_enum_v<K>)
    return hash_key(static_cast<std::uint64_t>(k));
  else
    return hash_key(std::string_view(k));
}

template <class A>
std::optional<actor_ref<A>> ref_of(std::optional<routed<A>> r) {
  if (!r) return std::nullopt;
  return std::move(r->ref);
}

// The pick logic of each policy over actor_ref<A> routees.
template <class A, class Policy>
struct routing_core;

template <class A>
struct routing_core<A, routing::round_robin> {
  using lease_type = no_lease;
  explicit routing_core(const routing::round_robin&) {}
  bool add(routee_id id, const routed<A>& r, time_point) { return c.add(id, r); }
  bool remove(routee_id id) { return c.remove(id); }
  std::size_t size() const { return c.size(); }
  template <class M>
  std::optional<actor_ref<A>> pick(const M&, time_point, lease_type&) const {
    return ref_of(c.pick());
  }
  static bool observes(const lease_type&) noexcept { return false; }
  round_robin_router<routed<A>> c;
};

template <class A>
struct routing_core<A, routing::random> {
  using lease_type = no_lease;
  explicit routing_core(const routing::random& p) : c(p.seed) {}
  bool add(routee_id id, const routed<A>& r, time_point) { return c.add(id, r); }
  bool remove(routee_id id) { return c.remove(id); }
  std::size_t size() const { return c.size(); }
  template <class M>
  std::optional<actor_ref<A>> pick(const M&, time_point, lease_type&) const {
    return ref_of(c.pick());
  }
  static bool observes(const lease_type&) noexcept { return false; }
  random_router<routed<A>> c;
};

template <class A>
struct depth_of_mailbox {
  std::size_t operator()(const routed<A>& r) const noexcept { return r.ref.depth(); }
};

template <class A>
struct routing_core<A, routing::smallest_mailbox> {
  using lease_type = no_lease;
  explicit routing_core(const routing::smallest_mailbox& p) : c(depth_of_mailbox<A>{}, p.config) {}
  bool add(routee_id id, const routed<A>& r, time_point) { return c.add(id, r); }
  bool remove(routee_id id) { return c.remove(id); }
  std::size_t size() const { return c.size(); }
  template <class M>
  std::optional<actor_ref<A>> pick(const M&, time_point, lease_type&) const {
    return ref_of(c.pick());
  }
  static bool observes(const lease_type&) noexcept { return false; }
  smallest_mailbox_router<routed<A>, depth_of_mailbox<A>> c;
};

template <class A, class KeyFn>
struct routing_core<A, routing::consistent_hash<KeyFn>> {
  using lease_type = typename consistent_hash_router<routed<A>>::lease;
  explicit routing_core(const routing::consistent_hash<KeyFn>& p)
      : key(p.key), bounded(p.config.bounded_load_epsilon.has_value()), c(p.config) {}
  bool add(routee_id id, const routed<A>& r, time_point) { return c.add(id, r); }
  bool remove(routee_id id) { return c.remove(id); }
  std::size_t size() const { return c.size(); }
  template <class M>
  std::optional<actor_ref<A>> pick(const M& m, time_point, lease_type& lease) const {
    lease = c.pick(hash_routing_key(key(m)));
    if (!lease) return std::nullopt;
    return lease.routee().ref;
  }
  // With bounded loads the lease is a unit of the routee's load until the
  // ask ends; without, it holds nothing.
  bool observes(const lease_type&) const noexcept { return bounded; }
  KeyFn key;
  bool bounded;
  consistent_hash_router<routed<A>> c;
};

template <class A>
struct routing_core<A, routing::p2c> {
  using lease_type = typename p2c_router<routed<A>>::lease;
  explicit routing_core(const routing::p2c& p) : c(p.config) {}
  bool add(routee_id id, const routed<A>& r, time_point now) { return c.add(id, r, now); }
  bool remove(routee_id id) { return c.remove(id); }
  std::size_t size() const { return c.size(); }
  template <class M>
  std::optional<actor_ref<A>> pick(const M&, time_point now, lease_type& lease) const {
    lease = c.pick(now);
    if (!lease) return std::nullopt;
    return lease.routee().ref;
  }
  static bool observes(const lease_type&) noexcept { return true; }
  p2c_router<routed<A>> c;
};

template <class Lease>
void finish_lease(Lease& l, outcome o, clock::duration latency, time_point now) noexcept {
  if constexpr (requires { l.complete(o, latency, now); })
    l.complete(o, latency, now);
  else if constexpr (requires { l.release(); })
    l.release();
}

// Observes one routee's answer to an ask: gives the pick's lease back (with
// what it learnt), then completes the router's own reply.
// Holds the router's state: a consistent-hash lease must not outlive its
// router, and the handle that made the ask may be gone before it ends.
template <class T, class Lease>
struct lease_hook final : troupe::detail::completion_hook, troupe::detail::small_object {
  lease_hook(system_impl* s, time_point deadline, Lease l, time_point start,
             std::shared_ptr<const void> router)
      : sys(s), outer(s, deadline, nullptr), owner(std::move(router)), lease(std::move(l)), started(start) {
    this->run = &fire;
  }
  static void fire(troupe::detail::completion_hook* h, troupe::detail::reply_state_base* s) noexcept {
    std::unique_ptr<lease_hook> self(static_cast<lease_hook*>(h));
    auto* st = static_cast<troupe::detail::reply_state<T>*>(s);
    result<T> r = std::move(st->value);
    const bool replied = st->replied;  // written before the hook runs, never after (see attempt::fire)
    st->release();
    const time_point now = troupe::detail::now_of(self->sys);
    finish_lease(self->lease, default_outcome(r), now - self->started, now);
    self->outer.complete(std::move(r), replied);
  }
  system_impl* sys;
  troupe::detail::pending_reply<T> outer;
  std::shared_ptr<const void> owner;  // declared before the lease: destroyed after it
  Lease lease;
  time_point started;
};

}  // namespace patterns::detail

template <class A, class Policy = routing::round_robin>
class router {
  using core_type = patterns::detail::routing_core<A, Policy>;
  struct state {
    state(detail::system_impl* s, const Policy& p) : sys(s), core(p) {}
    detail::system_impl* sys;
    core_type core;
    struct member {
      detail::actor_cell* cell;
      patterns::routee_id id;
      std::unique_ptr<patterns::detail::routee_share> share;  // its address is in the core's snapshot
    };
    std::mutex ids_mutex;  // membership changes and share readings
    std::vector<member> ids;
  };

 public:
  using actor_type = A;
  using policy_type = Policy;

  // Messages given to one routee (sends and asks, whatever their fate),
  // counted at each pick.
  struct share {
    patterns::routee_id id;
    std::uint64_t routed;
  };

  router() = default;
  // A router with no routee yet, telling time by `sys`'s runtime clock.
  explicit router(actor_system& sys, Policy policy = {}) : st_(std::make_shared<state>(sys.impl(), policy)) {}

  // Adds a routee; false if it is already one (or empty). Its id is its
  // address, unless given: consistent hashing places routees on the ring by
  // id, so give stable ids (a shard number) when placement must not depend
  // on where the actor was allocated. Thread-safe; see the header comment.
  bool add(const actor_ref<A>& r) { return add(r, reinterpret_cast<std::uintptr_t>(r.cell())); }
  bool add(const actor_ref<A>& r, patterns::routee_id id) {
    check("router::add");
    if (!r) return false;
    std::lock_guard g(st_->ids_mutex);
    for (const auto& m : st_->ids)
      if (m.cell == r.cell() || m.id == id) return false;
    auto sh = std::make_unique<patterns::detail::routee_share>();
    if (!st_->core.add(id, patterns::detail::routed<A>{r, sh.get()}, detail::now_of(st_->sys))) return false;
    st_->ids.push_back({r.cell(), id, std::move(sh)});
    return true;
  }
  // Removes a routee; false if it is not one. Thread-safe.
  bool remove(const actor_addr& r) {
    check("router::remove");
    std::lock_guard g(st_->ids_mutex);
    for (auto it = st_->ids.begin(); it != st_->ids.end(); ++it) {
      if (it->cell != r.cell()) continue;
      // The core waits for picks reading the old set, so once it returns no
      // pick counts into the share any more and it may go.
      const bool removed = st_->core.remove(it->id);
      st_->ids.erase(it);
      return removed;
    }
    return false;
  }
  // Each routee's share so far, in the order added. Thread-safe; takes the
  // membership lock (for metrics scrapes, not per message).
  std::vector<share> shares() const {
    check("router::shares");
    std::lock_guard g(st_->ids_mutex);
    std::vector<share> out;
    out.reserve(st_->ids.size());
    // relaxed: each count is a lone statistic (see routed::note_pick).
    for (const auto& m : st_->ids) out.push_back({m.id, m.share->routed.load(std::memory_order_relaxed)});
    return out;
  }
  std::size_t size() const {
    check("router::size");
    return st_->core.size();
  }
  explicit operator bool() const noexcept { return st_ != nullptr; }

  // As actor_ref<A>::send, to one routee.
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m)
  const {
    return route_send<std::decay_t<M>>(m,
                                       [&](const actor_ref<A>& to) { return to.send(std::forward<M>(m)); });
  }
  template <class M>
  requires handles<A, std::decay_t<M>> send_result send(M&& m, clock::time_point deadline,
                                                        when_full full = when_full::wait,
                                                        message_priority prio = priority_of_v<M>)
  const {
    return route_send<std::decay_t<M>>(
        m, [&](const actor_ref<A>& to) { return to.send(std::forward<M>(m), deadline, full, prio); });
  }
  template <class M>
  requires handles<A, std::decay_t<M>> send_result try_send(M&& m)
  const {
    return route_send<std::decay_t<M>>(
        m, [&](const actor_ref<A>& to) { return to.try_send(std::forward<M>(m)); });
  }
  template <class M>
  requires handles<A, std::decay_t<M>> ask_future<void> send_async(
      M&& m, clock::time_point deadline = clock::time_point::max())
  const {
    check("router::send_async");
    typename core_type::lease_type lease;
    if (auto to = st_->core.pick(m, detail::now_of(st_->sys), lease))
      return to->send_async(std::forward<M>(m), deadline);
    no_routee<std::decay_t<M>>();
    detail::pending_reply<void> r(st_->sys, deadline, nullptr);
    ask_future<void> f = r.take_future();
    r.fail(patterns::to_actor_errc(patterns::errc::no_routee), "router: no routee");
    return f;
  }

  // As actor_ref<A>::ask, to one routee (deadline capped by the request
  // being handled, never blocks, refusals in the future). Thread-safe.
  template <class M>
  requires handles<A, std::decay_t<M>>
  auto ask(M&& m, clock::time_point deadline, when_full full = when_full::wait,
           message_priority prio = priority_of_v<M>) const {
    using T = detail::reply_t<A, std::decay_t<M>>;
    check("router::ask");
    return ask_future<T>(start<std::decay_t<M>>(std::forward<M>(m), detail::ask_deadline(nullptr, deadline),
                                                full, prio, detail::now_of(st_->sys)));
  }
  template <class M, class Rep, class Period>
  requires handles<A, std::decay_t<M>>
  auto ask(M&& m, std::chrono::duration<Rep, Period> timeout, when_full full = when_full::wait,
           message_priority prio = priority_of_v<M>) const {
    check("router::ask");
    return ask(std::forward<M>(m), clock::after(detail::now_of(st_->sys), timeout), full, prio);
  }

  // Internal (protect_target): one ask with exactly this deadline (`now`:
  // just read); its state with one reference for the caller.
  template <class M, class X>
  detail::reply_state<detail::reply_t<A, M>>* start(X&& m, clock::time_point deadline, when_full full,
                                                    message_priority prio, clock::time_point now) const {
    using T = detail::reply_t<A, M>;
    typename core_type::lease_type lease;
    std::optional<actor_ref<A>> to = st_->core.pick(static_cast<const M&>(m), now, lease);
    if (!to) {
      no_routee<M>();
      detail::pending_reply<T> r(st_->sys, deadline, nullptr);
      ask_future<T> f = r.take_future();
      r.fail(patterns::to_actor_errc(patterns::errc::no_routee), "router: no routee");
      return f.release_state();
    }
    if (!st_->core.observes(lease))
      return detail::start_ask<A, M>(to->cell(), std::forward<X>(m), deadline, full, prio, now);
    using hook = patterns::detail::lease_hook<T, typename core_type::lease_type>;
    auto* h = new hook(st_->sys, deadline, std::move(lease), now, st_);
    ask_future<T> f = h->outer.take_future();
    detail::reply_state<T>* inner;
    try {
      inner = detail::start_ask<A, M>(to->cell(), std::forward<X>(m), deadline, full, prio, now);
    } catch (...) {
      delete h;  // completes f with broken_reply; the lease is given back
      throw;
    }
    detail::register_hook(inner, h);
    return f.release_state();
  }
  detail::system_impl* system() const noexcept { return st_->sys; }

 private:
  void check(const char* what) const {
    if (!st_) throw actor_error(actor_errc::invalid_argument, std::string(what) + ": an empty router");
  }
  template <class M>
  void no_routee() const noexcept {
    detail::note_dead_letter(st_->sys, nullptr, dead_letter_reason::actor_stopped,
                             detail::type_name(typeid(M)));
  }
  template <class M, class F>
  send_result route_send(const M& m, F&& send_to) const {
    check("router::send");
    typename core_type::lease_type lease;  // a send has no end: given back after it
    if (auto to = st_->core.pick(m, detail::now_of(st_->sys), lease)) return send_to(*to);
    no_routee<M>();
    return patterns::to_actor_errc(patterns::errc::no_routee);
  }

  std::shared_ptr<state> st_;
};

template <class A, class Policy>
struct protect_target<router<A, Policy>> {
  using actor_type = A;
  static detail::system_impl* system(const router<A, Policy>& r) noexcept { return r.system(); }
  static detail::actor_cell* cell(const router<A, Policy>&) noexcept { return nullptr; }
  template <class M, class X>
  static detail::reply_state<detail::reply_t<A, M>>* start(const router<A, Policy>& r, X&& m,
                                                           clock::time_point deadline, when_full full,
                                                           message_priority p, clock::time_point now) {
    return r.template start<M>(std::forward<X>(m), deadline, full, p, now);
  }
};

// Resilience layers around a router: a retry is a new pick.
template <class A, class Policy>
protected_ref<A, router<A, Policy>> protect(router<A, Policy> r) {
  return protected_ref<A, router<A, Policy>>(std::move(r));
}

}  // namespace troupe
