// The generator's accounting, in virtual time: every issued request ends
// exactly once, in exactly one bucket, at the right time; requests go out at
// their intended start times whatever the target does; a completion that
// never comes is given up at the deadline; a closed loop sends only when
// its previous request ended.

#include "troupe/load/generator.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <sstream>
#include <vector>

#include "virtual_service.hpp"

#include "troupe/load/services.hpp"
#include "troupe/runtime/error.hpp"

namespace {

using namespace std::chrono_literals;
namespace load = troupe::load;
using load::outcome;
using load::testing::drive;
using load::testing::make_clock;
using load::testing::reply;
using load::testing::virtual_service;

std::uint64_t ns(load::duration d) { return static_cast<std::uint64_t>(d.count()); }

load::counts sum_of_intervals(const load::result& r) {
  load::counts c;
  for (const auto& iv : r.intervals) c += iv.n;
  return c;
}

// The invariants every run must keep, whatever happened in it.
void expect_books_balance(const load::result& r) {
  EXPECT_EQ(r.total.offered, r.total.completed()) << "every request ends";
  EXPECT_EQ(sum_of_intervals(r), r.total) << "the intervals add up to the totals";
  EXPECT_EQ(r.latency.count(), r.total.completed()) << "every ended request has a latency";
  std::uint64_t given_up = 0, abandoned = 0;
  for (const auto& iv : r.intervals) {
    given_up += iv.given_up;
    abandoned += iv.abandoned;
    EXPECT_EQ(iv.latency.count, iv.n.completed());
  }
  EXPECT_EQ(given_up, r.given_up);
  EXPECT_EQ(abandoned, r.abandoned);
  EXPECT_LE(r.given_up, r.total.timed_out);
  EXPECT_LE(r.abandoned, r.total.failed);
}

TEST(Generator, IssuesAtIntendedTimesAndMeasuresFromThem) {
  auto clk = make_clock();
  std::vector<load::request> seen;
  load::target t = [&](load::request r) {
    seen.push_back({r.id, r.intended_start, r.sent, r.deadline, {}});
    r.done(outcome::ok);
  };
  const auto t0 = clk->now();
  load::result r =
      load::run(load::open_loop{load::plan::constant(100, 1s)}, t, {.timeout = 50ms, .clock = clk});
  ASSERT_EQ(seen.size(), 100u);
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].id, k);
    EXPECT_EQ(seen[k].intended_start, t0 + k * 10ms);
    EXPECT_EQ(seen[k].sent, seen[k].intended_start);  // virtual time: never late
    EXPECT_EQ(seen[k].deadline, seen[k].sent + 50ms);
  }
  EXPECT_EQ(r.mode, load::mode::open_loop);
  EXPECT_EQ(r.total.offered, 100u);
  EXPECT_EQ(r.total.ok, 100u);
  EXPECT_EQ(r.latency.max(), 0u);  // completed inline, at the intended time
  EXPECT_EQ(r.elapsed, 1s);        // the plan's length
  ASSERT_EQ(r.intervals.size(), 1u);
  expect_books_balance(r);
}

TEST(Generator, ATargetThatNeverCompletesTimesOutAtTheDeadline) {
  auto clk = make_clock();
  std::vector<load::completion> kept;
  load::target t = [&](load::request r) { kept.push_back(std::move(r.done)); };
  load::result r = load::run(load::open_loop{load::plan::constant(4, 1s)}, t,
                             {.timeout = 250ms, .interval = 500ms, .clock = clk});
  EXPECT_EQ(r.total.offered, 4u);
  EXPECT_EQ(r.total.timed_out, 4u);
  EXPECT_EQ(r.given_up, 4u);
  EXPECT_EQ(r.total.ok, 0u);
  // Recorded when given up, 250 ms after the intended start: never skipped.
  EXPECT_EQ(r.latency.count(), 4u);
  EXPECT_EQ(r.latency.min(), ns(250ms));
  EXPECT_EQ(r.latency.max(), ns(250ms));
  // Give-ups at 250, 500, 750, 1000 ms: the last ends the run, and belongs
  // to the interval that ends there.
  EXPECT_EQ(r.elapsed, 1s);
  ASSERT_EQ(r.intervals.size(), 2u);
  EXPECT_EQ(r.intervals[0].n.timed_out, 1u);  // 250 ms; 500 ms starts the second interval
  EXPECT_EQ(r.intervals[1].n.timed_out, 3u);  // 500, 750 and 1000 ms: the run's end is in its last interval
  EXPECT_EQ(r.intervals[1].length, 500ms);
  expect_books_balance(r);
  // The target lets go of them after the run: nothing changes, nothing breaks.
  kept.clear();
}

