// CAF 0.17.6 peer for the actor workloads of docs/benchmarks.md (system "caf").
//
// Every benchmark call builds its own actor_system with
// "scheduler.max-threads" = N (CAF's default work-stealing scheduler and
// default polling/sleep settings, i.e. CAF as shipped), drives the workload
// from a scoped_actor and only times the `for (auto _ : state)` loop.
// Messages are plain int64_t / atoms / caf::actor, so no type announcements
// are needed. Each run validates its counts and calls SkipWithError on any
// mismatch or on a (generous) timeout.

#include <algorithm>
#include <benchmark/benchmark.h>
#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "actor_workloads.hpp"
#include "bench_registry.hpp"
#include "overload_probe.hpp"
#include "process_memory.hpp"

namespace {

using troupe::bench::rss_bytes;
using troupe::bench::status_bytes;
using troupe::bench::trim_heap;

using clk = std::chrono::steady_clock;
using i64 = std::int64_t;

using start_atom = caf::atom_constant<caf::atom("cb_start")>;
using done_atom = caf::atom_constant<caf::atom("cb_done")>;
using report_atom = caf::atom_constant<caf::atom("cb_report")>;
using produced_atom = caf::atom_constant<caf::atom("cb_prod")>;
using consumed_atom = caf::atom_constant<caf::atom("cb_cons")>;

// Generous upper bound for any single wait on a result.
constexpr auto kTimeout = std::chrono::seconds(600);

// ---------------------------------------------------------------------------
// One actor system with N worker threads. The config must outlive the system
// (actor_system keeps a reference to it).

struct caf_env {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  explicit caf_env(int threads) : sys{cfg.set("scheduler.max-threads", static_cast<i64>(threads))} {}
  bool ok(int threads) { return sys.scheduler().num_workers() == static_cast<std::size_t>(threads); }
  // After a failure some actors may still be alive; do not hang in ~actor_system.
  void abandon() { sys.await_actors_before_shutdown(false); }
};

// Waits for one message matching `fs...` on `self`; false on timeout.
template <class... Fs>
bool await_one(caf::scoped_actor& self, Fs&&... fs) {
  bool timed_out = false;
  self->receive(
      std::forward<Fs>(fs)..., caf::after(kTimeout) >> [&] { timed_out = true; });
  return !timed_out;
}

bool check_env(benchmark::State& state, caf_env& env, int threads) {
  if (env.ok(threads)) return true;
  state.SkipWithError("CAF did not start the requested number of workers");
  return false;
}

// ---------------------------------------------------------------------------
// actor.ping_pong: two actors exchange `rounds` round trips.

caf::behavior pong_actor(caf::event_based_actor*) {
  // The returned value goes back to the sender.
  return {[](i64 n) { return n; }};
}

caf::behavior ping_actor(caf::event_based_actor* self, caf::actor pong, caf::actor done_to, i64 rounds) {
  return {
      [=](start_atom) { self->send(pong, i64{1}); },
      [=](i64 n) {
        if (n >= rounds) {
          self->send(done_to, done_atom::value, n);
          self->quit();
        } else {
          self->send(pong, n + 1);
        }
      },
  };
}

void bm_ping_pong(benchmark::State& state, int threads) {
  const i64 kRounds = troupe::bench::sizes().ping_pong_rounds;
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  for (auto _ : state) {
    auto pong = env.sys.spawn(pong_actor);
    auto ping = env.sys.spawn(ping_actor, pong, caf::actor{self}, kRounds);
    self->send(ping, start_atom::value);
    i64 got = -1;
    bool ok = await_one(self, [&](done_atom, i64 n) { got = n; });
    caf::anon_send_exit(pong, caf::exit_reason::user_shutdown);
    if (!ok || got != kRounds) {
      env.abandon();
      state.SkipWithError("ping_pong: wrong round-trip count or timeout");
      break;
    }
  }
  state.SetItemsProcessed(2 * kRounds * state.iterations());
}

// ---------------------------------------------------------------------------
// actor.spawn: 1M actors, at most 1,000 outstanding; each gets one message,
// replies to the parent and stops. Plus: bytes per idle actor.

caf::behavior spawn_child(caf::event_based_actor* self, caf::actor parent) {
  return {[=](i64 i) {
    self->send(parent, i);
    self->quit();
  }};
}

struct spawner_state {
  i64 spawned = 0;
  i64 done = 0;
  i64 sum = 0;
};

caf::behavior spawner_actor(caf::stateful_actor<spawner_state>* self, caf::actor done_to, i64 total,
                            i64 window) {
  auto spawn_one = [self] {
    auto child = self->spawn(spawn_child, caf::actor_cast<caf::actor>(self));
    self->send(child, self->state.spawned++);
  };
  return {
      [=](start_atom) {
        while (self->state.spawned < std::min(window, total)) spawn_one();
      },
      [=](i64 i) {
        auto& st = self->state;
        st.sum += i;
        ++st.done;
        if (st.spawned < total) {
          spawn_one();
        } else if (st.done == total) {
          self->send(done_to, done_atom::value, st.done, st.sum);
          self->quit();
        }
      },
  };
}

caf::behavior idle_actor(caf::event_based_actor*) {
  return {[](i64 i) { return i; }};
}

// Bytes of RSS per idle actor with `count` idle actors alive at once. They are
// created in windows of 1,000 (each answers one message, so it has run its
// initialisation and sits idle with its behavior installed), because CAF 0.17
// cannot schedule a million fresh actors at once in reasonable time on 2
// threads. Returns < 0 on failure.
double measure_idle_bytes(caf_env& env, caf::scoped_actor& self, i64 count) {
  constexpr i64 kWindow = 1'000;
  // Touch the bookkeeping vector before the baseline so it is not counted.
  std::vector<caf::actor> actors(static_cast<std::size_t>(count));
  trim_heap();
  const i64 before = rss_bytes();
  i64 replies = 0;
  bool ok = true;
  for (i64 base = 0; base < count && ok; base += kWindow) {
    const i64 end = std::min(count, base + kWindow);
    for (i64 i = base; i < end; ++i) {
      actors[i] = env.sys.spawn(idle_actor);
      self->send(actors[i], i);
    }
    for (i64 i = base; i < end && ok; ++i) ok = await_one(self, [&](i64) { ++replies; });
  }
  const i64 after = rss_bytes();
  // Dropping the last strong reference destroys an idle CAF actor.
  actors.clear();
  actors.shrink_to_fit();
  if (!ok || replies != count || before < 0 || after < 0) return -1;
  return static_cast<double>(after - before) / static_cast<double>(count);
}

std::vector<double> probe_idle_bytes(int threads) {
  caf_env env{threads};
  caf::scoped_actor self{env.sys};
  const double bytes = measure_idle_bytes(env, self, troupe::bench::sizes().idle_actors);
  if (bytes < 0) return {};
  return {bytes};
}
[[maybe_unused]] const int idle_probe_registered =
    troupe::bench::add_probe("caf.idle_bytes", &probe_idle_bytes);

void bm_spawn(benchmark::State& state, int threads) {
  const i64 kActors = troupe::bench::sizes().spawn_actors;
  constexpr i64 kWindow = 1'000;
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  // Untimed: idle footprint, measured in a fresh process (see add_probe).
  const auto probed = troupe::bench::run_probe_in_fresh_process("caf.idle_bytes", threads);
  const double idle = probed.empty() ? -1 : probed[0];
  if (idle < 0) {
    env.abandon();
    state.SkipWithError("spawn: idle actors did not all answer");
    return;
  }
  for (auto _ : state) {
    auto parent = env.sys.spawn(spawner_actor, caf::actor{self}, kActors, kWindow);
    self->send(parent, start_atom::value);
    i64 done = -1, sum = -1;
    bool ok = await_one(self, [&](done_atom, i64 d, i64 s) {
      done = d;
      sum = s;
    });
    if (!ok || done != kActors || sum != kActors * (kActors - 1) / 2) {
      env.abandon();
      state.SkipWithError("spawn: wrong reply count/checksum or timeout");
      break;
    }
  }
  state.SetItemsProcessed(kActors * state.iterations());
  state.counters["idle_bytes"] = idle;
}

// ---------------------------------------------------------------------------
// actor.fan_out: one driver sends 10M messages round-robin to 1,000 counters;
// each counter reports its count at the end (messages from one sender stay in
// order, so the report request arrives after all of that counter's messages).

struct counter_state {
  i64 count = 0;
};

caf::behavior counter_actor(caf::stateful_actor<counter_state>* self) {
  return {
      [=](i64) { ++self->state.count; },
      [=](report_atom) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), self->state.count);
        self->quit();
      },
  };
}

