// troupe::runtime alone: a task joined on a runtime.
#include <cstdio>
#include <troupe/runtime.hpp>

int main() {
  troupe::runtime rt;
  const int r = troupe::spawn(rt, [] { return 6 * 7; }).join();
  std::printf("runtime component: %d\n", r);
  return r == 42 ? 0 : 1;
}
