// troupe-soak: a long run of a random, changing actor system with faults
// injected, checking invariants as it goes (docs/soak.md).
//
//   troupe-soak --minutes 30 --seed 7 --json soak.json
//   troupe-soak --seconds 5                   (the CTest smoke run)
//
// The seed decides every choice the program makes (what to spawn, stop,
// crash, send and ask, with which deadlines); the interleavings are real
// threads, so a run is not replayable, only its choices are.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/prctl.h>
#include <thread>
#include <vector>

#include "ledger.hpp"
#include "world.hpp"

#include "troupe/runtime/version.hpp"

namespace {

using namespace std::chrono_literals;
using soak::fault;
using soak::invariant;
using soak::kind;
using soak::outcome;

struct options {
  double seconds = 60;
  std::uint64_t seed = 1;
  std::size_t workers = 0;  // runtime workers; 0: one per hardware thread
  std::size_t callers = 2;  // foreign threads
  double rate = 20000;      // operations per second per caller
  double chaos_ms = 10;     // between chaos actions
  std::size_t max_workers = 48;
  std::size_t max_coords = 12;
  double late_bound_ms = 500;
  double stall_seconds = 10;
  double rss_limit_mb = 0;  // 0: twice the RSS at the end of warm-up, plus 64 MB
  double progress_seconds = 5;
  double inject_hang_at = 0;  // seconds; 0: never
  std::string json_path;
};

std::int64_t rss_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, len, key) == 0 && line.size() > len && line[len] == ':')
      return std::stoll(line.substr(len + 1)) * 1024;
  return -1;
}

// Everything the threads share.
struct run {
  run(const options& o, soak::ledger& l, troupe::runtime& r, troupe::actor_system& s, soak::world& wo)
      : opt(o), books(l), rt(r), sys(s), w(wo) {}
  const options& opt;
  soak::ledger& books;
  troupe::runtime& rt;
  troupe::actor_system& sys;
  soak::world& w;
  std::atomic<bool> stop_load{false};
  std::atomic<bool> stop_monitor{false};
  std::atomic<std::int64_t> rss_peak{0}, rss_bound{0};
  std::mutex wake_mutex;
  std::condition_variable wake;  // ends the monitor's and chaos thread's sleeps early
  std::atomic<int> phase{0};     // 0 load, 1 draining, 2 shutting down, 3 done
  soak::time_point phase_since = soak::now();
  std::mutex phase_mutex;  // guards phase_since

  // Sleeps up to d; false if the load was stopped meanwhile.
  bool nap(std::chrono::nanoseconds d) {
    std::unique_lock g(wake_mutex);
    return !wake.wait_for(g, d, [&] { return stop_load.load(); });
  }
  void enter_phase(int p) {
    std::lock_guard g(phase_mutex);
    phase = p;
    phase_since = soak::now();
  }
};

// --- spawning ----------------------------------------------------------------------

troupe::spawn_options random_mailbox(soak::rng& r) {
  static constexpr std::size_t capacities[] = {4, 16, 64, 1024};
  static constexpr troupe::overflow_policy policies[] = {
      troupe::overflow_policy::block, troupe::overflow_policy::fail, troupe::overflow_policy::drop_newest,
      troupe::overflow_policy::drop_oldest};
  troupe::spawn_options o;
  o.capacity = capacities[r.below(4)];
  o.policy = policies[r.below(4)];
  o.block_timeout = 20ms;
  o.budget = 1 + r.below(32);
  if (r.chance(20)) o.dequeue = troupe::patterns::shed_by_queue_delay({.target = 2ms, .interval = 20ms});
  return o;
}

soak::entry<soak::worker_actor> spawn_worker(run& R, soak::rng& r, int sup, std::uint64_t serial) {
  auto s = std::make_shared<soak::slot>(fmt::format("worker#{}", serial));
  const troupe::spawn_options o = random_mailbox(r);
  soak::entry<soak::worker_actor> e{s, {}, o.capacity, sup};
  if (sup >= 0)
    e.ref = R.w.worker_sups[static_cast<std::size_t>(sup)].spawn<soak::worker_actor>(o, &R.w, s);
  else
    e.ref = R.sys.spawn<soak::worker_actor>(o, &R.w, s);
  R.w.enlist(s, e.ref);
  return e;
}

troupe::supervisor_ref spawn_worker_supervisor(run& R, soak::rng& r) {
  static constexpr troupe::restart_strategy strategies[] = {troupe::restart_strategy::one_for_one,
                                                            troupe::restart_strategy::one_for_all,
                                                            troupe::restart_strategy::rest_for_one};
  return R.w.root.spawn_supervisor(
      {.strategy = strategies[r.below(3)], .max_restarts = 20, .within = 1000ms});
}

