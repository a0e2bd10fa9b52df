#pragma once
// Fiber-aware one-shot promise/future. future::get() suspends the fiber (or
// blocks a foreign thread) until the value or exception arrives.
//
// Errors: set_value/set_exception twice throws error(already_satisfied); a
// promise destroyed unset makes get() throw error(broken_promise); get() on a
// future already consumed throws error(already_joined).

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/time.hpp"
#include "troupe/runtime/detail/wait_list.hpp"
#include "troupe/runtime/error.hpp"

namespace troupe {

enum class future_status { ready, timeout };

namespace detail {

template <class T>
struct shared_state {
  spinlock lock;
  wait_list waiters;
  std::atomic<bool> ready{false};  // release-stored after value/error are written
  std::optional<T> value;
  std::exception_ptr error;

  // Returns false if already satisfied.
  template <class Fill>
  bool complete(Fill&& fill) {
    lock.lock();
    if (ready.load(std::memory_order_relaxed)) {
      lock.unlock();
      return false;
    }
    fill(*this);
    // release: a reader that sees ready also sees value/error.
    ready.store(true, std::memory_order_release);
    waiters.notify_all();
    lock.unlock();
    return true;
  }

  future_status wait_until(std::chrono::steady_clock::time_point deadline) {
    // acquire: pairs with the release store in complete().
    if (ready.load(std::memory_order_acquire)) return future_status::ready;
    lock.lock();
    if (ready.load(std::memory_order_relaxed)) {
      lock.unlock();
      return future_status::ready;
    }
    auto why = waiters.wait(lock, deadline);
    if (why == wake_reason::cancelled)
      throw troupe::error(errc::cancelled, "future: wait cancelled by shutdown");
    return ready.load(std::memory_order_acquire) ? future_status::ready : future_status::timeout;
  }
};

}  // namespace detail

template <class T>
class future;

template <class T>
class promise {
 public:
  promise() : state_(std::make_shared<detail::shared_state<T>>()) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      abandon();
      state_ = std::move(o.state_);
      retrieved_ = o.retrieved_;
    }
    return *this;
  }
  ~promise() { abandon(); }

  // Once only; throws error(already_joined) on a second call.
  future<T> get_future() {
    if (retrieved_) throw error(errc::already_joined, "promise::get_future: future already retrieved");
    retrieved_ = true;
    return future<T>(state_);
  }

  template <class... Args>
  void set_value(Args&&... args) {
    if (!state_ || !state_->complete([&](auto& s) { s.value.emplace(std::forward<Args>(args)...); }))
      throw error(errc::already_satisfied, "promise::set_value: already satisfied");
  }
  void set_exception(std::exception_ptr e) {
    if (!state_ || !state_->complete([&](auto& s) { s.error = std::move(e); }))
      throw error(errc::already_satisfied, "promise::set_exception: already satisfied");
  }

 private:
  void abandon() noexcept {
    if (state_)
      state_->complete([](auto& s) {
        s.error = std::make_exception_ptr(error(errc::broken_promise, "promise destroyed without a value"));
      });
  }
  std::shared_ptr<detail::shared_state<T>> state_;
  bool retrieved_ = false;
};

template <class T>
class future {
 public:
  future() = default;
  bool valid() const noexcept { return state_ != nullptr; }
  bool is_ready() const noexcept { return state_ && state_->ready.load(std::memory_order_acquire); }

  // Waits, then returns the value or rethrows the exception. Consumes the
  // future. Throws error(cancelled) if shutdown cancels the wait.
  T get() {
    if (!state_) throw error(errc::already_joined, "future::get: no state (already consumed?)");
    state_->wait_until(std::chrono::steady_clock::time_point::max());
    auto s = std::move(state_);
    if (s->error) std::rethrow_exception(s->error);
    return std::move(*s->value);
  }
  future_status wait_until(std::chrono::steady_clock::time_point deadline) const {
    if (!state_) throw error(errc::already_joined, "future::wait_until: no state");
    return state_->wait_until(deadline);
  }
  template <class Rep, class Period>
  future_status wait_for(std::chrono::duration<Rep, Period> d) const {
    return wait_until(detail::deadline_after(d));
  }

 private:
  friend class promise<T>;
  explicit future(std::shared_ptr<detail::shared_state<T>> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::shared_state<T>> state_;
};

}  // namespace troupe