TEST(Generator, EveryRequestEndsOnceInExactlyOneBucket) {
  for (bool other_thread : {false, true}) {
    SCOPED_TRACE(other_thread ? "completions from another thread" : "completions on the driving thread");
    auto clk = make_clock();
    // By id % 9: ok, error, timeout, overloaded, rejected inline; ok after
    // 30 ms; never (given up at 100 ms); dropped (abandoned); ok after
    // 150 ms, too late (given up at 100 ms, then counted late).
    virtual_service svc(clk, [](const load::request& r, auto) -> std::optional<reply> {
      switch (r.id % 9) {
        case 0:
          return reply{0ms, outcome::ok};
        case 1:
          return reply{0ms, outcome::error};
        case 2:
          return reply{0ms, outcome::timeout};
        case 3:
          return reply{0ms, outcome::overloaded};
        case 4:
          return reply{0ms, outcome::rejected};
        case 5:
          return reply{30ms, outcome::ok};
        case 6:
          return std::nullopt;
        case 7:
          return reply{20ms, outcome::ok};  // replaced below: dropped
        default:
          return reply{150ms, outcome::ok};
      }
    });
    svc.complete_from_another_thread(other_thread);
    auto inner = svc.as_target();
    load::target t = [&](load::request r) {
      if (r.id % 9 == 7) return;  // drops the request: its completion dies unanswered
      inner(std::move(r));
    };
    load::generator g(load::open_loop{load::plan::constant(900, 1s)}, t,
                      {.timeout = 100ms, .interval = 250ms, .clock = clk});
    ASSERT_TRUE(drive(g, *clk, svc));
    load::result r = g.take_result();

    EXPECT_EQ(r.total.offered, 900u);
    EXPECT_EQ(r.total.ok, 100u + 100u);                // 0 and 5
    EXPECT_EQ(r.total.failed, 100u + 100u);            // 1 and 7 (abandoned)
    EXPECT_EQ(r.total.timed_out, 100u + 100u + 100u);  // 2, and 6 and 8 given up
    EXPECT_EQ(r.total.shed, 100u);                     // 3
    EXPECT_EQ(r.total.rejected, 100u);                 // 4
    EXPECT_EQ(r.abandoned, 100u);
    EXPECT_EQ(r.given_up, 200u);
    // Late: the replies after 150 ms (id % 9 == 8) that came before the run
    // ended; the last ones come after it.
    std::uint64_t late = 0;
    for (std::int64_t k = 8; k < 900; k += 9)
      late += std::llround(k * 1e9 / 900) + ns(150ms) <= static_cast<std::uint64_t>(r.elapsed.count());
    EXPECT_EQ(r.late, late);
    EXPECT_GT(late, 90u);
    expect_books_balance(r);
    // Latency of every bucket counted: the give-ups at exactly 100 ms are
    // the largest.
    EXPECT_EQ(r.latency.max(), ns(100ms));
    // The held completions (id % 9 == 6) die with the service: the
    // generator had given up on them, and nothing more is counted.
    svc.held().clear();
  }
}

TEST(Generator, ACompletionAfterTheDeadlineIsATimeoutAtTheDeadline) {
  // The completion comes 10 ms past the deadline, before the generator has
  // run its give-up pass: the request still ends at the deadline, as timed
  // out, so when that pass runs never changes the figures.
  auto clk = make_clock();
  std::vector<load::completion> kept;
  load::target t = [&](load::request r) { kept.push_back(std::move(r.done)); };
  load::generator g(load::open_loop{load::plan::constant(1, 1s)}, t, {.timeout = 100ms, .clock = clk});
  g.poll();  // issues request 0 at t0
  ASSERT_EQ(kept.size(), 1u);
  clk->advance(110ms);
  kept[0](outcome::ok);
  while (!g.done()) {
    const auto next = g.poll();
    if (!g.done()) clk->set(next);
  }
  load::result r = g.take_result();
  EXPECT_EQ(r.total.timed_out, 1u);
  EXPECT_EQ(r.total.ok, 0u);
  EXPECT_EQ(r.given_up, 1u);
  EXPECT_EQ(r.late, 1u);
  EXPECT_EQ(r.latency.max(), ns(100ms));
  expect_books_balance(r);
}

