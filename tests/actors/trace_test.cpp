// Traces: Chrome trace event JSON with the required fields, run slices that
// never overlap on one worker, ask flows from request to reply, actor turns
// named after their class; and nothing written when tracing is off.

#include "troupe/runtime/trace.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

#include "troupe/runtime/detail/trace.hpp"

namespace troupe::test {
namespace {

struct hop {
  int left;
};
struct ponger : actor<ponger> {
  int on(hop h) { return h.left; }
};
struct pinger_actor : actor<pinger_actor> {
  actor_ref<ponger> peer;
  explicit pinger_actor(actor_ref<ponger> p) : peer(std::move(p)) {}
  task<int> on(hop h) {
    int sum = 0;
    for (int i = 0; i < h.left; ++i) sum += co_await peer.ask(hop{i}, 10s);
    co_return sum;
  }
};

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(::getpid())))
      .string();
}

TEST(TraceTest, AWorkloadTracesAsChromeTraceEventJson) {
  if (!tracing_available()) GTEST_SKIP() << "built with TROUPE_TRACE_HOOKS=OFF";
  const std::string path = temp_path("troupe-trace.json");
  {
    runtime rt(workers(2));
    actor_system sys(rt);
    start_tracing(rt);
    auto p = sys.spawn<pinger_actor>(sys.spawn<ponger>());
    EXPECT_EQ(p.ask(hop{200}, 10s).get(), 199 * 200 / 2);
    sys.shutdown();
    const std::size_t n = stop_tracing(rt, path);
    EXPECT_GT(n, 400u);
    EXPECT_EQ(trace_dropped(rt), 0u);
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  const nlohmann::json doc = nlohmann::json::parse(in);  // throws if it is not JSON
  ASSERT_TRUE(doc.contains("traceEvents"));
  std::map<int, std::vector<std::pair<double, double>>> slices;  // tid -> (start, end)
  std::set<std::string> names;
  std::map<std::uint64_t, int> flow_starts, flow_ends;
  for (const auto& e : doc["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("tid") && e.contains("name")) << e.dump();
    const std::string ph = e["ph"];
    if (ph == "M") continue;
    ASSERT_TRUE(e.contains("ts")) << e.dump();
    if (ph == "X") {
      ASSERT_TRUE(e.contains("dur")) << e.dump();
      const double ts = e["ts"], dur = e["dur"];
      ASSERT_GE(dur, 0.0);
      slices[e["tid"].get<int>()].emplace_back(ts, ts + dur);
      names.insert(e["name"].get<std::string>());
    } else if (ph == "s") {
      ++flow_starts[e["id"].get<std::uint64_t>()];
    } else if (ph == "f") {
      ++flow_ends[e["id"].get<std::uint64_t>()];
    }
  }
  // Run slices on one worker thread never overlap.
  for (auto& [tid, v] : slices) {
    std::sort(v.begin(), v.end());
    for (std::size_t i = 1; i < v.size(); ++i)
      ASSERT_LE(v[i - 1].second, v[i].first + 1e-3) << "overlap on tid " << tid << " at " << v[i].first;
  }
  // Actor turns are named after their classes.
  EXPECT_TRUE(names.count("troupe::test::(anonymous namespace)::ponger")) << "names: " << names.size();
  EXPECT_TRUE(names.count("troupe::test::(anonymous namespace)::pinger_actor"));
  // Every ask is a flow from its request to its reply.
  EXPECT_GE(flow_starts.size(), 200u);
  std::size_t matched = 0;
  for (const auto& [id, n] : flow_starts) matched += flow_ends.count(id) ? 1 : 0;
  EXPECT_GE(matched, 200u);
  std::filesystem::remove(path);
}

TEST(TraceTest, WithTracingOffNothingIsRecordedOrWritten) {
  const std::string path = temp_path("troupe-no-trace.json");
  std::filesystem::remove(path);
  runtime rt(workers(2));
  actor_system sys(rt);
  auto p = sys.spawn<pinger_actor>(sys.spawn<ponger>());
  EXPECT_EQ(p.ask(hop{50}, 10s).get(), 49 * 50 / 2);
  sys.shutdown();
  EXPECT_EQ(trace_dropped(rt), 0u);
  EXPECT_THROW(stop_tracing(rt, path), troupe::error) << "never started";
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TraceTest, ABufferThatFillsUpDropsAndCountsTheRest) {
  if (!tracing_available()) GTEST_SKIP() << "built with TROUPE_TRACE_HOOKS=OFF";
  const std::string path = temp_path("troupe-small-trace.json");
  runtime rt(workers(1));
  actor_system sys(rt);
  start_tracing(rt, trace_options{.events_per_worker = 64});
  auto p = sys.spawn<pinger_actor>(sys.spawn<ponger>());
  EXPECT_EQ(p.ask(hop{500}, 10s).get(), 499 * 500 / 2);
  sys.shutdown();
  const std::size_t n = stop_tracing(rt, path);
  EXPECT_LE(n, 128u) << "one worker's buffer and the foreign one";
  EXPECT_GT(trace_dropped(rt), 0u);
  std::ifstream in(path);
  EXPECT_NO_THROW(static_cast<void>(nlohmann::json::parse(in).size()));
  std::filesystem::remove(path);
}

TEST(TraceTest, ARuntimeDestroyedWhileTracingSwitchesTheHooksBackOff) {
  if (!tracing_available()) GTEST_SKIP() << "built with TROUPE_TRACE_HOOKS=OFF";
  ASSERT_FALSE(detail::tracing()) << "another runtime traces (TROUPE_TRACE set?)";
  {
    runtime rt(workers(1));
    start_tracing(rt);
    EXPECT_TRUE(detail::tracing());
  }  // never stopped: nothing is written, but the hooks must go quiet again
  EXPECT_FALSE(detail::tracing());
}

TEST(TraceTest, WithoutHooksStartingATraceIsADocumentedError) {
  if (tracing_available()) GTEST_SKIP() << "this build has the trace hooks";
  runtime rt(workers(1));
  try {
    start_tracing(rt);
    FAIL() << "start_tracing must throw without the hooks";
  } catch (const troupe::error& e) {
    EXPECT_EQ(e.code(), errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("TROUPE_TRACE_HOOKS"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(detail::tracing());
}

}  // namespace
}  // namespace troupe::test
