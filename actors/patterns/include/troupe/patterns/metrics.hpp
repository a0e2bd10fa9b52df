#pragma once
// The patterns' counters in an actor system's metrics snapshot
// (system.metrics(), its Prometheus text and JSON, troupe::prometheus): each
// component added under a name becomes samples labelled with that name.
//
//   troupe::patterns::pattern_metrics pm(system);
//   pm.add("payments", breaker);     // troupe_breaker_state{breaker="payments",state="open"} 1 ...
//   pm.add("payments", budget);      // troupe_retry_budget_refused_total{budget="payments"} ...
//   pm.add("front", limiter);        // troupe_limiter_limit{limiter="front"} ...
//   pm.add("payments", pay);         // a protected_ref: troupe_protect_hedges_total{protect="payments"} ...
//   pm.add("workers", pool);         // a router: troupe_router_routed_total{router="workers",routee="3"} ...
//
// The families (docs/design/metrics.md, "Patterns"):
//   circuit_breaker      troupe_breaker_state (1 for the current state, 0 for the others),
//                        troupe_breaker_transitions_total{to}, troupe_breaker_calls_total{outcome},
//                        troupe_breaker_slow_calls_total, troupe_breaker_rejected_total
//   retry_budget         troupe_retry_budget_requests_total, _withdrawn_total (retries and
//                        hedges let through), _refused_total (refused: the budget was exhausted)
//   concurrency_limiter  troupe_limiter_limit, troupe_limiter_in_flight,
//                        troupe_limiter_admitted_total{priority}, troupe_limiter_shed_total{priority}
//   queue_delay_shedder  troupe_queue_delay_overloaded, troupe_queue_delay_admitted_total,
//                        troupe_queue_delay_shed_total, troupe_queue_delay_overloaded_intervals_total
//   bulkhead             troupe_bulkhead_in_use, troupe_bulkhead_capacity,
//                        troupe_bulkhead_admitted_total, troupe_bulkhead_rejected_total
//   protected_ref        troupe_protect_requests_total, troupe_protect_calls_total{outcome}
//                        (success, failure), troupe_protect_refused_total{by} (breaker,
//                        limit, bulkhead: passes refused), troupe_protect_retries_total,
//                        troupe_protect_budget_exhausted_total, troupe_protect_hedges_total,
//                        troupe_protect_hedge_losers_total, troupe_protect_fallbacks_total{result}
//                        (answered, failed), troupe_protect_sends_refused_total
//   router               troupe_router_routees, troupe_router_routed_total{routee} (the
//                        routee's id as given to router::add, its address by default)
// A limit over time is the troupe_limiter_limit gauge as scraped.

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/actors/metrics.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/patterns/bulkhead.hpp"
#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/patterns/detail/pipeline.hpp"
#include "troupe/patterns/limits.hpp"
#include "troupe/patterns/queue_delay.hpp"
#include "troupe/patterns/retry_budget.hpp"
#include "troupe/patterns/router.hpp"

namespace troupe {
// protect.hpp and actor_router.hpp: add() for them is a template, so their
// users pay for those headers, not every user of this one.
template <class A, class Target>
class protected_ref;
template <class A, class Policy>
class router;
}  // namespace troupe

namespace troupe::patterns {

// What a limiter shows, whatever its Limit.
struct limiter_reading {
  std::uint32_t limit = 0;
  std::uint32_t in_flight = 0;
  limiter_counters counters;
};

// What a router shows: each routee's id and the messages it was given.
struct router_share {
  routee_id id = 0;
  std::uint64_t routed = 0;
};

// One metric source on a system for all the pattern components added to it.
// Use one per system: a second one's families have the same names, so the
// snapshot leaves them out (system_metrics::source_errors counts them).
// Components are read (relaxed, each counter on its own) on every snapshot.
// Breakers, budgets, shedders, bulkheads and limiters are referred to: each
// must outlive its registration, which ends with remove(name) or the
// destructor (both wait for a snapshot reading it to finish). Handles
// (protected_ref, router) are kept instead: a protected_ref's counters (a
// shared pointer to them, not the layers or the target) and a copy of the
// router handle, so they may go before the registration does. Thread-safe.
class pattern_metrics {
 public:
  // Registers the source "patterns" (or `source_name`) with `sys`; throws
  // actor_error(invalid_argument) if that name is taken.
  explicit pattern_metrics(actor_system& sys, std::string source_name = "patterns");
  pattern_metrics(const pattern_metrics&) = delete;
  pattern_metrics& operator=(const pattern_metrics&) = delete;
  ~pattern_metrics();

  // Adds a component under `name` (any UTF-8, the label's value). Throws
  // std::invalid_argument if `name` is empty or already names a component
  // of the same kind.
  void add(std::string name, const circuit_breaker& b);
  void add(std::string name, const retry_budget& b);
  void add(std::string name, const queue_delay_shedder& s);
  void add(std::string name, const bulkhead& b);
  // Throw std::invalid_argument for an empty handle as well.
  template <class A, class Target>
  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved (tidy 14 misses it in a template)
  void add(std::string name, const protected_ref<A, Target>& p) {
    add_protect(std::move(name), p.stats_storage());
  }
  template <class A, class Policy>
  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved (tidy 14 misses it in a template)
  void add(std::string name, const router<A, Policy>& r) {
    if (!r) throw std::invalid_argument("pattern_metrics: an empty router");
    add_router(std::move(name), [r] {
      std::vector<router_share> out;
      for (const auto& s : r.shares()) out.push_back({s.id, s.routed});
      return out;
    });
  }
  template <class Limit>
  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved (tidy 14 misses it in a template)
  void add(std::string name, const concurrency_limiter<Limit>& l) {
    add_limiter(std::move(name), [&l] {
      return limiter_reading{l.limit().current(), l.in_flight(), l.counters()};
    });
  }

  // Removes every component added under `name` (of any kind); false if there
  // was none. After it returns they are not read again. Thread-safe.
  bool remove(std::string_view name);

  struct state;  // internal

 private:
  void add_limiter(std::string name, std::function<limiter_reading()> read);
  void add_protect(std::string name, std::shared_ptr<const detail::protection_stats> stats);
  void add_router(std::string name, std::function<std::vector<router_share>()> read);
  std::unique_ptr<state> state_;
  metric_source source_;  // declared last: removed (waiting out a snapshot) before state_ goes
};

}  // namespace troupe::patterns
