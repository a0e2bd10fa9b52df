// HdrHistogram's V2 encoding, base64, the interval log (troupe's writer and
// reader, and a log written by HdrHistogram's own Java writer) and the JSON
// export. The Java library reading troupe's logs: hdr_reader/.

#include "troupe/runtime/histogram_log.hpp"

#include <bit>
#include <chrono>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "troupe/runtime/error.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/histogram_codec.hpp"
#include "troupe/runtime/histogram_json.hpp"

namespace {

using u64 = std::uint64_t;
using bytes = std::vector<std::uint8_t>;

bytes slice(const bytes& b, std::size_t from, std::size_t n) {
  return bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(from + n));
}

// Slot by slot, and the totals; min and max to the layout's precision (the
// encoding carries counts only).
void expect_same_counts(const troupe::histogram& got, const troupe::histogram& want) {
  ASSERT_TRUE(got.layout() == want.layout());
  ASSERT_EQ(got.count(), want.count());
  for (std::size_t i = 0; i < want.counts_length(); ++i)
    ASSERT_EQ(got.count_at_index(i), want.count_at_index(i)) << i;
  if (!want.empty()) {
    EXPECT_EQ(got.min(), want.layout().lowest_equivalent(want.min()));
    EXPECT_EQ(got.max(), want.layout().highest_equivalent(want.max()));
  }
}

TEST(HistogramCodecTest, V2HeaderAndCountsAreHdrHistogramsBytes) {
  troupe::histogram h(1, 1'000'000, 2);
  h.record(1);
  h.record(3, 2);
  h.record(14, 300);  // LEB128 of ZigZag(300) = 600: 0xd8 0x04
  const bytes b = troupe::hdr::encode(h);
  const bytes header = {0x1c, 0x84, 0x93, 0x13,                           // V2 cookie
                        0x00, 0x00, 0x00, 0x07,                           // payload length
                        0x00, 0x00, 0x00, 0x00,                           // normalizing offset
                        0x00, 0x00, 0x00, 0x02,                           // digits
                        0,    0,    0,    0,    0,    0,    0,    1,      // lowest
                        0,    0,    0,    0,    0,    0x0f, 0x42, 0x40,   // highest: 1,000,000
                        0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};  // 1.0
  ASSERT_EQ(b.size(), 40u + 7u);
  EXPECT_EQ(slice(b, 0, 40), header);
  // Slots 0..14: 0 -> 0x00 (a lone empty slot is a plain 0), 1 -> 0x02,
  // empty -> 0x00, 2 -> 0x04, ten empty -> ZigZag(-10) = 19 = 0x13,
  // 300 -> 0xd8 0x04; nothing after the max's slot.
  EXPECT_EQ(slice(b, 40, 7), (bytes{0x00, 0x02, 0x00, 0x04, 0x13, 0xd8, 0x04}));
}

TEST(HistogramCodecTest, EmptyHistogramEncodesOneEmptySlot) {
  troupe::histogram h(1, 1000, 1);
  const bytes b = troupe::hdr::encode(h);
  ASSERT_EQ(b.size(), 41u);
  EXPECT_EQ(b[40], 0x00);
  troupe::histogram back = troupe::hdr::decode(b);
  EXPECT_TRUE(back.empty());
  EXPECT_TRUE(back.layout() == h.layout());
}