struct fan_state {
  std::vector<caf::actor> counters;
  i64 replies = 0;
  i64 sum = 0;
};

caf::behavior fan_driver(caf::stateful_actor<fan_state>* self, std::vector<caf::actor> counters,
                         caf::actor done_to, i64 total) {
  self->state.counters = std::move(counters);
  return {
      [=](start_atom) {
        auto& cs = self->state.counters;
        const std::size_t n = cs.size();
        std::size_t k = 0;
        for (i64 i = 0; i < total; ++i) {
          self->send(cs[k], i);
          if (++k == n) k = 0;
        }
        for (auto& c : cs) self->send(c, report_atom::value);
      },
      [=](i64 count) {
        auto& st = self->state;
        st.sum += count;
        if (++st.replies == static_cast<i64>(st.counters.size())) {
          self->send(done_to, done_atom::value, st.sum);
          self->quit();
        }
      },
  };
}

void bm_fan_out(benchmark::State& state, int threads) {
  const i64 kMessages = troupe::bench::sizes().fan_out_messages;
  constexpr int kActors = 1'000;
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  troupe::bench::peak_growth memory;
  memory.begin();
  for (auto _ : state) {
    std::vector<caf::actor> counters;
    counters.reserve(kActors);
    for (int i = 0; i < kActors; ++i) counters.push_back(env.sys.spawn(counter_actor));
    auto driver = env.sys.spawn(fan_driver, std::move(counters), caf::actor{self}, kMessages);
    self->send(driver, start_atom::value);
    i64 total = -1;
    bool ok = await_one(self, [&](done_atom, i64 s) { total = s; });
    if (!ok || total != kMessages) {
      env.abandon();
      state.SkipWithError("fan_out: counted total != 10M or timeout");
      break;
    }
  }
  state.SetItemsProcessed(kMessages * state.iterations());
  state.counters["peak_mib"] = memory.mib();
}

