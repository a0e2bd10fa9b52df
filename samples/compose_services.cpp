// compose_services: an `api` actor that fans out to three dependencies with
// one deadline, without a hand-written state machine. Its handler is a
// coroutine: it suspends on the asks (holding no stack, the worker runs other
// work), resumes when all three have answered or the deadline passed, and
// its co_return value is the reply. A thread outside the runtime takes the
// reply with a callback instead of blocking.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <troupe/troupe.hpp>

using namespace std::chrono_literals;

struct price_of {
  std::string item;
};
struct stock_of {
  std::string item;
};
struct tax_for {
  std::string item;
};
struct quote_for {
  std::string item;
};
struct quote {
  long price = 0, stock = 0, tax = 0;
  std::string note;
};

struct pricing : troupe::actor<pricing> {
  long on(price_of) { return 1200; }
};
struct inventory : troupe::actor<inventory> {
  troupe::task<long> on(stock_of) {  // a slow dependency
    co_await troupe::delay(30ms);
    co_return 7;
  }
};
struct taxes : troupe::actor<taxes> {
  troupe::task<long> on(tax_for) {  // a dependency that never answers in time
    co_await troupe::delay(10s);
    co_return 20;
  }
};

struct api : troupe::actor<api> {
  troupe::actor_ref<pricing> prices;
  troupe::actor_ref<inventory> stock;
  troupe::actor_ref<taxes> tax;
  api(troupe::actor_ref<pricing> p, troupe::actor_ref<inventory> s, troupe::actor_ref<taxes> t)
      : prices(std::move(p)), stock(std::move(s)), tax(std::move(t)) {}

  troupe::task<quote> on(quote_for q) {
    // Each ask inherits the deadline of the request being served (at most).
    // The asks are made before the co_await expression: GCC 12 miscompiles
    // an aggregate temporary such as price_of{...} (a struct holding a
    // std::string) created inside a co_await expression (task.hpp).
    auto price = prices.ask(price_of{q.item}, 1s);
    auto count = stock.ask(stock_of{q.item}, 1s);
    auto levy = tax.ask(tax_for{q.item}, 1s);
    auto [p, s, t] = co_await troupe::when_all(std::move(price), std::move(count), std::move(levy));
    quote r;
    r.price = p ? *p : -1;
    r.stock = s ? *s : -1;
    r.tax = t ? *t : 0;  // a fallback where a dependency failed
    if (!t) r.note = std::string("tax: ") + troupe::to_string(t.error_code());
    co_return r;
  }
};

int main() {
  troupe::runtime rt;
  troupe::actor_system system(rt);
  auto front = system.spawn<api>(system.spawn<pricing>(), system.spawn<inventory>(), system.spawn<taxes>());

  // A blocking caller: the whole request has 100 ms. get_result() gives the
  // error instead of throwing it (on a loaded machine 100 ms can pass).
  troupe::result<quote> q = front.ask(quote_for{"chair"}, 100ms).get_result();
  if (q)
    std::printf("price %ld, stock %ld, tax %ld (%s)\n", q->price, q->stock, q->tax, q->note.c_str());
  else
    std::printf("no quote: %s\n", troupe::to_string(q.error_code()));

  // A caller that must not block (an event loop): a callback.
  std::atomic<bool> done{false};
  front.ask(quote_for{"table"}, 100ms).on_complete([&](troupe::result<quote> r) {
    std::printf("callback: %s\n",
                r ? ("price " + std::to_string(r->price)).c_str() : troupe::to_string(r.error_code()));
    done = true;
  });
  while (!done) std::this_thread::sleep_for(1ms);
  system.shutdown(troupe::stop_mode::immediate);  // `taxes` still waits on its 10 s delay
}
