#pragma once
// The error codes with which the patterns refuse work. Each refusal is
// distinct from a failure of the callee, so callers (and the breakers and
// retries in front of them) can tell "the dependency is broken" from "a
// protection said no".

#include <cstdint>

namespace troupe::patterns {

enum class errc : std::uint8_t {
  ok = 0,
  circuit_open,            // a circuit breaker is open (or forced open, or out of half-open probes)
  overloaded,              // a concurrency limit or a queue-delay shedder shed the request
  bulkhead_full,           // the bulkhead already has its N calls in flight
  retry_budget_exhausted,  // the destination's retry budget has no token for another attempt
  no_routee,               // a router has no routee
};

const char* to_string(errc code) noexcept;

}  // namespace troupe::patterns
