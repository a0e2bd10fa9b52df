#pragma once
// Saturating time arithmetic for deadlines and open periods: a sum that would
// overflow gives time_point::max() ("never"), never a wrapped value.

#include <limits>

#include "troupe/runtime/clock.hpp"

namespace troupe::patterns::detail {

// t + d for d >= 0, saturated at time_point::max(). Any thread.
constexpr clock::time_point add_saturated(clock::time_point t, clock::duration d) noexcept {
  if (d <= clock::duration::zero()) return t;
  if (t.time_since_epoch().count() > std::numeric_limits<clock::duration::rep>::max() - d.count())
    return clock::time_point::max();
  return t + d;
}

}  // namespace troupe::patterns::detail
