#pragma once
// How one request ended, as its target tells the generator, and the report
// bucket each outcome is counted in (docs/design/load.md, "Reading the
// report").
//
// Protection answers are not failures: a callee that sheds load
// ("overloaded") or a breaker that refuses a call ("circuit open") is doing
// its job, and a report that lumped them with errors would make a service
// that protects itself look broken. They have buckets of their own, as in
// the patterns layer (troupe/patterns/outcome.hpp).

#include <cstddef>
#include <cstdint>

namespace troupe::load {

enum class outcome : std::uint8_t {
  ok,          // answered, and the answer is good                            -> ok
  error,       // answered with an error, threw, or was dropped unanswered    -> failed
  timeout,     // the target's own deadline passed (an ask timed out)         -> timed out
  overloaded,  // shed at once: the callee is overloaded (load shedding, a
               // full mailbox)                                               -> shed
  rejected,    // refused without being tried: a circuit breaker is open, a
               // bulkhead is full                                            -> rejected
};
inline constexpr std::size_t outcome_count = 5;

// "ok", "error", "timeout", "overloaded", "rejected". Thread-safe.
const char* to_string(outcome o) noexcept;

}  // namespace troupe::load