TEST(Generator, ATargetThatThrowsCountsAsFailed) {
  auto clk = make_clock();
  load::target t = [](load::request r) {
    if (r.id % 2) throw std::runtime_error("boom");
    r.done(outcome::ok);
  };
  load::result r = load::run(load::open_loop{load::plan::constant(10, 1s)}, t, {.clock = clk});
  EXPECT_EQ(r.total.ok, 5u);
  EXPECT_EQ(r.total.failed, 5u);
  EXPECT_EQ(r.abandoned, 5u);
  expect_books_balance(r);
}

TEST(Generator, CallingACompletionTwiceCountsOnce) {
  auto clk = make_clock();
  load::target t = [](load::request r) {
    r.done(outcome::ok);
    r.done(outcome::error);  // empty by now: does nothing
  };
  load::result r = load::run(load::open_loop{load::plan::constant(10, 1s)}, t, {.clock = clk});
  EXPECT_EQ(r.total.ok, 10u);
  EXPECT_EQ(r.total.failed, 0u);
  expect_books_balance(r);
}

TEST(Generator, AnIssuerThatFallsBehindStillUsesIntendedTimesAndSaysHowFar) {
  // Each call holds the driving thread for 15 ms of a 10 ms period: the
  // issuer falls behind by 5 ms per request. Requests keep their intended
  // times, so the backlog is latency; the report says how late it sent.
  auto clk = make_clock();
  std::vector<troupe::clock::time_point> intended;
  load::target t = [&](load::request r) {
    intended.push_back(r.intended_start);
    clk->advance(15ms);
    r.done(outcome::ok);
  };
  const auto t0 = clk->now();
  load::result r =
      load::run(load::open_loop{load::plan::constant(100, 2s)}, t, {.clock = clk, .max_batch = 1});
  ASSERT_EQ(intended.size(), 200u);
  for (std::size_t k = 0; k < intended.size(); ++k) EXPECT_EQ(intended[k], t0 + k * 10ms);
  EXPECT_EQ(r.total.offered, 200u);
  // The last request goes out at 2985 ms and ends at 3 s: three intervals,
  // the last with nothing offered.
  ASSERT_EQ(r.intervals.size(), 3u);
  EXPECT_EQ(r.intervals[0].n.offered, 100u) << "offered counts by intended time";
  EXPECT_EQ(r.intervals[1].n.offered, 100u);
  EXPECT_EQ(r.intervals[2].n.offered, 0u);
  EXPECT_EQ(r.elapsed, 3s);
  // Request k goes out at 15k ms, 5k ms late, and ends 15 ms later.
  EXPECT_EQ(r.issuer_lag.max(), ns(199 * 5ms));
  EXPECT_EQ(r.latency.max(), ns(199 * 5ms + 15ms));
  EXPECT_EQ(r.latency.min(), ns(15ms));
  EXPECT_EQ(r.intervals[0].max_lag, 99 * 5ms);
  EXPECT_EQ(r.intervals[1].max_lag, 199 * 5ms);
  // The first interval closes once its last request (99, at 1485 ms) is out;
  // by then request 100 was due for 485 ms.
  EXPECT_EQ(r.intervals[0].behind, 485ms);
  expect_books_balance(r);
}