// ---------------------------------------------------------------------------
// actor.ring: Savina ThreadRing. 1,000 actors, a token carrying the hops left;
// each forwards it with one hop less; whoever receives 0 reports.

struct ring_state {
  caf::actor next;
};

caf::behavior ring_node(caf::stateful_actor<ring_state>* self, caf::actor done_to, i64 index) {
  return {
      [=](caf::actor next) { self->state.next = std::move(next); },
      [=](i64 hops_left) {
        if (hops_left == 0)
          self->send(done_to, done_atom::value, index);
        else
          self->send(self->state.next, hops_left - 1);
      },
  };
}

void bm_ring(benchmark::State& state, int threads) {
  const i64 kHops = troupe::bench::sizes().ring_hops;
  constexpr int kNodes = 1'000;
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  for (auto _ : state) {
    std::vector<caf::actor> nodes;
    nodes.reserve(kNodes);
    for (int i = 0; i < kNodes; ++i) nodes.push_back(env.sys.spawn(ring_node, caf::actor{self}, i64{i}));
    // The links are enqueued before the token is injected, so every node has
    // its successor before the token can reach it.
    for (int i = 0; i < kNodes; ++i) self->send(nodes[i], nodes[(i + 1) % kNodes]);
    self->send(nodes[0], kHops);
    i64 last = -1;
    bool ok = await_one(self, [&](done_atom, i64 idx) { last = idx; });
    // Nodes hold strong references around the ring: stop them explicitly.
    for (auto& n : nodes) caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
    if (!ok || last != kHops % kNodes) {
      env.abandon();
      state.SkipWithError("ring: token ended at the wrong node or timeout");
      break;
    }
  }
  state.SetItemsProcessed(kHops * state.iterations());
}

