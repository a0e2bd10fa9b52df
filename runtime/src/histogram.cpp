// troupe::histogram: the parts that need not be inline (histogram.hpp).

#include "troupe/runtime/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "histogram_access.hpp"

#include "troupe/runtime/error.hpp"

namespace troupe {

namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw error(errc::invalid_argument, "histogram: " + what);
}

constexpr std::uint64_t int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// HdrHistogram's getBucketsNeededToCoverValue, in its signed 64-bit terms.
int buckets_needed(std::uint64_t value, std::uint32_t sub_bucket_count, int unit_magnitude) {
  std::uint64_t smallest_untrackable = std::uint64_t{sub_bucket_count} << unit_magnitude;
  int needed = 1;
  while (smallest_untrackable <= value) {
    if (smallest_untrackable > int64_max / 2) return needed + 1;
    smallest_untrackable <<= 1;
    ++needed;
  }
  return needed;
}

}  // namespace

histogram_layout::histogram_layout(std::uint64_t lowest, std::uint64_t highest, int digits)
    : lowest_(lowest), highest_(highest), digits_(digits) {
  if (lowest < 1) invalid("lowest_discernible_value must be >= 1");
  if (lowest > int64_max / 2) invalid("lowest_discernible_value must be <= 2^62 - 1");
  if (highest < 2 * lowest) invalid("highest_trackable_value must be >= 2 * lowest_discernible_value");
  if (highest > int64_max) invalid("highest_trackable_value must be <= 2^63 - 1");
  if (digits < 0 || digits > 5) invalid("significant_digits must be in 0..5");

  // The unit exactly as HdrHistogram computes it, (int)(log(L) / log(2)):
  // for L just below a power of two above 2^47 the floating-point quotient
  // rounds up, and a layout that differed from HdrHistogram's would make the
  // V2 counts array mean something else to its readers.
  unit_magnitude_ = static_cast<int>(std::log(static_cast<double>(lowest)) / std::log(2.0));
  // ceil(log2(2 * 10^d)), the power of two that gives single-unit
  // resolution up to 2 * 10^d (HdrHistogram's subBucketCountMagnitude).
  static constexpr int count_magnitude_for_digits[] = {1, 5, 8, 11, 15, 18};
  const int count_magnitude = count_magnitude_for_digits[digits];
  if (count_magnitude + unit_magnitude_ > 62)
    invalid("significant_digits worth of values cannot be represented beyond lowest_discernible_value");
  half_count_magnitude_ = count_magnitude - 1;
  sub_bucket_count_ = std::uint32_t{1} << count_magnitude;
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = (std::uint64_t{sub_bucket_count_} - 1) << unit_magnitude_;
  leading_zero_count_base_ = 64 - unit_magnitude_ - count_magnitude;
  bucket_count_ = buckets_needed(highest, sub_bucket_count_, unit_magnitude_);
  counts_length_ = static_cast<std::size_t>(bucket_count_ + 1) * sub_bucket_half_count_;
}

histogram::histogram(std::uint64_t lowest, std::uint64_t highest, int digits)
    : histogram(histogram_layout(lowest, highest, digits)) {}

histogram::histogram(const histogram_layout& layout) : layout_(layout), counts_(layout.counts_length(), 0) {}

void histogram::add(const histogram& other) noexcept {
  if (other.total_ == 0 && other.clamped_ == 0) return;
  if (layout_ == other.layout_) {
    const std::uint64_t* src = other.counts_.data();
    std::uint64_t* dst = counts_.data();
    for (std::size_t i = 0, n = counts_.size(); i < n; ++i) dst[i] += src[i];
    total_ += other.total_;
    if (other.total_) {
      min_ = std::min(min_, other.min_);
      max_ = std::max(max_, other.max_);
    }
  } else {
    // Different layouts: each slot of `other` lands at its lowest value,
    // but never below other's min: a slot's lowest value may be below every
    // value recorded in it, and landing there would let a percentile read
    // below min().
    other.for_each_recorded([this, &other](const histogram_bucket& b) {
      std::uint64_t v = std::max(b.lowest, other.min_);
      if (v > layout_.highest_trackable_value()) {
        v = layout_.highest_trackable_value();
        clamped_ += b.count;
      }
      counts_[layout_.index_of(v)] += b.count;
      total_ += b.count;
    });
    if (other.total_) {
      const std::uint64_t top = layout_.highest_trackable_value();
      min_ = std::min(min_, std::min(other.min_, top));
      max_ = std::max(max_, std::min(other.max_, top));
    }
  }
  clamped_ += other.clamped_;
}

void histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  clamped_ = 0;
  min_ = std::numeric_limits<std::uint64_t>::max();
  max_ = 0;
}

double histogram::mean() const noexcept {
  if (total_ == 0) return 0.0;
  // Same operations in the same order as HdrHistogram's getMean, so a
  // histogram read back by its Java library reports the same mean.
  double sum = 0.0;
  for_each_recorded([&](const histogram_bucket& b) {
    sum += static_cast<double>(layout_.median_equivalent(b.lowest)) * static_cast<double>(b.count);
  });
  return sum / static_cast<double>(total_);
}

double histogram::stddev() const noexcept {
  if (total_ == 0) return 0.0;
  const double m = mean();
  double sum = 0.0;
  for_each_recorded([&](const histogram_bucket& b) {
    const double deviation = static_cast<double>(layout_.median_equivalent(b.lowest)) - m;
    sum += (deviation * deviation) * static_cast<double>(b.count);
  });
  return std::sqrt(sum / static_cast<double>(total_));
}

std::uint64_t histogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  if (!(percentile > 0.0)) return min();  // also NaN
  if (percentile >= 100.0) return max();
  // HdrHistogram's rank: one ulp off the percentile first, so that a
  // product such as 99.9 * 1000 / 100 that lands a hair above an integer
  // does not round up into the next value; then the smallest count that
  // reaches it.
  const double requested = std::min(std::max(std::nextafter(percentile, -HUGE_VAL), 0.0), 100.0);
  const double fp_rank = requested * static_cast<double>(total_) / 100.0;
  const auto rank = std::max<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(fp_rank)), 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(layout_.highest_equivalent(layout_.value_from_index(i)), max_);
  }
  return max_;
}

double histogram::percentile_at_or_below(std::uint64_t value) const noexcept {
  if (total_ == 0) return 100.0;
  const std::size_t last =
      value > layout_.highest_trackable_value() ? counts_.size() - 1 : layout_.index_of(value);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i <= last; ++i) seen += counts_[i];
  return 100.0 * static_cast<double>(seen) / static_cast<double>(total_);
}

std::uint64_t histogram::count_at_value(std::uint64_t value) const noexcept {
  if (value > layout_.highest_trackable_value()) return 0;
  return counts_[layout_.index_of(value)];
}

bool operator==(const histogram& a, const histogram& b) noexcept {
  return a.layout_ == b.layout_ && a.total_ == b.total_ && a.clamped_ == b.clamped_ && a.min() == b.min() &&
         a.max() == b.max() && a.counts_ == b.counts_;
}

namespace detail {

void histogram_access::establish_totals(histogram& h) noexcept {
  std::uint64_t total = 0;
  std::size_t lowest = 0, highest = 0;
  bool any = false;
  for (std::size_t i = 0; i < h.counts_.size(); ++i) {
    if (h.counts_[i] == 0) continue;
    total += h.counts_[i];
    if (!any) lowest = i;
    highest = i;
    any = true;
  }
  h.total_ = total;
  if (any) {
    h.min_ = h.layout_.value_from_index(lowest);
    h.max_ = h.layout_.highest_equivalent(h.layout_.value_from_index(highest));
  } else {
    h.min_ = std::numeric_limits<std::uint64_t>::max();
    h.max_ = 0;
  }
}

}  // namespace detail

}  // namespace troupe
