// Fiber-aware mutex, condition variable and counting semaphore, all built on
// detail::wait_list.

#include <mutex>

#include "troupe/runtime/condition_variable.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/mutex.hpp"
#include "troupe/runtime/semaphore.hpp"

namespace troupe {

using detail::wake_reason;

// ------------------------------------------------------------------- mutex

void mutex::lock() {
  guard_.lock();
  if (!locked_) {
    locked_ = true;
    guard_.unlock();
    return;
  }
  // Not cancellable: unlock() always hands the mutex over eventually, and a
  // lock() that threw would surprise every RAII user.
  waiters_.wait(guard_, clock::time_point::max(), /*cancellable=*/false);
  // unlock() handed us the mutex: locked_ stayed true for us.
}

bool mutex::try_lock() noexcept {
  std::lock_guard g(guard_);
  if (locked_) return false;
  locked_ = true;
  return true;
}

void mutex::unlock() noexcept {
  std::lock_guard g(guard_);
  // Direct hand-off keeps waiters FIFO and stops a running fiber from
  // barging past a woken one forever.
  if (!waiters_.notify_one()) locked_ = false;
}

// ------------------------------------------------------ condition_variable

void condition_variable::notify_one() noexcept {
  std::lock_guard g(guard_);
  waiters_.notify_one();
}

void condition_variable::notify_all() noexcept {
  std::lock_guard g(guard_);
  waiters_.notify_all();
}

void condition_variable::wait(std::unique_lock<mutex>& lock) { wait_until(lock, clock::time_point::max()); }

cv_status condition_variable::wait_until(std::unique_lock<mutex>& lock,
                                         std::chrono::steady_clock::time_point deadline) {
  if (!lock.owns_lock())
    throw error(errc::invalid_argument, "condition_variable::wait: the lock does not own its mutex");
  // Join the list before releasing the mutex, so a notify issued right after
  // our unlock cannot be missed.
  guard_.lock();
  lock.unlock();
  wake_reason why = waiters_.wait(guard_, deadline);
  lock.lock();
  if (why == wake_reason::cancelled)
    throw error(errc::cancelled, "condition_variable::wait: cancelled by runtime shutdown");
  return why == wake_reason::notified ? cv_status::no_timeout : cv_status::timeout;
}

// ------------------------------------------------------ counting_semaphore

counting_semaphore::counting_semaphore(std::ptrdiff_t initial) : count_(initial) {
  if (initial < 0) throw error(errc::invalid_argument, "counting_semaphore: negative initial count");
}

void counting_semaphore::acquire() {
  if (!try_acquire_until(clock::time_point::max()))
    throw error(errc::timeout, "counting_semaphore::acquire: unexpected timeout");
}

bool counting_semaphore::try_acquire() noexcept {
  std::lock_guard g(guard_);
  if (count_ == 0) return false;
  --count_;
  return true;
}

bool counting_semaphore::try_acquire_until(std::chrono::steady_clock::time_point deadline) {
  guard_.lock();
  if (count_ > 0) {
    --count_;
    guard_.unlock();
    return true;
  }
  wake_reason why = waiters_.wait(guard_, deadline);
  if (why == wake_reason::cancelled)
    throw error(errc::cancelled, "counting_semaphore::acquire: cancelled by runtime shutdown");
  // notified: release() handed its permit straight to us.
  return why == wake_reason::notified;
}

void counting_semaphore::release(std::ptrdiff_t n) {
  if (n < 0) throw error(errc::invalid_argument, "counting_semaphore::release: negative count");
  std::lock_guard g(guard_);
  while (n > 0 && waiters_.notify_one()) --n;
  count_ += n;
}

std::ptrdiff_t counting_semaphore::available() const noexcept {
  std::lock_guard g(guard_);
  return count_;
}

}  // namespace troupe
