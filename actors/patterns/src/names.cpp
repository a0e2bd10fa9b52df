// to_string of the patterns' small enums.

#include "troupe/patterns/error.hpp"
#include "troupe/patterns/outcome.hpp"

namespace troupe::patterns {

const char* to_string(outcome o) noexcept {
  switch (o) {
    case outcome::success:
      return "success";
    case outcome::failure:
      return "failure";
    case outcome::timeout:
      return "timeout";
    case outcome::overloaded:
      return "overloaded";
    case outcome::circuit_open:
      return "circuit_open";
    case outcome::cancelled:
      return "cancelled";
  }
  return "unknown";
}

const char* to_string(verdict v) noexcept {
  switch (v) {
    case verdict::success:
      return "success";
    case verdict::failure:
      return "failure";
    case verdict::ignored:
      return "ignored";
  }
  return "unknown";
}

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::circuit_open:
      return "circuit_open";
    case errc::overloaded:
      return "overloaded";
    case errc::bulkhead_full:
      return "bulkhead_full";
    case errc::retry_budget_exhausted:
      return "retry_budget_exhausted";
    case errc::no_routee:
      return "no_routee";
  }
  return "unknown";
}

}  // namespace troupe::patterns
