#pragma once
// troupe::histogram: HdrHistogram's histogram, with its parameters and its
// exact bucket layout, so that the V2 encoding of troupe's counts
// (histogram_codec.hpp) is byte-for-byte what HdrHistogram's readers expect.
//
// Parameters (HdrHistogram's):
//   lowest_discernible_value  L >= 1: values below L are indistinguishable
//                             from 0 (L is rounded down to a power of two,
//                             2^u, the "unit").
//   highest_trackable_value   H >= 2 L, H <= 2^63 - 1: the top of the range.
//   significant_digits        d in 0..5 (HdrHistogram allows 0; 1..5 is the
//                             useful range).
//
// Layout: buckets of powers of two, each split into linear sub-buckets.
// Bucket 0 covers [0, 2^s * 2^u) in steps of 2^u, where 2^s is the smallest
// power of two >= 2 * 10^d; bucket k >= 1 covers [2^(s-1+k) * 2^u,
// 2^(s+k) * 2^u) in steps of 2^(k+u), using only the upper half of its
// sub-buckets (the lower half is already covered by the buckets below).
// Error bound: a value v is counted in a slot whose values all lie within
//   max(v / 10^d, 2^u - 1)   of v,
// i.e. within a relative error of 10^-d above the unit. Every percentile,
// min, max and mean this histogram reports obeys the same bound.
//
// Out-of-range values: a value above H is recorded as H and counted in
// clamped(); nothing is dropped silently. (A value below L is in range: it
// is counted in the slot [0, 2^u).)
//
// record() is O(1): a clz, two shifts, an add; it never allocates, locks or
// throws. Only the constructor allocates (the counts array, 8 bytes per slot:
// 1 ns .. 1 h at 3 digits is 33,792 slots, 264 KiB).
//
// Thread safety: none. A histogram belongs to one thread, fiber or actor at a
// time; to record from several at once use histogram_recorder
// (histogram_recorder.hpp), whose writers are merged by a reporter.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace troupe {

namespace detail {
struct histogram_access;  // codec and recorder fill counts directly (runtime/src)
}  // namespace detail

// The bucket layout of one (L, H, d) triple: pure arithmetic, no state.
// Names follow HdrHistogram's AbstractHistogram.
class histogram_layout {
 public:
  // Throws troupe::error (errc::invalid_argument) if the triple is invalid
  // (see the file comment; also if 2^u * 2^s does not fit in 62 bits).
  histogram_layout(std::uint64_t lowest_discernible_value, std::uint64_t highest_trackable_value,
                   int significant_digits);

  std::uint64_t lowest_discernible_value() const noexcept { return lowest_; }
  std::uint64_t highest_trackable_value() const noexcept { return highest_; }
  int significant_digits() const noexcept { return digits_; }
  // Number of slots in the counts array.
  std::size_t counts_length() const noexcept { return counts_length_; }
  int bucket_count() const noexcept { return bucket_count_; }
  std::uint32_t sub_bucket_count() const noexcept { return sub_bucket_count_; }
  int unit_magnitude() const noexcept { return unit_magnitude_; }

  // The slot of a value <= highest_trackable_value().
  std::size_t index_of(std::uint64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const std::uint64_t sub = value >> (bucket + unit_magnitude_);
    return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket + 1) << half_count_magnitude_) + sub -
                                    sub_bucket_half_count_);
  }
  // The lowest value of slot `index`.
  std::uint64_t value_from_index(std::size_t index) const noexcept {
    int bucket = static_cast<int>(index >> half_count_magnitude_) - 1;
    std::uint64_t sub = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
    if (bucket < 0) {
      sub -= sub_bucket_half_count_;
      bucket = 0;
    }
    return sub << (bucket + unit_magnitude_);
  }

  // Equivalence: two values are equivalent if they share a slot.
  std::uint64_t size_of_equivalent_range(std::uint64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const std::uint64_t sub = value >> (bucket + unit_magnitude_);
    const int adjusted = sub >= sub_bucket_count_ ? bucket + 1 : bucket;
    return std::uint64_t{1} << (unit_magnitude_ + adjusted);
  }
  std::uint64_t lowest_equivalent(std::uint64_t value) const noexcept {
    const int bucket = bucket_index(value);
    const std::uint64_t sub = value >> (bucket + unit_magnitude_);
    return sub << (bucket + unit_magnitude_);
  }
  std::uint64_t highest_equivalent(std::uint64_t value) const noexcept {
    return lowest_equivalent(value) + size_of_equivalent_range(value) - 1;
  }
  std::uint64_t median_equivalent(std::uint64_t value) const noexcept {
    return lowest_equivalent(value) + (size_of_equivalent_range(value) >> 1);
  }
  bool equivalent(std::uint64_t a, std::uint64_t b) const noexcept {
    return lowest_equivalent(a) == lowest_equivalent(b);
  }

  friend bool operator==(const histogram_layout& a, const histogram_layout& b) noexcept {
    return a.lowest_ == b.lowest_ && a.highest_ == b.highest_ && a.digits_ == b.digits_;
  }

 private:
  int bucket_index(std::uint64_t value) const noexcept {
    return leading_zero_count_base_ - std::countl_zero(value | sub_bucket_mask_);
  }

  std::uint64_t lowest_;
  std::uint64_t highest_;
  std::uint64_t sub_bucket_mask_;
  std::uint64_t sub_bucket_half_count_;
  std::uint32_t sub_bucket_count_;
  int digits_;
  int unit_magnitude_;
  int half_count_magnitude_;
  int leading_zero_count_base_;
  int bucket_count_;
  std::size_t counts_length_;
};

