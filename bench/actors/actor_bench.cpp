// troupe's actor workloads of docs/benchmarks.md (system "troupe"): actor.ping_pong,
// actor.spawn, actor.fan_out, actor.ring, actor.overload and actor.ask. The
// CAF peer runs the same workloads in bench/peers/caf_bench.cpp; this file
// mirrors it (message counts, validation, RSS/VmHWM method, counters) so that
// one run gives comparable figures.
//
// Every benchmark call builds its own runtime with N workers (the thread
// count of its name) and an actor_system on it, outside the timed loop.
// Actors use the public API only, with default spawn options unless a
// workload says otherwise. The benchmark thread (outside the runtime) starts
// a workload by asking its driver actor and waits on the future, the way
// CAF's scoped_actor waits for a "done" message: the driver answers through a
// reply_promise once the workload is over. Each run validates its counts and
// calls SkipWithError on any mismatch, on an error or on a (generous) timeout.

#include <algorithm>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <malloc.h>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include "actor_workloads.hpp"
#include "bench_registry.hpp"
#include "overload_probe.hpp"
#include "process_memory.hpp"

#include "troupe/actors.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/trace.hpp"

namespace {

using troupe::bench::rss_bytes;
using troupe::bench::status_bytes;
using troupe::bench::trim_heap;

using clk = std::chrono::steady_clock;
using i64 = std::int64_t;

// Generous upper bound for any single wait on a result (as in the CAF peer).
constexpr auto kTimeout = std::chrono::seconds(600);

troupe::runtime_options with_workers(int n) {
  troupe::runtime_options o;
  o.workers = static_cast<std::size_t>(n);
  return o;
}

// One runtime with N workers and an actor system on it (declared second, so
// it shuts down before the runtime).
struct troupe_env {
  troupe::runtime rt;
  troupe::actor_system sys;
  explicit troupe_env(int threads) : rt(with_workers(threads)), sys(rt) {}
  bool ok(int threads) const { return rt.worker_count() == static_cast<std::size_t>(threads); }
  // After a failure some actors may still be busy or blocked: do not wait for
  // their queues in ~actor_system.
  void abandon() { sys.shutdown(troupe::stop_mode::immediate); }
};

bool check_env(benchmark::State& state, troupe_env& env, int threads) {
  if (env.ok(threads)) return true;
  state.SkipWithError("troupe did not start the requested number of workers");
  return false;
}

// Waits on a future from the benchmark thread; nullopt (and the error, for
// the message) on failure.
template <class T>
std::optional<T> await(troupe::ask_future<T>& f, std::string& error) {
  try {
    return f.get();
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

void fail(benchmark::State& state, troupe_env& env, const std::string& what, const std::string& error) {
  env.abandon();
  const std::string msg = error.empty() ? what : what + " (" + error + ")";
  state.SkipWithError(msg.c_str());
}

// Every message of a workload reached a handler: no dead letters.
bool no_dead_letters(benchmark::State& state, troupe_env& env) {
  const auto d = env.sys.stats().dead_letters.total();
  if (d == 0) return true;
  const std::string msg = std::to_string(d) + " dead letters";
  env.abandon();
  state.SkipWithError(msg.c_str());
  return false;
}

struct start {};

// ---------------------------------------------------------------------------
// actor.ping_pong: two actors exchange `rounds` round trips.

struct ball {
  i64 n;
};

struct pinger;

struct ponger : troupe::actor<ponger> {
  troupe::actor_ref<pinger> ping;
  explicit ponger(troupe::actor_ref<pinger> p) : ping(std::move(p)) {}
  void on(ball b);
};

struct pinger : troupe::actor<pinger> {
  struct begin {
    troupe::actor_ref<ponger> pong;
  };
  i64 rounds;
  troupe::actor_ref<ponger> pong;
  troupe::reply_promise<i64> done;
  explicit pinger(i64 r) : rounds(r) {}
  troupe::reply_promise<i64> on(begin b) {
    pong = std::move(b.pong);
    done = troupe::this_actor::reply_later<i64>();
    pong.send(ball{1});
    return done;
  }
  void on(ball b) {
    if (b.n >= rounds) {
      done.deliver(b.n);
      pong.stop();
      troupe::this_actor::stop();
    } else {
      pong.send(ball{b.n + 1});
    }
  }
};

void ponger::on(ball b) { ping.send(b); }

void run_ping_pong(benchmark::State& state, troupe_env& env) {
  const i64 kRounds = troupe::bench::sizes().ping_pong_rounds;
  for (auto _ : state) {
    auto ping = env.sys.spawn<pinger>(kRounds);
    auto pong = env.sys.spawn<ponger>(ping);
    auto f = ping.ask(pinger::begin{pong}, kTimeout);
    std::string err;
    auto got = await(f, err);
    if (!got || *got != kRounds) {
      fail(state, env, "ping_pong: wrong round-trip count or timeout", err);
      break;
    }
  }
  if (state.error_occurred() || !no_dead_letters(state, env)) return;
  state.SetItemsProcessed(2 * kRounds * state.iterations());
}

void bm_ping_pong(benchmark::State& state, int threads) {
  troupe_env env{threads};
  if (check_env(state, env, threads)) run_ping_pong(state, env);
}

// actor.ping_pong.traced_off: the same, on a runtime that traced and stopped
// before the timed loop, so the hooks are compiled in, have been live and
// are now switched off (the process-wide flag back at 0). actor.ping_pong
// pays the same one branch per hook, so the ratio of the two shows that
// switching tracing off leaves no cost behind, not what the branch itself
// costs: scripts/bench_trace_cost.sh measures that, against a build with the
// hooks compiled out (TROUPE_TRACE_HOOKS=OFF), where this one is skipped.
void bm_ping_pong_traced_off(benchmark::State& state, int threads) {
  if (!troupe::tracing_available()) {
    state.SkipWithError("traced_off: built without trace hooks (TROUPE_TRACE_HOOKS=OFF)");
    return;
  }
  troupe_env env{threads};
  if (!check_env(state, env, threads)) return;
  char path[] = "/tmp/troupe-bench-trace.XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    state.SkipWithError("traced_off: cannot create a temporary trace file");
    return;
  }
  close(fd);
  troupe::start_tracing(env.rt);
  {  // something to record, so that the buffers were written to
    auto ping = env.sys.spawn<pinger>(i64{1000});
    auto pong = env.sys.spawn<ponger>(ping);
    auto f = ping.ask(pinger::begin{pong}, kTimeout);
    std::string err;
    const auto got = await(f, err);
    if (!got || *got != 1000) {
      std::remove(path);
      fail(state, env, "traced_off: the traced warm-up failed", err);
      return;
    }
  }
  const std::size_t events = troupe::stop_tracing(env.rt, path);
  std::remove(path);
  if (events == 0) {
    state.SkipWithError("traced_off: the warm-up recorded no trace events");
    return;
  }
  run_ping_pong(state, env);
}

// ---------------------------------------------------------------------------
// actor.spawn: 1M actors, at most 1,000 outstanding; each gets one message,
// replies to the parent and stops. Plus: bytes per idle actor.

struct spawn_report {
  i64 done = 0;
  i64 sum = 0;
};
struct work {
  i64 i;
};
struct child_done {
  i64 i;
};

struct spawner;

struct spawn_child : troupe::actor<spawn_child> {
  troupe::actor_ref<spawner> parent;
  explicit spawn_child(troupe::actor_ref<spawner> p) : parent(std::move(p)) {}
  void on(work w);
};

struct spawner : troupe::actor<spawner> {
  i64 total, window;
  i64 spawned = 0, done = 0, sum = 0;
  troupe::reply_promise<spawn_report> finished;
  spawner(i64 t, i64 w) : total(t), window(w) {}

  void spawn_one() { troupe::this_actor::system().spawn<spawn_child>(self()).send(work{spawned++}); }

  troupe::reply_promise<spawn_report> on(start) {
    finished = troupe::this_actor::reply_later<spawn_report>();
    while (spawned < std::min(window, total)) spawn_one();
    return finished;
  }
  void on(child_done d) {
    sum += d.i;
    ++done;
    if (spawned < total) {
      spawn_one();
    } else if (done == total) {
      finished.deliver(spawn_report{done, sum});
      troupe::this_actor::stop();
    }
  }
};

void spawn_child::on(work w) {
  parent.send(child_done{w.i});
  troupe::this_actor::stop();
}

struct echo {
  i64 i;
};
struct idle_actor : troupe::actor<idle_actor> {
  i64 on(echo e) { return e.i; }
};

// Bytes of RSS per idle actor with `count` idle actors alive at once. As in
// the CAF peer, they are created in windows of 1,000, each answering one
// message (so it has run once and sits idle), on an actor system of their
// own, so that they are all stopped (by its shutdown) before the timed runs.
// Returns < 0 on failure.
double measure_idle_bytes(troupe::runtime& rt, i64 count) {
  constexpr i64 kWindow = 1'000;
  troupe::actor_system sys(rt);
  // Touch the bookkeeping vectors before the baseline so they are not counted.
  std::vector<troupe::actor_ref<idle_actor>> actors(static_cast<std::size_t>(count));
  std::vector<troupe::ask_future<i64>> replies;
  replies.reserve(kWindow);
  trim_heap();
  const i64 before = rss_bytes();
  i64 answered = 0;
  bool ok = true;
  for (i64 base = 0; base < count && ok; base += kWindow) {
    const i64 end = std::min(count, base + kWindow);
    for (i64 i = base; i < end; ++i) {
      actors[i] = sys.spawn<idle_actor>();
      replies.push_back(actors[i].ask(echo{i}, kTimeout));
    }
    for (i64 i = base; i < end && ok; ++i) {
      auto r = replies[i - base].get_result();
      ok = r.has_value() && *r == i;
      if (ok) ++answered;
    }
    replies.clear();
  }
  const i64 after = rss_bytes();
  ok = ok && sys.stats().live_actors == static_cast<std::uint64_t>(count);
  if (!ok) sys.shutdown(troupe::stop_mode::immediate);
  // ~actor_system stops the idle actors; then the handles go.
  if (!ok || answered != count || before < 0 || after < 0) return -1;
  return static_cast<double>(after - before) / static_cast<double>(count);
}

std::vector<double> probe_idle_bytes(int threads) {
  troupe::runtime rt(troupe::runtime_options{.workers = static_cast<std::size_t>(threads)});
  const double bytes = measure_idle_bytes(rt, troupe::bench::sizes().idle_actors);
  if (bytes < 0) return {};
  return {bytes};
}
[[maybe_unused]] const int idle_probe_registered =
    troupe::bench::add_probe("troupe.idle_bytes", &probe_idle_bytes);

void bm_spawn(benchmark::State& state, int threads) {
  const i64 kActors = troupe::bench::sizes().spawn_actors;
  constexpr i64 kWindow = 1'000;
  troupe_env env{threads};
  if (!check_env(state, env, threads)) return;
  // Untimed: idle footprint, measured in a fresh process (see add_probe).
  const auto probed = troupe::bench::run_probe_in_fresh_process("troupe.idle_bytes", threads);
  const double idle = probed.empty() ? -1 : probed[0];
  if (idle < 0) {
    env.abandon();
    state.SkipWithError("spawn: idle actors did not all answer");
    return;
  }
  for (auto _ : state) {
    auto parent = env.sys.spawn<spawner>(kActors, kWindow);
    auto f = parent.ask(start{}, kTimeout);
    std::string err;
    auto r = await(f, err);
    if (!r || r->done != kActors || r->sum != kActors * (kActors - 1) / 2) {
      fail(state, env, "spawn: wrong reply count/checksum or timeout", err);
      break;
    }
  }
  if (state.error_occurred() || !no_dead_letters(state, env)) return;
  state.SetItemsProcessed(kActors * state.iterations());
  state.counters["idle_bytes"] = idle;
}

// ---------------------------------------------------------------------------
// actor.fan_out: one driver sends 10M messages round-robin to 1,000 counters;
// each counter reports its count at the end (messages from one sender stay in
// order, so the report request arrives after all of that counter's messages).

struct tick {
  i64 i;
};
struct report_count {};
struct counted {
  i64 n;
};

struct fan_driver;

struct counter_actor : troupe::actor<counter_actor> {
  troupe::actor_ref<fan_driver> driver;
  i64 count = 0;
  explicit counter_actor(troupe::actor_ref<fan_driver> d) : driver(std::move(d)) {}
  void on(tick) { ++count; }
  void on(report_count);
};

struct fan_driver : troupe::actor<fan_driver> {
  struct begin {
    std::vector<troupe::actor_ref<counter_actor>> counters;
  };
  i64 total;
  std::vector<troupe::actor_ref<counter_actor>> counters;
  i64 replies = 0, sum = 0;
  troupe::reply_promise<i64> done;
  explicit fan_driver(i64 t) : total(t) {}

  troupe::reply_promise<i64> on(begin b) {
    counters = std::move(b.counters);
    done = troupe::this_actor::reply_later<i64>();
    const std::size_t n = counters.size();
    std::size_t k = 0;
    for (i64 i = 0; i < total; ++i) {
      counters[k].send(tick{i});
      if (++k == n) k = 0;
    }
    for (auto& c : counters) c.send(report_count{});
    return done;
  }
  void on(counted c) {
    sum += c.n;
    if (++replies == static_cast<i64>(counters.size())) {
      done.deliver(sum);
      troupe::this_actor::stop();
    }
  }
};

void counter_actor::on(report_count) {
  driver.send(counted{count});
  troupe::this_actor::stop();
}

void bm_fan_out(benchmark::State& state, int threads) {
  const i64 kMessages = troupe::bench::sizes().fan_out_messages;
  constexpr int kActors = 1'000;
  troupe_env env{threads};
  if (!check_env(state, env, threads)) return;
  troupe::bench::peak_growth memory;
  memory.begin();
  const std::uint64_t tasks_before = env.rt.metrics().total().tasks_run;
  for (auto _ : state) {
    auto driver = env.sys.spawn<fan_driver>(kMessages);
    std::vector<troupe::actor_ref<counter_actor>> counters;
    counters.reserve(kActors);
    for (int i = 0; i < kActors; ++i) counters.push_back(env.sys.spawn<counter_actor>(driver));
    auto f = driver.ask(fan_driver::begin{std::move(counters)}, kTimeout);
    std::string err;
    auto total = await(f, err);
    if (!total || *total != kMessages) {
      fail(state, env, "fan_out: counted total != 10M or timeout", err);
      break;
    }
  }
  if (state.error_occurred() || !no_dead_letters(state, env)) return;
  state.SetItemsProcessed(kMessages * state.iterations());
  state.counters["peak_mib"] = memory.mib();
  // Each counter turn is one task: this says whether turns drained batches
  // or each message woke its counter (fan-out's two regimes at two workers).
  const std::uint64_t tasks = env.rt.metrics().total().tasks_run - tasks_before;
  state.counters["msgs_per_task"] = static_cast<double>(kMessages * state.iterations()) /
                                    static_cast<double>(std::max<std::uint64_t>(tasks, 1));
}

// ---------------------------------------------------------------------------
// actor.ring: Savina ThreadRing. 1,000 actors, a token carrying the hops left;
// each forwards it with one hop less; whoever receives 0 reports to a
// collector, which the benchmark thread asks for the result.

struct ring_done {
  i64 index;
};
struct await_done {};

// Holds the one result of a run until the benchmark thread asks for it
// (whichever comes first).
struct collector : troupe::actor<collector> {
  std::optional<i64> got;
  troupe::reply_promise<i64> waiter;
  void on(ring_done d) {
    if (waiter.valid()) {
      waiter.deliver(d.index);
      waiter = {};
    } else {
      got = d.index;
    }
  }
  troupe::reply_promise<i64> on(await_done) {
    auto p = troupe::this_actor::reply_later<i64>();
    if (got) {
      p.deliver(*got);
      got.reset();
    } else {
      waiter = p;
    }
    return p;
  }
};

struct ring_node : troupe::actor<ring_node> {
  struct set_next {
    troupe::actor_ref<ring_node> next;
  };
  struct token {
    i64 hops_left;
  };
  troupe::actor_ref<collector> done_to;
  i64 index;
  troupe::actor_ref<ring_node> next;
  ring_node(troupe::actor_ref<collector> d, i64 i) : done_to(std::move(d)), index(i) {}
  void on(set_next s) { next = std::move(s.next); }
  void on(token t) {
    if (t.hops_left == 0)
      done_to.send(ring_done{index});
    else
      next.send(token{t.hops_left - 1});
  }
};

void bm_ring(benchmark::State& state, int threads) {
  const i64 kHops = troupe::bench::sizes().ring_hops;
  constexpr int kNodes = 1'000;
  troupe_env env{threads};
  if (!check_env(state, env, threads)) return;
  auto done = env.sys.spawn<collector>();
  for (auto _ : state) {
    auto f = done.ask(await_done{}, kTimeout);
    std::vector<troupe::actor_ref<ring_node>> nodes;
    nodes.reserve(kNodes);
    for (int i = 0; i < kNodes; ++i) nodes.push_back(env.sys.spawn<ring_node>(done, i64{i}));
    // The links are enqueued before the token is injected, so every node has
    // its successor before the token can reach it.
    for (int i = 0; i < kNodes; ++i) nodes[i].send(ring_node::set_next{nodes[(i + 1) % kNodes]});
    nodes[0].send(ring_node::token{kHops});
    std::string err;
    auto last = await(f, err);
    // Nodes hold references around the ring: stop them explicitly.
    for (auto& n : nodes) n.stop();
    if (!last || *last != kHops % kNodes) {
      fail(state, env, "ring: token ended at the wrong node or timeout", err);
      break;
    }
  }
  if (state.error_occurred() || !no_dead_letters(state, env)) return;
  state.SetItemsProcessed(kHops * state.iterations());
}

// ---------------------------------------------------------------------------
// actor.overload: a producer sends 10M messages to a consumer that spins
// ~1 us per message; the consumer's mailbox holds 1,024 messages with the
// `block` policy. Counters: peak RSS (MiB), the consumer mailbox's own
// high-water mark (messages), producer throughput (messages/s).

void spin_for(std::chrono::nanoseconds d) {
  const auto until = clk::now() + d;
  while (clk::now() < until) {}
}

struct item {
  i64 i;
};
struct consumer_done {
  i64 processed;
};

struct consumer_actor : troupe::actor<consumer_actor> {
  i64 total;
  i64 processed = 0;
  troupe::reply_promise<i64> done;
  explicit consumer_actor(i64 t) : total(t) {}
  // Asked before the producer starts: answers once all `total` are handled.
  troupe::reply_promise<i64> on(await_done) {
    done = troupe::this_actor::reply_later<i64>();
    return done;
  }
  void on(item) {
    spin_for(std::chrono::microseconds(1));
    if (++processed == total) {
      done.deliver(processed);
      troupe::this_actor::stop();
    }
  }
};

struct produced {
  i64 accepted = 0;
  i64 ns = 0;
};

struct producer_actor : troupe::actor<producer_actor> {
  troupe::actor_ref<consumer_actor> consumer;
  i64 total;
  producer_actor(troupe::actor_ref<consumer_actor> c, i64 t) : consumer(std::move(c)), total(t) {}
  // A full mailbox suspends this handler until the consumer makes room.
  produced on(start) {
    produced p;
    const auto t0 = clk::now();
    for (i64 i = 0; i < total; ++i)
      if (consumer.send(item{i})) ++p.accepted;
    p.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
    troupe::this_actor::stop();
    return p;
  }
};

// One overload run in this (fresh) process: {peak RSS MiB, mailbox high-water
// mark, producer msgs/s}, or empty if not all 10M were accepted and processed.
std::vector<double> probe_overload(int threads) {
  const i64 kMessages = troupe::bench::sizes().overload_messages;
  troupe_env env{threads};
  troupe::spawn_options mailbox;
  mailbox.capacity = 1'024;
  mailbox.policy = troupe::overflow_policy::block;
  auto consumer = env.sys.spawn<consumer_actor>(mailbox, kMessages);
  auto producer = env.sys.spawn<producer_actor>(consumer, kMessages);
  auto consumed = consumer.ask(await_done{}, kTimeout);  // queued before any item
  auto prod = producer.ask(start{}, kTimeout);
  std::string err;
  auto p = await(prod, err);
  auto processed = p ? await(consumed, err) : std::nullopt;
  const i64 hwm = status_bytes("VmHWM");
  if (!p || !processed || p->accepted != kMessages || *processed != kMessages || p->ns <= 0 || hwm < 0 ||
      env.sys.stats().dead_letters.total() != 0) {
    std::fprintf(stderr, "overload: not all 10M accepted and processed, or timeout: %s\n", err.c_str());
    env.abandon();
    return {};
  }
  return {static_cast<double>(hwm) / (1024.0 * 1024.0), static_cast<double>(consumer.stats().high_water),
          static_cast<double>(kMessages) * 1e9 / static_cast<double>(p->ns)};
}
[[maybe_unused]] const int overload_probe_registered =
    troupe::bench::add_probe("troupe.overload", &probe_overload);

void bm_overload(benchmark::State& state, int threads) {
  troupe::bench::overload_in_fresh_processes(state, "troupe.overload", threads);
}

// ---------------------------------------------------------------------------
// actor.ask: one actor asks another and waits for each response (its handler
// suspends in get()) before sending the next request; per-request latency
// taken with steady_clock into a latency_histogram.

struct query {
  i64 x;
};
struct ask_server : troupe::actor<ask_server> {
  i64 on(query q) { return q.x; }
};

struct run_asks {
  i64 n;
};
struct ask_report {
  i64 answered = 0;
  i64 wrong = 0;
};

struct ask_client : troupe::actor<ask_client> {
  troupe::actor_ref<ask_server> server;
  troupe::latency_histogram* latencies;  // ns; only this actor writes it
  ask_client(troupe::actor_ref<ask_server> s, troupe::latency_histogram* h)
      : server(std::move(s)), latencies(h) {}
  ask_report on(run_asks r) {
    ask_report rep;
    for (i64 i = 0; i < r.n; ++i) {
      const auto t0 = clk::now();
      const i64 v = server.ask(query{i}, kTimeout).get();
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
      latencies->record(static_cast<std::uint64_t>(ns));
      if (v != i) ++rep.wrong;
      ++rep.answered;
    }
    return rep;
  }
};

void bm_ask(benchmark::State& state, int threads) {
  const i64 kAsks = troupe::bench::sizes().asks;
  troupe_env env{threads};
  if (!check_env(state, env, threads)) return;
  troupe::latency_histogram all;  // every iteration's latencies, ns
  for (auto _ : state) {
    auto server = env.sys.spawn<ask_server>();
    auto client = env.sys.spawn<ask_client>(server, &all);
    auto f = client.ask(run_asks{kAsks}, kTimeout);
    std::string err;
    auto r = await(f, err);
    client.stop();
    server.stop();
    if (!r || r->answered != kAsks || r->wrong != 0) {
      fail(state, env, "ask: wrong/missing responses or timeout", err);
      break;
    }
  }
  if (state.error_occurred() || !no_dead_letters(state, env)) return;
  state.SetItemsProcessed(kAsks * state.iterations());
  if (all.count() > 0) {
    state.counters["p50"] = static_cast<double>(all.value_at_percentile(50.0)) / 1000.0;  // us
    state.counters["p99"] = static_cast<double>(all.value_at_percentile(99.0)) / 1000.0;
  }
}

// ---------------------------------------------------------------------------

void register_troupe_actors(const troupe::bench::config& config) {
  // Iterations per repetition, measured on 2 noisy cores: ping_pong ~0.2 s,
  // spawn ~0.5 s (+ ~2 s untimed idle measurement), fan_out ~2 s, ring
  // ~0.9 s, overload ~11 s (10M x 1 us is 10 s at the very least), ask
  // ~0.07 s per 100k round trips.
  troupe::bench::register_actor_workloads(config, "troupe",
                                          {
                                              {"actor.ping_pong", &bm_ping_pong, 10},
                                              {"actor.ping_pong.traced_off", &bm_ping_pong_traced_off, 10},
                                              {"actor.spawn", &bm_spawn, 3},
                                              {"actor.fan_out", &bm_fan_out, 1},
                                              {"actor.ring", &bm_ring, 3},
                                              {"actor.overload", &bm_overload, 1},
                                              {"actor.ask", &bm_ask, 20},
                                          });
}

}  // namespace

TROUPE_BENCHMARKS(register_troupe_actors);
