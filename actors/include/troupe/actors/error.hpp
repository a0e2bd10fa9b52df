#pragma once
// Errors of the actor layer. A send reports its outcome as a send_result (no
// exception on the hot path); misuse (bad options, spawning on a stopped
// system, a reply delivered twice) throws actor_error; an ask reports through
// its future, whose get() throws actor_error (or rethrows the handler's own
// exception). Errors that come from the runtime underneath (troupe::error,
// e.g. errc::cancelled when the runtime cancels a wait) pass through as such.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace troupe {

enum class actor_errc : std::uint8_t {
  ok = 0,
  mailbox_full,      // `fail` policy, try_send, or a `block` wait reached its deadline
  dropped,           // `drop_newest` discarded this message
  actor_stopped,     // the target is stopped or stopping, or stopped before handling it
  system_stopped,    // the actor system is shutting down: external sends and spawns refused
  deadline_passed,   // the deadline was already in the past when the call was made
  timeout,           // ask: no reply before the deadline
  already_replied,   // a reply_promise delivered twice
  broken_reply,      // every copy of a reply_promise destroyed without a reply
  invalid_argument,  // a bad option (zero capacity, zero budget, ...) or an empty ref
  not_in_actor,      // an actor-context-only call made from elsewhere
  cancelled,         // a wait cancelled by runtime shutdown
  handler_failed,    // result<T>::error_code() of a reply that is the handler's own exception
  would_deadlock,    // a wait that could only end at its deadline (an actor waiting on itself)
  // Refusals by a protection, distinct from failures of the callee (the
  // patterns layer and the callee's dequeue policy give them):
  overloaded,    // shed at once: a concurrency limit, a bulkhead, or a callee's queue-delay shedder
  circuit_open,  // a circuit breaker refused the call without trying it
};

const char* to_string(actor_errc code) noexcept;

class actor_error : public std::runtime_error {
 public:
  actor_error(actor_errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  actor_errc code() const noexcept { return code_; }

 private:
  actor_errc code_;
};

// The outcome of send/try_send: true when the message was accepted into the
// mailbox. Every false outcome is also counted as a dead letter.
class send_result {
 public:
  constexpr send_result(actor_errc code = actor_errc::ok) noexcept : code_(code) {}
  constexpr explicit operator bool() const noexcept { return code_ == actor_errc::ok; }
  constexpr bool ok() const noexcept { return code_ == actor_errc::ok; }
  constexpr actor_errc code() const noexcept { return code_; }
  friend constexpr bool operator==(send_result a, send_result b) noexcept { return a.code_ == b.code_; }
  friend constexpr bool operator==(send_result a, actor_errc b) noexcept { return a.code_ == b; }

 private:
  actor_errc code_;
};

}  // namespace troupe
