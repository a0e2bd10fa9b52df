// protect_payment: a checkout actor calls a payment service through a
// circuit breaker, retries and a concurrency limit. Protecting the
// dependency changed one line: the member's type and its initialiser; every
// ask, co_await and error check stays as it was with a plain actor_ref.
//
// The payment service goes down for a while: the first failures are
// retried, then the breaker opens and orders are refused at once
// (circuit_open) without touching the service; once it is back, a probe
// closes the breaker again.
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <troupe/troupe.hpp>

using namespace std::chrono_literals;

struct charge {
  static constexpr bool idempotent = true;  // safe to retry (a real one would carry an idempotency key)
  long cents = 0;
};
struct set_down {
  bool down = false;
};
enum class status { paid, paused, busy, failed };
struct receipt {
  long cents = 0;
  status st = status::failed;
};
struct order {
  long cents = 0;
};

struct payment : troupe::actor<payment> {
  bool down = false;
  // Fails the ask without throwing from the handler (an exception escaping
  // it would stop this unsupervised actor).
  troupe::reply_promise<receipt> on(charge c) {
    auto reply = troupe::this_actor::reply_later<receipt>();
    if (down)
      reply.fail(std::make_exception_ptr(std::runtime_error("payment backend unavailable")));
    else
      reply.deliver(receipt{c.cents, status::paid});
    return reply;
  }
  void on(set_down s) { down = s.down; }
};

troupe::protected_ref<payment> protect_payment(troupe::actor_ref<payment> p) {
  troupe::patterns::circuit_breaker_config breaker;
  breaker.consecutive_failures = troupe::patterns::consecutive_failures_trip{.threshold = 5};
  breaker.open = {.base = 200ms, .cap = 2s, .multiplier = 2.0, .jitter = 0.1};
  return troupe::protect(std::move(p))  // breaker outermost, then retries, then the limit
      .breaker(breaker)
      .retry({.max_attempts = 2, .backoff = {.base = 5ms, .cap = 50ms}})
      .limit(troupe::patterns::aimd_config{.initial = 10});
}

struct checkout : troupe::actor<checkout> {
  troupe::protected_ref<payment> pay;  // was: troupe::actor_ref<payment> pay;
  explicit checkout(troupe::actor_ref<payment> p) : pay(protect_payment(std::move(p))) {}

  troupe::task<receipt> on(order o) {
    auto paid = pay.ask(charge{o.cents}, 500ms);  // the same ask_future<receipt> as before
    troupe::result<receipt> r = co_await troupe::as_result(std::move(paid));
    if (r) co_return *r;
    switch (r.error_code()) {
      case troupe::actor_errc::circuit_open:  // refused at once: the service is known to be down
        co_return receipt{o.cents, status::paused};
      case troupe::actor_errc::overloaded:  // shed at once: too many payments in flight
        co_return receipt{o.cents, status::busy};
      default:
        co_return receipt{o.cents, status::failed};
    }
  }
};

int main() {
  troupe::runtime rt;
  troupe::actor_system system(rt);
  auto pay = system.spawn<payment>();
  auto shop = system.spawn<checkout>(pay);

  auto run = [&](const char* phase, int orders) {
    int count[4] = {};
    for (int i = 0; i < orders; ++i) ++count[static_cast<int>(shop.ask(order{100 + i}, 2s).get().st)];
    std::printf(
        "%-23s paid %2d, paused (breaker open) %2d, busy %d, failed %2d; payment handled %llu messages\n",
        phase, count[0], count[1], count[2], count[3],
        static_cast<unsigned long long>(pay.stats().processed));
  };

  run("healthy:", 10);
  pay.ask(set_down{true}, 1s).get();
  run("payment down:", 20);
  pay.ask(set_down{false}, 1s).get();
  run("back, breaker open:", 5);
  std::this_thread::sleep_for(250ms);  // the open period passes: the next order is a probe
  run("after the open period:", 10);
  system.shutdown();
}