// ---------------------------------------------------------------------------
// actor.overload: a producer sends 10M messages to a consumer that spins
// ~1 us per message. Counters: peak RSS (MiB), consumer mailbox high-water
// mark (messages), producer throughput (messages/s).

void spin_for(std::chrono::nanoseconds d) {
  const auto until = clk::now() + d;
  while (clk::now() < until) {}
}

struct consumer_state {
  i64 processed = 0;
  i64 high_water = 0;
};

caf::behavior consumer_actor(caf::stateful_actor<consumer_state>* self, caf::actor done_to, i64 total) {
  return {[=](i64) {
    auto& st = self->state;
    // CAF 0.17 exposes the mailbox to its owner: size() moves what has arrived
    // into the actor's queue and counts it (the message being handled is no
    // longer in it, so add one). Owner-only call, hence sampled here.
    const auto queued = static_cast<i64>(self->mailbox().size()) + 1;
    if (queued > st.high_water) st.high_water = queued;
    spin_for(std::chrono::microseconds(1));
    if (++st.processed == total) {
      self->send(done_to, consumed_atom::value, st.processed, st.high_water);
      self->quit();
    }
  }};
}

caf::behavior producer_actor(caf::event_based_actor* self, caf::actor consumer, caf::actor done_to,
                             i64 total) {
  return {[=](start_atom) {
    const auto t0 = clk::now();
    for (i64 i = 0; i < total; ++i) self->send(consumer, i);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
    self->send(done_to, produced_atom::value, static_cast<i64>(ns));
    self->quit();
  }};
}

// One overload run in this (fresh) process: {peak RSS MiB, mailbox high-water
// mark, producer msgs/s}, or empty if not all 10M were processed.
std::vector<double> probe_overload(int threads) {
  const i64 kMessages = troupe::bench::sizes().overload_messages;
  caf_env env{threads};
  caf::scoped_actor self{env.sys};
  auto consumer = env.sys.spawn(consumer_actor, caf::actor{self}, kMessages);
  auto producer = env.sys.spawn(producer_actor, consumer, caf::actor{self}, kMessages);
  self->send(producer, start_atom::value);
  i64 produce_ns = -1, processed = -1, hw = -1;
  bool ok = true;
  for (int k = 0; k < 2 && ok; ++k) {
    ok = await_one(
        self, [&](produced_atom, i64 ns) { produce_ns = ns; },
        [&](consumed_atom, i64 n, i64 h) {
          processed = n;
          hw = h;
        });
  }
  const i64 hwm = status_bytes("VmHWM");
  if (!ok || processed != kMessages || produce_ns <= 0 || hwm < 0) {
    env.abandon();
    return {};
  }
  return {static_cast<double>(hwm) / (1024.0 * 1024.0), static_cast<double>(hw),
          static_cast<double>(kMessages) * 1e9 / static_cast<double>(produce_ns)};
}
[[maybe_unused]] const int overload_probe_registered =
    troupe::bench::add_probe("caf.overload", &probe_overload);

void bm_overload(benchmark::State& state, int threads) {
  troupe::bench::overload_in_fresh_processes(state, "caf.overload", threads);
}

// ---------------------------------------------------------------------------
// actor.ask: one actor requests from another and awaits each response before
// sending the next request; per-request latency taken with steady_clock.

caf::behavior ask_server(caf::event_based_actor*) {
  return {[](i64 x) { return x; }};
}

struct ask_state {
  caf::actor server;
  caf::actor done_to;
  i64 total = 0;
  i64 sent = 0;
  i64 wrong = 0;
  i64* latencies = nullptr;
  clk::time_point t0;
};

