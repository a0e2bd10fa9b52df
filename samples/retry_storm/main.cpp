// retry_storm: a service goes down for a few seconds, then comes back; many
// clients retry. Uncapped doubling without jitter, capped backoff with full
// jitter, and the same under a retry budget, each against its own copy of
// the service at the same time: attempts per request over time, and how long
// after the service is back the clients stop hammering it. README.md tells
// the story.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <troupe/load/load.hpp>
#include <troupe/troupe.hpp>
#include <vector>

#include "common/sample.hpp"

using namespace std::chrono_literals;
namespace load = troupe::load;
namespace patterns = troupe::patterns;
namespace samples = troupe::samples;
using tclock = troupe::clock;

namespace {

double seconds(tclock::duration d) { return std::chrono::duration<double>(d).count(); }
tclock::duration from_seconds(double s) {
  return std::chrono::duration_cast<tclock::duration>(std::chrono::duration<double>(s));
}

// Per 100 ms of the run: attempts sent, originals among them, and how the
// originals' first attempts ended. Written by every client concurrently.
struct timeline {
  static constexpr double bin_s = 0.1;
  tclock::time_point t0{};
  std::vector<std::atomic<std::uint64_t>> attempts, originals, first_ok, first_done, refused;
  explicit timeline(std::size_t bins)
      : attempts(bins), originals(bins), first_ok(bins), first_done(bins), refused(bins) {}
  std::size_t bin(tclock::time_point t) const {
    const double s = std::max(0.0, seconds(t - t0));
    return std::min(attempts.size() - 1, static_cast<std::size_t>(s / bin_s));
  }
  // relaxed: counters read once every request has ended (after load::run
  // returned, which waited for every completion).
  static void add(std::vector<std::atomic<std::uint64_t>>& v, std::size_t b) {
    v[b].fetch_add(1, std::memory_order_relaxed);
  }
  static std::uint64_t at(const std::vector<std::atomic<std::uint64_t>>& v, std::size_t b) {
    return v[b].load(std::memory_order_relaxed);
  }
};

struct work {};
struct reply {
  bool ok = false;
};
struct outage {
  tclock::time_point from, until;
};

// The service: one request at a time, each taking `service_time` of real
// waiting on the runtime's timer (a non-reentrant coroutine handler holds the
// actor meanwhile), so its capacity is 1 / service_time. During the outage
// it answers every request at once with an error (connection refused, a
// 503). Asks whose deadline passed while queued are refused by the mailbox
// before they cost anything.
struct service : troupe::actor<service> {
  tclock::duration service_time;
  tclock::time_point down_from = tclock::time_point::max(), down_until = tclock::time_point::max();
  explicit service(tclock::duration t) : service_time(t) {}
  void on(outage o) {
    down_from = o.from;
    down_until = o.until;
  }
  troupe::task<reply> on(work) {
    const auto now = troupe::this_actor::now();
    if (now >= down_from && now < down_until) co_return reply{false};
    co_await troupe::delay(service_time);
    co_return reply{true};
  }
};

// How a client retries: patterns::retry_config, and a retry budget shared by
// every client of the service (null: none).
struct strategy {
  std::string name;
  patterns::retry_config retry;
  std::unique_ptr<patterns::retry_budget> budget;
  tclock::duration attempt_timeout;
  timeline line;
  strategy(std::string n, patterns::retry_config r, tclock::duration attempt, std::size_t bins)
      : name(std::move(n)), retry(r), attempt_timeout(attempt), line(bins) {}
};

struct call {
  std::uint64_t id;
};

// A client: serves each call by asking the service, and on a failure or a
// timeout asks its strategy's retry_state when to try again (or to give up),
// waiting on the runtime's timer in between. Reentrant: while one call waits,
// the client serves others, as a client process with many requests would.
struct client : troupe::actor<client> {
  static constexpr bool reentrant = true;
  troupe::actor_ref<service> svc;
  strategy* how;
  patterns::random_source rng;
  client(troupe::actor_ref<service> s, strategy* h, std::uint64_t seed)
      : svc(std::move(s)), how(h), rng(seed) {}

