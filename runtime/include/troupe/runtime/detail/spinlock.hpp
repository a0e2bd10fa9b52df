#pragma once
// A test-and-test-and-set spinlock for the short critical sections inside the
// runtime's wait lists (a handful of pointer writes). Never held across a
// fiber switch by a waiter: wait_list::wait releases it after the switch.

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace troupe::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// One step of waiting for another thread that is a few instructions from
// done (between two stores, linking a node): pause while it is likely
// running, and after 64 pauses give up the core, as it may have been
// preempted and, with as many threads as cores, spinning would keep it off.
// `spins` starts at 0 for each wait. Callers: any thread.
inline void backoff(unsigned& spins) noexcept {
  if (spins < 64) {
    ++spins;
    cpu_relax();
  } else {
    std::this_thread::yield();
  }
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
