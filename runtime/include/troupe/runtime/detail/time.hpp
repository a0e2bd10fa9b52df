#pragma once
// Time for code that may run on a worker or on a thread outside the runtime.
// On a worker, the runtime's clock (which may be virtual); elsewhere, the
// default steady clock. Internal.

#include <chrono>

#include "troupe/runtime/clock.hpp"

namespace troupe::detail {

class scheduler;

// The clock of the runtime whose worker calls, or the default clock.
troupe::clock& caller_clock() noexcept;
// The clock of `s`, or the caller's if s is null.
troupe::clock& clock_of(const scheduler* s) noexcept;

// caller_clock().now() + d, saturated (clock::after). Any thread.
template <class Rep, class Period>
troupe::clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  return troupe::clock::after(caller_clock().now(), d);
}

}  // namespace troupe::detail
