// adaptive_lb: three backend actors behind one router, and one of them
// degrades mid-run. Round-robin keeps sending it a third of the traffic;
// power of two choices (troupe::router<backend, troupe::routing::p2c>) sees
// its latency and in-flight requests and sends it less, then gives it its
// share back when it recovers. README.md tells the story.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
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

constexpr std::size_t kBackends = 3;

struct work {
  std::uint64_t id;
};

// One backend: a server that handles one request at a time. Its service
// time is real waiting on the runtime's timer wheel (co_await delay: the
// actor is not reentrant, so requests queue in its mailbox meanwhile), drawn
// uniformly from [0.5, 1.5] x the mean; while `slow` is set (a noisy
// neighbour, a disk going bad: something outside the service), every
// request takes `slowdown` times longer.
struct backend : troupe::actor<backend> {
  backend(std::uint32_t index, troupe::clock::duration mean, const std::atomic<bool>* slow, double slowdown,
          std::uint64_t seed, std::atomic<std::uint64_t>* handled)
      : index(index), mean(mean), slow(slow), slowdown(slowdown), rng(seed), handled(handled) {}

  troupe::task<std::uint32_t> on(work) {
    // relaxed: a statistic the main thread reads between intervals.
    handled->fetch_add(1, std::memory_order_relaxed);
    double factor = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    // relaxed: a lone flag, nothing else is published with it.
    if (slow != nullptr && slow->load(std::memory_order_relaxed)) factor *= slowdown;
    co_await troupe::delay(std::chrono::duration_cast<troupe::clock::duration>(mean * factor));
    co_return index;
  }

  std::uint32_t index;
  troupe::clock::duration mean;
  const std::atomic<bool>* slow;
  double slowdown;
  std::mt19937_64 rng;
  std::atomic<std::uint64_t>* handled;  // requests that reached the handler
};

