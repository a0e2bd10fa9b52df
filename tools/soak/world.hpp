#pragma once
// The soak's actors and the changing directory of them (docs/soak.md).
//
//   root supervisor (one_for_one, never gives up)
//    ├─ worker supervisors (random strategy, 20 restarts a second at most:
//    │   a crash storm makes one escalate, and the root restarts its subtree)
//    │    └─ worker_actor: plain handlers; bounded mailboxes of every
//    │       overflow policy, some shedding by queue delay
//    ├─ coordinator supervisor
//    │    └─ coord_actor: coroutine handlers that ask workers and each other
//    └─ flaky supervisor
//         └─ flaky_actor: behind a circuit breaker; fails and stalls in bad phases
//   unsupervised worker_actors at the top level (a crash stops them)
//
// Every handler counts itself in the ledger on entry, before anything can
// throw: a message handed to a handler is handled, whatever the handler then does.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ledger.hpp"

#include "troupe/troupe.hpp"

namespace soak {

using namespace std::chrono_literals;

// --- messages ------------------------------------------------------------------
struct work {
  std::uint64_t n = 0;
  bool crash = false;
  std::uint32_t spin_us = 0;  // busy for this long (holds the worker)
  bool hang = false;          // --inject-hang: wait forever (the watchdog must name this actor)
};
struct query {
  std::int64_t x = 0;
  bool crash = false;
  std::uint32_t sleep_us = 0;  // suspends the handler (the actor waits; asks behind it may time out)
};
struct fan {
  std::uint64_t seed = 0;
  std::uint32_t depth = 0;  // how many coordinators deeper it may ask
  bool crash = false;
};
struct charge {
  std::int64_t x = 0;
};
inline std::int64_t query_reply(std::int64_t x) { return 3 * x + 1; }
inline std::int64_t charge_reply(std::int64_t x) { return x + 7; }

struct injected_crash : std::runtime_error {
  injected_crash() : std::runtime_error("troupe-soak: injected crash") {}
};

// SplitMix64: every choice comes from a seed.
struct rng {
  std::uint64_t s;
  explicit rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) noexcept { return n ? next() % n : 0; }
  bool chance(unsigned percent) noexcept { return below(100) < percent; }
};

// The soak runs on the runtime's default clock, the steady clock, so any
// thread (and a destructor outside any actor) may read it directly.
inline time_point now() { return std::chrono::steady_clock::now(); }

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the watchdog knows of one actor. `handled` and `busy_since_ns` are
// written by the actor's handlers, read by the monitor thread (relaxed: a
// diagnostic view); the last two fields are the monitor thread's own.
struct slot {
  explicit slot(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::int64_t> busy_since_ns{0};  // in a handler since (steady ns), or 0
  std::atomic<std::uint64_t> fiber{0};  // the fiber its latest handler began on (runtime::fibers() ids)
  std::uint64_t seen_handled = 0;       // monitor thread only
  std::int64_t seen_change_ns = 0;      // monitor thread only
  bool reported = false;                // monitor thread only
};

// In a handler (a coroutine handler's frame holds it across suspensions).
class busy_scope {
 public:
  explicit busy_scope(slot& s) : s_(s) {
    s_.handled.fetch_add(1, std::memory_order_relaxed);  // relaxed: see slot
    s_.busy_since_ns.store(steady_ns(), std::memory_order_relaxed);
    s_.fiber.store(troupe::this_fiber::id(), std::memory_order_relaxed);
  }
  ~busy_scope() { s_.busy_since_ns.store(0, std::memory_order_relaxed); }
  busy_scope(const busy_scope&) = delete;
  busy_scope& operator=(const busy_scope&) = delete;

 private:
  slot& s_;
};

inline outcome outcome_of(troupe::actor_errc code) noexcept {
  using E = troupe::actor_errc;
  switch (code) {
    case E::ok:
      return outcome::value;
    case E::timeout:
      return outcome::timeout;
    case E::circuit_open:
      return outcome::circuit_open;
    case E::mailbox_full:
    case E::dropped:
    case E::actor_stopped:
    case E::system_stopped:
    case E::deadline_passed:
    case E::overloaded:
    case E::would_deadlock:
      return outcome::refused;
    default:
      return outcome::failed;
  }
}

class world;

struct worker_actor : troupe::actor<worker_actor> {
  worker_actor(world* w, std::shared_ptr<slot> s) : w_(w), slot_(std::move(s)) {}
  void on(work m);
  std::int64_t on(query q);

  world* w_;
  std::shared_ptr<slot> slot_;
};

struct coord_actor : troupe::actor<coord_actor> {
  coord_actor(world* w, std::shared_ptr<slot> s) : w_(w), slot_(std::move(s)) {}
  troupe::task<std::int64_t> on(fan f);

