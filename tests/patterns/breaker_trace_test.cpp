// A circuit breaker's transitions in a trace: one instant event each, named
// "breaker <from>→<to> (<reason>)", on the track of the thread that made the
// change (a worker's, or "outside the runtime" for any other thread), and
// none while tracing is off. The trace file is read back with nlohmann-json.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/runtime.hpp"
#include "troupe/runtime/trace.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
using namespace troupe::patterns;

const clock::time_point t0 = clock::time_point{} + 1h;

// Takes the breaker's probe and records its success, on a worker.
struct probe_it {
  circuit_breaker* b;
};
struct prober : troupe::actor<prober> {
  bool on(probe_it m) {
    auto p = m.b->try_acquire(t0 + 11s, t0 + 12s);
    if (!p.is_probe()) return false;
    m.b->record(p, outcome::success, 1ms, t0 + 11s);
    return true;
  }
};

TEST(BreakerTraceTest, TransitionsAreInstantsOnTheTrackOfTheThreadThatMadeThem) {
  if (!troupe::tracing_available()) GTEST_SKIP() << "built with TROUPE_TRACE_HOOKS=OFF";
  const std::string path =
      (std::filesystem::temp_directory_path() / ("troupe-breaker-trace.json." + std::to_string(::getpid())))
          .string();
  circuit_breaker_config cfg;
  cfg.consecutive_failures = consecutive_failures_trip{.threshold = 2};
  cfg.failure_rate = std::nullopt;
  cfg.open = {.base = 10s, .cap = 10s, .multiplier = 1.0, .jitter = 0};
  circuit_breaker b(cfg);
  auto fail_twice = [&](clock::time_point at) {
    for (int i = 0; i < 2; ++i) b.record(b.try_acquire(at, at + 1s), outcome::failure, 1ms, at);
  };
  {
    troupe::runtime rt(troupe::runtime_options{.workers = 1});
    troupe::actor_system sys(rt);
    // Not traced: tracing is off.
    b.force_open(t0);
    b.reset(t0);
    ASSERT_EQ(b.state(), breaker_state::closed);

    troupe::start_tracing(rt);
    fail_twice(t0);  // this thread: closed→open
    ASSERT_EQ(b.state(), breaker_state::open);
    auto p = sys.spawn<prober>();
    ASSERT_TRUE(p.ask(probe_it{&b}, 10s).get());  // the worker: open→half_open→closed
    ASSERT_EQ(b.state(), breaker_state::closed);
    sys.shutdown();
    troupe::stop_tracing(rt, path);
  }
  fail_twice(t0 + 20s);  // after the trace: not in it

  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  const nlohmann::json doc = nlohmann::json::parse(in);
  std::vector<std::pair<double, std::pair<std::string, int>>> seen;  // ts -> (name, tid)
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] != "i") continue;
    const std::string name = e["name"];
    if (name.rfind("breaker ", 0) != 0) continue;
    ASSERT_TRUE(e.contains("ts") && e.contains("pid") && e.contains("tid")) << e.dump();
    seen.push_back({e["ts"].get<double>(), {name, e["tid"].get<int>()}});
  }
  std::sort(seen.begin(), seen.end());
  const int worker0 = 0, outside = 1;  // one worker, then the track of other threads
  const std::vector<std::pair<std::string, int>> want{
      {"breaker closed\u2192open (consecutive_failures)", outside},
      {"breaker open\u2192half_open (open_elapsed)", worker0},
      {"breaker half_open\u2192closed (probes_succeeded)", worker0},
  };
  ASSERT_EQ(seen.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(seen[i].second, want[i]) << i;
  std::filesystem::remove(path);
}

}  // namespace