TEST(HistogramCodecTest, RoundTripsEveryDigitsSettingAndHugeCounts) {
  std::mt19937_64 rng(5);
  for (int digits = 0; digits <= 5; ++digits) {
    troupe::histogram h(1, u64{1} << 40, digits);
    for (int i = 0; i < 20'000; ++i) h.record(rng() >> (24 + rng() % 40));
    h.record(12345, u64{1} << 62);  // a 9-byte LEB128
    SCOPED_TRACE(digits);
    expect_same_counts(troupe::hdr::decode(troupe::hdr::encode(h)), h);
    expect_same_counts(troupe::hdr::decode_compressed(troupe::hdr::encode_compressed(h)), h);
  }
}

TEST(HistogramCodecTest, MalformedInputThrows) {
  troupe::histogram h(1, 1'000'000, 3);
  h.record(1000);
  h.record(50'000);
  const bytes good = troupe::hdr::encode(h);
  auto throws = [](auto f) {
    try {
      f();
    } catch (const troupe::error& e) {
      return e.code() == troupe::errc::invalid_argument;
    }
    return false;
  };
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(slice(good, 0, 39)); }));  // short header
  bytes b = good;
  b[3] = 0x00;  // another cookie
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(b); }));
  b = good;
  b[7] += 5;  // payload longer than the input
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(b); }));
  b = good;
  b.back() = 0x80;  // ends inside a count
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(b); }));
  b = slice(good, 0, 40);  // a run of empty slots past the end
  b.push_back(0xff);
  b.push_back(0xff);
  b.push_back(0x7f);
  b[7] = 3;
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(b); }));
  b = good;
  b[15] = 7;  // 7 significant digits
  EXPECT_TRUE(throws([&] { troupe::hdr::decode(b); }));
  bytes c = troupe::hdr::encode_compressed(h);
  c[12] ^= 0xff;  // corrupt the zlib stream
  EXPECT_TRUE(throws([&] { troupe::hdr::decode_compressed(c); }));
  EXPECT_TRUE(throws([&] { troupe::hdr::decode_compressed(good); }));  // not compressed
  EXPECT_TRUE(throws([&] { troupe::hdr::base64_decode("abc"); }));
  EXPECT_TRUE(throws([&] { troupe::hdr::base64_decode("ab!="); }));
}

TEST(HistogramCodecTest, Base64IsRfc4648) {
  auto enc = [](std::string s) { return troupe::hdr::base64_encode(bytes(s.begin(), s.end())); };
  auto dec = [](std::string s) {
    bytes b = troupe::hdr::base64_decode(s);
    return std::string(b.begin(), b.end());
  };
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(enc(plain), coded);
    EXPECT_EQ(dec(coded), plain);
  }
}

// ---------------------------------------------------------------------------
// A log written by HdrHistogram 2.1.11's own HistogramLogWriter
// (`java HdrLogReader write` in hdr_reader/): interval 1 holds 1..1000 and
// 7 x 123456789 at (1, 1 h, 3 digits); interval 2, tagged "db", 300 x 5000
// and one 42 at (1000, 1 h, 2 digits).
constexpr const char* java_log = R"(#[Histogram log format version 1.3]
#[StartTime: 1764266400.000 (seconds since epoch), Thu Nov 27 18:00:00 UTC 2025]
#[BaseTime: 1764266400.000 (seconds since epoch)]
"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
0.000,1.000,123.470,HISTFAAAAC142pNpmSzMwMD8lgECmKE0I5DpZrBjAYP9B6gI0ygYBaNg2IPHvUx8AGKUDos=
Tag=db,1.000,1.500,0.005,HISTFAAAACV42pNpmSzMwMDAwgABTBCK+QUQuxnsWMBg/wEqwX+DBQB0+gYl
)";