  world* w_;
  std::shared_ptr<slot> slot_;
};

struct flaky_actor : troupe::actor<flaky_actor> {
  flaky_actor(world* w, std::shared_ptr<slot> s, std::uint64_t seed)
      : w_(w), slot_(std::move(s)), rng_(seed) {}
  std::int64_t on(charge c);

  world* w_;
  std::shared_ptr<slot> slot_;
  rng rng_;
};

template <class A>
struct entry {
  std::shared_ptr<slot> s;
  troupe::actor_ref<A> ref;
  std::size_t capacity = 0;
  int supervisor = -1;  // index into world's supervisors; -1: top level, unsupervised
};

// The directory: who is alive, as snapshots the actors and threads read
// without holding a lock for long. Changed only by the chaos thread (and at
// start and end by the main thread).
class world {
 public:
  world(ledger& l, troupe::actor_system& sys) : ledger_(l), sys_(sys) {}

  ledger& books() noexcept { return ledger_; }
  troupe::actor_system& system() noexcept { return sys_; }

  using worker_list = std::vector<entry<worker_actor>>;
  using coord_list = std::vector<entry<coord_actor>>;
  std::shared_ptr<const worker_list> workers() const {
    std::lock_guard g(mutex_);
    return workers_;
  }
  std::shared_ptr<const coord_list> coords() const {
    std::lock_guard g(mutex_);
    return coords_;
  }
  void set_workers(worker_list l) {
    auto p = std::make_shared<const worker_list>(std::move(l));
    std::lock_guard g(mutex_);
    workers_ = std::move(p);
  }
  void set_coords(coord_list l) {
    auto p = std::make_shared<const coord_list>(std::move(l));
    std::lock_guard g(mutex_);
    coords_ = std::move(p);
  }

  // The breaker-protected service; set once before the load starts.
  troupe::protected_ref<flaky_actor> guarded;
  troupe::actor_ref<flaky_actor> flaky;
  std::shared_ptr<slot> flaky_slot;
  // Bad phase: the flaky service fails half its calls and stalls a fifth.
  std::atomic<bool> flaky_bad{false};

  // Every actor spawned and not yet known to be gone, for the watchdog:
  // also those the directory dropped (stopped, or under a supervisor that
  // was stopped), since a stopping actor stuck in a handler is exactly what
  // it must find.
  struct named {
    std::shared_ptr<slot> s;
    troupe::actor_addr addr;
  };
  void enlist(std::shared_ptr<slot> s, troupe::actor_addr a) {
    std::lock_guard g(mutex_);
    watched_.push_back({std::move(s), std::move(a)});
  }
  // The watched actors, without those stopped and out of any handler.
  std::vector<named> watch_list() {
    std::lock_guard g(mutex_);
    std::erase_if(watched_, [](const named& n) {
      return n.addr.stopped() &&
             n.s->busy_since_ns.load(std::memory_order_relaxed) == 0;  // relaxed: see slot
    });
    return watched_;
  }

  // Ends every handle before the actor system is destroyed.
  void release() {
    {
      std::lock_guard g(mutex_);
      watched_.clear();
    }
    set_workers({});
    set_coords({});
    guarded = {};
    flaky = {};
  }

  // The root of the tree, its worker supervisors (changed by the chaos
  // thread only), and the coordinator's and flaky service's supervisors.
  troupe::supervisor_ref root, coord_sup, flaky_sup;
  std::vector<troupe::supervisor_ref> worker_sups;  // chaos thread only

 private:
  ledger& ledger_;
  troupe::actor_system& sys_;
  mutable std::mutex mutex_;
  std::shared_ptr<const worker_list> workers_ = std::make_shared<const worker_list>();
  std::shared_ptr<const coord_list> coords_ = std::make_shared<const coord_list>();
  std::vector<named> watched_;  // guarded by mutex_
};

// --- handlers --------------------------------------------------------------------

inline void worker_actor::on(work m) {
  w_->books().handled(kind::work);
  busy_scope busy(*slot_);
  if (m.crash) throw injected_crash();
  if (m.hang) {
    troupe::promise<int> never;  // outlives the wait: only runtime shutdown ends it (error(cancelled))
    (void)never.get_future().get();
  }
  if (m.spin_us) {
    const std::int64_t until = steady_ns() + std::int64_t{m.spin_us} * 1000;
    while (steady_ns() < until) {}
  }
}

inline std::int64_t worker_actor::on(query q) {
  w_->books().handled(kind::query);
  busy_scope busy(*slot_);
  if (q.crash) throw injected_crash();
  if (q.sleep_us) troupe::this_fiber::sleep_for(std::chrono::microseconds(q.sleep_us));
  return query_reply(q.x);
}

inline std::int64_t flaky_actor::on(charge c) {
  w_->books().handled(kind::charge);
  busy_scope busy(*slot_);
  if (w_->flaky_bad.load(std::memory_order_relaxed)) {  // relaxed: a phase flag, any recent value will do
    const std::uint64_t r = rng_.below(10);
    if (r < 5) throw injected_crash();
    if (r < 7) troupe::this_fiber::sleep_for(20ms);
  }
  return charge_reply(c.x);
}

// One ask a coroutine handler awaits: its probe completes when the handler
// resumes with the answer, or as `abandoned` if the handler's frame is
// destroyed first (its actor stopped or restarted while it waited).
class awaited_ask {
 public:
  awaited_ask(ledger& l, time_point deadline) : l_(l), p_(l.ask_issued(deadline, now())) {}
  ~awaited_ask() {
    if (p_) l_.ask_completed(*p_, outcome::abandoned, now());
  }
  awaited_ask(const awaited_ask&) = delete;
  awaited_ask& operator=(const awaited_ask&) = delete;
  void done(troupe::actor_errc code) {
    l_.ask_completed(*std::exchange(p_, nullptr), outcome_of(code), now());
  }

