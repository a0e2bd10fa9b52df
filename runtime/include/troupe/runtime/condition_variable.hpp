#pragma once
// Fiber-aware condition variable for troupe::mutex. wait() suspends the fiber
// (or blocks a foreign thread). No spurious wake-ups from the runtime itself,
// but use the predicate forms anyway.

#include <chrono>
#include <mutex>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/time.hpp"
#include "troupe/runtime/detail/wait_list.hpp"
#include "troupe/runtime/mutex.hpp"

namespace troupe {

enum class cv_status { no_timeout, timeout };

class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept;
  void notify_all() noexcept;

  // `lock` must own the mutex. Throws error(cancelled) if shutdown cancels
  // the wait (the mutex is re-acquired first).
  void wait(std::unique_lock<mutex>& lock);
  cv_status wait_until(std::unique_lock<mutex>& lock, std::chrono::steady_clock::time_point deadline);

  template <class Pred>
  void wait(std::unique_lock<mutex>& lock, Pred pred) {
    while (!pred()) wait(lock);
  }
  template <class Pred>
  bool wait_until(std::unique_lock<mutex>& lock, std::chrono::steady_clock::time_point deadline, Pred pred) {
    while (!pred())
      if (wait_until(lock, deadline) == cv_status::timeout) return pred();
    return true;
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<mutex>& lock, std::chrono::duration<Rep, Period> d, Pred pred) {
    return wait_until(lock, detail::deadline_after(d), std::move(pred));
  }

 private:
  detail::spinlock guard_;
  detail::wait_list waiters_;
};

}  // namespace troupe
