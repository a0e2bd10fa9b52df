#pragma once
// The one place threads sleep: a futex-based parker holding at most one
// wake-up token, like a binary semaphore, but with a timed wait that sleeps
// in the kernel until an absolute deadline (FUTEX_WAIT_BITSET on
// CLOCK_MONOTONIC, which is std::chrono::steady_clock on Linux). libstdc++
// 12's std::binary_semaphore::try_acquire_until polls with sleeps of up to
// 64 ms before any futex wait, so timed waits woke tens of milliseconds late;
// this one wakes when the kernel's timer fires.
//
// Workers park on their own parker; a thread outside the runtime blocks on
// its thread_local one (thread_parker()).

#include <atomic>
#include <chrono>

namespace troupe::detail {

class parker {
 public:
  parker() = default;
  parker(const parker&) = delete;
  parker& operator=(const parker&) = delete;

  // Blocks until a token is available and takes it. Owner thread only.
  void park() noexcept;
  // Like park(), but gives up at `deadline` (a steady_clock time point):
  // true if a token was taken, false on timeout. Owner thread only.
  bool park_until(std::chrono::steady_clock::time_point deadline) noexcept;
  // Makes a token available (at most one is kept) and wakes the owner if it
  // is parked. Any thread; never blocks.
  void unpark() noexcept;

 private:
  static constexpr int empty = 0, notified = 1, parked = -1;
  std::atomic<int> state_{empty};
};

// The parker of the calling thread (thread-lifetime, so an unpark that comes
// late never touches freed memory).
parker& thread_parker() noexcept;

}  // namespace troupe::detail
