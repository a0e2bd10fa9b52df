// geo_dispatch: a city as hexagonal cells, each a shard actor matching
// riders with the drivers it holds. A 10x demand hotspot hits three cells;
// without stealing their riders wait for their own drivers, with it idle
// neighbours take waiting riders off them. README.md tells the story.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <random>
#include <string>
#include <troupe/load/actor_target.hpp>
#include <troupe/load/load.hpp>
#include <troupe/troupe.hpp>
#include <vector>

#include "common/sample.hpp"

using namespace std::chrono_literals;
namespace load = troupe::load;
namespace samples = troupe::samples;

namespace {

// Time runs 100x faster than in the city: 1 ms here is 100 ms there.
constexpr double kCityPerReal = 100;
constexpr int kRadius = 3;          // cells within 3 hexes of the centre: 37
constexpr int kDrivers = 12;        // per cell
constexpr auto kTrip = 3s;          // 5 min in the city
constexpr auto kPatience = 1200ms;  // a rider gives up after 2 min
constexpr auto kStealEvery = 20ms;  // an idle cell looks at a neighbour every 2 s
constexpr double kBaseRate = 1.0;   // requests per second per cell (25% of its drivers)
constexpr double kHotFactor = 10;   // the hotspot's demand
constexpr double kSlaCity = 15;     // seconds to match, in the city

struct hex {
  int q, r;
};
constexpr std::array<hex, 6> kDirections{{{1, 0}, {1, -1}, {0, -1}, {-1, 0}, {-1, 1}, {0, 1}}};
int distance(hex a) { return (std::abs(a.q) + std::abs(a.r) + std::abs(a.q + a.r)) / 2; }

struct matched {
  std::uint32_t cell;
  bool stolen;
};
struct ride {};  // a rider asks its cell for a driver
struct ticket {  // a rider waiting for a driver
  troupe::reply_promise<matched> reply;
  troupe::clock::time_point gives_up;
};
struct trip_over {};
struct look_around {};
struct steal {
  std::uint32_t want;
};
struct neighbours_are {
  std::vector<troupe::actor_ref<struct cell>> refs;
};

// One cell: its drivers and its waiting riders. A driver matched to a rider
// is away for the trip (a timer on the runtime's wheel), then free again in
// its home cell. With stealing, a cell with free drivers and nobody waiting
// asks one neighbour (in turn) every kStealEvery for riders it cannot serve.
struct cell : troupe::actor<cell> {
  cell(std::uint32_t index, bool stealing) : index(index), stealing(stealing) {}

  void on_start() {
    if (stealing) self().send_periodic(look_around{}, kStealEvery);
  }
  void on(neighbours_are n) { neighbours = std::move(n.refs); }