soak::entry<soak::coord_actor> spawn_coord(run& R, std::uint64_t serial) {
  auto s = std::make_shared<soak::slot>(fmt::format("coord#{}", serial));
  soak::entry<soak::coord_actor> e{s, {}, 256, 0};
  e.ref = R.w.coord_sup.spawn<soak::coord_actor>(
      troupe::spawn_options{.capacity = 256, .policy = troupe::overflow_policy::fail}, &R.w, s);
  R.w.enlist(s, e.ref);
  return e;
}

// --- the chaos thread: changes the graph and injects faults ------------------------

void chaos_main(run& R) {
  prctl(PR_SET_NAME, "soak-chaos");
  soak::rng r(R.opt.seed * 0x100000001b3ull + 1);
  std::uint64_t serial = 1000;
  const auto start = soak::now();
  auto last_flip = start;
  bool hung = false;
  soak::ledger& books = R.books;
  auto send_work = [&](const troupe::actor_ref<soak::worker_actor>& ref, soak::work m) {
    books.issued(kind::work);
    const troupe::send_result res = ref.try_send(m);
    if (res)
      books.send_accepted(kind::work);
    else
      books.send_refused(kind::work);
    return res;
  };
  while (R.nap(std::chrono::microseconds(static_cast<std::int64_t>(R.opt.chaos_ms * 1000)))) {
    // Prune actors that stopped by themselves (unsupervised crashes,
    // escalations).
    {
      auto ws = *R.w.workers();
      const auto before = ws.size();
      std::erase_if(ws, [](const auto& e) { return e.ref.stopped(); });
      if (ws.size() != before) R.w.set_workers(std::move(ws));
    }
    // The watchdog's self-test: one handler that never returns.
    if (R.opt.inject_hang_at > 0 && !hung &&
        soak::now() - start > std::chrono::duration<double>(R.opt.inject_hang_at)) {
      const auto ws = R.w.workers();
      if (!ws->empty()) {
        hung = true;
        soak::work m;
        m.hang = true;
        if (send_work(ws->front().ref, m)) books.injected(fault::hang);
        std::printf("troupe-soak: --inject-hang: %s will wait forever\n", ws->front().s->name.c_str());
      }
    }
    // The flaky service changes phase every two seconds or so.
    if (soak::now() - last_flip > 2s) {
      last_flip = soak::now();
      const bool bad = r.chance(50);
      R.w.flaky_bad.store(bad, std::memory_order_relaxed);  // relaxed: a phase flag
      if (bad) books.injected(fault::flaky_phase);
    }
    auto workers = *R.w.workers();
    auto coords = *R.w.coords();
    const std::uint64_t action = r.below(100);
    try {
      if (action < 18) {  // spawn a worker
        if (workers.size() < R.opt.max_workers) {
          const int sup = r.chance(85) ? static_cast<int>(r.below(R.w.worker_sups.size())) : -1;
          workers.push_back(spawn_worker(R, r, sup, ++serial));
          R.w.set_workers(std::move(workers));
        }
      } else if (action < 26) {  // stop a worker
        if (workers.size() > 8) {
          const std::size_t i = r.below(workers.size());
          const bool immediate = r.chance(50);
          auto victim = workers[i];
          workers.erase(workers.begin() + static_cast<std::ptrdiff_t>(i));
          R.w.set_workers(std::move(workers));
          victim.ref.stop(immediate ? troupe::stop_mode::immediate : troupe::stop_mode::graceful);
          books.injected(immediate ? fault::stop_immediate : fault::stop_graceful);
        }
      } else if (action < 44) {  // crash a worker
        if (!workers.empty()) {
          const auto& victim = workers[r.below(workers.size())];
          if (send_work(victim.ref, soak::work{0, true, 0}))
            books.injected(victim.supervisor < 0 ? fault::unsupervised : fault::crash);
        }
      } else if (action < 54) {  // overload: a burst past a small mailbox's capacity
        if (!workers.empty()) {
          const auto& target =
              *std::min_element(workers.begin(), workers.end(),
                                [](const auto& a, const auto& b) { return a.capacity < b.capacity; });
          books.injected(fault::overload_burst);
          for (std::size_t i = 0; i < target.capacity * 2 + 8; ++i)
            send_work(target.ref, soak::work{i, false, 20});
        }
      } else if (action < 60) {  // a slow handler, with asks queued behind it
        if (!workers.empty()) {
          const auto& target = workers[r.below(workers.size())];
          books.injected(fault::slow_handler);
          for (int i = 0; i < 3; ++i) {
            const soak::time_point deadline = soak::now() + std::chrono::milliseconds(5 + r.below(30));
            const soak::query q{static_cast<std::int64_t>(i), false, i == 0 ? 15'000u : 0u};
            books.issued(kind::query);
            auto probe = books.ask_issued(deadline, soak::now());
            target.ref.ask(q, deadline)
                .on_complete([&books, probe, x = q.x](troupe::result<std::int64_t> res) {
                  books.ask_completed(*probe, soak::outcome_of(res.error_code()), soak::now());
                  if (res && *res != soak::query_reply(x))
                    books.violation(invariant::wrong_reply, "slow query");
                });
          }
        }
      } else if (action < 62) {  // a crash storm: one supervisor escalates
        const std::size_t sup = r.below(R.w.worker_sups.size());
        std::vector<const soak::entry<soak::worker_actor>*> children;
        for (const auto& e : workers)
          if (e.supervisor == static_cast<int>(sup)) children.push_back(&e);
        if (!children.empty()) {
          books.injected(fault::crash_storm);
          for (int i = 0; i < 30; ++i)
            send_work(children[r.below(children.size())]->ref, soak::work{0, true, 0});
        }
      } else if (action < 63) {  // stop a whole worker supervisor, start a fresh one
        const std::size_t sup = r.below(R.w.worker_sups.size());
        auto old = R.w.worker_sups[sup];
        std::erase_if(workers, [&](const auto& e) { return e.supervisor == static_cast<int>(sup); });
        R.w.worker_sups[sup] = spawn_worker_supervisor(R, r);
        for (int i = 0; i < 3; ++i) workers.push_back(spawn_worker(R, r, static_cast<int>(sup), ++serial));
        R.w.set_workers(std::move(workers));
        old.stop(r.chance(50) ? troupe::stop_mode::immediate : troupe::stop_mode::graceful);
        books.injected(fault::supervisor_stop);
      } else if (action < 66) {  // a coordinator comes, goes, or crashes
        const std::uint64_t what = r.below(3);
        if (what == 0 && coords.size() < R.opt.max_coords) {
          coords.push_back(spawn_coord(R, ++serial));
          R.w.set_coords(std::move(coords));
        } else if (what == 1 && coords.size() > 4) {
          const std::size_t i = r.below(coords.size());
          auto victim = coords[i];
          coords.erase(coords.begin() + static_cast<std::ptrdiff_t>(i));
          R.w.set_coords(std::move(coords));
          victim.ref.stop(troupe::stop_mode::immediate);
          books.injected(fault::stop_immediate);
        } else if (!coords.empty()) {
          const auto& victim = coords[r.below(coords.size())];
          const soak::time_point deadline = soak::now() + 50ms;
          const soak::fan f{r.next(), 0, true};
          books.issued(kind::fan);
          auto probe = books.ask_issued(deadline, soak::now());
          victim.ref.ask(f, deadline, troupe::when_full::fail)
              .on_complete([&books, probe](troupe::result<std::int64_t> res) {
                books.ask_completed(*probe, soak::outcome_of(res.error_code()), soak::now());
              });
          books.injected(fault::crash);
        }
      }
    } catch (const troupe::actor_error& e) {
      // A spawn on a supervisor that escalated and stopped: replace it.
      if (e.code() != troupe::actor_errc::actor_stopped) throw;
      for (auto& s : R.w.worker_sups)
        if (s.stopped()) s = spawn_worker_supervisor(R, r);
    }
    for (auto& s : R.w.worker_sups)
      if (s.stopped()) s = spawn_worker_supervisor(R, r);
  }
}

// --- callers: plain threads outside the runtime ----------------------------------

void caller_main(run& R, std::size_t index) {
  prctl(PR_SET_NAME, fmt::format("soak-caller{}", index).c_str());
  soak::rng r(R.opt.seed * 0x9E3779B97F4A7C15ull + 17 * (index + 1));
  soak::ledger& books = R.books;
  auto inflight = std::make_shared<std::atomic<std::int64_t>>(0);
  constexpr std::int64_t max_inflight = 256;
  const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / std::max(1.0, R.opt.rate)));
  auto next = soak::now();
  auto track = [&](soak::time_point deadline) {
    inflight->fetch_add(1, std::memory_order_relaxed);  // relaxed: a count this thread polls
    return books.ask_issued(deadline, soak::now());
  };
  while (!R.stop_load.load(std::memory_order_relaxed)) {  // relaxed: a stop flag
    next += period;
    if (next > soak::now())
      std::this_thread::sleep_until(next);
    else if (soak::now() - next > 100ms)
      next = soak::now();  // fell behind: do not burst
    if (inflight->load(std::memory_order_relaxed) >= max_inflight) {
      std::this_thread::sleep_for(200us);
      continue;
    }
    const auto workers = R.w.workers();
    const auto coords = R.w.coords();
    const std::uint64_t action = r.below(100);
    if (action < 40 && !workers->empty()) {  // ask a worker
      const auto& target = (*workers)[r.below(workers->size())];
      const soak::time_point deadline = soak::now() + std::chrono::milliseconds(1 + r.below(100));
      const soak::query q{static_cast<std::int64_t>(r.below(1'000'000)), false, 0};
      books.issued(kind::query);
      auto probe = track(deadline);
      target.ref.ask(q, deadline, r.chance(70) ? troupe::when_full::wait : troupe::when_full::fail)
          .on_complete([&books, probe, inflight, x = q.x](troupe::result<std::int64_t> res) {
            books.ask_completed(*probe, soak::outcome_of(res.error_code()), soak::now());
            if (res && *res != soak::query_reply(x))
              books.violation(invariant::wrong_reply, fmt::format("query {} got {}", x, *res));
            inflight->fetch_sub(1, std::memory_order_relaxed);
          });
    } else if (action < 50 && !coords->empty()) {  // ask a coordinator: coroutines all the way down
      const auto& target = (*coords)[r.below(coords->size())];
      const soak::time_point deadline = soak::now() + std::chrono::milliseconds(5 + r.below(200));
      const soak::fan f{r.next(), static_cast<std::uint32_t>(r.below(4)), false};
      books.issued(kind::fan);
      auto probe = track(deadline);
      target.ref.ask(f, deadline, troupe::when_full::fail)
          .on_complete([&books, probe, inflight](troupe::result<std::int64_t> res) {
            books.ask_completed(*probe, soak::outcome_of(res.error_code()), soak::now());
            inflight->fetch_sub(1, std::memory_order_relaxed);
          });
    } else if (action < 65) {  // through the breaker
      const soak::time_point deadline = soak::now() + std::chrono::milliseconds(10 + r.below(40));
      const soak::charge c{static_cast<std::int64_t>(r.below(1'000'000))};
      books.issued(kind::charge);
      auto probe = track(deadline);
      R.w.guarded.ask(c, deadline)
          .on_complete([&books, probe, inflight, x = c.x](troupe::result<std::int64_t> res) {
            const outcome o = soak::outcome_of(res.error_code());
            if (o == outcome::circuit_open) books.withdrawn(kind::charge);  // never reached a mailbox
            books.ask_completed(*probe, o, soak::now());
            if (res && *res != soak::charge_reply(x))
              books.violation(invariant::wrong_reply, fmt::format("charge {} got {}", x, *res));
            inflight->fetch_sub(1, std::memory_order_relaxed);
          });
    } else if (!workers->empty()) {  // sends: some may block for room until their deadline
      const auto& target = (*workers)[r.below(workers->size())];
      const soak::work m{r.next(), false, static_cast<std::uint32_t>(r.below(10))};
      books.issued(kind::work);
      troupe::send_result res;
      if (action < 85) {
        const soak::time_point deadline = soak::now() + std::chrono::milliseconds(1 + r.below(20));
        res = target.ref.send(m, deadline, troupe::when_full::wait);
        books.blocking_send_returned(deadline, soak::now());
      } else {
        res = target.ref.try_send(m);
      }
      if (res)
        books.send_accepted(kind::work);
      else
        books.send_refused(kind::work);
    }
  }
  // Every ask this thread made ends by its deadline: wait for them.
  const auto give_up = soak::now() + 30s;
  while (inflight->load(std::memory_order_relaxed) > 0 && soak::now() < give_up)
    std::this_thread::sleep_for(1ms);
}

