// Reports: interval reports as they close, the JSON result file parsed back
// field by field, and the HDR interval log read back through
// troupe::hdr::log_reader.

#include "troupe/load/report.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "virtual_service.hpp"

#include "troupe/load/generator.hpp"
#include "troupe/runtime/histogram_log.hpp"

namespace {

using namespace std::chrono_literals;
namespace load = troupe::load;
using load::outcome;
using load::testing::drive;
using load::testing::make_clock;
using load::testing::reply;
using load::testing::virtual_service;

// 100 req/s for 3 s against a service that answers in 5 ms, except every
// 10th request (id % 10 == 9), which it sheds at once, and every 25th
// (id % 25 == 12, the last at 2.87 s), which it never answers (given up at
// the 50 ms timeout, well inside the run).
struct scenario {
  std::vector<load::interval_report> seen;  // by on_interval, as they closed
  std::ostringstream hdr;
  load::result result;

  explicit scenario(bool closed = false) {
    auto clk = make_clock();
    virtual_service svc(clk, [](const load::request& r, auto) -> std::optional<reply> {
      if (r.id % 25 == 12) return std::nullopt;
      if (r.id % 10 == 9) return reply{0ms, outcome::overloaded};
      return reply{5ms, outcome::ok};
    });
    load::run_options opts{.timeout = 50ms, .interval = 1s, .clock = clk};
    opts.on_interval = [this](const load::interval_report& r) { seen.push_back(r); };
    opts.hdr_log = &hdr;
    if (closed) {
      load::generator g(load::closed_loop{2, 3s, 100}, svc.as_target(), opts);
      EXPECT_TRUE(drive(g, *clk, svc));
      result = g.take_result();
    } else {
      load::generator g(load::open_loop{load::plan::constant(100, 3s)}, svc.as_target(), opts);
      EXPECT_TRUE(drive(g, *clk, svc));
      result = g.take_result();
    }
  }
};

TEST(Report, IntervalsCloseInOrderWithTheirCounts) {
  scenario s;
  const load::result& r = s.result;
  ASSERT_EQ(r.intervals.size(), 3u);
  ASSERT_EQ(s.seen.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& iv = r.intervals[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(s.seen[i].index, i) << "on_interval saw them in order";
    EXPECT_EQ(s.seen[i].n, iv.n);
    EXPECT_EQ(iv.index, i);
    EXPECT_EQ(iv.start, i * 1s);
    EXPECT_EQ(iv.length, 1s);
    EXPECT_EQ(iv.target_rate, 100);
    EXPECT_EQ(iv.n.offered, 100u);
    EXPECT_EQ(iv.n.completed(), iv.latency.count);
    EXPECT_EQ(iv.max_lag, 0ms);
    EXPECT_EQ(iv.behind, 0ms);
  }
  // Over the run: ids 0..299.
  std::uint64_t never = 0, shed = 0;
  for (std::uint64_t id = 0; id < 300; ++id) {
    if (id % 25 == 12) {
      ++never;
    } else if (id % 10 == 9) {
      ++shed;
    }
  }
  EXPECT_EQ(r.total.timed_out, never);
  EXPECT_EQ(r.given_up, never);
  EXPECT_EQ(r.total.shed, shed);
  EXPECT_EQ(r.total.ok, 300 - never - shed);
  EXPECT_EQ(r.total.offered, r.total.completed());
  // The answered ones took 5 ms, the shed ones 0, the given up 50 ms.
  EXPECT_EQ(r.latency.max(), 50'000'000u);
  EXPECT_TRUE(r.latency.layout().equivalent(r.intervals[0].latency.p50, 5'000'000));
}

TEST(Report, ASpikeShowsInTheIntervals) {
  // 100 -> 1,000 -> 100 req/s, a second each: each interval offers what the
  // plan says and carries the plan's rate.
  auto clk = make_clock();
  load::target t = [](load::request r) { r.done(outcome::ok); };
  load::result r = load::run(load::open_loop{load::plan::spike(100, 1000, 1s, 1s, 1s)}, t, {.clock = clk});
  ASSERT_EQ(r.intervals.size(), 3u);
  EXPECT_EQ(r.intervals[0].n.offered, 100u);
  EXPECT_EQ(r.intervals[1].n.offered, 1000u);
  EXPECT_EQ(r.intervals[2].n.offered, 100u);
  EXPECT_EQ(r.intervals[0].target_rate, 100);
  EXPECT_EQ(r.intervals[1].target_rate, 1000);
  EXPECT_EQ(r.intervals[2].target_rate, 100);
  const auto j = nlohmann::json::parse(load::to_json(r));
  EXPECT_EQ(j.at("plan").at("kind"), "spike");
  EXPECT_EQ(j.at("plan").at("stages").size(), 3u);
  EXPECT_EQ(j.at("plan").at("expected_requests"), 1200.0);
}

TEST(Report, JsonParsesBackWithEveryField) {
  scenario s;
  const auto j = nlohmann::json::parse(load::to_json(s.result));
  EXPECT_EQ(j.at("mode"), "open-loop");
  EXPECT_EQ(j.at("plan").at("kind"), "constant");
  EXPECT_EQ(j.at("plan").at("arrivals"), "uniform");
  EXPECT_EQ(j.at("plan").at("stages").at(0).at("rate"), 100.0);
  EXPECT_EQ(j.at("plan").at("stages").at(0).at("length_ns"), 3'000'000'000);
  EXPECT_EQ(j.at("timeout_ns"), 50'000'000);
  EXPECT_EQ(j.at("interval_ns"), 1'000'000'000);
  EXPECT_EQ(j.at("elapsed_ns"), s.result.elapsed.count());
  EXPECT_EQ(j.at("latency_unit"), "ns");
  EXPECT_TRUE(j.at("started_at").is_string());
  ASSERT_EQ(j.at("intervals").size(), 3u);
  std::uint64_t offered = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& iv = j.at("intervals").at(i);
    const auto& want = s.result.intervals[i];
    for (const char* f : {"index", "start_ns", "length_ns", "target_rate", "offered", "completed", "ok",
                          "failed", "shed", "rejected", "timed_out", "given_up", "abandoned", "in_flight",
                          "max_lag_ns", "behind_ns", "latency_ns"})
      EXPECT_TRUE(iv.contains(f)) << f;
    for (const char* f : {"count", "p50", "p90", "p99", "p99.9", "max", "mean"})
      EXPECT_TRUE(iv.at("latency_ns").contains(f)) << f;
    EXPECT_EQ(iv.at("offered"), want.n.offered);
    EXPECT_EQ(iv.at("completed"), want.n.completed());
    EXPECT_EQ(iv.at("shed"), want.n.shed);
    EXPECT_EQ(iv.at("timed_out"), want.n.timed_out);
    EXPECT_EQ(iv.at("latency_ns").at("p99"), want.latency.p99);
    EXPECT_EQ(iv.at("latency_ns").at("max"), want.latency.max);
    offered += iv.at("offered").get<std::uint64_t>();
  }
  const auto& t = j.at("totals");
  EXPECT_EQ(t.at("offered"), offered);
  EXPECT_EQ(t.at("offered"), s.result.total.offered);
  EXPECT_EQ(t.at("completed"), s.result.total.completed());
  EXPECT_EQ(t.at("ok").get<std::uint64_t>() + t.at("failed").get<std::uint64_t>() +
                t.at("shed").get<std::uint64_t>() + t.at("rejected").get<std::uint64_t>() +
                t.at("timed_out").get<std::uint64_t>(),
            t.at("completed").get<std::uint64_t>());
  EXPECT_EQ(t.at("given_up"), s.result.given_up);
  EXPECT_EQ(t.at("latency_ns").at("max"), 50'000'000);
  EXPECT_EQ(j.at("issuer_lag_ns").at("max"), 0);
  EXPECT_EQ(j.at("latency_histogram").at("count"), s.result.latency.count());
  EXPECT_EQ(j.at("latency_histogram").at("significant_digits"), 3);
}

TEST(Report, ClosedLoopIsLabelledEverywhere) {
  scenario s(true);
  const auto j = nlohmann::json::parse(load::to_json(s.result));
  EXPECT_EQ(j.at("mode"), "closed-loop");
  EXPECT_FALSE(j.contains("plan"));
  EXPECT_EQ(j.at("closed_loop").at("workers"), 2);
  EXPECT_EQ(j.at("closed_loop").at("rate"), 100.0);
  EXPECT_NE(j.at("note").get<std::string>().find("not corrected"), std::string::npos);
  EXPECT_NE(load::format_interval_header(load::mode::closed_loop).find("closed-loop"), std::string::npos);
  EXPECT_NE(load::format_summary(s.result).find("closed-loop"), std::string::npos);
  EXPECT_NE(s.hdr.str().find("closed-loop"), std::string::npos);
  EXPECT_EQ(load::format_summary(scenario().result).find("closed-loop"), std::string::npos);
}

TEST(Report, HdrLogReadsBackThroughTheLogReader) {
  scenario s;
  std::istringstream in(s.hdr.str());
  troupe::hdr::log_reader reader(in);
  std::vector<troupe::hdr::log_interval> read;
  while (auto iv = reader.next()) read.push_back(std::move(*iv));
  ASSERT_EQ(read.size(), s.result.intervals.size());
  ASSERT_TRUE(reader.base_time_seconds());
  troupe::histogram sum = load::make_latency_histogram();
  for (std::size_t i = 0; i < read.size(); ++i) {
    const auto& want = s.result.intervals[i];
    SCOPED_TRACE(i);
    EXPECT_NEAR(read[i].start_seconds - *reader.base_time_seconds(), static_cast<double>(i), 1e-3);
    EXPECT_NEAR(read[i].length_seconds, 1.0, 1e-3);
    EXPECT_EQ(read[i].values.count(), want.latency.count);
    EXPECT_TRUE(read[i].values.layout().equivalent(read[i].values.max(), want.latency.max));
    // In ms, as HdrHistogram writes it: the max to the histogram's 3 digits.
    EXPECT_NEAR(read[i].logged_max, static_cast<double>(want.latency.max) / 1e6,
                static_cast<double>(want.latency.max) / 1e6 * 1e-3);
    sum.add(read[i].values);
  }
  // The intervals add up to the run's histogram, slot by slot.
  ASSERT_EQ(sum.counts_length(), s.result.latency.counts_length());
  for (std::size_t i = 0; i < sum.counts_length(); ++i)
    ASSERT_EQ(sum.count_at_index(i), s.result.latency.count_at_index(i)) << i;
}

TEST(Report, FormatsForATerminal) {
  EXPECT_EQ(load::format_duration(512ns), "512ns");
  EXPECT_EQ(load::format_duration(12'345ns), "12.3µs");
  EXPECT_EQ(load::format_duration(4'560'000ns), "4.56ms");
  EXPECT_EQ(load::format_duration(1'230'000'000ns), "1.23s");
  scenario s;
  const std::string line = load::format_interval(s.result.intervals[0]);
  EXPECT_NE(line.find("1.0s"), std::string::npos) << line;
  EXPECT_NE(line.find("100"), std::string::npos) << line;
  EXPECT_NE(load::format_interval_header(load::mode::open_loop).find("open-loop"), std::string::npos);
  load::interval_report empty;
  empty.n.offered = 5;
  EXPECT_EQ(load::format_interval(empty).find("0ns  "), std::string::npos)
      << "no latency, not a latency of 0";
  EXPECT_NE(load::format_summary(s.result).find("open-loop"), std::string::npos);
}

}  // namespace
