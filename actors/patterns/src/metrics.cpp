// pattern_metrics: the patterns' counters as metric families of a snapshot.

#include "troupe/patterns/metrics.hpp"

#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace troupe::patterns {

namespace {

enum class kind : std::uint8_t { breaker, budget, limiter, shedder, bulkhead, protect, router };

// The label that carries a component's name, per kind.
const char* label_of(kind k) noexcept {
  switch (k) {
    case kind::breaker:
      return "breaker";
    case kind::budget:
      return "budget";
    case kind::limiter:
      return "limiter";
    case kind::shedder:
      return "shedder";
    case kind::bulkhead:
      return "bulkhead";
    case kind::protect:
      return "protect";
    case kind::router:
      return "router";
  }
  return "component";
}

}  // namespace

struct pattern_metrics::state {
  struct component {
    std::string name;
    kind k;
    const void* object;  // breaker, budget, shedder or bulkhead
    std::function<limiter_reading()> read_limiter;
    std::shared_ptr<const detail::protection_stats> protect_stats;  // kept alive while registered
    std::function<std::vector<router_share>()> read_router;         // holds a router handle
  };
  // Held while a snapshot reads the components, so that remove() returning
  // means no snapshot reads a removed one any more.
  std::mutex mutex;
  std::vector<component> components;  // in the order added

  void add(component c) {
    if (c.name.empty()) throw std::invalid_argument("pattern_metrics: a component needs a name");
    std::lock_guard g(mutex);
    for (const component& o : components)
      if (o.k == c.k && o.name == c.name)
        throw std::invalid_argument("pattern_metrics: " + std::string(label_of(c.k)) + " '" + c.name +
                                    "' was already added");
    components.push_back(std::move(c));
  }

  void collect(std::vector<metric_family>& out);
};

