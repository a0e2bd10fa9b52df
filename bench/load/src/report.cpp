#include "troupe/load/report.hpp"

#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <ostream>

#include "troupe/runtime/histogram_json.hpp"

namespace troupe::load {

const char* to_string(outcome o) noexcept {
  switch (o) {
    case outcome::ok:
      return "ok";
    case outcome::error:
      return "error";
    case outcome::timeout:
      return "timeout";
    case outcome::overloaded:
      return "overloaded";
    case outcome::rejected:
      return "rejected";
  }
  return "unknown";
}

const char* to_string(mode m) noexcept { return m == mode::open_loop ? "open-loop" : "closed-loop"; }

troupe::histogram make_latency_histogram() { return troupe::histogram(1'000, 3'600'000'000'000, 3); }

counts& counts::operator+=(const counts& o) noexcept {
  offered += o.offered;
  ok += o.ok;
  failed += o.failed;
  shed += o.shed;
  rejected += o.rejected;
  timed_out += o.timed_out;
  return *this;
}

latency_summary latency_summary::of(const troupe::histogram& h) {
  latency_summary s;
  s.count = h.count();
  if (s.count == 0) return s;
  s.p50 = h.value_at_percentile(50);
  s.p90 = h.value_at_percentile(90);
  s.p99 = h.value_at_percentile(99);
  s.p999 = h.value_at_percentile(99.9);
  s.max = h.max();
  s.mean = h.mean();
  return s;
}

// --- JSON -------------------------------------------------------------------

namespace {

using json = nlohmann::ordered_json;

std::int64_t ns(duration d) { return d.count(); }

std::string iso8601(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

json counts_json(const counts& n) {
  return {{"offered", n.offered},
          {"completed", n.completed()},
          {"ok", n.ok},
          {"failed", n.failed},
          {"shed", n.shed},
          {"rejected", n.rejected},
          {"timed_out", n.timed_out}};
}

json latency_json(const latency_summary& l) {
  return {{"count", l.count}, {"p50", l.p50}, {"p90", l.p90},  {"p99", l.p99},
          {"p99.9", l.p999},  {"max", l.max}, {"mean", l.mean}};
}

json plan_json(const plan& p) {
  json stages = json::array();
  for (const auto& s : p.stages()) stages.push_back({{"rate", s.rate}, {"length_ns", ns(s.length)}});
  json j = {{"kind", p.kind()},
            {"arrivals", p.arrivals() == arrivals::uniform ? "uniform" : "poisson"},
            {"length_ns", ns(p.length())},
            {"expected_requests", p.expected_requests()},
            {"stages", std::move(stages)}};
  if (p.arrivals() == arrivals::poisson) j["seed"] = p.seed();
  return j;
}

json to_json_value(const result& r) {
  json j;
  j["tool"] = "troupe::load";
  j["mode"] = to_string(r.mode);
  if (r.mode == mode::closed_loop) {
    j["note"] =
        "closed-loop: latency measured from each request's actual send, not corrected for coordinated "
        "omission (see docs/design/load.md)";
  }
  if (r.schedule) j["plan"] = plan_json(*r.schedule);
  if (r.closed)
    j["closed_loop"] = {
        {"workers", r.closed->workers}, {"length_ns", ns(r.closed->length)}, {"rate", r.closed->rate}};
  j["timeout_ns"] = ns(r.timeout);
  j["interval_ns"] = ns(r.interval);
  j["started_at"] = iso8601(r.started_at);
  j["elapsed_ns"] = ns(r.elapsed);
  j["busy_ns"] = ns(r.busy);
  j["latency_unit"] = "ns";
  json intervals = json::array();
  for (const auto& iv : r.intervals) {
    json i = {{"index", iv.index},
              {"start_ns", ns(iv.start)},
              {"length_ns", ns(iv.length)},
              {"target_rate", iv.target_rate}};
    i.update(counts_json(iv.n));
    i["given_up"] = iv.given_up;
    i["abandoned"] = iv.abandoned;
    i["in_flight"] = iv.in_flight;
    i["max_lag_ns"] = ns(iv.max_lag);
    i["behind_ns"] = ns(iv.behind);
    i["latency_ns"] = latency_json(iv.latency);
    intervals.push_back(std::move(i));
  }
  j["intervals"] = std::move(intervals);
  json totals = counts_json(r.total);
  totals["given_up"] = r.given_up;
  totals["late"] = r.late;
  totals["abandoned"] = r.abandoned;
  totals["latency_ns"] = latency_json(latency_summary::of(r.latency));
  j["totals"] = std::move(totals);
  if (r.mode == mode::open_loop) {
    const auto& lag = r.issuer_lag;
    j["issuer_lag_ns"] = {{"count", lag.count()},
                          {"p50", lag.value_at_percentile(50)},
                          {"p99", lag.value_at_percentile(99)},
                          {"max", lag.max()}};
  }
  j["latency_histogram"] = json::parse(troupe::to_json(r.latency));
  return j;
}

}  // namespace

std::string to_json(const result& r, int indent) { return to_json_value(r).dump(indent); }

void write_json(const result& r, std::ostream& out, int indent) { out << to_json(r, indent) << '\n'; }

// --- Text -------------------------------------------------------------------

std::string format_duration(duration d) {
  const double v = static_cast<double>(d.count());
  if (v < 0) return "-" + format_duration(-d);
  if (v < 1e3) return fmt::format("{}ns", d.count());
  if (v < 1e6) return fmt::format("{:.1f}µs", v / 1e3);
  if (v < 1e9) return fmt::format("{:.2f}ms", v / 1e6);
  return fmt::format("{:.2f}s", v / 1e9);
}

namespace {
std::string lat(std::uint64_t v) { return format_duration(duration(static_cast<duration::rep>(v))); }
}  // namespace

std::string format_interval_header(enum mode m) {
  const char* what =
      m == mode::open_loop
          ? "open-loop: latency from each request's intended start (corrected for coordinated omission)"
          : "closed-loop: latency from each request's actual send -- NOT corrected for coordinated "
            "omission: a stall delays few requests here, it hides";
  return fmt::format(
      "{}\n{:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}", what, "time",
      "offered", "completed", "ok", "failed", "shed", "rejected", "timed out", "p50", "p90", "p99", "p99.9",
      "max", "behind");
}

std::string format_interval(const interval_report& r) {
  const double end = std::chrono::duration<double>(r.start + r.length).count();
  const auto& l = r.latency;
  // Nothing ended in the interval: no latency to show, not a latency of 0.
  auto p = [&l](std::uint64_t v) { return l.count ? lat(v) : std::string("-"); };
  return fmt::format(
      "{:>7.1f}s {:>9} {:>9} {:>9} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}", end,
      r.n.offered, r.n.completed(), r.n.ok, r.n.failed, r.n.shed, r.n.rejected, r.n.timed_out, p(l.p50),
      p(l.p90), p(l.p99), p(l.p999), p(l.max), format_duration(r.behind));
}

std::string format_summary(const result& r) {
  std::string what;
  if (r.schedule) {
    std::string stages;
    for (const auto& s : r.schedule->stages())
      stages +=
          fmt::format("{}{} req/s for {}", stages.empty() ? "" : ", ", s.rate, format_duration(s.length));
    what = fmt::format("plan {} ({}{})", r.schedule->kind(), stages,
                       r.schedule->arrivals() == arrivals::poisson ? ", Poisson arrivals" : "");
  } else if (r.closed) {
    what =
        fmt::format("{} workers for {}{}", r.closed->workers, format_duration(r.closed->length),
                    r.closed->rate > 0 ? fmt::format(", paced at {} req/s", r.closed->rate) : std::string());
  }
  const latency_summary l = latency_summary::of(r.latency);
  std::string out = fmt::format("== {} totals over {}: {}, timeout {}\n", to_string(r.mode),
                                format_duration(r.elapsed), what, format_duration(r.timeout));
  out += fmt::format(
      "offered {}  completed {}  ok {}  failed {} (abandoned {})  shed {}  rejected {}  timed out {} "
      "(given up {}, late {})\n",
      r.total.offered, r.total.completed(), r.total.ok, r.total.failed, r.abandoned, r.total.shed,
      r.total.rejected, r.total.timed_out, r.given_up, r.late);
  out +=
      fmt::format("latency{}: p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}  mean {}\n",
                  r.mode == mode::open_loop ? " (from intended start)" : " (from actual send, closed-loop)",
                  lat(l.p50), lat(l.p90), lat(l.p99), lat(l.p999), lat(r.latency.value_at_percentile(99.99)),
                  lat(l.max), format_duration(duration(static_cast<duration::rep>(l.mean))));
  if (r.mode == mode::open_loop) {
    out +=
        fmt::format("issuer: sent late by p50 {}  p99 {}  max {}", lat(r.issuer_lag.value_at_percentile(50)),
                    lat(r.issuer_lag.value_at_percentile(99)), lat(r.issuer_lag.max()));
  } else {
    out +=
        "closed-loop: requests that would have been sent during a stall were never sent, so they are missing "
        "from these figures";
  }
  if (r.busy.count() > 0 && r.total.offered > 0) {
    out += fmt::format("\ngenerator busy {} ({:.0f} ns per request)", format_duration(r.busy),
                       static_cast<double>(r.busy.count()) / static_cast<double>(r.total.offered));
  }
  return out;
}

}  // namespace troupe::load
