#pragma once
// result<T>: a reply as a value — either T or the exception that stands for
// the error (an actor_error, or whatever the handler threw). What a
// continuation (ask(...).then(f)) and a completion callback receive.
//
// An error made by troupe itself (timeout, mailbox_full, overloaded...)
// carries its actor_errc beside the exception, so error_code() on the
// overload path costs no rethrow. A handler's own exception is classified
// once, by the worker that caught it (detail::handler_error), so the asker
// never rethrows it; only a result built from a bare exception_ptr
// (reply_promise::fail) is classified by error_code() itself.

#include <exception>
#include <utility>
#include <variant>

#include "troupe/actors/error.hpp"

namespace troupe {

namespace detail {
inline actor_errc code_of(const std::exception_ptr& e) noexcept {
  if (!e) return actor_errc::broken_reply;
  try {
    std::rethrow_exception(e);
  } catch (const actor_error& x) {
    return x.code();
  } catch (...) {
    return actor_errc::handler_failed;
  }
}
}  // namespace detail

template <class T>
class result;

namespace detail {
// A handler's exception as the asker's result, its code taken by the
// thread that caught it. The exception object is shared (the turn that
// caught it reports it to the supervisor) and whichever thread drops the
// last reference frees it inside libstdc++, whose reference count
// ThreadSanitizer cannot see: an asker that rethrew it only to read its code
// (error_code()) was reported racing with that free. With the code here,
// error_code() never touches the object.
template <class T>
result<T> handler_error(std::exception_ptr e) noexcept {
  const actor_errc code = code_of(e);
  return result<T>(code, std::move(e));
}
}  // namespace detail

template <class T>
class result {
 public:
  result() = default;  // empty: neither a value nor an error (never handed to users)
  result(T v) : v_(std::in_place_index<1>, std::move(v)) {}
  result(std::exception_ptr e) : v_(std::in_place_index<2>, std::move(e)) {}
  // An error of troupe's own whose code is known.
  result(actor_errc code, std::exception_ptr e) : v_(std::in_place_index<2>, std::move(e)), code_(code) {}

  bool has_value() const noexcept { return v_.index() == 1; }
  explicit operator bool() const noexcept { return has_value(); }
  // The value; rethrows the error if there is none.
  T& value() & {
    check();
    return std::get<1>(v_);
  }
  const T& value() const& {
    check();
    return std::get<1>(v_);
  }
  T&& value() && {
    check();
    return std::get<1>(std::move(v_));
  }
  // As value(): rethrow the error if there is none.
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  std::exception_ptr exception() const noexcept { return v_.index() == 2 ? std::get<2>(v_) : nullptr; }
  // ok with a value; the actor_errc of an actor_error; handler_failed for
  // any other exception.
  actor_errc error_code() const noexcept {
    if (has_value()) return actor_errc::ok;
    return code_ != actor_errc::ok ? code_ : detail::code_of(exception());
  }

 private:
  void check() const {
    if (v_.index() == 2) std::rethrow_exception(std::get<2>(v_));
    if (v_.index() == 0) throw actor_error(actor_errc::broken_reply, "result: no value");
  }
  std::variant<std::monostate, T, std::exception_ptr> v_;
  actor_errc code_ = actor_errc::ok;  // known code of an error, or ok (classify the exception)
};

template <>
class result<void> {
 public:
  result() = default;
  static result ok() {
    result r;
    r.has_ = true;
    return r;
  }
  // NOLINTBEGIN(bugprone-throw-keyword-missing): holding an error, not throwing it
  result(std::exception_ptr e) : e_(std::move(e)) {}
  result(actor_errc code, std::exception_ptr e) : e_(std::move(e)), code_(code) {}
  // NOLINTEND(bugprone-throw-keyword-missing)
  bool has_value() const noexcept { return has_; }
  explicit operator bool() const noexcept { return has_; }
  void value() const {
    if (e_) std::rethrow_exception(e_);
    if (!has_) throw actor_error(actor_errc::broken_reply, "result: no value");
  }
  std::exception_ptr exception() const noexcept { return e_; }
  actor_errc error_code() const noexcept {
    if (has_) return actor_errc::ok;
    return code_ != actor_errc::ok ? code_ : detail::code_of(e_);
  }

 private:
  bool has_ = false;
  std::exception_ptr e_;
  actor_errc code_ = actor_errc::ok;
};

}  // namespace troupe