// --- the monitor: invariants, memory, progress, watchdog ---------------------------

std::string name_stuck_actors(run& R, std::int64_t now_ns, double window_s, bool again) {
  std::string out;
  for (auto& a : R.w.watch_list()) {
    soak::slot& s = *a.s;
    const std::int64_t busy = s.busy_since_ns.load(std::memory_order_relaxed);  // relaxed: see slot
    const std::uint64_t handled = s.handled.load(std::memory_order_relaxed);
    if (handled != s.seen_handled || s.seen_change_ns == 0) {
      s.seen_handled = handled;
      s.seen_change_ns = now_ns;
    }
    const double in_handler = busy ? (now_ns - busy) / 1e9 : 0;
    const double idle_with_work = (now_ns - s.seen_change_ns) / 1e9;
    const std::size_t depth = a.addr.depth();
    const bool stopped = a.addr.stopped();
    if (s.reported && !again) continue;
    if (in_handler > window_s) {
      // A coroutine handler may have moved to another fiber since it began.
      out += fmt::format("  {}: in one handler for {:.1f} s (begun on fiber {}), {} queued{}\n", s.name,
                         in_handler, s.fiber.load(std::memory_order_relaxed), depth,
                         stopped ? " (stopping)" : "");
      s.reported = true;
    } else if (!stopped && depth > 0 && idle_with_work > window_s) {
      out += fmt::format("  {}: {} queued, none handled for {:.1f} s\n", s.name, depth, idle_with_work);
      s.reported = true;
    }
  }
  return out;
}

