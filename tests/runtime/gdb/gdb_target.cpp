// The program tests/runtime/gdb/check.cmake inspects with scripts/troupe-gdb.py.
// A driven runtime (no worker threads; this thread runs every step) makes the
// moment exact: after run_until_idle() all three fibers are blocked on the
// gate inside wait_for_the_gate(), and the debugger stops at
// troupe_gdb_stop_here().
#include <atomic>
#include <cstdio>
#include <vector>

#include "troupe/runtime.hpp"

extern "C" __attribute__((noinline)) void troupe_gdb_stop_here() { asm volatile("" ::: "memory"); }

__attribute__((noinline)) void wait_for_the_gate(troupe::counting_semaphore& gate, std::atomic<int>& passed) {
  gate.acquire();
  passed.fetch_add(1);
  asm volatile("" ::: "memory");  // keeps this frame a frame of its own
}

int main() {
  troupe::runtime rt{troupe::runtime_options{.driven = true}};
  troupe::counting_semaphore gate;
  std::atomic<int> passed{0};
  std::vector<troupe::task<void>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(troupe::spawn(rt, [&] { wait_for_the_gate(gate, passed); }));
  rt.run_until_idle();
  troupe_gdb_stop_here();
  gate.release(3);
  rt.run_until_idle();
  std::printf("gdb_target: %d passed the gate\n", passed.load());
  return passed.load() == 3 ? 0 : 1;
}
