// The troupe side of the Java reader test (CMakeLists.txt here): writes an
// interval log and a set of layouts for HdrLogReader.java to read, and the
// figures troupe expects it to report, in its output format.
//
//   hdr_log_writer DIR   writes DIR/troupe.hlog, DIR/expected_read.txt,
//                        DIR/layouts.txt, DIR/expected_layouts.txt
//
// The log's intervals come from a histogram_recorder with three writers, so
// the test covers the whole path a service would use. Expected figures are
// those of troupe's own histograms before encoding (a value printed as the
// lowest value equivalent to it, a double as its IEEE bits); the timestamps
// are what troupe's reader makes of the log. Exits non-zero if troupe's
// reader disagrees with troupe's figures.

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "troupe/runtime/error.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/histogram_log.hpp"
#include "troupe/runtime/histogram_recorder.hpp"

namespace {

using u64 = std::uint64_t;

constexpr double percentiles[] = {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0};

void print(std::ostream& out, const troupe::histogram& h) {
  const auto& l = h.layout();
  out << "layout " << h.lowest_discernible_value() << ' ' << h.highest_trackable_value() << ' '
      << h.significant_digits() << '\n';
  out << "count " << h.count() << '\n';
  if (!h.empty()) {
    out << "min " << l.lowest_equivalent(h.min()) << '\n';
    out << "max " << l.lowest_equivalent(h.max()) << '\n';
  }
  out << "mean_bits " << std::bit_cast<std::int64_t>(h.mean()) << '\n';
  out << "stddev_bits " << std::bit_cast<std::int64_t>(h.stddev()) << '\n';
  for (double p : percentiles) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", p);
    out << "p " << buf << ' ' << l.lowest_equivalent(h.value_at_percentile(p)) << '\n';
  }
  h.for_each_recorded(
      [&](const troupe::histogram_bucket& b) { out << "slot " << b.lowest << ' ' << b.count << '\n'; });
}

struct interval {
  std::string tag;
  double start, length;
  troupe::histogram values;
};

std::vector<interval> make_intervals() {
  troupe::histogram_recorder rec(1, 3'600'000'000'000, 3);
  std::vector<troupe::histogram_recorder::writer> writers;
  for (int i = 0; i < 3; ++i) writers.push_back(rec.make_writer());
  std::mt19937_64 rng(2026);
  auto u64_of = [](double x) { return x <= 0 ? u64{0} : static_cast<u64>(x); };
  std::vector<interval> out;
  auto take = [&](std::string tag, double start, double length) {
    out.push_back({std::move(tag), start, length, rec.take_interval()});
  };
  // 1 s of log-normal latencies from three writers.
  std::lognormal_distribution<double> lognormal(11.0, 1.2);
  for (int i = 0; i < 300'000; ++i) writers[static_cast<std::size_t>(i % 3)].record(u64_of(lognormal(rng)));
  take("", 0.0, 1.0);
  // Exponential, with a few values above the hour (clamped).
  std::exponential_distribution<double> expo(1e-6);
  for (int i = 0; i < 200'000; ++i) writers[static_cast<std::size_t>(i % 2)].record(u64_of(expo(rng)));
  writers[2].record(5'000'000'000'000, 4);
  take("", 1.0, 1.0);
  // Nothing recorded.
  take("", 2.0, 1.0);
  // Bimodal, tagged.
  std::normal_distribution<double> fast(2e4, 2e3), slow(5e7, 5e6);
  for (int i = 0; i < 100'000; ++i) writers[0].record(u64_of(i % 20 == 0 ? slow(rng) : fast(rng)));
  take("bimodal", 3.0, 0.5);
  // Uniform over six decades, from a writer that is then destroyed.
  std::uniform_int_distribution<u64> uniform(0, 1'000'000'000);
  for (int i = 0; i < 100'000; ++i) writers[1].record(uniform(rng));
  writers.pop_back();
  writers.erase(writers.begin() + 1);
  take("", 3.5, 1.0);
  return out;
}

bool write_log(const std::string& dir) {
  const std::vector<interval> intervals = make_intervals();
  std::ostringstream log;
  troupe::hdr::log_writer w(log);
  w.write_comment("[Logged by troupe's hdr_log_writer]");
  w.write_header(std::chrono::system_clock::time_point{std::chrono::milliseconds(1'764'266'400'250)});
  for (const auto& iv : intervals) w.write_interval(iv.values, iv.start, iv.length, iv.tag);
  std::ofstream(dir + "/troupe.hlog") << log.str();

  // Expected: troupe's figures, and the timestamps as troupe's reader sees them.
  std::istringstream in(log.str());
  troupe::hdr::log_reader reader(in);
  std::ostringstream expected;
  troupe::histogram sum(intervals.front().values.layout());
  bool ok = true;
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    auto read = reader.next();
    if (!read) {
      std::cerr << "hdr_log_writer: troupe's reader found only " << i << " intervals\n";
      return false;
    }
    const auto start_ms = static_cast<std::int64_t>(read->start_seconds * 1000.0);
    const auto end_ms = static_cast<std::int64_t>((read->start_seconds + read->length_seconds) * 1000.0);
    expected << "interval " << i << " tag=" << (read->tag.empty() ? "-" : read->tag)
             << " start_ms=" << start_ms << " end_ms=" << end_ms << '\n';
    print(expected, intervals[i].values);
    std::ostringstream mine, back;
    print(mine, intervals[i].values);
    print(back, read->values);
    if (mine.str() != back.str() || read->values.clamped() != intervals[i].values.clamped()) {
      std::cerr << "hdr_log_writer: interval " << i << " reads back differently through troupe's reader\n";
      ok = false;
    }
    sum.add(intervals[i].values);
  }
  if (reader.next()) {
    std::cerr << "hdr_log_writer: troupe's reader found more intervals than were written\n";
    return false;
  }
  expected << "intervals " << intervals.size() << '\n' << "sum\n";
  print(expected, sum);
  std::ofstream(dir + "/expected_read.txt") << expected.str();
  return ok;
}

void write_layouts(const std::string& dir) {
  std::ofstream params(dir + "/layouts.txt");
  std::ofstream expected(dir + "/expected_layouts.txt");
  constexpr u64 top = std::numeric_limits<std::int64_t>::max();
  for (int k = 0; k <= 61; ++k) {
    for (int d = -1; d <= 1; ++d) {
      const std::int64_t signed_lowest = (std::int64_t{1} << k) + d;
      if (signed_lowest < 1 || static_cast<u64>(signed_lowest) > top / 2) continue;
      const auto lowest = static_cast<u64>(signed_lowest);
      for (int digits = 0; digits <= 5; ++digits) {
        for (u64 highest : {2 * lowest, lowest > (top >> 20) ? top : lowest << 20}) {
          try {
            troupe::histogram_layout l(lowest, highest, digits);
            params << lowest << ' ' << highest << ' ' << digits << '\n';
            expected << lowest << ' ' << highest << ' ' << digits << " slots " << l.counts_length()
                     << " unit " << l.size_of_equivalent_range(0) << " top " << l.lowest_equivalent(highest)
                     << '\n';
          } catch (const troupe::error&) {
            // Not a valid triple for troupe; HdrHistogram refuses it too
            // (2^unit x sub-buckets beyond 62 bits).
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hdr_log_writer DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  write_layouts(dir);
  return write_log(dir) ? 0 : 1;
}
