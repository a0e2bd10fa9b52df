// troupe::histogram (runtime/include/troupe/runtime/histogram.hpp) against
// exact values: the input picks a layout (lowest discernible value, highest
// trackable value, significant digits), then records values (single and
// with counts; below the unit, at and above the top), merges a second
// histogram of the same layout and a third of another layout, and resets.
// The model keeps every recorded value exactly.
//
// Checked after every operation: count, clamped, min and max exactly; the
// slot of each value just recorded obeys the documented error bound
// max(v / 10^d, 2^u - 1) and count_at_value counts exactly the values in it.
// After every 16th operation and at the end, also the checks that walk the
// counts array: every slot's count equals the model's values in the slot's
// range and the slots sum to the count (so every value is in exactly one
// slot); value_at_percentile is the highest equivalent of the exact value at
// HdrHistogram's rank (capped at max); percentile_at_or_below is the exact
// share of values at or below. A merge from another layout records each of
// its slots at the slot's lowest value or the other's min, whichever is
// higher (and keeps its exact min and max).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "fuzz_input.hpp"

#include "troupe/runtime/histogram.hpp"

namespace {

using troupe::histogram;
using troupe::histogram_layout;
__extension__ typedef unsigned __int128 u128;

constexpr std::uint64_t top = std::numeric_limits<std::int64_t>::max();  // 2^63 - 1

// What a histogram holds, exactly.
struct model {
  std::map<std::uint64_t, std::uint64_t> values;  // value (after clamping) -> times
  std::uint64_t total = 0, clamped = 0;
  // min() and max(): the extremes of `values`, except after a merge from
  // another layout, which keeps the other's exact extremes (capped at the
  // top) rather than its slots' lowest values.
  std::uint64_t min = ~std::uint64_t{0}, max = 0;