void pattern_metrics::state::collect(std::vector<metric_family>& out) {
  // Families are made only for the kinds present: an empty family says
  // nothing and would only lengthen every scrape. A deque, so that a family
  // being filled stays put while the next one is made.
  std::deque<metric_family> f;
  auto family = [&](std::size_t& slot, metric_family proto) -> metric_family& {
    if (slot == 0) {
      f.push_back(std::move(proto));
      slot = f.size();
    }
    return f[slot - 1];
  };
  std::size_t b_state = 0, b_trans = 0, b_calls = 0, b_slow = 0, b_rej = 0;
  std::size_t r_req = 0, r_with = 0, r_ref = 0;
  std::size_t l_limit = 0, l_inflight = 0, l_adm = 0, l_shed = 0;
  std::size_t q_over = 0, q_adm = 0, q_shed = 0, q_int = 0;
  std::size_t h_use = 0, h_cap = 0, h_adm = 0, h_rej = 0;
  std::size_t p_req = 0, p_calls = 0, p_ref = 0, p_retry = 0, p_exh = 0, p_hedge = 0, p_lose = 0, p_fb = 0,
              p_send = 0;
  std::size_t rt_n = 0, rt_routed = 0;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };

  std::lock_guard g(mutex);
  for (const component& c : components) {
    const metric_label who{label_of(c.k), c.name};
    switch (c.k) {
      case kind::breaker: {
        const auto& b = *static_cast<const circuit_breaker*>(c.object);
        const breaker_state now = b.state();
        const breaker_counters n = b.counters();
        auto& st = family(
            b_state,
            metric_family::gauge("troupe_breaker_state",
                                 "A circuit breaker's state: 1 for the state it is in, 0 for the others"));
        auto& tr =
            family(b_trans, metric_family::counter("troupe_breaker_transitions_total",
                                                   "Transitions of a circuit breaker into each state"));
        for (std::size_t i = 0; i < breaker_state_count; ++i) {
          const auto s = static_cast<breaker_state>(i);
          st.add(s == now ? 1.0 : 0.0, {who, {"state", to_string(s)}});
          tr.add(d(n.entered[i]), {who, {"to", to_string(s)}});
        }
        family(b_calls,
               metric_family::counter("troupe_breaker_calls_total",
                                      "Permitted calls through a circuit breaker, by recorded outcome"))
            .add(d(n.successes), {who, {"outcome", "success"}})
            .add(d(n.failures), {who, {"outcome", "failure"}})
            .add(d(n.ignored), {who, {"outcome", "ignored"}});
        family(b_slow, metric_family::counter("troupe_breaker_slow_calls_total",
                                              "Counted calls at or above the breaker's slow-call threshold"))
            .add(d(n.slow), {who});
        family(b_rej, metric_family::counter("troupe_breaker_rejected_total",
                                             "Calls a circuit breaker refused (open, or no free probe)"))
            .add(d(n.rejected), {who});
        break;
      }
      case kind::budget: {
        const retry_budget_counters n = static_cast<const retry_budget*>(c.object)->counters();
        family(r_req, metric_family::counter("troupe_retry_budget_requests_total",
                                             "Original requests that deposited into a retry budget"))
            .add(d(n.requests), {who});
        family(r_with, metric_family::counter("troupe_retry_budget_withdrawn_total",
                                              "Retries and hedges a retry budget let through"))
            .add(d(n.withdrawn), {who});
        family(r_ref,
               metric_family::counter("troupe_retry_budget_refused_total",
                                      "Retries and hedges refused because the retry budget was exhausted"))
            .add(d(n.refused), {who});
        break;
      }
      case kind::limiter: {
        const limiter_reading r = c.read_limiter();
        family(l_limit, metric_family::gauge("troupe_limiter_limit", "A concurrency limiter's current limit"))
            .add(d(r.limit), {who});
        family(l_inflight,
               metric_family::gauge("troupe_limiter_in_flight",
                                    "Requests a concurrency limiter has admitted and not yet seen end"))
            .add(d(r.in_flight), {who});
        auto& adm =
            family(l_adm, metric_family::counter("troupe_limiter_admitted_total",
                                                 "Requests a concurrency limiter admitted, by priority"));
        auto& shed =
            family(l_shed, metric_family::counter("troupe_limiter_shed_total",
                                                  "Requests a concurrency limiter shed, by priority"));
        for (std::size_t i = 0; i < priority_count; ++i) {
          const metric_label prio{"priority", to_string(static_cast<priority>(i))};
          adm.add(d(r.counters.admitted[i]), {who, prio});
          shed.add(d(r.counters.shed[i]), {who, prio});
        }
        break;
      }
      case kind::shedder: {
        const auto& s = *static_cast<const queue_delay_shedder*>(c.object);
        const queue_delay_counters n = s.counters();
        family(q_over, metric_family::gauge("troupe_queue_delay_overloaded",
                                            "1 while a queue-delay shedder's current interval sheds"))
            .add(s.overloaded() ? 1.0 : 0.0, {who});
        family(q_adm, metric_family::counter("troupe_queue_delay_admitted_total",
                                             "Requests a queue-delay shedder let through"))
            .add(d(n.admitted), {who});
        family(q_shed, metric_family::counter("troupe_queue_delay_shed_total",
                                              "Requests a queue-delay shedder shed for waiting too long"))
            .add(d(n.shed), {who});
        family(q_int, metric_family::counter("troupe_queue_delay_overloaded_intervals_total",
                                             "Intervals in which a queue-delay shedder shed"))
            .add(d(n.overloaded_intervals), {who});
        break;
      }
      case kind::bulkhead: {
        const auto& h = *static_cast<const bulkhead*>(c.object);
        family(h_use, metric_family::gauge("troupe_bulkhead_in_use", "A bulkhead's permits out now"))
            .add(d(h.in_use()), {who});
        family(h_cap, metric_family::gauge("troupe_bulkhead_capacity", "A bulkhead's permits in all"))
            .add(d(h.capacity()), {who});
        family(h_adm, metric_family::counter("troupe_bulkhead_admitted_total", "Calls a bulkhead admitted"))
            .add(d(h.admitted()), {who});
        family(h_rej, metric_family::counter("troupe_bulkhead_rejected_total",
                                             "Calls a bulkhead rejected because it was full"))
            .add(d(h.rejected()), {who});
        break;
      }
      case kind::protect: {
        const protection_counters n = detail::read_counters(*c.protect_stats);
        family(p_req, metric_family::counter("troupe_protect_requests_total",
                                             "Asks made through a protected_ref chain"))
            .add(d(n.requests), {who});
        family(p_calls, metric_family::counter("troupe_protect_calls_total",
                                               "Asks through a protected_ref chain answered by its "
                                               "layers, by outcome (a fallback's answers apart)"))
            .add(d(n.successes), {who, {"outcome", "success"}})
            .add(d(n.failures), {who, {"outcome", "failure"}});
        family(p_ref, metric_family::counter(
                          "troupe_protect_refused_total",
                          "Passes refused inside a protected_ref chain, by the layer that refused"))
            .add(d(n.rejected), {who, {"by", "breaker"}})
            .add(d(n.shed), {who, {"by", "limit"}})
            .add(d(n.bulkhead_rejected), {who, {"by", "bulkhead"}});
        family(p_retry, metric_family::counter("troupe_protect_retries_total",
                                               "Retries a protected_ref chain scheduled"))
            .add(d(n.retries), {who});
        family(p_exh,
               metric_family::counter("troupe_protect_budget_exhausted_total",
                                      "Retries and hedges a protected_ref chain's retry budget refused"))
            .add(d(n.budget_exhausted), {who});
        family(p_hedge, metric_family::counter("troupe_protect_hedges_total",
                                               "Second copies a protected_ref chain's hedge layers sent"))
            .add(d(n.hedges), {who});
        family(p_lose, metric_family::counter("troupe_protect_hedge_losers_total",
                                              "Copies whose answer lost a hedge race and was dropped"))
            .add(d(n.hedge_losers), {who});
        family(p_fb, metric_family::counter("troupe_protect_fallbacks_total",
                                            "Fallbacks run for failed asks: answered with a value, or failed "
                                            "(the original error was answered)"))
            .add(d(n.fallbacks), {who, {"result", "answered"}})
            .add(d(n.fallback_failures), {who, {"result", "failed"}});
        family(p_send, metric_family::counter("troupe_protect_sends_refused_total",
                                              "Sends a protected_ref chain's layers refused"))
            .add(d(n.sends_refused), {who});
        break;
      }
      case kind::router: {
        const std::vector<router_share> shares = c.read_router();
        family(rt_n, metric_family::gauge("troupe_router_routees", "A router's routees now"))
            .add(d(shares.size()), {who});
        auto& routed =
            family(rt_routed, metric_family::counter("troupe_router_routed_total",
                                                     "Messages a router gave each current routee"));
        for (const router_share& s : shares) routed.add(d(s.routed), {who, {"routee", std::to_string(s.id)}});
        break;
      }
    }
  }
  for (auto& x : f) out.push_back(std::move(x));
}

