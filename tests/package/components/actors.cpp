// troupe::actors alone: an actor answering an ask.
#include <chrono>
#include <cstdio>
#include <troupe/actors.hpp>

struct add {
  int a, b;
};
struct adder : troupe::actor<adder> {
  int on(add m) { return m.a + m.b; }
};

int main() {
  troupe::runtime rt;
  troupe::actor_system sys{rt};
  const int r = sys.spawn<adder>().ask(add{40, 2}, std::chrono::seconds(10)).get();
  sys.shutdown();
  std::printf("actors component: %d\n", r);
  return r == 42 ? 0 : 1;
}