void write_json(run& R, double elapsed_s, const troupe::system_stats& stats, bool final);

void monitor_main(run& R, soak::time_point start) {
  prctl(PR_SET_NAME, "soak-monitor");
  const double total = R.opt.seconds;
  const double warmup = std::min(30.0, std::max(1.0, total * 0.2));
  std::uint64_t last_progress = 0;
  auto last_progress_at = soak::now();
  auto next_line = start + std::chrono::duration_cast<soak::duration>(
                               std::chrono::duration<double>(R.opt.progress_seconds));
  std::int64_t warm_rss = 0;
  for (auto tick = start + 1s; !R.stop_monitor.load(); tick += 1s) {
    {
      std::unique_lock g(R.wake_mutex);
      R.wake.wait_until(g, tick, [&] { return R.stop_monitor.load(); });
    }
    if (R.stop_monitor.load()) break;
    const auto now = soak::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const int phase = R.phase.load();
    if (phase <= 1) R.books.check_running(now);

    // Memory: VmRSS each second; after warm-up, within the bound.
    const std::int64_t rss = rss_bytes("VmRSS");
    std::int64_t peak = R.rss_peak.load();
    while (rss > peak && !R.rss_peak.compare_exchange_weak(peak, rss)) {}
    if (elapsed < warmup) {
      warm_rss = std::max(warm_rss, rss);
    } else if (phase == 0) {
      if (R.rss_bound.load() == 0)
        R.rss_bound = R.opt.rss_limit_mb > 0 ? static_cast<std::int64_t>(R.opt.rss_limit_mb * 1024 * 1024)
                                             : 2 * std::max(warm_rss, rss) + (64ll << 20);
      R.books.checked();
      if (rss > R.rss_bound.load())
        R.books.violation(invariant::memory, fmt::format("RSS {} MB above the bound of {} MB", rss >> 20,
                                                         R.rss_bound.load() >> 20));
    }

    // Watchdog: progress is anything handled, dead-lettered or answered.
    const std::uint64_t progress =
        R.books.handled_total() + R.books.dead_letters_total() + R.books.asks_completed();
    if (progress != last_progress) {
      last_progress = progress;
      last_progress_at = now;
    }
    const std::int64_t now_ns = soak::steady_ns();
    R.books.checked();
    const double quiet = std::chrono::duration<double>(now - last_progress_at).count();
    double phase_age;
    {
      std::lock_guard g(R.phase_mutex);
      phase_age = std::chrono::duration<double>(now - R.phase_since).count();
    }
    const bool stalled = (phase == 0 && quiet > R.opt.stall_seconds) ||
                         (phase >= 1 && phase_age > 60 + 4 * R.opt.stall_seconds);
    // On a stall, every stuck actor again, even those named before.
    const std::string stuck = name_stuck_actors(R, now_ns, R.opt.stall_seconds, stalled);
    if (!stuck.empty() || stalled) {
      const std::string what =
          stalled ? fmt::format("no progress for {:.1f} s (phase {})", std::max(quiet, phase_age), phase)
                  : std::string("actors stuck");
      R.books.violation(invariant::stall, what + "\n" + stuck);
      std::fprintf(stderr, "troupe-soak: watchdog: %s\n%sfiber dump:\n%s", what.c_str(), stuck.c_str(),
                   R.rt.dump_fibers().c_str());
      if (stalled) {
        // Nothing moves: report and leave without a shutdown that would hang.
        std::fprintf(stderr, "troupe-soak: stalled; exiting without shutdown\n");
        write_json(R, elapsed, R.sys.stats(), false);
        std::fflush(nullptr);
        std::_Exit(3);
      }
    }

    if (now >= next_line) {
      next_line +=
          std::chrono::duration_cast<soak::duration>(std::chrono::duration<double>(R.opt.progress_seconds));
      const troupe::system_stats st = R.sys.stats();
      std::printf(
          "[%6.0fs] messages %llu handled %llu dead letters %llu asks %llu/%llu faults %llu restarts %llu "
          "checks %llu violations %llu rss %lld MB\n",
          elapsed, static_cast<unsigned long long>(R.books.issued_total()),
          static_cast<unsigned long long>(R.books.handled_total()),
          static_cast<unsigned long long>(R.books.dead_letters_total()),
          static_cast<unsigned long long>(R.books.asks_completed()),
          static_cast<unsigned long long>(R.books.asks_issued()),
          static_cast<unsigned long long>(R.books.faults_total()),
          static_cast<unsigned long long>(st.restarts), static_cast<unsigned long long>(R.books.checks()),
          static_cast<unsigned long long>(R.books.violations()), static_cast<long long>(rss >> 20));
      std::fflush(stdout);
    }
  }
}