pattern_metrics::pattern_metrics(actor_system& sys, std::string source_name)
    : state_(std::make_unique<state>()) {
  state* st = state_.get();  // outlives source_ (declared after it)
  source_ = sys.add_metric_source(std::move(source_name),
                                  [st](std::vector<metric_family>& out) { st->collect(out); });
}

pattern_metrics::~pattern_metrics() = default;

void pattern_metrics::add(std::string name, const circuit_breaker& b) {
  state_->add({std::move(name), kind::breaker, &b, {}, {}, {}});
}
void pattern_metrics::add(std::string name, const retry_budget& b) {
  state_->add({std::move(name), kind::budget, &b, {}, {}, {}});
}
void pattern_metrics::add(std::string name, const queue_delay_shedder& s) {
  state_->add({std::move(name), kind::shedder, &s, {}, {}, {}});
}
void pattern_metrics::add(std::string name, const bulkhead& b) {
  state_->add({std::move(name), kind::bulkhead, &b, {}, {}, {}});
}
void pattern_metrics::add_limiter(std::string name, std::function<limiter_reading()> read) {
  state_->add({std::move(name), kind::limiter, nullptr, std::move(read), {}, {}});
}
void pattern_metrics::add_protect(std::string name, std::shared_ptr<const detail::protection_stats> stats) {
  if (!stats) throw std::invalid_argument("pattern_metrics: an empty protected_ref");
  state_->add({std::move(name), kind::protect, nullptr, {}, std::move(stats), {}});
}
void pattern_metrics::add_router(std::string name, std::function<std::vector<router_share>()> read) {
  state_->add({std::move(name), kind::router, nullptr, {}, {}, std::move(read)});
}

bool pattern_metrics::remove(std::string_view name) {
  std::lock_guard g(state_->mutex);
  auto& v = state_->components;
  const auto before = v.size();
  std::erase_if(v, [&](const state::component& c) { return c.name == name; });
  return v.size() != before;
}

}  // namespace troupe::patterns