TEST(HistogramLogTest, ReadsALogWrittenByHdrHistogramsJavaWriter) {
  std::istringstream in(java_log);
  troupe::hdr::log_reader reader(in);
  auto a = reader.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->tag, "");
  EXPECT_DOUBLE_EQ(a->start_seconds, 1764266400.0);
  EXPECT_DOUBLE_EQ(a->length_seconds, 1.0);
  EXPECT_DOUBLE_EQ(a->logged_max, 123.470);
  troupe::histogram want_a(1, 3'600'000'000'000, 3);
  for (u64 v = 1; v <= 1000; ++v) want_a.record(v);
  want_a.record(123'456'789, 7);
  expect_same_counts(a->values, want_a);
  // The figures Java printed for it (HdrLogReader write).
  EXPECT_EQ(a->values.value_at_percentile(50.0), 504u);
  EXPECT_EQ(a->values.value_at_percentile(99.0), 997u);
  EXPECT_EQ(a->values.layout().lowest_equivalent(a->values.value_at_percentile(99.9)), 123'404'288u);
  EXPECT_EQ(std::bit_cast<std::int64_t>(a->values.mean()), 4695622100794917303);
  EXPECT_EQ(std::bit_cast<std::int64_t>(a->values.stddev()), 4711767572708276434);
  // troupe's V2 bytes for the same values are Java's, byte for byte.
  const std::string java_payload = "HISTFAAAAC142pNpmSzMwMD8lgECmKE0I5DpZrBjAYP9B6gI0ygYBaNg2IPHvUx8AGKUDos=";
  EXPECT_TRUE(troupe::hdr::decode_compressed(troupe::hdr::base64_decode(java_payload)) == a->values);
  const bytes java_plain =
      troupe::hdr::encode(troupe::hdr::decode_compressed(troupe::hdr::base64_decode(java_payload)));
  EXPECT_EQ(troupe::hdr::encode(want_a), java_plain);

  auto b = reader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->tag, "db");
  EXPECT_DOUBLE_EQ(b->start_seconds, 1764266401.0);
  EXPECT_DOUBLE_EQ(b->length_seconds, 1.5);
  troupe::histogram want_b(1000, 3'600'000'000'000, 2);
  want_b.record(5000, 300);
  want_b.record(42);
  expect_same_counts(b->values, want_b);
  EXPECT_EQ(b->values.min(), 0u);
  EXPECT_EQ(std::bit_cast<std::int64_t>(b->values.mean()), 4662053206867961468);
  EXPECT_FALSE(reader.next());
}

