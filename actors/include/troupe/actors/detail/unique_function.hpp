#pragma once
// A move-only std::function (continuations and timer actions may hold
// move-only state such as a reply_promise or a message). Internal.

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace troupe::detail {

template <class Sig>
class unique_function;

template <class R, class... Args>
class unique_function<R(Args...)> {
 public:
  unique_function() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_function>>>
  unique_function(F&& f) : p_(std::make_unique<impl<std::decay_t<F>>>(std::forward<F>(f))) {}
  explicit operator bool() const noexcept { return p_ != nullptr; }
  R operator()(Args... a) { return p_->call(std::forward<Args>(a)...); }

 private:
  struct base {
    virtual ~base() = default;
    virtual R call(Args... a) = 0;
  };
  template <class F>
  struct impl final : base {
    explicit impl(F&& f) : fn(std::move(f)) {}
    explicit impl(const F& f) : fn(f) {}
    R call(Args... a) override { return std::invoke(fn, std::forward<Args>(a)...); }
    F fn;
  };
  std::unique_ptr<base> p_;
};

}  // namespace troupe::detail
