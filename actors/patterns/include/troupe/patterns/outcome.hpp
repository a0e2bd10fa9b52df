#pragma once
// What happened to one call, and whether a pattern counts it as a failure.
//
// The wrapper around an actor turns each reply into an `outcome` (a reply
// predicate written by the user decides between success and failure for
// replies that carry errors in-band), and the patterns map outcomes to a
// `verdict` through a failure_classifier: the breaker counts failures, the
// retry policy retries them, the limits treat them as drops. "overloaded"
// (a shedding callee said no at once) and "circuit_open" (a breaker further
// down said no) are ignored by default: they say the callee protects itself,
// not that it is broken, and counting them would trip breakers in exactly
// the situation shedding exists to handle.

#include <array>
#include <cstddef>
#include <cstdint>

namespace troupe::patterns {

enum class outcome : std::uint8_t {
  success,       // the callee answered and the answer counts as good
  failure,       // an error reply, an exception, or a reply the predicate rejected
  timeout,       // no answer before the deadline (incl. a half-open probe that never answered)
  overloaded,    // the callee shed the request at once (errc::overloaded)
  circuit_open,  // a breaker refused the call without trying it (errc::circuit_open)
  cancelled,     // the caller gave up (e.g. the losing copy of a hedged request)
};
inline constexpr std::size_t outcome_count = 6;

const char* to_string(outcome o) noexcept;

enum class verdict : std::uint8_t {
  success,  // counts as a good call
  failure,  // counts as a bad call
  ignored,  // not counted at all (neither in rates nor in minimum calls)
};

const char* to_string(verdict v) noexcept;

// A table from outcome to verdict. A literal type: cheap to copy, and a
// lookup is one load. Thread-safe to read.
class failure_classifier {
 public:
  // success -> success; failure, timeout -> failure; overloaded, circuit_open,
  // cancelled -> ignored.
  constexpr failure_classifier() noexcept
      : table_{verdict::success, verdict::failure, verdict::failure,
               verdict::ignored, verdict::ignored, verdict::ignored} {}

  constexpr verdict operator()(outcome o) const noexcept { return table_[static_cast<std::size_t>(o)]; }
  // Changes one entry: failure_classifier{}.set(outcome::overloaded, verdict::failure).
  constexpr failure_classifier& set(outcome o, verdict v) noexcept {
    table_[static_cast<std::size_t>(o)] = v;
    return *this;
  }

 private:
  std::array<verdict, outcome_count> table_;
};

}  // namespace troupe::patterns
