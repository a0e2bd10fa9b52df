#pragma once
// A test-and-test-and-set spinlock for the short critical sections inside the
// runtime's wait lists (a handful of pointer writes). Never held across a
// fiber switch by a waiter: wait_list::wait releases it after the switch.

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace troupe::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

class spinlock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire: the critical section must see every write made under the
      // previous holder's release.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      // relaxed: only a hint that the lock looks free; the exchange above
      // does the synchronising.
      while (locked_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  // release: publishes the critical section's writes to the next holder.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace troupe::detail