  troupe::task<bool> on(call) {
    patterns::retry_state state(how->retry, /*safe=*/true);  // `work` is a read: safe to repeat
    const auto deadline = troupe::this_actor::deadline();
    timeline& line = how->line;
    for (;;) {
      const auto sent = troupe::this_actor::now();
      const bool first = state.attempts() == 1;
      timeline::add(line.attempts, line.bin(sent));
      if (first) {
        timeline::add(line.originals, line.bin(sent));
        if (how->budget) how->budget->on_request(sent);
      }
      auto attempt = svc.ask(work{}, how->attempt_timeout);  // capped by the call's own deadline
      troupe::result<reply> r = co_await troupe::as_result(std::move(attempt));
      const patterns::outcome o = r ? (r->ok ? patterns::outcome::success : patterns::outcome::failure)
                                    : (r.error_code() == troupe::actor_errc::timeout ||
                                               r.error_code() == troupe::actor_errc::deadline_passed
                                           ? patterns::outcome::timeout
                                           : patterns::outcome::failure);
      if (first) {
        timeline::add(line.first_done, line.bin(sent));
        if (o == patterns::outcome::success) timeline::add(line.first_ok, line.bin(sent));
      }
      if (o == patterns::outcome::success) co_return true;
      const auto now = troupe::this_actor::now();
      const patterns::retry_decision next = state.on_outcome(o, now, deadline, rng, how->budget.get());
      if (!next) {
        if (next.stop == patterns::retry_stop::budget_exhausted) timeline::add(line.refused, line.bin(now));
        co_return false;
      }
      co_await troupe::delay(next.at);
    }
  }
};

struct outcome_counts {
  std::atomic<std::uint64_t> ok{0}, failed{0};
};

struct run_result {
  load::result result;
  double recovery_s = 0;   // after the service is back
  bool recovered = false;  // within the run
  double peak_amplification = 0;
  double outage_amplification = 0;  // attempts / originals while the service was down
  double total_amplification = 0;
  std::uint64_t attempts = 0, originals = 0, refused = 0;
  std::vector<double> t, amplification, first_ok_ratio;
};

}  // namespace

