#pragma once
// An actor as a load target: each request is an ask, and the ask's result
// completes it.
//
//   auto t = troupe::load::ask_target(svc_ref, [](const troupe::load::request& r) { return get{r.id}; },
//   500ms); troupe::load::run(troupe::load::open_loop{troupe::load::plan::constant(10'000, 30s)}, t);
//
// Written against the actors layer's reworked ask API (not on the load-gen
// branch when this was written, so this header is compiled only where a
// program includes it, never by the library or its header check):
//
//   actor_ref<A>::ask(msg, std::chrono::duration timeout) -> troupe::ask_future<T>
//   ask_future<T>::on_complete(F&& f): f(troupe::result<T>&&) runs exactly
//     once, on the completing thread -- with the reply, or at the deadline
//     with actor_errc::timeout
//   result<T>::error_code() -> troupe::actor_errc
//
// Ref is any type with that ask surface: an actor_ref, or a dependency
// wrapped by the patterns layer (a breaker, a router), which keeps it.
//
// The ask is made on the generator's driving thread (a send: it must not
// block, so give the actor a mailbox policy that fails rather than blocks
// when full, or the generator falls behind). The completion runs on
// whichever thread completes the ask, which the generator allows.
//
// Timeout: the ask's own. Make it no longer than the run's timeout
// (run_options::timeout): whichever fires first ends the request as timed
// out, but only the ask's frees the actor's side.

#include <chrono>
#include <type_traits>
#include <utility>

#include "troupe/actors/error.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/load/outcome.hpp"
#include "troupe/load/request.hpp"

namespace troupe::load {

// How an ask's error code is counted. Protection answers are not failures:
// a full mailbox (its `fail` policy), a dropped message and an explicit
// "overloaded" are shed load; an open circuit is a refusal; only what says
// the callee is broken counts as failed. Thread-safe.
constexpr outcome outcome_of(troupe::actor_errc code) noexcept {
  switch (code) {
    case troupe::actor_errc::ok:
      return outcome::ok;
    case troupe::actor_errc::timeout:
    case troupe::actor_errc::deadline_passed:
      return outcome::timeout;
    case troupe::actor_errc::overloaded:
    case troupe::actor_errc::mailbox_full:
    case troupe::actor_errc::dropped:
      return outcome::overloaded;
    case troupe::actor_errc::circuit_open:
      return outcome::rejected;
    default:
      return outcome::error;  // actor_stopped, system_stopped, handler_failed, broken_reply, ...
  }
}

// A target that asks `ref` one message per request: make_msg(const
// request&) or make_msg() builds it. Ref and MakeMsg are copied into the
// target (std::function needs them copyable). If ask() throws, the request
// ends as failed (abandoned) and the run goes on.
template <class Ref, class MakeMsg, class Rep, class Period>
target ask_target(Ref ref, MakeMsg make_msg, std::chrono::duration<Rep, Period> timeout) {
  return [ref = std::move(ref), make_msg = std::move(make_msg), timeout](request r) mutable {
    auto future = [&] {
      if constexpr (std::is_invocable_v<MakeMsg&, const request&>) {
        return ref.ask(make_msg(std::as_const(r)), timeout);
      } else {
        return ref.ask(make_msg(), timeout);
      }
    }();
    // The completion is move-only: on_complete must accept a move-only
    // callable (it runs it exactly once).
    future.on_complete(
        [done = std::move(r.done)](auto&& res) mutable { done(outcome_of(res.error_code())); });
  };
}

}  // namespace troupe::load