 private:
  ledger& l_;
  std::shared_ptr<ledger::probe> p_;
};

inline troupe::task<std::int64_t> coord_actor::on(fan f) {
  ledger& books = w_->books();
  books.handled(kind::fan);
  busy_scope busy(*slot_);
  if (f.crash) throw injected_crash();
  rng r(f.seed);
  const auto workers = w_->workers();
  const auto coords = w_->coords();
  std::int64_t sum = 0;
  // Sequential asks to workers, each with its own short deadline (capped
  // by the fan request's).
  const std::uint64_t asks = workers->empty() ? 0 : 1 + r.below(3);
  for (std::uint64_t i = 0; i < asks; ++i) {
    const auto& target = (*workers)[r.below(workers->size())];
    const time_point deadline =
        std::min(now() + std::chrono::milliseconds(1 + r.below(40)), troupe::this_actor::deadline());
    const query q{static_cast<std::int64_t>(r.below(1'000'000)), false, 0};
    books.issued(kind::query);
    awaited_ask probe(books, deadline);
    auto future = target.ref.ask(q, deadline, troupe::when_full::fail);
    troupe::result<std::int64_t> answer = co_await troupe::as_result(std::move(future));
    probe.done(answer.error_code());
    if (answer) {
      if (*answer != query_reply(q.x))
        books.violation(invariant::wrong_reply,
                        "query " + std::to_string(q.x) + " got " + std::to_string(*answer));
      sum += *answer;
    }
  }
  // Two at once.
  if (workers->size() >= 2 && r.chance(25)) {
    const auto& a = (*workers)[r.below(workers->size())];
    const auto& b = (*workers)[r.below(workers->size())];
    const time_point deadline =
        std::min(now() + std::chrono::milliseconds(1 + r.below(40)), troupe::this_actor::deadline());
    const query qa{static_cast<std::int64_t>(r.below(1000)), false, 0};
    const query qb{static_cast<std::int64_t>(r.below(1000)), false, 0};
    books.issued(kind::query);
    awaited_ask probe_a(books, deadline);
    auto fa = a.ref.ask(qa, deadline, troupe::when_full::fail);
    books.issued(kind::query);
    awaited_ask probe_b(books, deadline);
    auto fb = b.ref.ask(qb, deadline, troupe::when_full::fail);
    auto both = co_await troupe::when_all(std::move(fa), std::move(fb));
    probe_a.done(std::get<0>(both).error_code());
    probe_b.done(std::get<1>(both).error_code());
    if (std::get<0>(both) && *std::get<0>(both) != query_reply(qa.x))
      books.violation(invariant::wrong_reply, "when_all: query " + std::to_string(qa.x));
    if (std::get<1>(both) && *std::get<1>(both) != query_reply(qb.x))
      books.violation(invariant::wrong_reply, "when_all: query " + std::to_string(qb.x));
  }
  // Another coordinator (maybe this one: a non-reentrant handler asking its
  // own actor fails at once with would_deadlock; a cycle ends at the deadline).
  if (f.depth > 0 && !coords->empty() && r.chance(50)) {
    const auto& other = (*coords)[r.below(coords->size())];
    const time_point deadline =
        std::min(now() + std::chrono::milliseconds(5 + r.below(60)), troupe::this_actor::deadline());
    const fan inner{r.next(), f.depth - 1, false};
    books.issued(kind::fan);
    awaited_ask probe(books, deadline);
    auto future = other.ref.ask(inner, deadline, troupe::when_full::fail);
    troupe::result<std::int64_t> answer = co_await troupe::as_result(std::move(future));
    probe.done(answer.error_code());
    if (answer) sum += *answer;
  }
  if (r.chance(10)) co_await troupe::delay(std::chrono::microseconds(200 + r.below(2000)));
  co_return sum;
}

}  // namespace soak
