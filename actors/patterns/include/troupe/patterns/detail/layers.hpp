#pragma once
// Internal: the layers of protected_ref's pipeline (pipeline.hpp). Each owns
// (a shared pointer to) its pattern's core and drives it in the order of
// docs/design/patterns.md: acquire before the pass, record after.
//
// What a layer does to a request (an ask) and to a send:
//
//   layer     request                                     send
//   breaker   try_acquire; refused: circuit_open at once;  refused unless closed or disabled
//             record(outcome, latency) when the pass ends  (a send can be no probe); not recorded
//   retry     passes again after a backoff while           passes once (nothing to learn from)
//             retry_state allows (safe, attempts, deadline,
//             budget)
//   hedge     a second pass at the hedge delay; first      passes once
//             answer wins, the other is cancelled
//   limit     ticket per pass; none: overloaded at once;   admitted only if a ticket is free
//             ticket.complete(outcome) when it ends        (given back at once)
//   bulkhead  place per pass; none: overloaded at once     admitted only if a place is free
//   timeout   the passes below end at now + d at the latest passes
//
// Frames (one per pass through a layer) come from the small-object cache
// and free themselves after answering.

#include <memory>
#include <utility>

#include "troupe/patterns/bulkhead.hpp"
#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/patterns/detail/pipeline.hpp"
#include "troupe/patterns/hedging.hpp"
#include "troupe/patterns/limits.hpp"
#include "troupe/patterns/retry.hpp"
#include "troupe/patterns/retry_budget.hpp"

namespace troupe::patterns::detail {

constexpr priority to_patterns(message_priority p) noexcept { return static_cast<priority>(p); }
static_assert(static_cast<int>(priority::critical) == static_cast<int>(message_priority::critical) &&
              static_cast<int>(priority::normal) == static_cast<int>(message_priority::normal) &&
              static_cast<int>(priority::best_effort) == static_cast<int>(message_priority::best_effort));

using stats_ptr = std::shared_ptr<protection_stats>;

std::shared_ptr<layer> make_breaker_layer(std::shared_ptr<circuit_breaker> b, stats_ptr s);
std::shared_ptr<layer> make_retry_layer(const retry_config& cfg, std::shared_ptr<retry_budget> budget,
                                        stats_ptr s);
// The budget is the one the policy was built with (kept alive with it).
std::shared_ptr<layer> make_hedge_layer(std::shared_ptr<hedging_policy> h,
                                        std::shared_ptr<retry_budget> budget, stats_ptr s);
std::shared_ptr<layer> make_bulkhead_layer(std::shared_ptr<bulkhead> b, stats_ptr s);
std::shared_ptr<layer> make_timeout_layer(clock::duration d);

// A pass through a layer that takes a resource before and gives it back
// after: holds the resource and the call, answers upward, frees itself.
// Holds no reference to the call: it answers inside a pass whose starter
// (the request itself, or a retry or hedge frame) holds one until then.
template <class Resource, class Finish>
class holding_frame final : public sink, public troupe::detail::small_object {
 public:
  holding_frame(const hop& h, Resource r, Finish f) noexcept
      : call_(h.call), up_(h.up), res_(std::move(r)), finish_(std::move(f)) {}
  void done(answer&& a) noexcept override {
    finish_(res_, a, *call_);
    sink* up = up_;
    delete this;
    up->done(std::move(a));
  }

 private:
  call_base* call_;
  sink* up_;
  Resource res_;
  Finish finish_;
};

template <class Resource, class Finish>
sink* new_holding_frame(const hop& h, Resource r, Finish f) {
  return new holding_frame<Resource, Finish>(h, std::move(r), std::move(f));
}

// The concurrency limit (any Limit of limits.hpp), possibly shared by
// several protected_refs (a group of actors behind one limit).
template <class Limit>
class limit_layer final : public layer {
 public:
  limit_layer(std::shared_ptr<concurrency_limiter<Limit>> l, stats_ptr s)
      : layer(layer_kind::limit), lim_(std::move(l)), stats_(std::move(s)) {}

  void enter(const hop& h) noexcept override {
    auto t = lim_->try_acquire(to_patterns(h.call->priority()), h.now);
    if (!t) {
      protection_stats::bump(stats_->shed);
      h.up->done(answer::refusal(outcome::overloaded, to_actor_errc(errc::overloaded),
                                 "concurrency limit: request shed"));
      return;
    }
    sink* f;
    try {
      f = new_holding_frame(h, std::move(t), [](auto& ticket, const answer& a, call_base& c) {
        ticket.complete(a.o, c.now());
      });
    } catch (...) {
      h.up->done(answer::refusal(outcome::failure, actor_errc::handler_failed, "out of memory"));
      return;
    }
    h.call->pass_inward(h, f, h.deadline);
  }
  // A send holds no ticket (it has no end to report): it is admitted if a
  // ticket of its class is free now, which is given back at once.
  actor_errc admit_send(const send_info& s) noexcept override {
    auto t = lim_->try_acquire(to_patterns(s.prio), troupe::detail::now_of(s.sys));
    return t ? actor_errc::ok : to_actor_errc(errc::overloaded);
  }
  const std::shared_ptr<concurrency_limiter<Limit>>& limiter() const noexcept { return lim_; }

 private:
  std::shared_ptr<concurrency_limiter<Limit>> lim_;
  stats_ptr stats_;
};

}  // namespace troupe::patterns::detail
