#pragma once
// Power of two choices (Mitzenmacher, "The Power of Two Choices in
// Randomized Load Balancing", 2001) weighing peak-EWMA latency, in-flight
// requests and recent errors, as Finagle's and linkerd's balancers do, with
// slow start for new routees.
//
// A pick draws two distinct routees at random and takes the cheaper:
//   cost = latency * (in_flight + 1) * (1 + error_penalty * error_rate)
// where
//  - latency is a peak-sensitive EWMA (tower/linkerd "PeakEwma"): a sample
//    above the estimate replaces it at once; a lower one blends in with
//    weight 1 - exp(-dt / decay). Read at `now`, the estimate decays toward
//    zero with the same time constant, so a routee that got no traffic
//    because it looked slow is tried again and can win its share back.
//  - in_flight counts the leases out (picks not yet completed).
//  - error_rate is an EWMA of failures (per the config's classifier; by
//    default "overloaded" counts too, so a shedding routee gets less
//    traffic) with its own time constant, also decaying at read.
// A new routee starts at the set's mean latency (neither flooded for looking
// free nor starved for looking unknown) and, during `slow_start`, is eligible
// as a candidate only with probability
//   max(min_weight, (age / slow_start)^(1 / aggression))
// (Envoy's slow-start curve), so its share ramps up over the window.
//
// Statistics are updated with plain atomic loads and stores: two completions
// on the same routee at the same instant may lose one sample. That keeps a
// completion at a few relaxed operations and cannot break anything but the
// estimate's precision.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "troupe/patterns/detail/routee_node.hpp"
#include "troupe/patterns/detail/snapshot_cell.hpp"
#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/patterns/router.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::patterns {

struct p2c_config {
  clock::duration decay = std::chrono::seconds(10);        // latency EWMA time constant (Finagle's default)
  clock::duration error_decay = std::chrono::seconds(10);  // error EWMA time constant
  double error_penalty = 10.0;                             // a routee failing everything costs 11x
  clock::duration slow_start = std::chrono::seconds(30);   // zero: no slow start
  double slow_start_aggression = 1.0;                      // 1: linear ramp
  double slow_start_min_weight = 0.1;
  clock::duration initial_latency = std::chrono::milliseconds(1);  // the first routee's starting estimate
  failure_classifier classify = failure_classifier{}.set(outcome::overloaded, verdict::failure);
  std::uint64_t seed = 0x6a09e667f3bcc909ULL;
};

template <class Routee>
class p2c_router {
  // What a completion needs to learn from, copied into each routee's node:
  // a lease outlives the router, the node outlives every lease.
  struct learning {
    clock::duration decay;
    clock::duration error_decay;
    failure_classifier classify;
  };
  struct stats {
    stats(clock::time_point now, double latency_ns, const p2c_config& cfg) noexcept
        : added_ns(now.time_since_epoch().count()),
          learn{cfg.decay, cfg.error_decay, cfg.classify},
          latency_ns(latency_ns),
          latency_at(added_ns),
          error_at(added_ns) {}
    const clock::duration::rep added_ns;
    const learning learn;
    // relaxed atomics throughout: lone estimates (see the header comment).
    std::atomic<double> latency_ns;
    std::atomic<clock::duration::rep> latency_at;
    std::atomic<double> error_rate{0.0};
    std::atomic<clock::duration::rep> error_at;
  };
  using node = detail::routee_node<Routee, stats>;
  struct snapshot {
    detail::node_list<node> members;
  };

