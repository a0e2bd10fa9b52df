#pragma once
// A count-down latch that fork-join waits on: join handles (count 1) and task
// groups (count n). The waiter first helps by running the tasks it spawned
// that are still queued on its own worker (no switch, no stack of its own),
// and only then blocks. Internal.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe::detail {

// Where a task was pushed: lets the spawner pop and run it inline later if it
// is still at the bottom of the same worker's deque and the spawner has not
// migrated in between.
struct help_mark {
  void* worker = nullptr;        // null: pushed from outside any worker
  std::int64_t bottom = 0;       // deque bottom index before the push
  std::uint64_t fiber_epoch = 0; // the spawning fiber's suspend count then
};

class latch {
 public:
  // Owner only (the thread or fiber that will wait).
  void add(std::size_t n) noexcept;
  // Any thread. The last count_down wakes the waiter.
  void count_down() noexcept;
  // Waits until the count is zero, helping via `mark` first when given.
  // Not cancelled by shutdown: the counted tasks always finish.
  void wait(const help_mark* mark = nullptr);
  bool done() const noexcept { return finished_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::size_t> pending_{0};
  // true once pending_ reached zero; set under lock_ so a waiter that sees it
  // and then takes lock_ knows the last counter has stopped touching *this.
  std::atomic<bool> finished_{true};
  spinlock lock_;
  wait_list waiters_;
};

// Pushes `t` onto the calling worker's deque (fork-join spawn), or onto the
// runtime's injection queue from a foreign thread. Returns the help mark.
// Throws error(runtime_stopped) after shutdown began.
class scheduler;
help_mark push_spawned(scheduler& s, task_header* t);
// Pops and runs one task pushed after `mark` on this worker. False if there
// is none or the caller has migrated or suspended since the mark.
bool help_one(const help_mark& mark);

}  // namespace troupe::detail