// One non-empty slot, as for_each_recorded() hands it out.
struct histogram_bucket {
  std::size_t index;     // slot index in the counts array
  std::uint64_t lowest;  // lowest and highest value counted in this slot
  std::uint64_t highest;
  std::uint64_t count;
};

class histogram {
 public:
  // Throws troupe::error (errc::invalid_argument) on invalid parameters;
  // std::bad_alloc if the counts array cannot be allocated.
  histogram(std::uint64_t lowest_discernible_value, std::uint64_t highest_trackable_value,
            int significant_digits);
  explicit histogram(const histogram_layout& layout);

  // --- Recording. Owner only. O(1); no allocation, lock or throw.

  void record(std::uint64_t value) noexcept {
    if (value > layout_.highest_trackable_value()) [[unlikely]] {
      value = layout_.highest_trackable_value();
      ++clamped_;
    }
    ++counts_[layout_.index_of(value)];
    ++total_;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  // Records `value` `count` times (nothing if count is 0).
  void record(std::uint64_t value, std::uint64_t count) noexcept {
    if (count == 0) return;
    if (value > layout_.highest_trackable_value()) [[unlikely]] {
      value = layout_.highest_trackable_value();
      clamped_ += count;
    }
    counts_[layout_.index_of(value)] += count;
    total_ += count;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }

  // Adds every count of `other` (merge). With the same layout this is a
  // slot-by-slot sum; otherwise each slot of `other` is recorded at its
  // lowest value or other.min(), whichever is higher (so no percentile reads
  // below min()), clamped, and counted, if above this range. clamped()
  // grows by other.clamped(). O(counts_length()); no allocation.
  void add(const histogram& other) noexcept;
  // Zeroes every count and statistic; keeps the layout and the memory.
  void reset() noexcept;

  // --- Statistics. O(1) unless noted. All are 0 for an empty histogram.

  std::uint64_t count() const noexcept { return total_; }
  // Values recorded above highest_trackable_value() (each counted at it).
  std::uint64_t clamped() const noexcept { return clamped_; }
  bool empty() const noexcept { return total_ == 0; }
  // Smallest and largest recorded value: exact for values recorded with
  // record(); for a histogram rebuilt from counts (decoded, or a recorder's
  // interval) the lowest value of the lowest non-empty slot and the highest
  // value of the highest, as HdrHistogram reports them.
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
  // Mean and standard deviation, each slot counted at its middle value (as
  // HdrHistogram's getMean/getStdDeviation). O(counts_length()).
  double mean() const noexcept;
  double stddev() const noexcept;
  // The smallest value v (to the layout's precision: the highest value
  // equivalent to it, capped at max()) such that at least `percentile` % of
  // the recorded values are <= v; HdrHistogram's getValueAtPercentile.
  // percentile <= 0 gives min(), >= 100 gives max(). O(counts_length()).
  std::uint64_t value_at_percentile(double percentile) const noexcept;
  // The percentage of recorded values <= value (to the layout's precision).
  // O(counts_length()).
  double percentile_at_or_below(std::uint64_t value) const noexcept;
  // Count of values in the slot of `value` (0 above the range).
  std::uint64_t count_at_value(std::uint64_t value) const noexcept;

  // --- Layout and slots.

  const histogram_layout& layout() const noexcept { return layout_; }
  std::uint64_t lowest_discernible_value() const noexcept { return layout_.lowest_discernible_value(); }
  std::uint64_t highest_trackable_value() const noexcept { return layout_.highest_trackable_value(); }
  int significant_digits() const noexcept { return layout_.significant_digits(); }
  std::size_t counts_length() const noexcept { return counts_.size(); }
  std::uint64_t count_at_index(std::size_t index) const noexcept { return counts_[index]; }

  // Calls f(histogram_bucket) for every non-empty slot, lowest first.
  template <class F>
  void for_each_recorded(F&& f) const {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] == 0) continue;
      const std::uint64_t lo = layout_.value_from_index(i);
      f(histogram_bucket{i, lo, layout_.highest_equivalent(lo), counts_[i]});
    }
  }

  // Same layout, same counts in every slot, same count, clamped, min, max.
  friend bool operator==(const histogram& a, const histogram& b) noexcept;

 private:
  friend struct detail::histogram_access;

  histogram_layout layout_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t clamped_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// The histogram troupe's benchmarks take latencies with (ns): 1 ns to
// 2^44 - 1 ns (about 4.9 hours) at 2 significant digits (values kept to
// within 1%). Kept for its users; a troupe::histogram in every other way.
class latency_histogram : public histogram {
 public:
  static constexpr std::uint64_t max_value = (std::uint64_t{1} << 44) - 1;
  static constexpr int digits = 2;
  latency_histogram() : histogram(1, max_value, digits) {}
  // The old name of add().
  void merge(const histogram& other) noexcept { add(other); }
};

}  // namespace troupe