 public:
  // One pick: the routee, holding one unit of its in-flight count until
  // completed or destroyed. Move-only. May outlive the router and the
  // routee's membership.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        node_ = std::exchange(o.node_, nullptr);
      }
      return *this;
    }
    ~lease() { release(); }
    explicit operator bool() const noexcept { return node_ != nullptr; }
    const Routee& routee() const noexcept { return node_->routee; }
    routee_id id() const noexcept { return node_->id; }

    // The call ended: learn from it, then release the in-flight unit.
    // Outcomes the classifier ignores teach nothing. Thread-safe.
    void complete(outcome o, clock::duration latency, clock::time_point now) noexcept {
      if (!node_) return;
      const verdict v = node_->state.learn.classify(o);
      if (v != verdict::ignored) {
        p2c_router::learn_latency(node_->state, static_cast<double>(latency.count()), now);
        p2c_router::learn_error(node_->state, v == verdict::failure ? 1.0 : 0.0, now);
      }
      release();
    }
    // Releases without learning (the destructor does it otherwise).
    void release() noexcept {
      if (node_) node::release_lease(std::exchange(node_, nullptr));
    }

   private:
    friend class p2c_router;
    node* node_ = nullptr;
  };

  explicit p2c_router(p2c_config cfg = {})
      : cfg_(cfg), rng_(cfg.seed), cell_(std::make_unique<const snapshot>()) {
    if (cfg_.decay <= clock::duration::zero() || cfg_.error_decay <= clock::duration::zero())
      throw std::invalid_argument("p2c_router: decay times must be > 0");
    if (!(cfg_.slow_start_aggression > 0))
      throw std::invalid_argument("p2c_router: slow_start_aggression must be > 0");
  }

  // Membership (router.hpp). A new routee's slow start begins at `now`.
  // Thread-safe; waits for picks reading the old set.
  bool add(routee_id id, Routee r, clock::time_point now) {
    bool added = false;
    cell_.update([&](const snapshot& cur) -> std::unique_ptr<const snapshot> {
      auto next = std::make_unique<snapshot>();
      next->members.copy_from(cur.members);
      if (!cur.members.contains(id)) {
        next->members.insert(new node(id, std::move(r), now, mean_latency(cur, now), cfg_));
        added = true;
      }
      return next;
    });
    return added;
  }
  bool remove(routee_id id) {
    bool removed = false;
    cell_.update([&](const snapshot& cur) -> std::unique_ptr<const snapshot> {
      auto next = std::make_unique<snapshot>();
      next->members.copy_from(cur.members);
      removed = next->members.erase(id);
      return next;
    });
    return removed;
  }
  std::size_t size() const {
    return cell_.read([](const snapshot& s) { return s.members.nodes().size(); });
  }

  // Picks with the router's shared seeded source, or the caller's own.
  // Empty lease when there is no routee. Thread-safe, lock-free, no
  // allocation.
  lease pick(clock::time_point now) const { return pick_with(rng_, now); }
  lease pick(clock::time_point now, random_source& rng) const { return pick_with(rng, now); }

  // The cost p2c compares, for tests and metrics. Thread-safe.
  double cost_of(routee_id id, clock::time_point now) const {
    return cell_.read([&](const snapshot& s) {
      for (const node* n : s.members.nodes())
        if (n->id == id) return cost(*n, now);
      return -1.0;
    });
  }

 private:
  static double decay_factor(clock::duration::rep elapsed_ns, clock::duration tau) noexcept {
    if (elapsed_ns <= 0) return 1.0;
    return std::exp(-static_cast<double>(elapsed_ns) / static_cast<double>(tau.count()));
  }

  // relaxed loads and stores of the statistics here and below: each is a
  // lone estimate (see the class comment); nothing is published with them.
  double cost(const node& n, clock::time_point now) const noexcept {
    const clock::duration::rep t = now.time_since_epoch().count();
    const stats& s = n.state;
    const double latency = s.latency_ns.load(std::memory_order_relaxed) *
                           decay_factor(t - s.latency_at.load(std::memory_order_relaxed), cfg_.decay);
    double err = s.error_rate.load(std::memory_order_relaxed);
    if (err > 0) err *= decay_factor(t - s.error_at.load(std::memory_order_relaxed), cfg_.error_decay);
    return latency * (static_cast<double>(n.leases()) + 1.0) * (1.0 + cfg_.error_penalty * err);
  }

  template <class Rng>
  bool eligible(const node& n, clock::time_point now, Rng& rng) const noexcept {
    if (cfg_.slow_start <= clock::duration::zero()) return true;
    const clock::duration::rep age = now.time_since_epoch().count() - n.state.added_ns;
    if (age >= cfg_.slow_start.count()) return true;
    const double frac =
        age <= 0 ? 0.0 : static_cast<double>(age) / static_cast<double>(cfg_.slow_start.count());
    const double w = std::max(cfg_.slow_start_min_weight, std::pow(frac, 1.0 / cfg_.slow_start_aggression));
    return rng.uniform() < w;
  }

  template <class Rng>
  lease pick_with(Rng& rng, clock::time_point now) const {
    return cell_.read([&](const snapshot& s) {
      lease l;
      const auto& nodes = s.members.nodes();
      const std::size_t n = nodes.size();
      if (n == 0) return l;
      node* chosen = nodes[0];
      if (n > 1) {
        const std::size_t i = static_cast<std::size_t>(rng.below(n));
        std::size_t j = static_cast<std::size_t>(rng.below(n - 1));
        j += j >= i ? 1 : 0;
        node* a = nodes[i];
        node* b = nodes[j];
        const bool a_ok = eligible(*a, now, rng);
        const bool b_ok = eligible(*b, now, rng);
        if (a_ok != b_ok) {
          chosen = a_ok ? a : b;
        } else {
          chosen = cost(*b, now) < cost(*a, now) ? b : a;
        }
      }
      chosen->take_lease();
      detail::note_pick(chosen->routee);
      l.node_ = chosen;
      return l;
    });
  }

  double mean_latency(const snapshot& s, clock::time_point now) const noexcept {
    const auto& nodes = s.members.nodes();
    if (nodes.empty()) return static_cast<double>(cfg_.initial_latency.count());
    const clock::duration::rep t = now.time_since_epoch().count();
    double sum = 0;
    for (const node* n : nodes)
      sum += n->state.latency_ns.load(std::memory_order_relaxed) *
             decay_factor(t - n->state.latency_at.load(std::memory_order_relaxed), cfg_.decay);
    return sum / static_cast<double>(nodes.size());
  }

  static void learn_latency(stats& s, double sample_ns, clock::time_point now) noexcept {
    const clock::duration::rep t = now.time_since_epoch().count();
    const double prev = s.latency_ns.load(std::memory_order_relaxed);
    const double w = decay_factor(t - s.latency_at.load(std::memory_order_relaxed), s.learn.decay);
    const double next = sample_ns > prev ? sample_ns : prev * w + sample_ns * (1.0 - w);
    s.latency_ns.store(next, std::memory_order_relaxed);
    s.latency_at.store(t, std::memory_order_relaxed);
  }
  static void learn_error(stats& s, double sample, clock::time_point now) noexcept {
    const clock::duration::rep t = now.time_since_epoch().count();
    const double prev = s.error_rate.load(std::memory_order_relaxed);
    const double w = decay_factor(t - s.error_at.load(std::memory_order_relaxed), s.learn.error_decay);
    // With no time between samples a plain average over ~8 samples, so a
    // burst of failures at one instant still registers.
    const double keep = std::min(w, 0.875);
    s.error_rate.store(prev * keep + sample * (1.0 - keep), std::memory_order_relaxed);
    s.error_at.store(t, std::memory_order_relaxed);
  }

  p2c_config cfg_;
  mutable shared_random_source rng_;
  detail::snapshot_cell<snapshot> cell_;
};

}  // namespace troupe::patterns
