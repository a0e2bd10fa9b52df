#pragma once
// A latency histogram with HdrHistogram's log-linear layout: values are
// grouped by power of two, and each power of two is split into 64 linear
// sub-buckets, so every recorded value is kept to within 1/64 (< 1.6%) of
// its true value from 1 up to 2^44 (about 4.9 hours in nanoseconds).
// record() is O(1) and allocation-free; histograms merge by adding counts.
// Not thread-safe: keep one per thread or worker and merge them.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace troupe {

class latency_histogram {
 public:
  static constexpr int sub_bits = 7;                        // 128 sub-buckets per bucket
  static constexpr std::uint64_t sub_count = 1u << sub_bits;
  static constexpr std::uint64_t sub_half = sub_count / 2;
  static constexpr int max_bits = 44;                       // largest value: 2^44 - 1
  static constexpr std::size_t bucket_count = max_bits - sub_bits + 1;
  static constexpr std::size_t slots = (bucket_count + 1) * sub_half;
  static constexpr std::uint64_t max_value = (std::uint64_t{1} << max_bits) - 1;

  // Values above max_value are clamped to it (and still counted).
  void record(std::uint64_t value, std::uint64_t times = 1) noexcept {
    if (value > max_value) value = max_value;
    counts_[index_of(value)] += times;
    total_ += times;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
    sum_ += static_cast<double>(value) * static_cast<double>(times);
  }

  void merge(const latency_histogram& o) noexcept {
    for (std::size_t i = 0; i < slots; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    if (o.min_ < min_) min_ = o.min_;
    if (o.max_ > max_) max_ = o.max_;
  }

  void reset() noexcept { *this = latency_histogram{}; }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

  // The smallest recorded value (to the layout's precision: the highest
  // value equivalent to it) that at least `percentile` % of records are <=.
  // 0 for an empty histogram.
  std::uint64_t value_at_percentile(double percentile) const noexcept {
    if (total_ == 0) return 0;
    if (percentile > 100.0) percentile = 100.0;
    auto wanted = static_cast<std::uint64_t>(percentile / 100.0 * static_cast<double>(total_) + 0.5);
    if (wanted < 1) wanted = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < slots; ++i) {
      seen += counts_[i];
      if (seen >= wanted) {
        std::uint64_t v = highest_equivalent(value_of(i));
        return v < max_ ? v : max_;
      }
    }
    return max_;
  }

  // Exposed for tests: the slot a value lands in and the lowest value of a slot.
  static std::size_t index_of(std::uint64_t value) noexcept {
    const int bucket = 64 - std::countl_zero(value | (sub_count - 1)) - sub_bits;
    const std::uint64_t sub = value >> bucket;
    return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket) + 1) * sub_half + sub - sub_half);
  }
  static std::uint64_t value_of(std::size_t index) noexcept {
    std::uint64_t bucket = index / sub_half;
    std::uint64_t sub = index % sub_half + sub_half;
    if (bucket == 0) return sub - sub_half;  // the first bucket is linear from 0
    return sub << (bucket - 1);
  }

 private:
  static std::uint64_t highest_equivalent(std::uint64_t v) noexcept {
    const int bucket = 64 - std::countl_zero(v | (sub_count - 1)) - sub_bits;
    return v + (std::uint64_t{1} << bucket) - 1;
  }

  std::array<std::uint64_t, slots> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace troupe
