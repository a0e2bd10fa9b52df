#pragma once
// Fiber-aware mutex: a contended lock() suspends the fiber (or blocks a
// foreign thread) instead of blocking its worker. Unlock hands the mutex
// directly to the oldest waiter, so waiters are served FIFO. Not recursive.
// Meets the Lockable requirements (std::unique_lock, std::scoped_lock).

#include <atomic>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe {

class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock();
  bool try_lock() noexcept;
  void unlock() noexcept;

 private:
  detail::spinlock guard_;
  bool locked_ = false;  // guarded by guard_
  detail::wait_list waiters_;
};

}  // namespace troupe
