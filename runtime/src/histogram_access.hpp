#pragma once
// Private door into troupe::histogram for the code that builds histograms
// from counts rather than values: the V2 decoder (histogram_codec.cpp) and
// the recorder's reporter (histogram_recorder.cpp). Not installed.

#include <cstdint>

#include "troupe/runtime/histogram.hpp"

namespace troupe::detail {

struct histogram_access {
  static std::uint64_t* counts(histogram& h) noexcept { return h.counts_.data(); }
  static void add_clamped(histogram& h, std::uint64_t n) noexcept { h.clamped_ += n; }
  // After counts were written directly: recomputes count, min and max from
  // the slots, as HdrHistogram's establishInternalTackingValues does (min is
  // the lowest value of the lowest non-empty slot, max the highest value of
  // the highest).
  static void establish_totals(histogram& h) noexcept;
};

}  // namespace troupe::detail
