// Writes the Prometheus text rendering of the patterns' handles after a
// known workload, for check_exposition.py --text (the real parser reads it;
// patterns_expect.json says what it must find). On virtual time, so the
// counts are exact:
//  - "payments": 10 hedged asks whose first copies are held; 10 ms later
//    each sends its hedge; then all answer: 10 hedges, 10 losers.
//  - "workers": a round-robin router over 3 actors (ids 1, 2, 3) given 300
//    messages: 100 each.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/patterns/actor_router.hpp"
#include "troupe/patterns/metrics.hpp"
#include "troupe/patterns/protect.hpp"
#include "troupe/runtime.hpp"

namespace {

using namespace std::chrono_literals;

struct get {
  static constexpr bool idempotent = true;  // may be hedged
};
struct count_held {};
struct release_all {};
struct job {};

// Holds every get until told to answer them all.
struct holding : troupe::actor<holding> {
  std::vector<troupe::reply_promise<int>> held;
  troupe::reply_promise<int> on(get) {
    auto p = troupe::this_actor::reply_later<int>();
    held.push_back(p);
    return p;
  }
  int on(count_held) { return static_cast<int>(held.size()); }
  int on(release_all) {
    for (auto& p : held) p.deliver(1);
    const int n = static_cast<int>(held.size());
    held.clear();
    return n;
  }
};
struct worker : troupe::actor<worker> {
  void on(job) {}
};

template <class Pred>
void wait_for(Pred pred, const char* what) {
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) throw std::runtime_error(std::string("timed out: ") + what);
    std::this_thread::sleep_for(200us);
  }
}

}  // namespace

int main() {
  try {
    auto clk = std::make_shared<troupe::manual_clock>();
    troupe::runtime rt(troupe::runtime_options{.workers = 2, .clock = clk});
    troupe::actor_system sys(rt);
    troupe::patterns::pattern_metrics pm(sys);

    auto svc = sys.spawn<holding>();
    auto dep = troupe::protect(svc)
                   .budget({.ratio = 0.0, .floor_per_second = 0.0, .max_tokens = 100, .initial_tokens = 100})
                   .hedge({.min_samples = 1000, .initial_delay = 10ms});
    pm.add("payments", dep);
    std::atomic<int> answered{0};
    for (int i = 0; i < 10; ++i) dep.ask(get{}, 1s).on_complete([&](troupe::result<int>) { ++answered; });
    wait_for([&] { return dep.counters().requests == 10; }, "requests");
    clk->advance(10ms);
    wait_for([&] { return dep.counters().hedges == 10; }, "hedges");
    // A hedge is counted just before its copy is sent (hedge_frame::on_timer),
    // so the count can run ahead of the copies held: wait for all 20 (a
    // release_all sent at once overtook the last copy under TSan once).
    wait_for([&] { return svc.ask(count_held{}, 10s).get() == 20; }, "20 copies held");
    if (svc.ask(release_all{}, 10s).get() != 20) throw std::runtime_error("not 20 copies held");
    wait_for([&] { return dep.counters().hedge_losers == 10 && answered.load() == 10; }, "losers");

    troupe::router<worker> pool(sys);
    for (troupe::patterns::routee_id id = 1; id <= 3; ++id)
      if (!pool.add(sys.spawn<worker>(), id)) throw std::runtime_error("router: add refused");
    pm.add("workers", pool);
    for (int i = 0; i < 300; ++i)
      if (!pool.send(job{})) throw std::runtime_error("router: send refused");

    const std::string text = sys.metrics().to_prometheus_text();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patterns exposition: %s\n", e.what());
    return 1;
  }
}
