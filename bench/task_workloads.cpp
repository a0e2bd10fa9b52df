#include "task_workloads.hpp"

namespace troupe::bench {

// One copy, out of line (no other file can inline it), at a fixed alignment.
// fib.cutoff16 spends nearly all its time here, and when each system had its
// own copy, each copy sat at its own offset in a cache line: on this VM that
// alone moved the serial part by about 13% between builds (stop 26), and the
// ratio credited it to the scheduler.
[[gnu::aligned(64)]] long serial_fib(int n) { return n < 2 ? n : serial_fib(n - 1) + serial_fib(n - 2); }

}  // namespace troupe::bench
