#include "parker.hpp"

#include <cerrno>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace troupe::detail {

namespace {

// Sleeps while *word == expected, until woken or `abs` (CLOCK_MONOTONIC;
// null: no deadline). False only when the deadline passed; spurious returns
// are true, and callers re-check the word.
bool futex_wait(std::atomic<int>* word, int expected, const timespec* abs) noexcept {
  // FUTEX_WAIT_BITSET takes an absolute timeout (plain FUTEX_WAIT a relative
  // one), on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME is set.
  const long r = ::syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                           expected, abs, nullptr, FUTEX_BITSET_MATCH_ANY);
  return !(r == -1 && errno == ETIMEDOUT);
}

void futex_wake_one(std::atomic<int>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
}

timespec to_timespec(std::chrono::steady_clock::time_point t) noexcept {
  const auto ns = t.time_since_epoch().count();
  if (ns <= 0) return timespec{0, 0};
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// Before sleeping in the kernel, look for the token a little while: a
// hand-off that comes within microseconds (a mutex passed along a queue of
// waiters) then costs no futex round trip (~30-100 us here), and yielding
// lets the thread that will unpark us run on a busy core. As libstdc++'s
// atomic waits do.
bool spin_for_token(const std::atomic<int>& state) noexcept {
  for (int i = 0; i < 64; ++i) {
    // relaxed: only a hint; the RMW in the caller takes the token.
    if (state.load(std::memory_order_relaxed) == 1) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  for (int i = 0; i < 8; ++i) {
    if (state.load(std::memory_order_relaxed) == 1) return true;
    sched_yield();
  }
  return false;
}

}  // namespace

void parker::park() noexcept {
  spin_for_token(state_);
  // acquire: a token taken here carries what the unparker did before it.
  if (state_.fetch_sub(1, std::memory_order_acquire) == notified) return;  // notified -> empty
  for (;;) {
    futex_wait(&state_, parked, nullptr);
    int expected = notified;
    // acquire: as above.
    if (state_.compare_exchange_strong(expected, empty, std::memory_order_acquire, std::memory_order_relaxed))
      return;
  }
}

bool parker::park_until(std::chrono::steady_clock::time_point deadline) noexcept {
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    park();
    return true;
  }
  if (state_.fetch_sub(1, std::memory_order_acquire) == notified) return true;
  const timespec abs = to_timespec(deadline);
  for (;;) {
    const bool in_time = futex_wait(&state_, parked, &abs);
    int expected = notified;
    if (state_.compare_exchange_strong(expected, empty, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
    if (!in_time) {
      // Timed out: leave the parked state. acquire: if an unpark raced in,
      // its token is taken, with what preceded it.
      return state_.exchange(empty, std::memory_order_acquire) == notified;
    }
  }
}

void parker::unpark() noexcept {
  // release: the parked thread (acquire above) sees what we did before.
  if (state_.exchange(notified, std::memory_order_release) == parked) futex_wake_one(&state_);
}

parker& thread_parker() noexcept {
  thread_local parker p;
  return p;
}

}  // namespace troupe::detail