double seconds(troupe::clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What one policy's run measured.
struct run_result {
  std::string policy;
  load::result load;
  // Latency of the requests that started in each phase (healthy, degraded,
  // recovered), from their intended start, timeouts at the ask's timeout.
  std::array<troupe::histogram, 3> phase = {load::make_latency_histogram(), load::make_latency_histogram(),
                                            load::make_latency_histogram()};
  std::array<std::uint64_t, 3> phase_timeouts{};
  // Per report interval: its middle (s), its p99 (s), and each backend's share
  // of the requests the backends accepted in it.
  std::vector<double> t, p99;
  std::array<std::vector<double>, kBackends> share;
  // Over the degraded phase: requests each backend accepted.
  std::array<std::uint64_t, kBackends> degraded_accepted{};
};

struct setup {
  double rate;
  troupe::clock::duration length, degrade_at, recover_at, mean, timeout, interval;
  double slowdown;
  std::uint64_t seed;
};

// Requests a backend has been sent so far: handled (or being handled: that
// one is also in the depth until its turn ends, one request of noise),
// expired in its mailbox (their deadline passed: the asker had given up), or
// waiting. (Not stats().processed: it also counts system messages, such as
// each coroutine handler's resumption.)
std::uint64_t accepted(const troupe::actor_ref<backend>& b, const std::atomic<std::uint64_t>& handled) {
  const troupe::actor_stats s = b.stats();
  // relaxed: a statistic (see backend).
  return handled.load(std::memory_order_relaxed) + s.dead_letters[troupe::dead_letter_reason::expired] +
         s.depth;
}

template <class Policy>
run_result drive(troupe::actor_system& system, const char* name, Policy policy, const setup& cfg) {
  run_result out;
  out.policy = name;
  std::atomic<bool> slow{false};
  std::vector<troupe::actor_ref<backend>> backends;
  std::array<std::atomic<std::uint64_t>, kBackends> handled{};
  troupe::router<backend, Policy> pool(system, policy);
  for (std::uint32_t i = 0; i < kBackends; ++i) {
    // The last backend is the one that degrades. A full mailbox refuses at
    // once (the load generator's thread must never block on a send).
    auto b = system.spawn<backend>(
        troupe::spawn_options{.capacity = 4096, .policy = troupe::overflow_policy::fail}, i, cfg.mean,
        i + 1 == kBackends ? &slow : nullptr, cfg.slowdown, cfg.seed * 31 + i, &handled[i]);
    backends.push_back(b);
    pool.add(b, i);
  }

  std::mutex mu;
  troupe::clock::time_point t0{};
  bool started = false;
  const auto phase_of = [&](troupe::clock::duration offset) {
    return offset < cfg.degrade_at ? 0 : offset < cfg.recover_at ? 1 : 2;
  };
  auto clock = troupe::default_clock();
  load::target target = [&](load::request r) {
    if (!started) {
      t0 = r.intended_start;
      started = true;
    }
    const auto offset = r.intended_start - t0;
    // relaxed: a lone flag (see backend).
    slow.store(phase_of(offset) == 1, std::memory_order_relaxed);
    auto future = pool.ask(work{r.id}, cfg.timeout, troupe::when_full::fail);
    future.on_complete([&, offset, intended = r.intended_start,
                        done = std::move(r.done)](troupe::result<std::uint32_t> res) mutable {
      const auto latency = clock->now() - intended;
      {
        std::lock_guard lock(mu);
        const int p = phase_of(offset);
        out.phase[p].record(static_cast<std::uint64_t>(latency.count()));
        if (!res) ++out.phase_timeouts[p];
      }
      done(load::outcome_of(res.error_code()));
    });
  };

  std::array<std::uint64_t, kBackends> last{};
  std::array<std::uint64_t, kBackends> at_degrade{}, at_recover{};
  load::run_options opts;
  opts.timeout = cfg.timeout + 500ms;  // the ask's own timeout ends a request first
  opts.interval = cfg.interval;
  opts.on_interval = [&](const load::interval_report& ir) {
    const auto end = ir.start + ir.length;
    if (ir.length < cfg.interval / 2) return;  // the run's last sliver: too few requests for a share
    std::array<std::uint64_t, kBackends> now{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kBackends; ++i) {
      now[i] = accepted(backends[i], handled[i]);
      total += now[i] - last[i];
    }
    out.t.push_back(seconds(ir.start + ir.length / 2));
    out.p99.push_back(static_cast<double>(ir.latency.p99) / 1e9);
    for (std::size_t i = 0; i < kBackends; ++i)
      out.share[i].push_back(total ? static_cast<double>(now[i] - last[i]) / static_cast<double>(total)
                                   : 0.0);
    if (end <= cfg.degrade_at) at_degrade = now;
    if (end <= cfg.recover_at) at_recover = now;
    last = now;
  };
  out.load = load::run(load::open_loop{load::plan::constant(cfg.rate, cfg.length)}, std::move(target), opts);
  for (std::size_t i = 0; i < kBackends; ++i) out.degraded_accepted[i] = at_recover[i] - at_degrade[i];
  for (auto& b : backends) b.stop();
  return out;
}

double pct(const troupe::histogram& h, double p) {
  return static_cast<double>(h.value_at_percentile(p)) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  samples::sample app("adaptive_lb",
                      "three backends, one degrades mid-run: round-robin against power of two choices (p2c)");
  double rate = 750, mean_ms = 2, slowdown = 5, length_opt = 0;
  app.cli()
      .add_option("--rate", rate, "requests per second (capacity: 3 / mean)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--service-ms", mean_ms, "mean service time of a healthy backend, ms")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--slowdown", slowdown, "how many times slower the degraded backend gets")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--length", length_opt, "run length per policy, seconds (default 45; --quick 12)")
      ->check(CLI::PositiveNumber);
  if (auto code = app.parse(argc, argv)) return *code;

  const double length_s = length_opt > 0 ? length_opt : (app.quick() ? 12.0 : 45.0);
  const auto secs = [](double s) {
    return std::chrono::duration_cast<troupe::clock::duration>(std::chrono::duration<double>(s));
  };
  setup cfg{rate, secs(length_s),           secs(length_s / 3), secs(length_s * 2 / 3), secs(mean_ms / 1e3),
            1s,   app.quick() ? 500ms : 1s, slowdown,           app.opts().seed};

  // p2c: latency and error estimates that forget within a second (Finagle's
  // 10 s suits long-lived services; these phases last seconds), and no slow
  // start (all three backends are there from the beginning).
  troupe::routing::p2c p2c;
  p2c.config.decay = 1s;
  p2c.config.error_decay = 1s;
  p2c.config.slow_start = troupe::clock::duration::zero();
  p2c.config.seed = app.opts().seed;

  troupe::runtime rt;
  troupe::actor_system system(rt);
  std::fprintf(stderr,
               "round-robin: %.0f req/s for %.0f s, backend 2 %.0fx slower from %.0f s to %.0f s ...\n", rate,
               length_s, slowdown, length_s / 3, length_s * 2 / 3);
  run_result rr = drive(system, "round-robin", troupe::routing::round_robin{}, cfg);
  std::fprintf(stderr, "p2c: the same ...\n");
  run_result pc = drive(system, "p2c", p2c, cfg);
  system.shutdown();

  const char* phase_names[] = {"healthy", "backend 2 degraded", "recovered"};
  samples::table t({"phase", "policy", "p50", "p99", "p99.9", "timed out", "backend 2's share"});
  nlohmann::json js = nlohmann::json::array();
  for (int p = 0; p < 3; ++p) {
    for (const run_result* r : {&rr, &pc}) {
      // The degraded backend's share over the phase, from the interval shares.
      const double from = p == 0 ? 0 : p == 1 ? length_s / 3 : length_s * 2 / 3;
      const double to = p == 0 ? length_s / 3 : p == 1 ? length_s * 2 / 3 : length_s;
      double sum = 0;
      int n = 0;
      for (std::size_t i = 0; i < r->t.size(); ++i)
        if (r->t[i] > from && r->t[i] < to) {
          sum += r->share[kBackends - 1][i];
          ++n;
        }
      const double share = n ? sum / n : 0;
      const auto& h = r->phase[p];
      const double timed_out =
          h.count() ? static_cast<double>(r->phase_timeouts[p]) / static_cast<double>(h.count()) : 0;
      t.add_row({phase_names[p], r->policy, samples::format_seconds(pct(h, 50)),
                 samples::format_seconds(pct(h, 99)), samples::format_seconds(pct(h, 99.9)),
                 samples::format_percent(timed_out), samples::format_percent(share)});
      js.push_back({{"phase", phase_names[p]},
                    {"policy", r->policy},
                    {"requests", h.count()},
                    {"p50_s", pct(h, 50)},
                    {"p99_s", pct(h, 99)},
                    {"p999_s", pct(h, 99.9)},
                    {"timed_out", timed_out},
                    {"degraded_backend_share", share}});
    }
  }
  app.print(
      fmt::format(
          "{:.0f} req/s over 3 backends (mean service {:.1f} ms each, capacity {:.0f} req/s), backend 2 "
          "{:.0f}x slower from {:.0f} s to {:.0f} s; latency from each request's intended start",
          rate, mean_ms, kBackends * 1e3 / mean_ms, slowdown, length_s / 3, length_s * 2 / 3),
      t);

  app.json()["phases"] = js;
  const auto series_json = [](const run_result& r) {
    nlohmann::json s;
    s["t_s"] = r.t;
    s["p99_s"] = r.p99;
    for (std::size_t i = 0; i < kBackends; ++i) s["share"][fmt::format("backend {}", i)] = r.share[i];
    s["totals"] = {{"offered", r.load.total.offered},
                   {"ok", r.load.total.ok},
                   {"timed_out", r.load.total.timed_out},
                   {"shed", r.load.total.shed},
                   {"failed", r.load.total.failed}};
    return s;
  };
  app.json()["round_robin"] = series_json(rr);
  app.json()["p2c"] = series_json(pc);
  app.json()["config"] = {
      {"rate", rate},         {"service_ms", mean_ms},        {"slowdown", slowdown},
      {"length_s", length_s}, {"degrade_at_s", length_s / 3}, {"recover_at_s", length_s * 2 / 3},
      {"timeout_s", 1.0}};

  const double rr_p99 = pct(rr.phase[1], 99), pc_p99 = pct(pc.phase[1], 99);
  app.set_headline(
      {"p99 latency while one backend is degraded", "s", samples::better::lower, rr_p99, pc_p99});
  const auto share_of = [](const run_result& r) {
    std::uint64_t total = 0;
    for (auto v : r.degraded_accepted) total += v;
    return total ? static_cast<double>(r.degraded_accepted[kBackends - 1]) / static_cast<double>(total) : 0.0;
  };
  app.print_story(
      "issue 9, \"traffic sent to a degraded backend\" (no published figures; the claim is the direction)",
      {{"p99 while one backend is degraded", "round-robin: the slow backend's queue sets the tail",
        "p2c: the tail stays near the healthy backends'", samples::format_seconds(rr_p99),
        samples::format_seconds(pc_p99),
        pc_p99 < rr_p99 ? "reproduced: p2c keeps the tail down" : "NOT reproduced in this run"},
       {"share of traffic sent to the degraded backend", "1/3, whatever it can handle", "what it can handle",
        samples::format_percent(share_of(rr)), samples::format_percent(share_of(pc)),
        fmt::format(
            "the degraded backend can serve {:.0f} req/s of the {:.0f} offered ({}); round-robin sends it a "
            "third regardless",
            1e3 / (mean_ms * slowdown), rate, samples::format_percent(1e3 / (mean_ms * slowdown) / rate))}});

  samples::figure f;
  f.title =
      fmt::format("adaptive_lb: {:.0f} req/s over 3 backends, backend 2 {:.0f}x slower in the shaded span",
                  rate, slowdown);
  const samples::panel::span shade{length_s / 3, length_s * 2 / 3, "backend 2 degraded"};
  samples::panel lat;
  lat.title = "p99 latency per interval (from the intended start)";
  lat.xlabel = "time (s)";
  lat.ylabel = "p99 (s, log)";
  lat.logy = true;
  lat.xrange = std::pair{0.0, length_s};
  lat.shade.push_back({shade.from, shade.to, shade.label});
  for (const run_result* r : {&rr, &pc}) {
    samples::series s;
    s.title = r->policy;
    s.x = r->t;
    s.y = r->p99;
    for (auto& v : s.y) v = std::max(v, 1e-4);
    s.style = "linespoints";
    lat.lines.push_back(s);
  }
  f.panels.push_back(lat);
  for (const run_result* r : {&rr, &pc}) {
    samples::panel sh;
    sh.title = fmt::format("{}: each backend's share of requests", r->policy);
    sh.xlabel = "time (s)";
    sh.ylabel = "share";
    sh.yrange = std::pair{0.0, 1.0};
    sh.xrange = std::pair{0.0, length_s};
    sh.shade.push_back({shade.from, shade.to, shade.label});
    for (std::size_t i = 0; i < kBackends; ++i) {
      samples::series s;
      s.title = fmt::format("backend {}{}", i, i + 1 == kBackends ? " (degrades)" : "");
      s.x = r->t;
      s.y = r->share[i];
      s.style = "linespoints";
      sh.lines.push_back(s);
    }
    f.panels.push_back(sh);
  }
  f.columns = 3;
  return app.finish(f);
}