  troupe::reply_promise<matched> on(ride) {
    auto reply = troupe::this_actor::reply_later<matched>();
    waiting.push_back({reply, troupe::clock::after(troupe::this_actor::now(), kPatience)});
    match_local();
    return reply;
  }
  void on(trip_over) {
    ++free;
    match_local();
  }
  void on(look_around) {
    if (free == 0 || !waiting.empty() || asking || neighbours.empty()) return;
    auto victim = neighbours[next_victim++ % neighbours.size()];
    asking = true;
    auto got = victim.ask(steal{static_cast<std::uint32_t>(free)}, 50ms);
    got.then([this](troupe::result<std::vector<ticket>> r) {
      asking = false;
      if (!r) return;
      for (ticket& t : r.value()) waiting.push_back(std::move(t));  // theirs now: matched here, or kept
      match_local(true);
    });
  }
  // A neighbour with free drivers asks for riders: give the longest-waiting
  // ones this cell cannot serve now.
  std::vector<ticket> on(steal s) {
    std::vector<ticket> out;
    drop_gone();
    while (free == 0 && !waiting.empty() && out.size() < s.want) {
      out.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    return out;
  }

  void drop_gone() {
    const auto now = troupe::this_actor::now();
    while (!waiting.empty() && waiting.front().gives_up <= now) waiting.pop_front();  // the rider left
  }
  void match_local(bool stolen = false) {
    drop_gone();
    while (free > 0 && !waiting.empty()) {
      ticket t = std::move(waiting.front());
      waiting.pop_front();
      --free;
      t.reply.deliver(matched{index, stolen});
      self().send_after(trip_over{}, kTrip);
    }
  }

  std::uint32_t index;
  bool stealing;
  int free = kDrivers;
  std::deque<ticket> waiting;
  std::vector<troupe::actor_ref<cell>> neighbours;
  std::size_t next_victim = 0;
  bool asking = false;
};

double seconds(troupe::clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct measured {
  std::string name;
  // Time to match in city microseconds (the histograms' resolution starts at
  // 1,000 units), riders who gave up at their patience; by phase: before,
  // hotspot, after.
  std::array<troupe::histogram, 3> phase = {load::make_latency_histogram(), load::make_latency_histogram(),
                                            load::make_latency_histogram()};
  std::array<std::uint64_t, 3> gave_up{}, stolen{}, in_sla{};
  std::vector<double> t, p95;                                    // per interval, city seconds
  troupe::histogram hot_cells = load::make_latency_histogram();  // the hotspot's own riders, during it
};

measured drive(troupe::actor_system& system, const char* name, bool stealing, const std::vector<hex>& cells,
               const std::vector<bool>& hot, double length_s, std::uint64_t seed) {
  measured m;
  m.name = name;
  std::vector<troupe::actor_ref<cell>> refs;
  for (std::uint32_t i = 0; i < cells.size(); ++i) refs.push_back(system.spawn<cell>(i, stealing));
  for (std::size_t i = 0; i < cells.size(); ++i) {
    neighbours_are n;
    for (const hex d : kDirections)
      for (std::size_t j = 0; j < cells.size(); ++j)
        if (cells[j].q == cells[i].q + d.q && cells[j].r == cells[i].r + d.r) n.refs.push_back(refs[j]);
    refs[i].send(std::move(n));
  }

  const double hot_from = length_s / 4, hot_to = length_s * 3 / 4;
  double base_total = 0, hot_total = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    base_total += kBaseRate;
    hot_total += hot[i] ? kBaseRate * kHotFactor : kBaseRate;
  }
  const auto secs = [](double s) {
    return std::chrono::duration_cast<troupe::clock::duration>(std::chrono::duration<double>(s));
  };
  // Poisson arrivals at the city's total rate, each rider in a cell drawn by
  // the cells' demand.
  const auto plan = load::plan::steps({{base_total, secs(hot_from)},
                                       {hot_total, secs(hot_to - hot_from)},
                                       {base_total, secs(length_s - hot_to)}})
                        .with_poisson_arrivals(seed);
  std::vector<double> base_w(cells.size(), 1.0), hot_w;
  for (std::size_t i = 0; i < cells.size(); ++i) hot_w.push_back(hot[i] ? kHotFactor : 1.0);
  std::discrete_distribution<std::size_t> pick_base(base_w.begin(), base_w.end()),
      pick_hot(hot_w.begin(), hot_w.end());
  std::mt19937_64 rng(seed);

  std::mutex mu;
  auto clock = troupe::default_clock();
  troupe::clock::time_point t0{};
  bool started = false;
  troupe::histogram interval = load::make_latency_histogram();
  load::target target = [&](load::request r) {
    if (!started) {
      t0 = r.intended_start;
      started = true;
    }
    const double at = seconds(r.intended_start - t0);
    const int ph = at < hot_from ? 0 : at < hot_to ? 1 : 2;
    const std::size_t c = ph == 1 ? pick_hot(rng) : pick_base(rng);
    auto reply = refs[c].ask(ride{}, kPatience, troupe::when_full::fail);
    reply.on_complete([&, ph, c, intended = r.intended_start,
                       done = std::move(r.done)](troupe::result<matched> res) mutable {
      const auto waited = clock->now() - intended;
      const auto city_us = static_cast<std::uint64_t>(seconds(waited) * kCityPerReal * 1e6);
      {
        std::lock_guard lock(mu);
        m.phase[ph].record(city_us);
        interval.record(city_us);
        if (ph == 1 && hot[c]) m.hot_cells.record(city_us);
        if (!res)
          ++m.gave_up[ph];
        else if (res.value().stolen)
          ++m.stolen[ph];
        if (res && city_us <= static_cast<std::uint64_t>(kSlaCity * 1e6)) ++m.in_sla[ph];
      }
      done(res ? load::outcome::ok : load::outcome_of(res.error_code()));
    });
  };
  load::run_options opts;
  opts.timeout = kPatience + 500ms;
  opts.interval = 500ms;
  opts.on_interval = [&](const load::interval_report& ir) {
    std::lock_guard lock(mu);
    if (interval.empty()) return;
    m.t.push_back(seconds(ir.start + ir.length / 2) * kCityPerReal);
    m.p95.push_back(static_cast<double>(interval.value_at_percentile(95)) / 1e6);
    interval.reset();
  };
  load::run(load::open_loop{plan}, std::move(target), opts);
  for (auto& c : refs) c.stop(troupe::stop_mode::immediate);
  return m;
}

double p_city(const troupe::histogram& h, double p) {
  return static_cast<double>(h.value_at_percentile(p)) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  samples::sample app(
      "geo_dispatch",
      "a city of hexagonal cells, a 10x hotspot: cell shards with and without neighbours stealing work");
  double length_opt = 0;
  app.cli()
      .add_option("--length", length_opt, "run length per side, real seconds (default 40; --quick 11)")
      ->check(CLI::PositiveNumber);
  if (auto code = app.parse(argc, argv)) return *code;
  const double length_s = length_opt > 0 ? length_opt : (app.quick() ? 11.0 : 40.0);

  std::vector<hex> cells;
  for (int q = -kRadius; q <= kRadius; ++q)
    for (int r = -kRadius; r <= kRadius; ++r)
      if (distance({q, r}) <= kRadius) cells.push_back({q, r});
  // The hotspot: the centre and two of its neighbours (a stadium letting out).
  std::vector<bool> hot(cells.size(), false);
  for (std::size_t i = 0; i < cells.size(); ++i)
    hot[i] = (cells[i].q == 0 && cells[i].r == 0) || (cells[i].q == 1 && cells[i].r == 0) ||
             (cells[i].q == 0 && cells[i].r == 1);

  troupe::runtime rt;
  troupe::actor_system system(rt);
  std::fprintf(stderr, "no stealing: %zu cells, %.0f real s ...\n", cells.size(), length_s);
  measured alone = drive(system, "cells alone", false, cells, hot, length_s, app.opts().seed);
  std::fprintf(stderr, "neighbours steal: the same ...\n");
  measured steal = drive(system, "neighbours steal", true, cells, hot, length_s, app.opts().seed);
  system.shutdown(troupe::stop_mode::immediate);

  const char* phase_names[] = {"before", "hotspot", "after"};
  samples::table t({"phase", "dispatch", "riders", "p50", "p95", "p99", "within 15 s", "gave up",
                    "matched by a neighbour"});
  nlohmann::json js;
  for (int p = 0; p < 3; ++p) {
    for (const measured* m : {&alone, &steal}) {
      const auto& h = m->phase[p];
      const double n = static_cast<double>(h.count());
      t.add_row({phase_names[p], m->name, fmt::format("{}", h.count()),
                 fmt::format("{:.2f} s", p_city(h, 50)), fmt::format("{:.1f} s", p_city(h, 95)),
                 fmt::format("{:.1f} s", p_city(h, 99)),
                 samples::format_percent(n ? static_cast<double>(m->in_sla[p]) / n : 0),
                 samples::format_percent(n ? static_cast<double>(m->gave_up[p]) / n : 0),
                 samples::format_percent(n ? static_cast<double>(m->stolen[p]) / n : 0)});
      js[m == &alone ? "naive" : "troupe"][phase_names[p]] = {
          {"riders", h.count()},
          {"p50_city_s", p_city(h, 50)},
          {"p95_city_s", p_city(h, 95)},
          {"p99_city_s", p_city(h, 99)},
          {"within_sla", n ? static_cast<double>(m->in_sla[p]) / n : 0},
          {"gave_up", n ? static_cast<double>(m->gave_up[p]) / n : 0},
          {"matched_by_neighbour", n ? static_cast<double>(m->stolen[p]) / n : 0}};
    }
  }
  app.print(
      fmt::format(
          "{} cells x {} drivers, trips of 5 min, {:.1f} rides/min per cell, 10x in 3 cells for the middle "
          "half; time to match in city time (the sample runs 100x faster); riders give up after 2 min",
          cells.size(), kDrivers, kBaseRate / kCityPerReal * 60),
      t);
  for (const measured* m : {&alone, &steal})
    js[m == &alone ? "naive" : "troupe"]["series"] = {{"t_city_s", m->t}, {"p95_city_s", m->p95}};
  app.json()["results"] = js;
  app.json()["config"] = {{"cells", cells.size()},    {"drivers_per_cell", kDrivers},
                          {"trip_city_s", 300},       {"patience_city_s", 120},
                          {"steal_every_city_s", 2},  {"base_rides_per_real_s_per_cell", kBaseRate},
                          {"hot_factor", kHotFactor}, {"time_scale", kCityPerReal},
                          {"length_real_s", length_s}};

  const double a95 = p_city(alone.phase[1], 95), s95 = p_city(steal.phase[1], 95);
  app.set_headline(
      {"p95 time to match during the hotspot (city time)", "s", samples::better::lower, a95, s95});
  app.print_story(
      "issue 9: a 10x hotspot, p95 time to match against a 15 s service level (no published figures)",
      {{"p95 time to match, hotspot", "(no figure)", "within 15 s", fmt::format("{:.1f} s", a95),
        fmt::format("{:.1f} s", s95),
        s95 <= kSlaCity ? "meets the 15 s level with stealing; without, the hot cells' riders wait "
                          "for their own drivers or give up"
                        : "stealing helps but misses 15 s in this run"},
       {"the hot cells' own riders, p95", "", "", fmt::format("{:.1f} s", p_city(alone.hot_cells, 95)),
        fmt::format("{:.1f} s", p_city(steal.hot_cells, 95)), "the riders the hotspot is made of"}});

  samples::figure f;
  f.title = "geo_dispatch: 37 hexagonal cells, 10x demand in 3 of them (shaded), city time";
  samples::panel over, cdf;
  over.title = "p95 time to match, per 50 city seconds";
  over.xlabel = "city time (s)";
  over.ylabel = "time to match (s, log)";
  over.logy = true;
  over.shade.push_back({length_s / 4 * kCityPerReal, length_s * 3 / 4 * kCityPerReal, "hotspot"});
  cdf.title = "riders matched within x, during the hotspot";
  cdf.xlabel = "time to match (city s, log)";
  cdf.ylabel = "share of riders";
  cdf.logx = true;
  cdf.yrange = std::pair{0.0, 1.0};
  for (const measured* m : {&alone, &steal}) {
    samples::series s{m->name, m->t, m->p95, "linespoints"};
    for (auto& v : s.y) v = std::max(v, 0.01);
    over.lines.push_back(s);
    samples::series c{m->name, {}, {}, "lines"};
    for (double q = 1; q <= 100; q += 1) {
      c.x.push_back(std::max(0.01, p_city(m->phase[1], q)));
      c.y.push_back(q / 100);
    }
    cdf.lines.push_back(c);
  }
  samples::series sla{"15 s service level", {0, length_s * kCityPerReal}, {kSlaCity, kSlaCity}, "lines dt 2"};
  over.lines.push_back(sla);
  samples::series sla_v{"15 s", {kSlaCity, kSlaCity}, {0, 1}, "lines dt 2"};
  cdf.lines.push_back(sla_v);
  f.panels = {over, cdf};
  return app.finish(f);
}