TEST(Generator, PoissonRunsAreReproducibleFromTheSeed) {
  auto run_once = [](std::uint64_t seed) {
    auto clk = make_clock();
    std::vector<load::duration> offsets;
    const auto t0 = clk->now();
    load::target t = [&](load::request r) {
      offsets.push_back(r.intended_start - t0);
      r.done(outcome::ok);
    };
    load::result r = load::run(load::open_loop{load::plan::poisson(2000, 2s, seed)}, t, {.clock = clk});
    EXPECT_EQ(r.total.offered, offsets.size());
    expect_books_balance(r);
    return offsets;
  };
  const auto a = run_once(11), b = run_once(11), c = run_once(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The same times the plan's cursor gives: the generator adds nothing.
  const auto p = load::plan::poisson(2000, 2s, 11);
  auto cur = p.begin();
  for (const auto& o : a) ASSERT_EQ(cur.next(), o);
  EXPECT_FALSE(cur.next());
}

TEST(Generator, ClosedLoopSendsWhenThePreviousRequestEnds) {
  auto clk = make_clock();
  std::vector<std::pair<troupe::clock::time_point, troupe::clock::time_point>> sends;  // intended, sent
  virtual_service svc(clk, [&](const load::request& r, auto) -> std::optional<reply> {
    sends.emplace_back(r.intended_start, r.sent);
    return reply{10ms, outcome::ok};
  });
  load::generator g(load::closed_loop{4, 1s}, svc.as_target(), {.clock = clk});
  ASSERT_TRUE(drive(g, *clk, svc));
  load::result r = g.take_result();
  // Four workers, each sending every 10 ms from 0 to 990 ms.
  EXPECT_EQ(r.mode, load::mode::closed_loop);
  EXPECT_EQ(r.total.offered, 400u);
  EXPECT_EQ(r.total.ok, 400u);
  for (const auto& [i, s] : sends) EXPECT_EQ(i, s) << "closed loop: latency from the actual send";
  EXPECT_EQ(r.latency.min(), ns(10ms));
  EXPECT_EQ(r.latency.max(), ns(10ms));
  EXPECT_EQ(r.issuer_lag.count(), 0u);
  expect_books_balance(r);
}

TEST(Generator, PacedClosedLoopKeepsToItsRateButNeverMakesUpAMissedSlot) {
  auto clk = make_clock();
  const auto t0 = clk->now();
  std::vector<troupe::clock::time_point> sent;
  // 2 workers at 100 req/s in all (one every 20 ms each, staggered by 10 ms);
  // request 3 takes 55 ms, the others 1 ms.
  virtual_service svc(clk, [&](const load::request& r, auto) -> std::optional<reply> {
    sent.push_back(r.sent);
    return reply{r.id == 3 ? 55ms : 1ms, outcome::ok};
  });
  load::generator g(load::closed_loop{2, 200ms, 100}, svc.as_target(), {.clock = clk});
  ASSERT_TRUE(drive(g, *clk, svc));
  load::result r = g.take_result();
  // Worker 0: 0, 20, 40 (id 4)...; worker 1: 10, 30 (id 3: ends at 85), then
  // at 85 at once (its 50 and 70 slots are lost, not made up), 105, ...
  ASSERT_GE(sent.size(), 5u);
  EXPECT_EQ(sent[0], t0);
  EXPECT_EQ(sent[1], t0 + 10ms);
  EXPECT_EQ(sent[2], t0 + 20ms);
  EXPECT_EQ(sent[3], t0 + 30ms);
  std::size_t after_slow = 0;
  for (auto s : sent) after_slow += s == t0 + 85ms;
  EXPECT_EQ(after_slow, 1u);
  for (auto s : sent) EXPECT_TRUE(s != t0 + 50ms && s != t0 + 70ms);
  // Worker 0: 10 sends (0..180); worker 1: 10, 30, 85, 105, 125, 145, 165, 185.
  EXPECT_EQ(r.total.offered, 18u);
  expect_books_balance(r);
}

TEST(Generator, StepwiseAndRunAgreeAndCheckTheirArguments) {
  auto clk = make_clock();
  load::target ok = load::noop_target();
  EXPECT_THROW(load::generator(load::open_loop{load::plan::constant(1, 1s)}, {}, {.clock = clk}),
               troupe::error);
  EXPECT_THROW(
      load::generator(load::open_loop{load::plan::constant(1, 1s)}, ok, {.timeout = 0s, .clock = clk}),
      troupe::error);
  EXPECT_THROW(load::generator(load::closed_loop{0, 1s}, ok, {.clock = clk}), troupe::error);
  load::generator g(load::open_loop{load::plan::constant(1, 1s)}, ok, {.clock = clk});
  EXPECT_THROW(g.take_result(), troupe::error);
}

TEST(Generator, AVirtualRunThatCouldOnlyWaitForeverSaysSo) {
  auto clk = make_clock();
  std::vector<load::completion> kept;
  load::target t = [&](load::request r) { kept.push_back(std::move(r.done)); };
  load::generator g(load::open_loop{load::plan::constant(1, 1s)}, t,
                    {.timeout = load::duration::max(), .clock = clk});
  EXPECT_THROW(g.run(), troupe::error);
}

TEST(Generator, ProgressLineIsRewrittenInPlaceAndCleared) {
  auto clk = make_clock();
  std::ostringstream progress;
  load::result r = load::run(load::open_loop{load::plan::constant(100, 2s)}, load::noop_target(),
                             {.clock = clk, .progress = &progress, .progress_every = 100ms});
  const std::string s = progress.str();
  EXPECT_NE(s.find("\r[open-loop]"), std::string::npos) << s;
  EXPECT_EQ(s.find('\n'), std::string::npos) << "one line, rewritten with \\r";
  EXPECT_EQ(s.back(), '\r') << "cleared at the end";
  EXPECT_EQ(r.total.ok, 200u);
}

}  // namespace
