#pragma once
// HdrHistogram's interval log ("histogram log format version 1.3"), the
// text file HistogramLogAnalyzer, the Java HistogramLogReader and the
// Python/JS/Go/Rust ports read (docs/design/histogram.md, "File formats"):
//
//   #[Histogram log format version 1.3]
//   #[StartTime: 1764266400.000 (seconds since epoch), Thu Nov 27 18:00:00 UTC 2025]
//   #[BaseTime: 1764266400.000 (seconds since epoch)]
//   "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//   0.000,1.000,1.234,HISTFAAAAC...           one line per interval
//   Tag=db,1.000,1.000,0.456,HISTFAAAAC...   optionally tagged
//
// Each interval line: start (seconds, relative to BaseTime if one was
// written), length (seconds), the interval's max divided by
// max_value_unit_ratio (1e6: ns shown as ms), and the base64 of the
// compressed V2 encoding (histogram_codec.hpp). troupe adds one comment,
// "#[Clamped: N]", before an interval that had clamped values: readers that
// do not know it skip it as a comment; troupe's reader restores clamped().
//
// Neither class is thread-safe: one thread uses a writer or reader at a time.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "troupe/runtime/histogram.hpp"

namespace troupe::hdr {

class log_writer {
 public:
  // Writes to `out`, which must outlive the writer.
  explicit log_writer(std::ostream& out) : out_(&out) {}

  // The usual header: format version, start time, base time equal to the
  // start time (so interval timestamps are seconds since `start`), legend.
  void write_header(std::chrono::system_clock::time_point start);

  void write_comment(std::string_view text);  // "#" + text (no line breaks)
  void write_format_version();                // #[Histogram log format version 1.3]
  void write_start_time(std::chrono::system_clock::time_point t);
  void write_base_time(std::chrono::system_clock::time_point t);
  void write_legend();

  // One interval line. `tag` may not contain ',', ' ', '\r' or '\n'
  // (troupe::error, invalid_argument). Throws std::ios_base::failure only
  // if the stream does (its exceptions mask).
  void write_interval(const histogram& h, double start_seconds, double length_seconds,
                      std::string_view tag = {}, double max_value_unit_ratio = 1e6);

 private:
  std::ostream* out_;
};

struct log_interval {
  std::string tag;       // empty if the line had none
  double start_seconds;  // absolute: the logged start plus the base time
  double length_seconds;
  double logged_max;  // the Interval_Max field, as written
  histogram values;   // decoded; clamped() from a "#[Clamped: N]" comment
};

class log_reader {
 public:
  // Reads from `in`, which must outlive the reader.
  explicit log_reader(std::istream& in) : in_(&in) {}

  // The next interval, or nullopt at the end of the input. Comments and the
  // legend are skipped; StartTime and BaseTime are remembered. Timestamps
  // follow HdrHistogram's reader: without a BaseTime, logged timestamps more
  // than a year before the StartTime are taken as relative to it, others as
  // absolute. Throws troupe::error (invalid_argument) naming the line on a
  // malformed interval line or histogram.
  std::optional<log_interval> next();

  // The StartTime seen so far (seconds since the epoch), or the first
  // interval's start if there was none.
  std::optional<double> start_time_seconds() const { return start_time_; }
  std::optional<double> base_time_seconds() const { return base_time_; }

 private:
  std::istream* in_;
  std::size_t line_number_ = 0;
  std::optional<double> start_time_;
  std::optional<double> base_time_;
  std::uint64_t pending_clamped_ = 0;
};

}  // namespace troupe::hdr