void ask_next(caf::stateful_actor<ask_state>* self) {
  auto& st = self->state;
  if (st.sent == st.total) {
    self->send(st.done_to, done_atom::value, st.sent, st.wrong);
    self->quit();
    return;
  }
  const i64 i = st.sent++;
  st.t0 = clk::now();
  self->request(st.server, caf::infinite, i).then([self, i](i64 r) {
    auto& s = self->state;
    s.latencies[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - s.t0).count();
    if (r != i) ++s.wrong;
    ask_next(self);
  });
}

caf::behavior ask_client(caf::stateful_actor<ask_state>* self, caf::actor server, caf::actor done_to,
                         i64 total, i64* latencies) {
  self->state.server = std::move(server);
  self->state.done_to = std::move(done_to);
  self->state.total = total;
  self->state.latencies = latencies;
  return {[=](start_atom) { ask_next(self); }};
}

void bm_ask(benchmark::State& state, int threads) {
  const i64 kAsks = troupe::bench::sizes().asks;
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  std::vector<i64> all;  // latencies of every iteration, ns
  std::vector<i64> lat(kAsks);
  for (auto _ : state) {
    auto server = env.sys.spawn(ask_server);
    auto client = env.sys.spawn(ask_client, server, caf::actor{self}, kAsks, lat.data());
    self->send(client, start_atom::value);
    i64 answered = -1, wrong = -1;
    bool ok = await_one(self, [&](done_atom, i64 n, i64 w) {
      answered = n;
      wrong = w;
    });
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    if (!ok || answered != kAsks || wrong != 0) {
      env.abandon();
      state.SkipWithError("ask: wrong/missing responses or timeout");
      break;
    }
    state.PauseTiming();
    all.insert(all.end(), lat.begin(), lat.end());
    state.ResumeTiming();
  }
  state.SetItemsProcessed(kAsks * state.iterations());
  if (!all.empty()) {
    auto pct = [&](double p) {
      auto k = static_cast<std::size_t>(p * static_cast<double>(all.size() - 1));
      std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
      return static_cast<double>(all[k]) / 1000.0;  // us
    };
    state.counters["p50"] = pct(0.50);
    state.counters["p99"] = pct(0.99);
  }
}

// ---------------------------------------------------------------------------
// actor.ask_many: a thousand actors each make `rounds` requests of one shared
// actor from inside their handlers, one at a time, with request().await (the
// turn-based form: the asker handles nothing else while it waits, like a
// troupe coroutine handler). Counter waiter_bytes: resident memory per asker
// while all of them wait at once (the server holds every response promise).

using open_atom = caf::atom_constant<caf::atom("cb_open")>;
using held_atom = caf::atom_constant<caf::atom("cb_held")>;
constexpr i64 kAskers = 1'000;

struct gate_state {
  bool gated = false;
  std::vector<caf::response_promise> held;
};

caf::behavior shared_server(caf::stateful_actor<gate_state>* self, bool gated) {
  self->state.gated = gated;
  return {
      [=](i64 x) -> caf::result<i64> {
        if (!self->state.gated) return x;
        self->state.held.push_back(self->make_response_promise());
        return caf::delegated<i64>();
      },
      [=](held_atom) { return static_cast<i64>(self->state.held.size()); },
      [=](open_atom) {
        self->state.gated = false;
        for (auto& p : self->state.held) p.deliver(i64{0});
        self->state.held.clear();
      },
  };
}

struct asker_state {
  caf::actor server, done_to;
  i64 left = 0, next = 0, sum = 0;
};

void asker_next(caf::stateful_actor<asker_state>* self) {
  auto& st = self->state;
  if (st.left == 0) {
    self->send(st.done_to, done_atom::value, st.sum);
    return;
  }
  --st.left;
  self->request(st.server, caf::infinite, st.next++).await([self](i64 r) {
    self->state.sum += r;
    asker_next(self);
  });
}