// --- the report ------------------------------------------------------------------------

nlohmann::json summary_json(run& R, double elapsed_s, const troupe::system_stats& stats, bool final) {
  nlohmann::json j;
  j["version"] = TROUPE_VERSION_STRING;
  j["completed"] = final;
  j["seed"] = R.opt.seed;
  j["seconds"] = elapsed_s;
  j["workers"] = R.rt.worker_count();
  j["callers"] = R.opt.callers;
  j["messages"] = R.books.issued_total();
  j["handled"] = R.books.handled_total();
  j["dead_letters_total"] = R.books.dead_letters_total();
  for (std::size_t k = 0; k < soak::kind_count; ++k) {
    const auto f = R.books.figures(static_cast<kind>(k));
    j["by_message"][soak::kind_names[k]] = {{"issued", f.issued},
                                            {"withdrawn", f.withdrawn},
                                            {"handled", f.handled},
                                            {"dead_letters", f.dead_letters}};
  }
  for (std::size_t r = 0; r < troupe::dead_letter_reason_count; ++r)
    j["dead_letters"][troupe::to_string(static_cast<troupe::dead_letter_reason>(r))] =
        R.books.hook_count(static_cast<troupe::dead_letter_reason>(r));
  j["asks"]["issued"] = R.books.asks_issued();
  j["asks"]["completed"] = R.books.asks_completed();
  for (std::size_t o = 0; o < soak::outcome_count; ++o)
    j["asks"]["outcomes"][soak::outcome_names[o]] = R.books.outcome_count_of(static_cast<outcome>(o));
  j["asks"]["worst_ms_past_deadline"] =
      std::chrono::duration<double, std::milli>(R.books.worst_lateness()).count();
  j["faults_injected"] = R.books.faults_total();
  for (std::size_t f = 0; f < soak::fault_count; ++f)
    j["faults"][soak::fault_names[f]] = R.books.fault_count_of(static_cast<fault>(f));
  j["system"] = {{"spawned", stats.spawned},
                 {"failures", stats.failures},
                 {"restarts", stats.restarts},
                 {"escalations", stats.escalations}};
  if (auto* b = R.w.guarded ? R.w.guarded.breaker_core() : nullptr) {
    const auto c = b->counters();
    j["breaker"] = {{"trips", c.entered[static_cast<std::size_t>(troupe::patterns::breaker_state::open)]},
                    {"rejected", c.rejected},
                    {"calls", c.calls},
                    {"failures", c.failures}};
  }
  j["invariant_checks"] = R.books.checks();
  j["violations_total"] = R.books.violations();
  for (std::size_t i = 0; i < soak::invariant_count; ++i)
    j["violations"][soak::invariant_names[i]] = R.books.violations_of(static_cast<invariant>(i));
  j["violation_log"] = R.books.violation_log();
  j["rss_peak_mb"] = static_cast<double>(R.rss_peak.load()) / (1 << 20);
  j["rss_bound_mb"] = static_cast<double>(R.rss_bound.load()) / (1 << 20);
  j["late_bound_ms"] = R.opt.late_bound_ms;
  return j;
}

