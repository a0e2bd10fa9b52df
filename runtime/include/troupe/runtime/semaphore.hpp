#pragma once
// Fiber-aware counting semaphore. acquire() suspends the fiber (or blocks a
// foreign thread) while the count is zero; release() hands permits straight
// to waiters in FIFO order.

#include <chrono>
#include <cstddef>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/time.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe {

class counting_semaphore {
 public:
  explicit counting_semaphore(std::ptrdiff_t initial = 0);
  counting_semaphore(const counting_semaphore&) = delete;
  counting_semaphore& operator=(const counting_semaphore&) = delete;

  // Throws error(cancelled) if shutdown cancels the wait.
  void acquire();
  bool try_acquire() noexcept;
  // False if the deadline passed first. A deadline in the past only tries.
  bool try_acquire_until(std::chrono::steady_clock::time_point deadline);
  template <class Rep, class Period>
  bool try_acquire_for(std::chrono::duration<Rep, Period> d) {
    return try_acquire_until(detail::deadline_after(d));
  }
  // Throws error(invalid_argument) for n < 0.
  void release(std::ptrdiff_t n = 1);

  std::ptrdiff_t available() const noexcept;

 private:
  mutable detail::spinlock guard_;
  std::ptrdiff_t count_;  // guarded by guard_
  detail::wait_list waiters_;
};

}  // namespace troupe
