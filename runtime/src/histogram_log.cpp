// HdrHistogram's interval log: writer and reader (histogram_log.hpp).
// Follows HistogramLogWriter.java, HistogramLogScanner.java and
// HistogramLogReader.java of HdrHistogram 2.1.x.

#include "troupe/runtime/histogram_log.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <istream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "histogram_access.hpp"

#include "troupe/runtime/error.hpp"
#include "troupe/runtime/histogram_codec.hpp"

namespace troupe::hdr {

namespace {

constexpr std::string_view format_version = "1.3";
constexpr std::string_view legend =
    R"("StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram")";

// "%.3f" without the C locale's say (a comma decimal point would break the
// comma-separated line).
std::string fixed3(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  if (ec != std::errc{}) return "0.000";
  return std::string(buf, end);
}

double seconds_since_epoch(std::chrono::system_clock::time_point t) {
  // Whole milliseconds, as Java's writer takes them.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return static_cast<double>(ms) / 1000.0;
}

// java.util.Date.toString() in UTC: "Thu Nov 27 18:00:00 UTC 2025". Readers
// do not parse it; it is for people.
std::string date_string(std::chrono::system_clock::time_point t) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %s %02d %02d:%02d:%02d UTC %d", days[tm.tm_wday], months[tm.tm_mon],
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
  return buf;
}

[[noreturn]] void bad_line(std::size_t line, const std::string& what) {
  throw error(errc::invalid_argument, "hdr::log_reader: line " + std::to_string(line) + ": " + what);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Leading spaces skipped; the number must be followed by the end or a space.
std::optional<double> parse_double(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  double v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || (end != s.data() + s.size() && *end != ' ')) return std::nullopt;
  return v;
}

}  // namespace

void log_writer::write_header(std::chrono::system_clock::time_point start) {
  write_format_version();
  write_start_time(start);
  write_base_time(start);
  write_legend();
}

void log_writer::write_comment(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos)
    throw error(errc::invalid_argument,
                "hdr::log_writer::write_comment: a comment may not contain a line break");
  *out_ << '#' << text << '\n';
}

void log_writer::write_format_version() {
  *out_ << "#[Histogram log format version " << format_version << "]\n";
}

void log_writer::write_start_time(std::chrono::system_clock::time_point t) {
  *out_ << "#[StartTime: " << fixed3(seconds_since_epoch(t)) << " (seconds since epoch), " << date_string(t)
        << "]\n";
}

void log_writer::write_base_time(std::chrono::system_clock::time_point t) {
  *out_ << "#[BaseTime: " << fixed3(seconds_since_epoch(t)) << " (seconds since epoch)]\n";
}

void log_writer::write_legend() { *out_ << legend << '\n'; }

void log_writer::write_interval(const histogram& h, double start_seconds, double length_seconds,
                                std::string_view tag, double max_value_unit_ratio) {
  if (tag.find_first_of(", \r\n") != std::string_view::npos)
    throw error(errc::invalid_argument,
                "hdr::log_writer::write_interval: a tag may not contain commas, spaces or line breaks");
  const std::string payload = base64_encode(encode_compressed(h, 9));
  // HdrHistogram logs the max to its precision (getMaxValue).
  const double max = h.empty() ? 0.0 : static_cast<double>(h.layout().highest_equivalent(h.max()));
  if (h.clamped() > 0) *out_ << "#[Clamped: " << h.clamped() << "]\n";
  if (!tag.empty()) *out_ << "Tag=" << tag << ',';
  *out_ << fixed3(start_seconds) << ',' << fixed3(length_seconds) << ',' << fixed3(max / max_value_unit_ratio)
        << ',' << payload << '\n';
}

std::optional<log_interval> log_reader::next() {
  std::string line;
  while (std::getline(*in_, line)) {
    ++line_number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view rest = line;
    auto fail = [this](const std::string& what) { bad_line(line_number_, what); };
    if (rest.empty()) continue;
    if (rest.front() == '#') {
      if (starts_with(rest, "#[StartTime:")) {
        if (auto v = parse_double(rest.substr(12))) start_time_ = *v;
      } else if (starts_with(rest, "#[BaseTime:")) {
        if (auto v = parse_double(rest.substr(11))) base_time_ = *v;
      } else if (starts_with(rest, "#[Clamped:")) {
        std::string_view n = rest.substr(10);
        while (!n.empty() && n.front() == ' ') n.remove_prefix(1);
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (ec != std::errc{}) fail("malformed #[Clamped: N] comment");
        pending_clamped_ = v;
      }
      continue;
    }
    if (starts_with(rest, "\"StartTimestamp\"")) continue;

    std::string tag;
    if (starts_with(rest, "Tag=")) {
      const std::size_t comma = rest.find(',');
      if (comma == std::string_view::npos) fail("a tag without an interval");
      tag = std::string(rest.substr(4, comma - 4));
      rest.remove_prefix(comma + 1);
    }
    // Fields are separated by commas or spaces (HdrHistogram's scanner).
    std::vector<std::string_view> fields;
    for (std::size_t pos = 0; pos <= rest.size();) {
      const std::size_t end = std::min(rest.find_first_of(", ", pos), rest.size());
      if (end > pos) fields.push_back(rest.substr(pos, end - pos));
      pos = end + 1;
    }
    if (fields.size() < 4)
      fail("expected StartTimestamp,Interval_Length,Interval_Max,Interval_Compressed_Histogram");
    const auto start = parse_double(fields[0]);
    const auto length = parse_double(fields[1]);
    const auto max = parse_double(fields[2]);
    if (!start || !length || !max) bad_line(line_number_, "a timestamp, length or max that is not a number");

    if (!start_time_) start_time_ = *start;  // no StartTime: the first interval's
    if (!base_time_) {
      // No BaseTime: a timestamp more than a year before the start time is
      // relative to it; otherwise timestamps are absolute.
      base_time_ = *start < *start_time_ - 365 * 24 * 3600.0 ? *start_time_ : 0.0;
    }
    try {
      histogram h = decode_compressed(base64_decode(fields[3]));
      detail::histogram_access::add_clamped(h, std::exchange(pending_clamped_, 0));
      return log_interval{std::move(tag), *start + *base_time_, *length, *max, std::move(h)};
    } catch (const error& e) {
      bad_line(line_number_, e.what());
    }
  }
  return std::nullopt;
}

}  // namespace troupe::hdr