void write_json(run& R, double elapsed_s, const troupe::system_stats& stats, bool final) {
  if (R.opt.json_path.empty()) return;
  std::ofstream out(R.opt.json_path);
  out << summary_json(R, elapsed_s, stats, final).dump(2) << '\n';
}

void print_summary(const nlohmann::json& j) {
  auto row = [](const std::string& what, const std::string& value) {
    std::printf("  %-34s %s\n", what.c_str(), value.c_str());
  };
  std::printf("\ntroupe-soak %s summary (seed %llu, %.1f s, %d workers, %d callers)\n",
              j["version"].get<std::string>().c_str(),
              static_cast<unsigned long long>(j["seed"].get<std::uint64_t>()), j["seconds"].get<double>(),
              j["workers"].get<int>(), j["callers"].get<int>());
  row("messages issued", j["messages"].dump());
  for (auto& [k, v] : j["by_message"].items())
    row("  " + k, fmt::format("issued {} withdrawn {} handled {} dead-lettered {}", v["issued"].dump(),
                              v["withdrawn"].dump(), v["handled"].dump(), v["dead_letters"].dump()));
  row("dead letters", j["dead_letters_total"].dump());
  for (auto& [k, v] : j["dead_letters"].items())
    if (v.get<std::uint64_t>() != 0) row("  " + k, v.dump());
  row("asks issued / completed", j["asks"]["issued"].dump() + " / " + j["asks"]["completed"].dump());
  for (auto& [k, v] : j["asks"]["outcomes"].items()) row("  " + k, v.dump());
  row("  worst completion past deadline",
      fmt::format("{:.1f} ms (bound {} ms)", j["asks"]["worst_ms_past_deadline"].get<double>(),
                  j["late_bound_ms"].get<double>()));
  row("faults injected", j["faults_injected"].dump());
  for (auto& [k, v] : j["faults"].items()) row("  " + k, v.dump());
  row("actors spawned / restarts", j["system"]["spawned"].dump() + " / " + j["system"]["restarts"].dump());
  row("handler failures / escalations",
      j["system"]["failures"].dump() + " / " + j["system"]["escalations"].dump());
  if (j.contains("breaker"))
    row("breaker trips / refusals", j["breaker"]["trips"].dump() + " / " + j["breaker"]["rejected"].dump());
  row("peak RSS", fmt::format("{:.1f} MB (bound {:.1f} MB)", j["rss_peak_mb"].get<double>(),
                              j["rss_bound_mb"].get<double>()));
  row("invariant checks", j["invariant_checks"].dump());
  row("violations", j["violations_total"].dump());
  for (auto& [k, v] : j["violations"].items())
    if (v.get<std::uint64_t>() != 0) row("  " + k, v.dump());
  for (auto& line : j["violation_log"]) std::printf("  ! %s\n", line.get<std::string>().c_str());
  std::printf("%s\n", j["violations_total"].get<std::uint64_t>() == 0 ? "every invariant held"
                                                                      : "INVARIANTS VIOLATED");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "troupe-soak: runs a random, changing actor system (spawns, stops, crashes under supervision, "
      "coroutine "
      "handlers awaiting each other, short deadlines, overload, breaker trips, foreign-thread callers) and "
      "checks "
      "its invariants as it goes: every message handled or dead-lettered exactly once, every ask completed "
      "once "
      "by its deadline plus a bound, memory within a bound, no deadlock. Exit code 0 only if every invariant "
      "held. The seed fixes every choice the program makes; the interleavings are real threads, so a run is "
      "not replayable. See docs/soak.md."};
  options opt;
  double minutes = 0;
  auto* min_opt =
      app.add_option("--minutes", minutes, "How long to run, in minutes")->check(CLI::PositiveNumber);
  app.add_option("--seconds", opt.seconds, "How long to run, in seconds (default 60)")
      ->check(CLI::PositiveNumber)
      ->excludes(min_opt);
  app.add_option("--seed", opt.seed, "Seed of every choice the program makes")->capture_default_str();
  app.add_option("--workers", opt.workers, "Runtime worker threads (default: one per hardware thread)");
  app.add_option("--callers", opt.callers, "Foreign threads asking and sending")->capture_default_str();
  app.add_option("--rate", opt.rate, "Operations per second per caller thread")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--chaos-ms", opt.chaos_ms, "Milliseconds between chaos actions")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--late-bound-ms", opt.late_bound_ms,
                 "How long after its deadline an ask (or a blocked send) may still complete")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--stall-seconds", opt.stall_seconds,
                 "The watchdog's window: no progress (or an actor stuck) this long is a deadlock")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rss-limit-mb", opt.rss_limit_mb,
                 "Memory bound after warm-up (default: twice the warm-up RSS plus 64 MB)");
  app.add_option("--progress-seconds", opt.progress_seconds, "Seconds between progress lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--json", opt.json_path, "Write the summary as JSON to this file");
  app.add_option(
      "--inject-hang", opt.inject_hang_at,
      "Self-test of the watchdog: at this many seconds, make one handler wait forever (the run must "
      "then name it and fail)");
  app.set_version_flag("--version", std::string("troupe-soak ") + TROUPE_VERSION_STRING);
  CLI11_PARSE(app, argc, argv);
  if (minutes > 0) opt.seconds = minutes * 60;
  if (opt.callers == 0) {
    std::fprintf(stderr, "troupe-soak: --callers must be at least 1\n");
    return 2;
  }

  const soak::time_point start = soak::now();
  soak::ledger books(start, std::chrono::duration_cast<soak::duration>(
                                std::chrono::duration<double, std::milli>(opt.late_bound_ms)));
  troupe::runtime_options ro;
  if (opt.workers) ro.workers = opt.workers;
  troupe::runtime rt(ro);
  troupe::actor_system sys(
      rt,
      {.dead_letter_hook =
           [&books](const troupe::dead_letter& d) { books.dead_letter(d.reason, d.message_type); },
       .shutdown_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(3000 * opt.stall_seconds))});
  soak::world w(books, sys);
  run R(opt, books, rt, sys, w);

  // The initial graph.
  soak::rng r(opt.seed);
  w.root = sys.spawn_supervisor(
      {.strategy = troupe::restart_strategy::one_for_one, .max_restarts = 1'000'000'000, .within = 1000ms});
  w.coord_sup = w.root.spawn_supervisor({.max_restarts = 1'000'000, .within = 1000ms});
  w.flaky_sup = w.root.spawn_supervisor({.max_restarts = 1'000'000, .within = 1000ms});
  for (int i = 0; i < 4; ++i) w.worker_sups.push_back(spawn_worker_supervisor(R, r));
  {
    soak::world::worker_list workers;
    std::uint64_t serial = 0;
    for (int i = 0; i < 16; ++i) workers.push_back(spawn_worker(R, r, static_cast<int>(i % 4), ++serial));
    w.set_workers(std::move(workers));
    soak::world::coord_list coords;
    for (int i = 0; i < 6; ++i) coords.push_back(spawn_coord(R, ++serial));
    w.set_coords(std::move(coords));
  }
  w.flaky_slot = std::make_shared<soak::slot>("flaky");
  w.flaky = w.flaky_sup.spawn<soak::flaky_actor>(
      troupe::spawn_options{.capacity = 64, .policy = troupe::overflow_policy::fail}, &w, w.flaky_slot,
      opt.seed ^ 0xf1a4ull);
  w.enlist(w.flaky_slot, w.flaky);
  troupe::patterns::circuit_breaker_config cfg;
  cfg.failure_rate = troupe::patterns::failure_rate_trip{.threshold = 0.5, .min_calls = 10};
  cfg.window.size = 20;
  cfg.open = {.base = 200ms, .cap = 2s, .multiplier = 2.0, .jitter = 0.2};
  cfg.half_open_probes = 2;
  cfg.seed = opt.seed;
  w.guarded = troupe::protect(w.flaky).breaker(cfg);

  std::printf("troupe-soak %s: %.0f s, seed %llu, %zu runtime workers, %zu callers at %.0f ops/s each\n",
              TROUPE_VERSION_STRING, opt.seconds, static_cast<unsigned long long>(opt.seed),
              rt.worker_count(), opt.callers, opt.rate);
  std::fflush(stdout);

  std::thread monitor([&] { monitor_main(R, start); });
  std::thread chaos([&] { chaos_main(R); });
  std::vector<std::thread> callers;
  for (std::size_t i = 0; i < opt.callers; ++i) callers.emplace_back([&R, i] { caller_main(R, i); });

  {
    std::unique_lock g(R.wake_mutex);
    R.wake.wait_until(
        g, start + std::chrono::duration_cast<soak::duration>(std::chrono::duration<double>(opt.seconds)),
        [] { return false; });
    R.stop_load = true;
  }
  R.wake.notify_all();
  R.enter_phase(1);
  chaos.join();
  for (auto& t : callers) t.join();

  // Shutdown: the actor system first (graceful: what was accepted is
  // handled), then the runtime.
  R.enter_phase(2);
  const troupe::shutdown_report report = sys.shutdown(troupe::stop_mode::graceful);
  books.checked();
  if (!report.complete) {
    std::string names;
    for (const auto& a : report.actors) names += " " + a;
    books.violation(invariant::shutdown, fmt::format("{} actors still running at the shutdown timeout:{}",
                                                     report.abandoned, names));
  }
  books.shutting_down();
  rt.shutdown();
  R.enter_phase(3);
  {
    std::lock_guard g(R.wake_mutex);
    R.stop_monitor = true;
  }
  R.wake.notify_all();
  monitor.join();

  const troupe::system_stats stats = sys.stats();
  books.check_final(stats.dead_letters);
  const double elapsed = std::chrono::duration<double>(soak::now() - start).count();
  const nlohmann::json summary = summary_json(R, elapsed, stats, true);
  w.release();
  print_summary(summary);
  if (!opt.json_path.empty()) {
    std::ofstream out(opt.json_path);
    out << summary.dump(2) << '\n';
    if (!out) {
      std::fprintf(stderr, "troupe-soak: cannot write %s\n", opt.json_path.c_str());
      return 2;
    }
  }
  return books.violations() == 0 ? 0 : 1;
}
