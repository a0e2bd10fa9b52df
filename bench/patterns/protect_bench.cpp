// The patterns around real actors (system "troupe"):
//
//   breaker.ask       actor.ask's workload (bench/actors/actor_bench.cpp: one
//                     actor asks another and waits in get() for each reply,
//                     latency taken per request into a histogram), but every
//                     ask goes through troupe::protect(server).breaker() with
//                     the default config, closed: ns per round trip.
//   router.p2c.ask    the same through a p2c router over 4 servers, every
//                     completion feeding the router's latency estimates.
//
// Each also reports `vs_actor_ask`: after the timed iterations, rounds of
// plain asks and wrapped asks alternate (5 x 20,000 each, same actors, same
// process) and the counter is the median of the per-round ratios, so noise
// from other work on the machine hits both sides alike. Target for
// breaker.ask: <= 1.2x.

#include <algorithm>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actor_workloads.hpp"
#include "bench_registry.hpp"

#include "troupe/actors.hpp"
#include "troupe/patterns/actor_router.hpp"
#include "troupe/patterns/protect.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/runtime.hpp"

namespace {

using clk = std::chrono::steady_clock;
using i64 = std::int64_t;
constexpr auto kTimeout = std::chrono::seconds(600);
constexpr i64 kAsks = 100'000;

struct query {
  i64 x;
};
struct ask_server : troupe::actor<ask_server> {
  i64 on(query q) { return q.x; }
};

struct run_asks {
  i64 n;
  bool wrapped = true;  // through the wrapper, or plain (the comparison rounds)
};
struct ask_report {
  i64 answered = 0;
  i64 wrong = 0;
  i64 ns = 0;
};

// Asks `dep` (a protected_ref or a router) exactly as actor.ask's client
// asks its server.
template <class Dep>
struct ask_client : troupe::actor<ask_client<Dep>> {
  Dep dep;
  troupe::actor_ref<ask_server> plain;
  troupe::latency_histogram* latencies;
  ask_client(Dep d, troupe::actor_ref<ask_server> p, troupe::latency_histogram* h)
      : dep(std::move(d)), plain(std::move(p)), latencies(h) {}
  ask_report on(run_asks r) {
    ask_report rep;
    const auto start = clk::now();
    for (i64 i = 0; i < r.n; ++i) {
      const auto t0 = clk::now();
      const i64 v = r.wrapped ? dep.ask(query{i}, kTimeout).get() : plain.ask(query{i}, kTimeout).get();
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      latencies->record(static_cast<std::uint64_t>(ns));
      if (v != i) ++rep.wrong;
      ++rep.answered;
    }
    rep.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - start).count();
    return rep;
  }
};

struct env {
  troupe::runtime rt;
  troupe::actor_system sys;
  explicit env(int threads)
      : rt(troupe::runtime_options{.workers = static_cast<std::size_t>(threads)}), sys(rt) {}
};

template <class Dep>
std::optional<ask_report> ask_n(troupe::actor_ref<ask_client<Dep>>& c, i64 n, bool wrapped,
                                std::string& err) {
  try {
    auto r = c.ask(run_asks{n, wrapped}, kTimeout).get();
    if (r.answered != n || r.wrong != 0) {
      err = "wrong or missing replies";
      return std::nullopt;
    }
    return r;
  } catch (const std::exception& e) {
    err = e.what();
    return std::nullopt;
  }
}

// Runs the workload with `make(sys, plain_server)` giving the wrapped dependency.
template <class Make>
void run(benchmark::State& state, int threads, Make make) {
  env e(threads);
  if (e.rt.worker_count() != static_cast<std::size_t>(threads)) {
    state.SkipWithError("troupe did not start the requested number of workers");
    return;
  }
  auto server = e.sys.spawn<ask_server>();
  auto dep = make(e.sys, server);
  using Dep = decltype(dep);
  troupe::latency_histogram all;
  auto client = e.sys.spawn<ask_client<Dep>>(dep, server, &all);
  std::string err;
  for (auto _ : state) {
    if (!ask_n(client, kAsks, true, err)) {
      state.SkipWithError(err.c_str());
      e.sys.shutdown(troupe::stop_mode::immediate);
      return;
    }
  }
  state.SetItemsProcessed(kAsks * state.iterations());
  // Untimed: alternate plain and wrapped rounds for the same-run ratio.
  troupe::latency_histogram scratch;
  auto cmp = e.sys.spawn<ask_client<Dep>>(dep, server, &scratch);
  std::vector<double> ratios;
  for (int round = 0; round < 5; ++round) {
    auto p = ask_n(cmp, 20'000, false, err);
    auto w = ask_n(cmp, 20'000, true, err);
    if (!p || !w) {
      state.SkipWithError(err.c_str());
      return;
    }
    ratios.push_back(static_cast<double>(w->ns) / static_cast<double>(p->ns));
  }
  std::sort(ratios.begin(), ratios.end());
  state.counters["vs_actor_ask"] = ratios[ratios.size() / 2];
  if (e.sys.stats().dead_letters.total() != 0) state.SkipWithError("dead letters");
}

void bm_breaker_ask(benchmark::State& state, int threads) {
  run(state, threads, [](troupe::actor_system&, const troupe::actor_ref<ask_server>& s) {
    return troupe::protect(s).breaker();
  });
}

void bm_p2c_ask(benchmark::State& state, int threads) {
  run(state, threads, [](troupe::actor_system& sys, const troupe::actor_ref<ask_server>&) {
    troupe::router<ask_server, troupe::routing::p2c> r(sys);
    for (int i = 0; i < 4; ++i) r.add(sys.spawn<ask_server>());
    return r;
  });
}

void register_troupe_patterns_actors(const troupe::bench::config& config) {
  // ~0.07 s per 100k plain round trips; the comparison adds 200k more per run.
  troupe::bench::register_actor_workloads(config, "troupe",
                                          {
                                              {"breaker.ask", &bm_breaker_ask, 20},
                                              {"router.p2c.ask", &bm_p2c_ask, 20},
                                          });
}

}  // namespace

TROUPE_BENCHMARKS(register_troupe_patterns_actors);
