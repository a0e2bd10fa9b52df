#pragma once
// A histogram as JSON, for dashboards and troupe-bench style reports:
//
//   {"count": 1000000, "min": 3, "max": 912345, "mean": 1234.5,
//    "stddev": 456.7, "clamped": 0,
//    "lowest_discernible_value": 1, "highest_trackable_value": 3600000000000,
//    "significant_digits": 3,
//    "percentiles": [{"percentile": 50.0, "value": 1203}, ...]}
//
// Values are in the histogram's own unit. Thread-safe (reads `h` only;
// the caller keeps it from changing meanwhile).

#include <span>
#include <string>

#include "troupe/runtime/histogram.hpp"

namespace troupe {

// The percentile table used when none is given.
inline constexpr double default_json_percentiles[] = {50.0, 75.0,  90.0,   95.0, 99.0,
                                                      99.9, 99.99, 99.999, 100.0};

// `indent` < 0: one line; otherwise pretty-printed with that many spaces.
std::string to_json(const histogram& h, std::span<const double> percentiles = default_json_percentiles,
                    int indent = -1);

}  // namespace troupe
