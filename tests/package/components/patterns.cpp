// troupe::patterns alone: an actor asked through a circuit breaker, and a
// key placed on a hash ring (xxHash is compiled into the library).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <troupe/patterns.hpp>

struct add {
  int a, b;
};
struct adder : troupe::actor<adder> {
  int on(add m) { return m.a + m.b; }
};

int main() {
  troupe::runtime rt;
  troupe::actor_system sys{rt};
  auto guarded = troupe::protect(sys.spawn<adder>()).breaker();
  const int r = guarded.ask(add{40, 2}, std::chrono::seconds(10)).get();
  sys.shutdown();
  const std::uint64_t ids[] = {1, 2, 3};
  const troupe::patterns::hash_ring ring(ids, 10);
  const bool placed = ring.lookup(troupe::patterns::hash_key("user-42")) < 3;
  std::printf("patterns component: %d, key placed: %d\n", r, placed ? 1 : 0);
  return r == 42 && placed ? 0 : 1;
}
