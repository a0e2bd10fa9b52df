// troupe's asynchronous forms of the ask round trip (system "troupe"):
// actor.ask.await (co_await in a coroutine handler), actor.ask.then (a chain
// of continuations), actor.fan_in (when_all of 3 asks to 3 actors) and
// ask.foreign_callback (a thread outside the runtime asking with on_complete,
// against blocking get() from the same thread). Each compares with
// actor.ask (bench/actors/actor_bench.cpp), the blocking form inside a
// handler, measured in the same run. actor.ask_many: a thousand actors each
// ask one shared actor from inside their handlers and wait, with co_await
// (actor.ask_many) or blocking get() (actor.ask_many.get); its CAF peer is in
// bench/peers/caf_bench.cpp.

#include <atomic>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_registry.hpp"
#include "process_memory.hpp"
#include "workload_sizes.hpp"

#include "troupe/actors.hpp"
#include "troupe/runtime/runtime.hpp"

namespace {

using i64 = std::int64_t;
constexpr auto kTimeout = std::chrono::seconds(600);

struct env {
  troupe::runtime rt;
  troupe::actor_system sys;
  explicit env(int threads)
      : rt(troupe::runtime_options{.workers = static_cast<std::size_t>(threads)}), sys(rt) {}
};

struct query {
  i64 x;
};
struct server : troupe::actor<server> {
  i64 on(query q) { return q.x; }
};

struct run {
  i64 n;
};

// --- actor.ask.await ---------------------------------------------------------

struct await_client : troupe::actor<await_client> {
  troupe::actor_ref<server> s;
  explicit await_client(troupe::actor_ref<server> srv) : s(std::move(srv)) {}
  troupe::task<i64> on(run r) {
    i64 wrong = 0;
    for (i64 i = 0; i < r.n; ++i)
      if (co_await s.ask(query{i}, kTimeout) != i) ++wrong;
    co_return wrong;
  }
};

void bm_ask_await(benchmark::State& state, int threads) {
  constexpr i64 kAsks = 100'000;
  env e(threads);
  for (auto _ : state) {
    auto c = e.sys.spawn<await_client>(e.sys.spawn<server>());
    if (c.ask(run{kAsks}, kTimeout).get() != 0) {
      state.SkipWithError("ask.await: wrong replies");
      break;
    }
  }
  state.SetItemsProcessed(kAsks * state.iterations());
}

// --- actor.ask.then -----------------------------------------------------------

struct then_client : troupe::actor<then_client> {
  troupe::actor_ref<server> s;
  troupe::reply_promise<i64> done;
  i64 left = 0, wrong = 0, next = 0;
  explicit then_client(troupe::actor_ref<server> srv) : s(std::move(srv)) {}
  // Each reply's continuation asks the next: the actor never waits.
  void step() {
    if (left-- == 0) {
      done.deliver(wrong);
      return;
    }
    const i64 want = next++;
    s.ask(query{want}, kTimeout).then([this, want](troupe::result<i64> r) {
      if (!r || *r != want) ++wrong;
      step();
    });
  }
  troupe::reply_promise<i64> on(run r) {
    done = troupe::this_actor::reply_later<i64>();
    left = r.n;
    step();
    return done;
  }
};

void bm_ask_then(benchmark::State& state, int threads) {
  constexpr i64 kAsks = 100'000;
  env e(threads);
  for (auto _ : state) {
    auto c = e.sys.spawn<then_client>(e.sys.spawn<server>());
    if (c.ask(run{kAsks}, kTimeout).get() != 0) {
      state.SkipWithError("ask.then: wrong replies");
      break;
    }
  }
  state.SetItemsProcessed(kAsks * state.iterations());
}

// --- actor.fan_in ---------------------------------------------------------------

struct fan_client : troupe::actor<fan_client> {
  troupe::actor_ref<server> a, b, c;
  fan_client(troupe::actor_ref<server> x, troupe::actor_ref<server> y, troupe::actor_ref<server> z)
      : a(std::move(x)), b(std::move(y)), c(std::move(z)) {}
  troupe::task<i64> on(run r) {
    i64 wrong = 0;
    for (i64 i = 0; i < r.n; ++i) {
      auto [x, y, z] = co_await troupe::when_all(a.ask(query{i}, kTimeout), b.ask(query{i + 1}, kTimeout),
                                                 c.ask(query{i + 2}, kTimeout));
      if (!x || !y || !z || *x + *y + *z != 3 * i + 3) ++wrong;
    }
    co_return wrong;
  }
};

void bm_fan_in(benchmark::State& state, int threads) {
  constexpr i64 kRounds = 30'000;
  env e(threads);
  for (auto _ : state) {
    auto f = e.sys.spawn<fan_client>(e.sys.spawn<server>(), e.sys.spawn<server>(), e.sys.spawn<server>());
    if (f.ask(run{kRounds}, kTimeout).get() != 0) {
      state.SkipWithError("fan_in: wrong replies");
      break;
    }
  }
  state.SetItemsProcessed(kRounds * state.iterations());  // one item = one when_all of 3 round trips
}

// --- ask.foreign_callback -----------------------------------------------------
// A thread outside the runtime keeps `window` asks in flight with
// on_complete, against the same thread doing blocking get() one at a time.

void bm_foreign_callback(benchmark::State& state, int threads) {
  constexpr i64 kAsks = 200'000, kWindow = 64;
  env e(threads);
  auto s = e.sys.spawn<server>(troupe::spawn_options{.capacity = 4096});
  for (auto _ : state) {
    std::atomic<i64> done{0}, wrong{0};
    for (i64 i = 0; i < kAsks; ++i) {
      while (i - done.load(std::memory_order_acquire) >= kWindow) std::this_thread::yield();
      s.ask(query{i}, kTimeout).on_complete([&done, &wrong, i](troupe::result<i64> r) {
        if (!r || *r != i) wrong.fetch_add(1, std::memory_order_relaxed);
        done.fetch_add(1, std::memory_order_release);
      });
    }
    while (done.load(std::memory_order_acquire) != kAsks) std::this_thread::yield();
    if (wrong.load() != 0) {
      state.SkipWithError("foreign_callback: wrong replies");
      break;
    }
  }
  state.SetItemsProcessed(kAsks * state.iterations());
}

void bm_foreign_get(benchmark::State& state, int threads) {
  constexpr i64 kAsks = 50'000;
  env e(threads);
  auto s = e.sys.spawn<server>();
  for (auto _ : state) {
    for (i64 i = 0; i < kAsks; ++i)
      if (s.ask(query{i}, kTimeout).get() != i) {
        state.SkipWithError("foreign get: wrong reply");
        break;
      }
  }
  state.SetItemsProcessed(kAsks * state.iterations());
}

// --- actor.ask_many ----------------------------------------------------------
// kAskers clients each make `rounds` asks of one shared server from inside a
// handler, one at a time. Items: asks. Counter waiter_bytes: resident memory
// per client while all of them wait at once (the server holds every reply
// until all have asked), measured once in a fresh runtime before the timed
// runs: a blocked get() holds a fiber and its stack, a co_await a frame.

constexpr i64 kAskers = 1'000;

struct open_gate {};
struct held_count {};
struct shared_server : troupe::actor<shared_server> {
  bool gated = false;
  std::vector<troupe::reply_promise<i64>> held;
  explicit shared_server(bool start_gated) : gated(start_gated) {}
  troupe::reply_promise<i64> on(query q) {
    auto p = troupe::this_actor::reply_later<i64>();
    if (gated)
      held.push_back(p);
    else
      p.deliver(q.x);
    return p;
  }
  i64 on(held_count) { return static_cast<i64>(held.size()); }
  void on(open_gate) {
    gated = false;
    for (auto& p : held) p.deliver(0);
    held.clear();
  }
};

struct awaiting_asker : troupe::actor<awaiting_asker> {
  troupe::actor_ref<shared_server> s;
  explicit awaiting_asker(troupe::actor_ref<shared_server> srv) : s(std::move(srv)) {}
  troupe::task<i64> on(run r) {
    i64 sum = 0;
    for (i64 i = 0; i < r.n; ++i) {
      auto f = s.ask(query{i}, kTimeout);
      sum += co_await std::move(f);
    }
    co_return sum;
  }
};

struct blocking_asker : troupe::actor<blocking_asker> {
  troupe::actor_ref<shared_server> s;
  explicit blocking_asker(troupe::actor_ref<shared_server> srv) : s(std::move(srv)) {}
  i64 on(run r) {
    i64 sum = 0;
    for (i64 i = 0; i < r.n; ++i) sum += s.ask(query{i}, kTimeout).get();
    return sum;
  }
};

// Every client runs `rounds` asks at once; the sum of all their replies.
template <class Asker>
i64 ask_many_round(std::vector<troupe::actor_ref<Asker>>& askers, i64 rounds) {
  std::vector<troupe::ask_future<i64>> fs;
  fs.reserve(askers.size());
  for (auto& a : askers) fs.push_back(a.ask(run{rounds}, kTimeout));
  i64 sum = 0;
  for (auto& f : fs) sum += f.get();
  return sum;
}

// Resident bytes per client while every client waits for its reply; < 0 if
// the run went wrong.
template <class Asker>
double ask_many_waiter_bytes(int threads) {
  env e(threads);
  auto server = e.sys.spawn<shared_server>(true);
  std::vector<troupe::actor_ref<Asker>> askers;
  for (i64 i = 0; i < kAskers; ++i) askers.push_back(e.sys.spawn<Asker>(server));
  std::vector<troupe::ask_future<i64>> fs;
  fs.reserve(askers.size());
  troupe::bench::trim_heap();
  const i64 before = troupe::bench::rss_bytes();
  for (auto& a : askers) fs.push_back(a.ask(run{1}, kTimeout));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (server.ask(held_count{}, kTimeout).get() != kAskers)
    if (std::chrono::steady_clock::now() > give_up) return -1;
  const i64 after = troupe::bench::rss_bytes();
  server.send(open_gate{});
  for (auto& f : fs)
    if (f.get() != 0) return -1;
  return static_cast<double>(after - before) / static_cast<double>(kAskers);
}

template <class Asker>
void bm_ask_many(benchmark::State& state, int threads) {
  const i64 rounds = troupe::bench::sizes().asks / kAskers;
  const double waiter_bytes = ask_many_waiter_bytes<Asker>(threads);
  env e(threads);
  auto server = e.sys.spawn<shared_server>(false);
  std::vector<troupe::actor_ref<Asker>> askers;
  for (i64 i = 0; i < kAskers; ++i) askers.push_back(e.sys.spawn<Asker>(server));
  const i64 want = kAskers * (rounds * (rounds - 1) / 2);
  for (auto _ : state) {
    if (waiter_bytes < 0 || ask_many_round(askers, rounds) != want) {
      state.SkipWithError("ask_many: wrong replies");
      break;
    }
  }
  state.SetItemsProcessed(kAskers * rounds * state.iterations());
  state.counters["waiter_bytes"] = waiter_bytes;
}

void register_async(const troupe::bench::config& cfg) {
  for (int t : cfg.threads) {
    const std::string suffix = "/troupe/threads:" + std::to_string(t);
    auto add = [&](const char* id, void (*fn)(benchmark::State&, int), int iterations) {
      benchmark::RegisterBenchmark((std::string(id) + suffix).c_str(), fn, t)
          ->UseRealTime()
          ->Iterations(cfg.quick ? 1 : iterations);
    };
    add("actor.ask.await", &bm_ask_await, 20);
    add("actor.ask.then", &bm_ask_then, 20);
    add("actor.fan_in", &bm_fan_in, 10);
    add("ask.foreign_callback", &bm_foreign_callback, 5);
    add("ask.foreign_get", &bm_foreign_get, 5);
    add("actor.ask_many", &bm_ask_many<awaiting_asker>, 10);
    add("actor.ask_many.get", &bm_ask_many<blocking_asker>, 10);
  }
}

}  // namespace

TROUPE_BENCHMARKS(register_async);