TEST(HistogramLogTest, RoundTripsThroughTroupesReader) {
  using namespace std::chrono;
  const system_clock::time_point start{milliseconds(1'764'266'400'123)};
  troupe::histogram quiet(1, 3'600'000'000'000, 3);
  troupe::histogram busy(1, 3'600'000'000'000, 3);
  std::mt19937_64 rng(8);
  std::lognormal_distribution<double> dist(12.0, 1.5);
  for (int i = 0; i < 100'000; ++i) busy.record(static_cast<u64>(dist(rng)));
  busy.record(4'000'000'000'000, 3);  // clamped
  troupe::histogram empty(1, 3'600'000'000'000, 3);

  std::ostringstream out;
  troupe::hdr::log_writer w(out);
  w.write_comment("[Logged with troupe histogram_log_test]");
  w.write_header(start);
  w.write_interval(busy, 0.0, 1.0);
  w.write_interval(quiet, 1.0, 1.0, "quiet");
  w.write_interval(empty, 2.0, 0.5);
  const std::string text = out.str();
  EXPECT_NE(text.find("#[StartTime: 1764266400.123 (seconds since epoch), Thu Nov 27 18:00:00 UTC 2025]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("#[BaseTime: 1764266400.123 (seconds since epoch)]"), std::string::npos);
  EXPECT_NE(
      text.find(
          "\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"),
      std::string::npos);
  // The max, clamped to 1 h, to its precision in ms: (1676 + 1) * 2^31 - 1 ns.
  EXPECT_NE(text.find("#[Clamped: 3]\n0.000,1.000,3601330.078,HISTFAAA"), std::string::npos) << text;
  EXPECT_NE(text.find("\nTag=quiet,1.000,1.000,0.000,HISTFAAA"), std::string::npos);

  std::istringstream in(text);
  troupe::hdr::log_reader r(in);
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(a->start_seconds, 1764266400.123);
  expect_same_counts(a->values, busy);
  EXPECT_EQ(a->values.clamped(), 3u);
  EXPECT_EQ(a->values.value_at_percentile(99.0),
            busy.layout().highest_equivalent(busy.value_at_percentile(99.0)));
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->tag, "quiet");
  EXPECT_DOUBLE_EQ(b->start_seconds, 1764266401.123);
  EXPECT_TRUE(b->values.empty());
  EXPECT_EQ(b->values.clamped(), 0u);
  auto c = r.next();
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->length_seconds, 0.5);
  EXPECT_FALSE(r.next());
  ASSERT_TRUE(r.start_time_seconds());
  EXPECT_DOUBLE_EQ(*r.start_time_seconds(), 1764266400.123);
}

TEST(HistogramLogTest, TimestampsWithoutBaseTimeFollowHdrHistogramsReader) {
  troupe::histogram h(1, 1000, 2);
  h.record(5);
  std::ostringstream out;
  troupe::hdr::log_writer w(out);
  w.write_start_time(std::chrono::system_clock::time_point{std::chrono::seconds(1'700'000'000)});
  w.write_interval(h, 3.0, 1.0);  // long before the start: relative
  std::istringstream in(out.str());
  troupe::hdr::log_reader r(in);
  EXPECT_DOUBLE_EQ(r.next()->start_seconds, 1'700'000'003.0);

  std::ostringstream abs_out;
  troupe::hdr::log_writer aw(abs_out);
  aw.write_interval(h, 1'700'000'005.0, 1.0);  // no StartTime at all: absolute
  std::istringstream abs_in(abs_out.str());
  troupe::hdr::log_reader ar(abs_in);
  EXPECT_DOUBLE_EQ(ar.next()->start_seconds, 1'700'000'005.0);
}

TEST(HistogramLogTest, MalformedLinesAndTagsThrow) {
  auto line_error = [](const std::string& text) -> std::string {
    std::istringstream in(text);
    troupe::hdr::log_reader r(in);
    try {
      while (r.next()) {}
    } catch (const troupe::error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(line_error("#c\n0.0,1.0,2.0\n").find("line 2"), std::string::npos);
  EXPECT_NE(line_error("x,1.0,2.0,HISTFAAA\n").find("line 1"), std::string::npos);
  EXPECT_NE(line_error("0.0,1.0,2.0,HISTFAAA\n").find("line 1"), std::string::npos);  // bad histogram
  std::ostringstream out;
  troupe::hdr::log_writer w(out);
  troupe::histogram h(1, 1000, 2);
  EXPECT_THROW(w.write_interval(h, 0, 1, "a,b"), troupe::error);
  EXPECT_THROW(w.write_interval(h, 0, 1, "a b"), troupe::error);
  EXPECT_THROW(w.write_comment("two\nlines"), troupe::error);
}

// ---------------------------------------------------------------------------

TEST(HistogramJsonTest, ParsesWithEveryFigure) {
  troupe::histogram h(1, 3'600'000'000'000, 3);
  for (u64 v = 1; v <= 10'000; ++v) h.record(v * 1000);
  h.record(~u64{0});
  const auto j = nlohmann::json::parse(troupe::to_json(h));
  EXPECT_EQ(j.at("count").get<u64>(), h.count());
  EXPECT_EQ(j.at("min").get<u64>(), 1000u);
  EXPECT_EQ(j.at("max").get<u64>(), 3'600'000'000'000u);
  EXPECT_DOUBLE_EQ(j.at("mean").get<double>(), h.mean());
  EXPECT_DOUBLE_EQ(j.at("stddev").get<double>(), h.stddev());
  EXPECT_EQ(j.at("clamped").get<u64>(), 1u);
  EXPECT_EQ(j.at("lowest_discernible_value").get<u64>(), 1u);
  EXPECT_EQ(j.at("highest_trackable_value").get<u64>(), 3'600'000'000'000u);
  EXPECT_EQ(j.at("significant_digits").get<int>(), 3);
  const auto& table = j.at("percentiles");
  ASSERT_EQ(table.size(), std::size(troupe::default_json_percentiles));
  for (std::size_t i = 0; i < table.size(); ++i) {
    const double p = table[i].at("percentile").get<double>();
    EXPECT_EQ(p, troupe::default_json_percentiles[i]);
    EXPECT_EQ(table[i].at("value").get<u64>(), h.value_at_percentile(p));
  }
  // A chosen table, pretty-printed.
  const double mine[] = {50.0};
  const auto k = nlohmann::json::parse(troupe::to_json(h, mine, 2));
  ASSERT_EQ(k.at("percentiles").size(), 1u);
  EXPECT_EQ(k["percentiles"][0]["value"].get<u64>(), h.value_at_percentile(50.0));
  // Empty: zeros, still valid.
  const auto e = nlohmann::json::parse(troupe::to_json(troupe::histogram(1, 1000, 1)));
  EXPECT_EQ(e.at("count").get<u64>(), 0u);
  EXPECT_EQ(e.at("percentiles")[0].at("value").get<u64>(), 0u);
}

}  // namespace
