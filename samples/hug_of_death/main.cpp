// hug_of_death: a traffic spike of 1,000x the base rate hits a front, an
// application tier and a database with a fixed pool of connections. The
// naive service queues without bound, retries without a budget and gives new
// instances full traffic at once; the troupe service bounds its mailboxes,
// sheds with a clear "overloaded", puts a breaker with a cached fallback in
// front of the database, retries under a budget and slow-starts new
// instances. README.md tells the story.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <troupe/load/load.hpp>
#include <troupe/troupe.hpp>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "common/sample.hpp"

using namespace std::chrono_literals;
namespace load = troupe::load;
namespace samples = troupe::samples;

namespace {

// --- The model's constants (README.md, "How the sample maps it") --------------
constexpr std::size_t kConnections = 4;                        // the database's pool
constexpr auto kQueryTime = 5ms;                               // one query holds a connection this long
constexpr double kNominalCapacity = kConnections * 1e3 / 5.0;  // queries/s if a 5 ms wait took exactly 5 ms
constexpr std::size_t kApps = 4;                               // application instances before the spike
constexpr std::size_t kNewApps = 2;                            // added by the autoscaler during the spike
constexpr std::uint64_t kWarmup = 300;    // requests a new instance serves before its cache is warm
constexpr std::size_t kBodyBytes = 1024;  // each request's payload
constexpr auto kClientTimeout = 2s;       // a user gives up after this

// Queries the database has run (either service's connections), read once a
// second. relaxed everywhere: a statistic, nothing is published with it.
std::atomic<std::uint64_t> g_queries_run{0};

enum class status : std::uint8_t { fresh, stale, overloaded, failed };
struct answer {
  status st = status::failed;
};
struct request {
  static constexpr bool idempotent = true;  // a read: safe to retry
  std::uint64_t key = 0;
  std::string body;
};
struct query {
  static constexpr bool idempotent = true;
  std::uint64_t key = 0;
};

// A new instance's cache starts cold: until it has served kWarmup requests,
// a request needs one more database query (loading what a warm instance
// holds) with probability 1 - served / kWarmup.
struct warmup {
  bool cold_from_start;
  std::uint64_t served = 0;
  std::mt19937_64 rng;
  bool extra_query() {
    ++served;
    if (!cold_from_start || served >= kWarmup) return false;
    return std::uniform_real_distribution<double>(0, 1)(rng) >
           static_cast<double>(served) / static_cast<double>(kWarmup);
  }
};

double seconds(troupe::clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ============================================================ the naive service
// A connection runs every query it is sent, in order, whether or not anyone
// still waits for the answer (plain sends: no deadline travels); the pool's
// queue is unbounded. The application answers through a callback table; the
// front retries every failure at once, three attempts, no budget.

struct naive_app;
struct naive_query {
  std::uint64_t id;
  troupe::actor_ref<naive_app> app;
};
struct query_done {
  std::uint64_t id;
};

struct naive_connection : troupe::actor<naive_connection> {
  troupe::task<void> on(naive_query q);
};

struct naive_app : troupe::actor<naive_app> {
  naive_app(std::vector<troupe::actor_ref<naive_connection>> pool, bool cold, std::uint64_t seed,
            std::atomic<std::int64_t>* held)
      : pool(std::move(pool)), wu{cold, 0, std::mt19937_64(seed)}, held(held) {}

  struct pending {
    troupe::reply_promise<answer> reply;
    request req;  // kept until answered, as a callback would
    int queries_left;
  };

  troupe::reply_promise<answer> on(request r) {
    auto reply = troupe::this_actor::reply_later<answer>();
    const int queries = 1 + (wu.extra_query() ? 1 : 0);
    const std::uint64_t id = next_id++;
    for (int i = 0; i < queries; ++i) pool[next_conn++ % pool.size()].send(naive_query{id, self()});
    waiting.emplace(id, pending{reply, std::move(r), queries});
    held->fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return reply;
  }
  void on(query_done d) {
    auto it = waiting.find(d.id);
    if (it == waiting.end() || --it->second.queries_left > 0) return;
    it->second.reply.deliver(answer{status::fresh});  // to nobody, if the front gave up: a dead letter
    waiting.erase(it);
    held->fetch_sub(1, std::memory_order_relaxed);
  }
  void on_stop() { held->fetch_sub(static_cast<std::int64_t>(waiting.size()), std::memory_order_relaxed); }

  std::vector<troupe::actor_ref<naive_connection>> pool;
  std::size_t next_conn = 0;
  std::unordered_map<std::uint64_t, pending> waiting;
  std::uint64_t next_id = 0;
  warmup wu;
  std::atomic<std::int64_t>* held;
};

troupe::task<void> naive_connection::on(naive_query q) {
  g_queries_run.fetch_add(1, std::memory_order_relaxed);
  co_await troupe::delay(kQueryTime);
  q.app.send(query_done{q.id});
}

struct naive_front : troupe::actor<naive_front> {
  static constexpr bool reentrant = true;  // many requests at once
  explicit naive_front(troupe::router<naive_app> apps) : apps(std::move(apps)) {}
  troupe::task<answer> on(request r) {
    for (int attempt = 0; attempt < 3; ++attempt) {  // retry at once, every time: no budget, no backoff
      request copy = r;
      auto reply = apps.ask(std::move(copy), 600ms);
      troupe::result<answer> res = co_await troupe::as_result(std::move(reply));
      if (res) co_return *res;
    }
    co_return answer{status::failed};
  }
  troupe::router<naive_app> apps;
};

// =========================================================== the troupe service
// A connection is an actor with a bounded mailbox that sheds requests which
// waited too long (CoDel), and skips requests whose caller gave up (the
// deadline travels with each ask). The application reaches the pool through
// a breaker with a cached fallback; the front reaches the application tier
// through p2c with slow start, retries under a budget.

struct connection : troupe::actor<connection> {
  troupe::task<answer> on(query) {
    g_queries_run.fetch_add(1, std::memory_order_relaxed);
    co_await troupe::delay(kQueryTime);
    co_return answer{status::fresh};
  }
};

// Yesterday's answers for most keys: what the breaker falls back to.
struct stale_cache : troupe::actor<stale_cache> {
  troupe::reply_promise<answer> on(query q) {
    auto reply = troupe::this_actor::reply_later<answer>();
    if (q.key % 10 < 7)
      reply.deliver(answer{status::stale});
    else  // not cached: the caller gets the original error (no exception escapes the handler)
      reply.fail(std::make_exception_ptr(troupe::actor_error(troupe::actor_errc::overloaded, "not cached")));
    return reply;
  }
};

using pool_ref =
    troupe::protected_ref<connection, troupe::router<connection, troupe::routing::smallest_mailbox>>;

struct app : troupe::actor<app> {
  static constexpr bool reentrant = true;
  app(pool_ref db, bool cold, std::uint64_t seed) : db(std::move(db)), wu{cold, 0, std::mt19937_64(seed)} {}

  troupe::task<answer> on(request r) {
    if (wu.extra_query()) {
      auto warm = db.ask(query{r.key}, 250ms);
      troupe::result<answer> w = co_await troupe::as_result(std::move(warm));
      if (!w) co_return answer{status::overloaded};
    }
    auto q = db.ask(query{r.key}, 250ms);
    troupe::result<answer> res = co_await troupe::as_result(std::move(q));
    if (res) co_return *res;  // fresh, or stale from the fallback
    const auto code = res.error_code();
    co_return answer{code == troupe::actor_errc::overloaded || code == troupe::actor_errc::mailbox_full ||
                             code == troupe::actor_errc::circuit_open
                         ? status::overloaded
                         : status::failed};
  }
  pool_ref db;
  warmup wu;
};

using apps_ref = troupe::protected_ref<app, troupe::router<app, troupe::routing::p2c>>;

struct front : troupe::actor<front> {
  static constexpr bool reentrant = true;
  explicit front(apps_ref apps) : apps(std::move(apps)) {}
  troupe::task<answer> on(request r) {
    auto reply = apps.ask(std::move(r), troupe::this_actor::deadline());
    troupe::result<answer> res = co_await troupe::as_result(std::move(reply));
    if (res) co_return *res;
    co_return answer{res.error_code() == troupe::actor_errc::overloaded ? status::overloaded
                                                                        : status::failed};
  }
  apps_ref apps;
};

// ================================================================= measuring

std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

struct second {
  double t = 0;  // the second's end, from the run's start
  std::uint64_t offered = 0, fresh = 0, stale = 0, shed = 0, timed_out = 0, failed = 0;
  troupe::histogram ok_latency = load::make_latency_histogram();  // fresh and stale answers
  std::uint64_t queries = 0;                                      // the database's work: queries run
  double rss_mb = 0;                                              // resident memory above the run's start
  std::int64_t queued = 0;  // requests held in mailboxes and callback tables
};

struct plan_cfg {
  double base, peak;
  troupe::clock::duration before, spike, after;
};

// The service under test, either way: where requests go in, and what it
// holds right now.
struct service {
  std::function<troupe::ask_future<answer>(request)> ask;
  std::function<std::int64_t()> queued;
  std::function<void()> scale_out;  // the autoscaler adds kNewApps instances
  std::function<void()> stop;
};

std::vector<second> drive(service& svc, const plan_cfg& p) {
  const double spike_at = seconds(p.before);
  const std::size_t n_seconds =
      static_cast<std::size_t>(std::ceil(seconds(p.before + p.spike + p.after))) + 4;
  std::vector<second> out(n_seconds);
  for (std::size_t i = 0; i < n_seconds; ++i) out[i].t = static_cast<double>(i + 1);
  std::mutex mu;
  auto clock = troupe::default_clock();
  troupe::clock::time_point t0{};
  bool started = false, scaled = false;
  const std::string body(kBodyBytes, 'x');
  std::uint64_t key = 0;

  load::target target = [&](load::request r) {
    if (!started) {
      t0 = r.intended_start;
      started = true;
    }
    if (!scaled && seconds(r.intended_start - t0) >= spike_at + 1.0) {
      svc.scale_out();  // one second into the spike the autoscaler reacts
      scaled = true;
    }
    request req{key++ * 0x9e3779b97f4a7c15ULL, body};
    auto reply = svc.ask(std::move(req));
    reply.on_complete(
        [&, intended = r.intended_start, done = std::move(r.done)](troupe::result<answer> res) mutable {
          const auto now = clock->now();
          load::outcome o = load::outcome::error;
          {
            std::lock_guard lock(mu);
            second& s = out[std::min(out.size() - 1, static_cast<std::size_t>(seconds(now - t0)))];
            if (res && (res->st == status::fresh || res->st == status::stale)) {
              (res->st == status::fresh ? s.fresh : s.stale)++;
              s.ok_latency.record(static_cast<std::uint64_t>((now - intended).count()));
              o = load::outcome::ok;
            } else if ((res && res->st == status::overloaded) ||
                       res.error_code() == troupe::actor_errc::mailbox_full ||
                       res.error_code() == troupe::actor_errc::overloaded) {
              ++s.shed;
              o = load::outcome::overloaded;
            } else if (res.error_code() == troupe::actor_errc::timeout) {
              ++s.timed_out;
              o = load::outcome::timeout;
            } else {
              ++s.failed;
            }
          }
          done(o);
        });
  };

  const std::uint64_t rss0 = rss_bytes();
  std::uint64_t queries_before = g_queries_run.load(std::memory_order_relaxed);
  load::run_options opts;
  opts.timeout = kClientTimeout + 500ms;  // the client's own ask times out first
  opts.interval = 1s;
  opts.on_interval = [&](const load::interval_report& ir) {
    const std::size_t i = static_cast<std::size_t>(seconds(ir.start));
    if (i >= out.size()) return;
    std::lock_guard lock(mu);
    out[i].offered = ir.n.offered;
    out[i].rss_mb = (static_cast<double>(rss_bytes()) - static_cast<double>(rss0)) / 1e6;
    out[i].queued = svc.queued();
    const std::uint64_t q = g_queries_run.load(std::memory_order_relaxed);
    out[i].queries = q - queries_before;
    queries_before = q;
  };
  const auto plan = load::plan::spike(p.base, p.peak, p.before, p.spike, p.after);
  load::run(load::open_loop{plan}, std::move(target), opts);
  svc.stop();
  // The seconds that ran (the plan, and the last requests' ends).
  std::lock_guard lock(mu);
  while (!out.empty() && out.back().offered == 0 &&
         out.back().fresh + out.back().stale + out.back().shed + out.back().timed_out + out.back().failed ==
             0)
    out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  samples::sample app_cli("hug_of_death",
                          "a 1,000x spike on front, application and a database with a fixed connection pool");
  double base = 3, factor = 1000;
  app_cli.cli()
      .add_option("--base", base, "base rate, requests per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app_cli.cli()
      .add_option("--factor", factor, "the spike's rate, as a multiple of the base")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  if (auto code = app_cli.parse(argc, argv)) return *code;
  const bool quick = app_cli.quick();
  const plan_cfg p{base, base * factor, quick ? 2s : 5s, quick ? 5s : 20s, quick ? 5s : 15s};
  const std::uint64_t seed = app_cli.opts().seed;

  troupe::runtime rt;
  troupe::actor_system system(rt);

  // ---- the troupe service
  std::vector<second> protected_run;
  {
    troupe::router<connection, troupe::routing::smallest_mailbox> pool(system);
    std::vector<troupe::actor_ref<connection>> conns;
    for (std::size_t k = 0; k < kConnections; ++k) {
      // 8 queries of room (40 ms of work); CoDel sheds what waited over 10 ms.
      auto c = system.spawn<connection>(
          troupe::spawn_options{.capacity = 8,
                                .policy = troupe::overflow_policy::fail,
                                .dequeue = troupe::patterns::shed_by_queue_delay({.target = 10ms})});
      conns.push_back(c);
      pool.add(c, k);
    }
    auto cache = system.spawn<stale_cache>(
        troupe::spawn_options{.capacity = 4096, .policy = troupe::overflow_policy::fail});
    const pool_ref db = troupe::protect(pool).breaker().fallback<query>(cache);
    troupe::routing::p2c balance;
    balance.config.decay = 1s;
    balance.config.error_decay = 1s;
    balance.config.slow_start = quick ? 3s : 10s;
    balance.config.seed = seed;
    troupe::router<app, troupe::routing::p2c> apps(system, balance);
    std::vector<troupe::actor_ref<app>> app_refs;
    const troupe::spawn_options app_opts{.capacity = 1024, .policy = troupe::overflow_policy::fail};
    for (std::size_t i = 0; i < kApps; ++i) {
      app_refs.push_back(system.spawn<app>(app_opts, db, false, seed + i));
      apps.add(app_refs.back(), i);
    }
    const apps_ref to_apps = troupe::protect(apps)
                                 .budget({.ratio = 0.1, .floor_per_second = 5, .max_tokens = 20})
                                 .retry({.max_attempts = 3, .backoff = {.base = 20ms, .cap = 200ms}})
                                 .timeout(600ms);
    auto entry = system.spawn<front>(
        troupe::spawn_options{.capacity = 2048, .policy = troupe::overflow_policy::fail}, to_apps);
    service svc;
    svc.ask = [entry](request r) { return entry.ask(std::move(r), kClientTimeout, troupe::when_full::fail); };
    svc.queued = [&] {
      std::int64_t n = static_cast<std::int64_t>(entry.depth());
      for (auto& c : conns) n += static_cast<std::int64_t>(c.depth());
      for (auto& a : app_refs) n += static_cast<std::int64_t>(a.depth());
      return n;
    };
    svc.scale_out = [&] {
      for (std::size_t j = 0; j < kNewApps; ++j) {
        app_refs.push_back(system.spawn<app>(app_opts, db, true, seed + 100 + j));
        apps.add(app_refs.back(), kApps + j);  // p2c: slow start from now
      }
    };
    svc.stop = [&] {
      entry.stop(troupe::stop_mode::immediate);
      for (auto& a : app_refs) a.stop(troupe::stop_mode::immediate);
      for (auto& c : conns) c.stop(troupe::stop_mode::immediate);
      cache.stop(troupe::stop_mode::immediate);
    };
    std::fprintf(stderr, "troupe: %.0f -> %.0f -> %.0f req/s ...\n", p.base, p.peak, p.base);
    protected_run = drive(svc, p);
    const auto c = to_apps.counters();
    app_cli.json()["troupe_counters"] = {{"retries", c.retries},
                                         {"budget_exhausted", c.budget_exhausted},
                                         {"db_fallbacks", db.counters().fallbacks},
                                         {"db_breaker_rejected", db.counters().rejected}};
  }

  // ---- the naive service
  std::vector<second> naive_run;
  {
    std::atomic<std::int64_t> held{0};
    const troupe::spawn_options unbounded{.capacity = (std::size_t{1} << 28) - 1};
    std::vector<troupe::actor_ref<naive_connection>> conns;
    for (std::size_t k = 0; k < kConnections; ++k) conns.push_back(system.spawn<naive_connection>(unbounded));
    troupe::router<naive_app> apps(system);
    std::vector<troupe::actor_ref<naive_app>> app_refs;
    for (std::size_t i = 0; i < kApps; ++i) {
      app_refs.push_back(system.spawn<naive_app>(unbounded, conns, false, seed + i, &held));
      apps.add(app_refs.back(), i);
    }
    auto entry = system.spawn<naive_front>(unbounded, apps);
    service svc;
    svc.ask = [entry](request r) { return entry.ask(std::move(r), kClientTimeout, troupe::when_full::fail); };
    svc.queued = [&] {
      std::int64_t n = static_cast<std::int64_t>(entry.depth()) + held.load(std::memory_order_relaxed);
      for (auto& c : conns) n += static_cast<std::int64_t>(c.depth());
      for (auto& a : app_refs) n += static_cast<std::int64_t>(a.depth());
      return n;
    };
    svc.scale_out = [&] {
      for (std::size_t j = 0; j < kNewApps; ++j) {
        app_refs.push_back(system.spawn<naive_app>(unbounded, conns, true, seed + 100 + j, &held));
        apps.add(app_refs.back(), kApps + j);  // round-robin: a full share at once
      }
    };
    svc.stop = [&] {
      entry.stop(troupe::stop_mode::immediate);
      for (auto& a : app_refs) a.stop(troupe::stop_mode::immediate);
      for (auto& c : conns) c.stop(troupe::stop_mode::immediate);
    };
    std::fprintf(stderr, "naive: the same ...\n");
    naive_run = drive(svc, p);
  }
  system.shutdown(troupe::stop_mode::immediate);

  // ---- per-second tables
  const double spike_from = seconds(p.before), spike_to = seconds(p.before + p.spike);
  const auto per_second = [&](const char* name, const std::vector<second>& run) {
    samples::table t({"second", "offered", "db queries", "goodput", "stale", "shed", "timed out", "failed",
                      "p50 ok", "p99 ok", "memory +MB", "queued"});
    for (const auto& s : run) {
      const bool in_spike = s.t > spike_from && s.t <= spike_to;
      t.add_row(
          {fmt::format("{:.0f}{}", s.t, in_spike ? " *" : ""), fmt::format("{}", s.offered),
           fmt::format("{}", s.queries), fmt::format("{}", s.fresh), fmt::format("{}", s.stale),
           fmt::format("{}", s.shed), fmt::format("{}", s.timed_out), fmt::format("{}", s.failed),
           s.ok_latency.empty() ? "-" : samples::format_seconds(s.ok_latency.value_at_percentile(50) / 1e9),
           s.ok_latency.empty() ? "-" : samples::format_seconds(s.ok_latency.value_at_percentile(99) / 1e9),
           fmt::format("{:.1f}", s.rss_mb), fmt::format("{}", s.queued)});
    }
    app_cli.print(
        fmt::format("{}: per second (* = the spike; goodput = fresh answers; latency of answered requests "
                    "from their intended start)",
                    name),
        t);
  };
  per_second("naive", naive_run);
  per_second("troupe", protected_run);

  // ---- phase summaries
  struct phase_sum {
    double goodput = 0, queries = 0, stale = 0, shed = 0, timed_out = 0, failed = 0, p99 = 0, peak_rss = 0,
           peak_queued = 0;
    // Of the database's work, the share that answered a waiting user. While
    // the pool is saturated (the spike, both services) its queries/s is its
    // capacity on this machine right then, so this is goodput / capacity.
    double useful() const { return queries > 0 ? goodput / queries : 0; }
  };
  const auto summarize = [&](const std::vector<second>& run, double from, double to) {
    phase_sum r;
    troupe::histogram h = load::make_latency_histogram();
    int n = 0;
    for (const auto& s : run) {
      if (!(s.t > from && s.t <= to)) continue;
      ++n;
      r.goodput += static_cast<double>(s.fresh);
      r.queries += static_cast<double>(s.queries);
      r.failed += static_cast<double>(s.failed);
      r.stale += static_cast<double>(s.stale);
      r.shed += static_cast<double>(s.shed);
      r.timed_out += static_cast<double>(s.timed_out);
      h.add(s.ok_latency);
      r.peak_rss = std::max(r.peak_rss, s.rss_mb);
      r.peak_queued = std::max(r.peak_queued, static_cast<double>(s.queued));
    }
    if (n > 0) {
      r.goodput /= n;
      r.queries /= n;
      r.failed /= n;
      r.stale /= n;
      r.shed /= n;
      r.timed_out /= n;
    }
    r.p99 = h.empty() ? 0 : static_cast<double>(h.value_at_percentile(99)) / 1e9;
    return r;
  };
  const double end_s = seconds(p.before + p.spike + p.after);
  const struct {
    const char* name;
    double from, to;
  } phases[] = {{"before", 0, spike_from},
                {"spike", spike_from, spike_to},
                {"after (from 1 s on)", spike_to + 1, end_s}};
  samples::table summary({"phase", "service", "goodput/s", "db queries/s", "goodput / db work", "stale/s",
                          "shed/s", "timed out/s", "failed/s", "p99 ok", "peak memory +MB", "peak queued"});
  nlohmann::json js;
  for (const auto& ph : phases) {
    for (const auto& [name, run] : {std::pair{"naive", &naive_run}, std::pair{"troupe", &protected_run}}) {
      const phase_sum s = summarize(*run, ph.from, ph.to);
      summary.add_row({ph.name, name, fmt::format("{:.0f}", s.goodput), fmt::format("{:.0f}", s.queries),
                       samples::format_percent(s.useful()), fmt::format("{:.0f}", s.stale),
                       fmt::format("{:.0f}", s.shed), fmt::format("{:.0f}", s.timed_out),
                       fmt::format("{:.0f}", s.failed), s.p99 > 0 ? samples::format_seconds(s.p99) : "-",
                       fmt::format("{:.1f}", s.peak_rss), fmt::format("{:.0f}", s.peak_queued)});
      js[name][ph.name] = {{"goodput_per_s", s.goodput},
                           {"db_queries_per_s", s.queries},
                           {"goodput_of_db_work", s.useful()},
                           {"stale_per_s", s.stale},
                           {"shed_per_s", s.shed},
                           {"timed_out_per_s", s.timed_out},
                           {"failed_per_s", s.failed},
                           {"p99_ok_s", s.p99},
                           {"peak_rss_mb", s.peak_rss},
                           {"peak_queued", s.peak_queued}};
    }
  }
  app_cli.print(
      fmt::format("{:.0f} req/s, then {:.0f} req/s ({:.0f}x) for {:.0f} s, then {:.0f} req/s; the database: "
                  "{} connections x {} ms a query ({:.0f} queries/s nominal); goodput = fresh answers",
                  p.base, p.peak, factor, seconds(p.spike), p.base, kConnections,
                  std::chrono::milliseconds(kQueryTime).count(), kNominalCapacity),
      summary);

  const auto series_json = [](const std::vector<second>& run) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& s : run)
      a.push_back({{"t_s", s.t},
                   {"offered", s.offered},
                   {"db_queries", s.queries},
                   {"goodput", s.fresh},
                   {"stale", s.stale},
                   {"shed", s.shed},
                   {"timed_out", s.timed_out},
                   {"failed", s.failed},
                   {"p50_ok_s", s.ok_latency.empty() ? 0.0 : s.ok_latency.value_at_percentile(50) / 1e9},
                   {"p99_ok_s", s.ok_latency.empty() ? 0.0 : s.ok_latency.value_at_percentile(99) / 1e9},
                   {"rss_mb", s.rss_mb},
                   {"queued", s.queued}});
    return a;
  };
  app_cli.json()["phases"] = js;
  app_cli.json()["naive"]["seconds"] = series_json(naive_run);
  app_cli.json()["troupe"]["seconds"] = series_json(protected_run);
  app_cli.json()["config"] = {{"base", p.base},
                              {"peak", p.peak},
                              {"spike_at_s", spike_from},
                              {"spike_s", seconds(p.spike)},
                              {"after_s", seconds(p.after)},
                              {"nominal_capacity_per_s", kNominalCapacity},
                              {"connections", kConnections},
                              {"query_ms", 5},
                              {"apps", kApps},
                              {"new_apps", kNewApps},
                              {"client_timeout_s", 2.0}};

  const phase_sum ns = summarize(naive_run, spike_from, spike_to),
                  ts = summarize(protected_run, spike_from, spike_to);
  // After the spike, from its second second on (the first still ends requests the spike sent).
  const phase_sum na = summarize(naive_run, spike_to + 1, end_s),
                  ta = summarize(protected_run, spike_to + 1, end_s);
  app_cli.set_headline({"goodput through the spike, share of the saturated database's work", "fraction",
                        samples::better::higher, ns.useful(), ts.useful()});
  const auto pct = [](double f) { return samples::format_percent(f); };
  app_cli.print_story(
      "issue 9, the \"hug of death\" (no published figures: the claims are the shape)",
      {{"goodput through the spike", "collapses: the pool serves requests nobody waits for",
        ">= 90% of capacity", pct(ns.useful()), pct(ts.useful()),
        fmt::format(
            "{}: capacity is what the saturated pool ran in the same seconds ({:.0f} and {:.0f} queries/s; "
            "{:.0f} nominal: a 5 ms timer wait and its turn take a little longer on a busy machine)",
            ts.useful() >= 0.9 ? "reproduced" : "troupe under 90% in this run", ns.queries, ts.queries,
            kNominalCapacity)},
       {"p99 of answered requests, spike", "grows to the timeout", "bounded", samples::format_seconds(ns.p99),
        samples::format_seconds(ts.p99), ts.p99 < ns.p99 ? "reproduced" : "not reproduced in this run"},
       {"memory, peak above the start", "grows with the backlog", "flat",
        fmt::format("+{:.0f} MB", ns.peak_rss), fmt::format("+{:.0f} MB", ts.peak_rss),
        "RSS of this one process (the troupe side runs first; the naive side starts from what it left)"},
       {"goodput after the spike (share of offered)", "still drowning in the backlog", "back at once",
        pct(na.goodput / p.base), pct(ta.goodput / p.base),
        ta.goodput > na.goodput ? "reproduced" : "not reproduced in this run"}});

  samples::figure f;
  f.title = fmt::format("hug_of_death: {:.0f} -> {:.0f} req/s for {:.0f} s; a database of {} connections",
                        p.base, p.peak, seconds(p.spike), kConnections);
  const samples::panel::span shade{spike_from, spike_to, "spike"};
  // value(second) -> y, or a negative number for "nothing to plot".
  const auto panel_of = [&](const char* title, const char* ylabel, bool logy, auto value) {
    samples::panel pn;
    pn.title = title;
    pn.xlabel = "time (s)";
    pn.ylabel = ylabel;
    pn.logy = logy;
    pn.shade.push_back(shade);
    for (const auto& [name, run] : {std::pair{"naive", &naive_run}, std::pair{"troupe", &protected_run}}) {
      samples::series s;
      s.title = name;
      s.style = "linespoints";
      for (const auto& sec : *run) {
        const double y = value(sec);
        if (y < 0) continue;
        s.x.push_back(sec.t - 0.5);
        s.y.push_back(y);
      }
      pn.lines.push_back(s);
    }
    return pn;
  };
  samples::panel good = panel_of("goodput (fresh answers per second)", "requests/s", false,
                                 [](const second& s) { return static_cast<double>(s.fresh); });
  samples::series cap;
  cap.title = "queries the naive database ran (for nobody)";
  cap.style = "lines dt 2";
  for (const auto& sec : naive_run) {
    cap.x.push_back(sec.t - 0.5);
    cap.y.push_back(static_cast<double>(sec.queries));
  }
  good.lines.push_back(cap);
  f.panels.push_back(good);
  f.panels.push_back(
      panel_of("p99 of answered requests (from the intended start)", "s (log)", true, [](const second& s) {
        return s.ok_latency.empty() ? -1.0 : s.ok_latency.value_at_percentile(99) / 1e9;
      }));
  f.panels.push_back(
      panel_of("not answered per second: shed at once (troupe), failed after 3 tries (naive)", "requests/s",
               false, [](const second& s) { return static_cast<double>(s.shed + s.timed_out + s.failed); }));
  f.panels.push_back(panel_of("resident memory above the run's start", "MB", false,
                              [](const second& s) { return s.rss_mb; }));
  return app_cli.finish(f);
}