int main(int argc, char** argv) {
  samples::sample app(
      "retry_storm",
      "a service down for a few seconds, then back: uncapped doubling, capped backoff with jitter, "
      "and the same under a retry budget");
  double rate = 250, down_s_opt = 0, length_opt = 0;
  double service_ms = 2;
  std::size_t clients = 100;
  app.cli()
      .add_option("--rate", rate, "new requests per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--service-ms", service_ms,
                  "the service's time per request (capacity 1000 / this per second)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--down", down_s_opt, "outage length, seconds (default 5; --quick 2)")
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--length", length_opt, "run length, seconds (default 20; --quick 8)")
      ->check(CLI::PositiveNumber);
  app.cli()
      .add_option("--clients", clients, "client actors")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  if (auto code = app.parse(argc, argv)) return *code;
  const double length_s = length_opt > 0 ? length_opt : (app.quick() ? 8.0 : 20.0);
  const double down_s = down_s_opt > 0 ? down_s_opt : (app.quick() ? 2.0 : 5.0);
  const double down_at_s = 2.0, up_at_s = down_at_s + down_s;
  const auto attempt_timeout = 250ms;
  const auto request_timeout = from_seconds(app.quick() ? 6.0 : 10.0);
  const std::size_t bins =
      static_cast<std::size_t>((length_s + seconds(request_timeout) + 2) / timeline::bin_s);

  // The three ways to retry. Same first attempt, same attempt timeout, same
  // number of attempts; they differ in the delays and in the budget.
  patterns::retry_config naive;
  naive.max_attempts = 10;
  naive.backoff = {.base = 100ms, .cap = 1h, .multiplier = 2.0, .kind = patterns::jitter::none};
  patterns::retry_config capped = naive;
  capped.backoff = {.base = 100ms, .cap = 1s, .multiplier = 2.0, .kind = patterns::jitter::full};

  troupe::runtime rt;
  troupe::actor_system system(rt);
  std::vector<std::unique_ptr<strategy>> strategies;
  strategies.push_back(
      std::make_unique<strategy>("uncapped doubling, no jitter", naive, attempt_timeout, bins));
  strategies.push_back(
      std::make_unique<strategy>("capped (1 s), full jitter", capped, attempt_timeout, bins));
  strategies.push_back(
      std::make_unique<strategy>("capped, full jitter, retry budget", capped, attempt_timeout, bins));
  // Finagle's defaults: 20% of requests, 10 retries a second, 100 in hand at most.
  strategies.back()->budget =
      std::make_unique<patterns::retry_budget>(patterns::retry_budget_config{}, system.now());

  std::fprintf(stderr,
               "retry_storm: %.0f req/s for %.0f s, service down from %.0f s to %.0f s, three strategies at "
               "once ...\n",
               rate, length_s, down_at_s, up_at_s);
  std::vector<run_result> results(strategies.size());
  std::vector<std::thread> drivers;
  for (std::size_t k = 0; k < strategies.size(); ++k) {
    drivers.emplace_back([&, k] {
      strategy& st = *strategies[k];
      auto svc = system.spawn<service>(from_seconds(service_ms / 1000));
      std::vector<troupe::actor_ref<client>> pool;
      for (std::size_t c = 0; c < clients; ++c)
        pool.push_back(system.spawn<client>(svc, &st, app.opts().seed * 1000 + c));
      bool started = false;
      load::target t = [&](load::request r) {
        if (!started) {  // the run's clock starts with its first request
          started = true;
          st.line.t0 = r.intended_start;
          svc.send(outage{tclock::after(r.intended_start, from_seconds(down_at_s)),
                          tclock::after(r.intended_start, from_seconds(up_at_s))});
        }
        auto f = pool[r.id % pool.size()].ask(call{r.id}, r.deadline);
        f.on_complete([done = std::move(r.done)](troupe::result<bool> res) mutable {
          done(res ? (*res ? load::outcome::ok : load::outcome::error) : load::outcome::timeout);
        });
      };
      load::run_options opts;
      opts.timeout = request_timeout;
      results[k].result =
          load::run(load::open_loop{load::plan::constant(rate, from_seconds(length_s))}, std::move(t), opts);
      for (auto& c : pool) c.stop();
      svc.stop();
    });
  }
  for (auto& d : drivers) d.join();
  system.shutdown();

  // Per bin: amplification (attempts / originals) and the share of originals
  // whose first attempt succeeded. Healthy: >= 95% first-attempt successes
  // and amplification <= 1.25. Recovered: from the first bin after the
  // service is back from which every bin to the plan's end is healthy.
  const std::size_t plan_bins = static_cast<std::size_t>(length_s / timeline::bin_s);
  const std::size_t up_bin = static_cast<std::size_t>(up_at_s / timeline::bin_s);
  const std::size_t down_bin = static_cast<std::size_t>(down_at_s / timeline::bin_s);
  for (std::size_t k = 0; k < strategies.size(); ++k) {
    const timeline& line = strategies[k]->line;
    run_result& rr = results[k];
    std::uint64_t outage_attempts = 0, outage_originals = 0;
    std::optional<std::size_t> last_unhealthy;
    for (std::size_t b = 0; b < line.attempts.size(); ++b) {
      const auto a = timeline::at(line.attempts, b), o = timeline::at(line.originals, b);
      rr.attempts += a;
      rr.originals += o;
      rr.refused += timeline::at(line.refused, b);
      if (b >= plan_bins) continue;
      const double amp = o ? static_cast<double>(a) / static_cast<double>(o) : 0;
      const auto fd = timeline::at(line.first_done, b);
      const double ok =
          fd ? static_cast<double>(timeline::at(line.first_ok, b)) / static_cast<double>(fd) : 1;
      rr.t.push_back(static_cast<double>(b) * timeline::bin_s);
      rr.amplification.push_back(amp);
      rr.first_ok_ratio.push_back(ok);
      rr.peak_amplification = std::max(rr.peak_amplification, amp);
      if (b >= down_bin && b < up_bin) {
        outage_attempts += a;
        outage_originals += o;
      }
      if (b >= up_bin && !(ok >= 0.95 && amp <= 1.25)) last_unhealthy = b;
    }
    rr.outage_amplification =
        outage_originals ? static_cast<double>(outage_attempts) / static_cast<double>(outage_originals) : 0;
    rr.total_amplification =
        rr.originals ? static_cast<double>(rr.attempts) / static_cast<double>(rr.originals) : 0;
    rr.recovered = !last_unhealthy || *last_unhealthy + 1 < plan_bins;
    rr.recovery_s = last_unhealthy ? static_cast<double>(*last_unhealthy + 1 - up_bin) * timeline::bin_s : 0;
  }

  const auto recovery_text = [](const run_result& rr) {
    return rr.recovered ? samples::format_seconds(rr.recovery_s)
                        : fmt::format("> {} (not within the run)", samples::format_seconds(rr.recovery_s));
  };
  samples::table t({"strategy", "attempts / request, outage", "peak (per 100 ms)", "whole run",
                    "retries refused", "time to recover", "requests ok", "failed", "p99 (ok or not)"});
  nlohmann::json js = nlohmann::json::array();
  for (std::size_t k = 0; k < strategies.size(); ++k) {
    const auto& rr = results[k];
    const auto& n = rr.result.total;
    const double offered = static_cast<double>(n.offered);
    const double p99 = static_cast<double>(rr.result.latency.value_at_percentile(99)) / 1e9;
    t.add_row({strategies[k]->name, fmt::format("{:.2f}", rr.outage_amplification),
               fmt::format("{:.2f}", rr.peak_amplification), fmt::format("{:.2f}", rr.total_amplification),
               fmt::format("{}", rr.refused), recovery_text(rr),
               samples::format_percent(static_cast<double>(n.ok) / offered),
               samples::format_percent(static_cast<double>(n.completed() - n.ok) / offered),
               samples::format_seconds(p99)});
    js.push_back(
        {{"strategy", strategies[k]->name},
         {"outage_amplification", rr.outage_amplification},
         {"peak_amplification", rr.peak_amplification},
         {"total_amplification", rr.total_amplification},
         {"attempts", rr.attempts},
         {"originals", rr.originals},
         {"retries_refused", rr.refused},
         {"recovery_s", rr.recovery_s},
         {"recovered_within_run", rr.recovered},
         {"requests",
          {{"offered", n.offered}, {"ok", n.ok}, {"failed", n.failed}, {"timed_out", n.timed_out}}},
         {"p99_s", p99},
         {"timeline",
          {{"t_s", rr.t}, {"amplification", rr.amplification}, {"first_attempt_ok", rr.first_ok_ratio}}}});
  }
  app.json()["strategies"] = js;
  app.json()["config"] = {{"rate", rate},
                          {"capacity", 1000 / service_ms},
                          {"down_at_s", down_at_s},
                          {"up_at_s", up_at_s},
                          {"length_s", length_s},
                          {"clients", clients},
                          {"attempt_timeout_s", seconds(attempt_timeout)},
                          {"max_attempts", naive.max_attempts}};
  app.print(fmt::format("{:.0f} req/s into a service of capacity {:.0f}/s, down from {:.0f} s to {:.0f} s; "
                        "{} client actors, "
                        "up to {} attempts of {} each",
                        rate, 1000 / service_ms, down_at_s, up_at_s, clients, naive.max_attempts,
                        samples::format_seconds(seconds(attempt_timeout))),
            t);

  const auto& worst = results[0];
  const auto& best = results[2];
  app.set_headline({"time to recover after the service is back", "s", samples::better::lower,
                    worst.recovery_s, best.recovery_s});
  app.print_story(
      "issue 9 (no published figures); Brooker, \"Exponential Backoff And Jitter\", 2015; Finagle's "
      "RetryBudget",
      {{"load amplification while down", "grows with each retry", "<= 1 + ratio (budget)",
        fmt::format("{:.2f}x", worst.outage_amplification), fmt::format("{:.2f}x", best.outage_amplification),
        fmt::format(
            "the issue gives no figure; the budget's bound holds: 1.2x, plus 10 retries a second, plus "
            "the 100 tokens it may have banked before the outage: {:.2f}x over this outage",
            1.2 + 10 / rate + 100 / (rate * down_s))},
       {"time to recover", "long (the storm)", "short", recovery_text(worst), recovery_text(best),
        "no published figure to compare with; the direction is the story's: the budget leaves no backlog of "
        "retries to hit the service when it comes back, at the price of failing more requests during the "
        "outage"}});

  samples::figure f;
  f.title = fmt::format("retry_storm: {:.0f} req/s, capacity {:.0f}/s, down {:.0f}-{:.0f} s", rate,
                        1000 / service_ms, down_at_s, up_at_s);
  f.columns = 3;
  f.panel_width = 520;
  samples::panel amp, okp, rec;
  amp.title = "load amplification: attempts / new requests (100 ms bins)";
  amp.xlabel = "time (s)";
  amp.ylabel = "attempts per new request";
  okp.title = "new requests whose first attempt succeeded";
  okp.xlabel = "time (s)";
  okp.ylabel = "share";
  okp.yrange = std::pair{0.0, 1.05};
  for (auto* p : {&amp, &okp}) p->shade.push_back({down_at_s, up_at_s, "down"});
  for (std::size_t k = 0; k < strategies.size(); ++k) {
    samples::series a, o;
    a.title = o.title = strategies[k]->name;
    a.style = o.style = "steps";
    a.x = o.x = results[k].t;
    a.y = results[k].amplification;
    o.y = results[k].first_ok_ratio;
    amp.lines.push_back(a);
    okp.lines.push_back(o);
  }
  rec.title = "time to recover after the service is back (a bar up to the run's end: never)";
  rec.ylabel = "seconds";
  samples::series bars;
  bars.title = "time to recover";
  bars.style = "boxes";
  for (std::size_t k = 0; k < strategies.size(); ++k) {
    rec.xtics.push_back({static_cast<double>(k), k == 0   ? "uncapped"
                                                 : k == 1 ? "capped + jitter"
                                                          : "+ budget"});
    bars.x.push_back(static_cast<double>(k));
    bars.y.push_back(results[k].recovery_s);
  }
  rec.lines = {bars};
  f.panels = {amp, okp, rec};
  return app.finish(f);
}
