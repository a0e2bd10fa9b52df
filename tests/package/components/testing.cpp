// troupe::testing alone: a timer that fires after an hour of virtual time.
#include <chrono>
#include <cstdio>
#include <troupe/testing.hpp>

struct tick {};
struct ticks {};
struct counter : troupe::actor<counter> {
  int n = 0;
  void on(tick) { ++n; }
  int on(ticks) { return n; }
};

int main() {
  using namespace std::chrono_literals;
  troupe::testing::harness h;
  auto c = h.system().spawn<counter>();
  c.send_after(tick{}, 1h);
  h.advance(59min);
  const int before = h.await(c.ask(ticks{}, 10s)).value();
  h.advance(1min);
  const int after = h.await(c.ask(ticks{}, 10s)).value();
  std::printf("testing component: %d tick(s) before the hour, %d after\n", before, after);
  return before == 0 && after == 1 ? 0 : 1;
}