  void record(const histogram_layout& l, std::uint64_t v, std::uint64_t n, bool extremes = true) {
    if (n == 0) return;
    if (v > l.highest_trackable_value()) {
      v = l.highest_trackable_value();
      clamped += n;
    }
    values[v] += n;
    total += n;
    if (extremes) {
      min = std::min(min, v);
      max = std::max(max, v);
    }
  }
};

std::string hex(std::uint64_t v) { return std::to_string(v); }

// `probes`: the values whose slots are checked against the model. `full`:
// also the checks that cost a pass over the counts array (tens of
// thousands of slots), which would make every operation slow.
void check(const histogram& h, const model& m, const char* after, const std::vector<std::uint64_t>& probes,
           bool full) {
  const std::string at = std::string("after ") + after + ": ";
  const histogram_layout& l = h.layout();
  FUZZ_CHECK(h.count() == m.total, at + "count " + hex(h.count()) + ", model " + hex(m.total));
  FUZZ_CHECK(h.clamped() == m.clamped, at + "clamped " + hex(h.clamped()) + ", model " + hex(m.clamped));
  FUZZ_CHECK(h.empty() == (m.total == 0), at + "empty disagrees");
  const std::uint64_t min = m.total ? m.min : 0, max = m.total ? m.max : 0;
  FUZZ_CHECK(h.min() == min, at + "min " + hex(h.min()) + ", model " + hex(min));
  FUZZ_CHECK(h.max() == max, at + "max " + hex(h.max()) + ", model " + hex(max));

  // Slots against the exact values.
  if (full) {
    std::uint64_t sum = 0, last_high = 0;
    bool first = true;
    h.for_each_recorded([&](const troupe::histogram_bucket& b) {
      FUZZ_CHECK(first || b.lowest > last_high, at + "slots overlap or are out of order");
      first = false;
      last_high = b.highest;
      std::uint64_t want = 0;
      for (auto it = m.values.lower_bound(b.lowest); it != m.values.end() && it->first <= b.highest; ++it)
        want += it->second;
      FUZZ_CHECK(b.count == want, at + "slot [" + hex(b.lowest) + ", " + hex(b.highest) + "] counts " +
                                      hex(b.count) + ", the model has " + hex(want) + " values in it");
      sum += b.count;
    });
    FUZZ_CHECK(sum == m.total, at + "the slots hold " + hex(sum) + " values, the model " + hex(m.total));
  }

  // Error bound, count_at_value and percentile_at_or_below, per value.
  const std::uint64_t unit_slack = (std::uint64_t{1} << l.unit_magnitude()) - 1;
  const u128 scale = static_cast<u128>(std::pow(10, l.significant_digits()));
  for (std::uint64_t v : probes) {
    if (m.total == 0) break;
    const std::uint64_t lo = l.lowest_equivalent(v), hi = l.highest_equivalent(v);
    FUZZ_CHECK(lo <= v && v <= hi, at + "value " + hex(v) + " outside its own slot");
    const std::uint64_t off = std::max(hi - v, v - lo);
    FUZZ_CHECK(
        off <= unit_slack || static_cast<u128>(off) * scale <= v,
        at + "value " + hex(v) + "'s slot [" + hex(lo) + ", " + hex(hi) + "] is wider than the error bound");
    std::uint64_t in_slot = 0;
    for (auto it = m.values.lower_bound(lo); it != m.values.end() && it->first <= hi; ++it)
      in_slot += it->second;
    FUZZ_CHECK(h.count_at_value(v) == in_slot, at + "count_at_value(" + hex(v) + ") disagrees");
    if (!full) continue;
    // percentile_at_or_below: the share of values in slots up to v's.
    std::uint64_t at_or_below = 0;
    for (auto it = m.values.begin(); it != m.values.end() && it->first <= hi; ++it) at_or_below += it->second;
    const double want = 100.0 * static_cast<double>(at_or_below) / static_cast<double>(m.total);
    FUZZ_CHECK(h.percentile_at_or_below(v) == want, at + "percentile_at_or_below(" + hex(v) + ") disagrees");
  }
}

// HdrHistogram's rank for a percentile in (0, 100) (histogram.cpp says why
// one ulp below), and the exact value at that rank.
void check_percentile(const histogram& h, const model& m, double p) {
  if (m.total == 0) {
    FUZZ_CHECK(h.value_at_percentile(p) == 0, "value_at_percentile of an empty histogram is not 0");
    return;
  }
  std::uint64_t want;
  if (!(p > 0.0)) {
    want = m.min;
  } else if (p >= 100.0) {
    want = m.max;
  } else {
    const double requested = std::min(std::max(std::nextafter(p, -HUGE_VAL), 0.0), 100.0);
    const auto rank = std::max<std::uint64_t>(
        static_cast<std::uint64_t>(std::ceil(requested * static_cast<double>(m.total) / 100.0)), 1);
    std::uint64_t seen = 0;
    auto it = m.values.begin();
    for (; it != m.values.end(); ++it) {
      seen += it->second;
      if (seen >= rank) break;
    }
    want = it == m.values.end() ? m.max : std::min(h.layout().highest_equivalent(it->first), m.max);
  }
  FUZZ_CHECK(h.value_at_percentile(p) == want, "value_at_percentile(" + std::to_string(p) + ") is " +
                                                   hex(h.value_at_percentile(p)) + ", exactly " + hex(want));
  // Whatever the model says: a percentile lies between min() and max().
  FUZZ_CHECK(h.value_at_percentile(p) >= h.min() && h.value_at_percentile(p) <= h.max(),
             "value_at_percentile(" + std::to_string(p) + ") is outside [min(), max()]");
}

// A layout from the input: every valid (L, H, d) with L up to 2^20, H up to
// L * 2^40 (or 2^63 - 1) and d up to 2 keeps the counts array small (d = 3
// is the same arithmetic with 8 times the slots, and 8 times slower).
histogram_layout pick_layout(troupe::fuzz::input& in) {
  const std::uint64_t lowest = in.flag() ? std::uint64_t{1} << in.range(0, 20) : in.range(1, 1u << 20);
  const std::uint64_t highest =
      in.flag() ? top : std::min(top, 2 * lowest + in.range(0, lowest << in.range(1, 40)));
  const int digits = static_cast<int>(in.range(0, 2));
  return histogram_layout(lowest, highest, digits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  const histogram_layout layout = pick_layout(in);
  const histogram_layout other_layout = pick_layout(in);
  histogram h(layout), same(layout), other(other_layout);
  model mh, msame, mother;

  // A value: small, near the unit or the top, beyond the top, or any.
  auto value = [&](const histogram_layout& l) -> std::uint64_t {
    switch (in.byte() % 5) {
      case 0:
        return in.range(0, 3 * l.lowest_discernible_value());
      case 1:
        return l.highest_trackable_value() - std::min(l.highest_trackable_value(), in.range(0, 1000));
      case 2:
        return l.highest_trackable_value() + in.range(0, 1000);
      case 3:
        return in.integral<std::uint64_t>();
      default:
        return in.integral<std::uint64_t>() >> in.range(0, 63);
    }
  };

  // The values whose slots are checked after an operation: the one just
  // recorded, else the extremes; all of them (up to 64) at the end.
  auto extremes = [](const model& m) {
    return m.values.empty() ? std::vector<std::uint64_t>{0}
                            : std::vector<std::uint64_t>{m.values.begin()->first, m.values.rbegin()->first};
  };
  auto sample = [](const model& m) {
    std::vector<std::uint64_t> all;
    for (const auto& [v, n] : m.values) all.push_back(v);
    std::vector<std::uint64_t> some{0};
    for (std::size_t i = 0; i < all.size(); i += all.size() / 64 + 1) some.push_back(all[i]);
    return some;
  };
  const std::uint64_t top_of_layout = layout.highest_trackable_value();

  unsigned ops = 0;
  while (!in.empty()) {
    const char* op = "";
    std::vector<std::uint64_t> probes;
    switch (in.byte() % 8) {
      case 0:
      case 1: {
        op = "record";
        const std::uint64_t v = value(layout);
        h.record(v);
        mh.record(layout, v, 1);
        probes = {std::min(v, top_of_layout)};
        break;
      }
      case 2: {
        op = "record(value, count)";
        const std::uint64_t v = value(layout), n = in.range(0, 1000);
        h.record(v, n);
        mh.record(layout, v, n);
        probes = {std::min(v, top_of_layout)};
        break;
      }
      case 3: {  // fill the histogram to merge from (same layout)
        op = "record into the second histogram";
        const std::uint64_t v = value(layout), n = in.range(0, 3);
        same.record(v, n);
        msame.record(layout, v, n);
        break;
      }
      case 4: {  // fill the histogram of another layout
        op = "record into the third histogram";
        const std::uint64_t v = value(other_layout), n = in.range(0, 3);
        other.record(v, n);
        mother.record(other_layout, v, n);
        break;
      }
      case 5: {
        op = "add (same layout)";
        h.add(same);
        for (const auto& [v, n] : msame.values) mh.values[v] += n;
        mh.total += msame.total;
        mh.clamped += msame.clamped;
        if (msame.total) {
          mh.min = std::min(mh.min, msame.min);
          mh.max = std::max(mh.max, msame.max);
        }
        break;
      }
      case 6: {
        op = "add (another layout)";
        h.add(other);
        // Each of other's slots, recorded here at its lowest value, or at
        // other's min if that is higher.
        std::map<std::uint64_t, std::uint64_t> slots;
        for (const auto& [v, n] : mother.values)
          slots[std::max(other_layout.lowest_equivalent(v), mother.min)] += n;
        for (const auto& [lo, n] : slots) mh.record(layout, lo, n, /*extremes=*/false);
        mh.clamped += mother.clamped;
        if (mother.total) {
          mh.min = std::min(mh.min, std::min(mother.min, layout.highest_trackable_value()));
          mh.max = std::max(mh.max, std::min(mother.max, layout.highest_trackable_value()));
        }
        break;
      }
      case 7: {
        op = "reset";
        h.reset();
        mh = model{};
        break;
      }
    }
    const bool full = ++ops % 16 == 0;
    check(h, mh, op, probes.empty() ? extremes(mh) : probes, full);
    if (full) check_percentile(h, mh, static_cast<double>(in.range(0, 100'000)) / 1000.0);
  }
  check(h, mh, "the end", sample(mh), true);
  check(same, msame, "the second histogram's records", sample(msame), true);
  check(other, mother, "the third histogram's records", sample(mother), true);
  for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) check_percentile(h, mh, p);
  return 0;
}