caf::behavior asker(caf::stateful_actor<asker_state>* self, caf::actor server, caf::actor done_to) {
  self->state.server = std::move(server);
  self->state.done_to = std::move(done_to);
  return {[=](start_atom, i64 rounds) {
    self->state.left = rounds;
    self->state.next = 0;
    self->state.sum = 0;
    asker_next(self);
  }};
}

// Starts every asker for `rounds` and sums what they report; -1 on timeout.
i64 ask_many_round(caf::scoped_actor& self, const std::vector<caf::actor>& askers, i64 rounds) {
  for (const auto& a : askers) self->send(a, start_atom::value, rounds);
  i64 sum = 0;
  for (std::size_t i = 0; i < askers.size(); ++i)
    if (!await_one(self, [&](done_atom, i64 s) { sum += s; })) return -1;
  return sum;
}

double ask_many_waiter_bytes(int threads) {
  caf_env env{threads};
  caf::scoped_actor self{env.sys};
  auto server = env.sys.spawn(shared_server, true);
  std::vector<caf::actor> askers;
  for (i64 i = 0; i < kAskers; ++i) askers.push_back(env.sys.spawn(asker, server, caf::actor{self}));
  trim_heap();
  const i64 before = rss_bytes();
  for (const auto& a : askers) self->send(a, start_atom::value, i64{1});
  const auto give_up = clk::now() + std::chrono::seconds(60);
  for (i64 held = 0; held != kAskers;) {
    if (clk::now() > give_up) return -1;
    self->request(server, kTimeout, held_atom::value).receive([&](i64 n) { held = n; }, [&](caf::error&) {});
  }
  const i64 after = rss_bytes();
  self->send(server, open_atom::value);
  i64 sum = 0;
  for (i64 i = 0; i < kAskers; ++i)
    if (!await_one(self, [&](done_atom, i64 s) { sum += s; })) return -1;
  for (const auto& a : askers) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  return sum == 0 ? static_cast<double>(after - before) / static_cast<double>(kAskers) : -1;
}

void bm_ask_many(benchmark::State& state, int threads) {
  const i64 rounds = troupe::bench::sizes().asks / kAskers;
  const double waiter_bytes = ask_many_waiter_bytes(threads);
  caf_env env{threads};
  if (!check_env(state, env, threads)) return;
  caf::scoped_actor self{env.sys};
  auto server = env.sys.spawn(shared_server, false);
  std::vector<caf::actor> askers;
  for (i64 i = 0; i < kAskers; ++i) askers.push_back(env.sys.spawn(asker, server, caf::actor{self}));
  const i64 want = kAskers * (rounds * (rounds - 1) / 2);
  for (auto _ : state) {
    if (waiter_bytes < 0 || ask_many_round(self, askers, rounds) != want) {
      env.abandon();
      state.SkipWithError("ask_many: wrong/missing responses or timeout");
      break;
    }
  }
  for (const auto& a : askers) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  state.SetItemsProcessed(kAskers * rounds * state.iterations());
  state.counters["waiter_bytes"] = waiter_bytes;
}

// ---------------------------------------------------------------------------

void register_caf(const troupe::bench::config& config) {
  // Iterations per repetition, measured on 2 noisy cores: ping_pong ~1.2 s,
  // spawn ~3-5 s (+ ~2 s untimed idle measurement), fan_out ~6-9 s, ring
  // ~5-6 s, overload ~20 s (10M x 1 us is 10 s at the very least), ask
  // ~0.15 s per 100k round trips.
  troupe::bench::register_actor_workloads(config, "caf",
                                          {
                                              {"actor.ping_pong", &bm_ping_pong, 2},
                                              {"actor.spawn", &bm_spawn, 1},
                                              {"actor.fan_out", &bm_fan_out, 1},
                                              {"actor.ring", &bm_ring, 1},
                                              {"actor.overload", &bm_overload, 1},
                                              {"actor.ask", &bm_ask, 10},
                                              {"actor.ask_many", &bm_ask_many, 10},
                                          });
}

}  // namespace

TROUPE_BENCHMARKS(register_caf);
