// The metrics snapshot (actors/metrics.hpp): exact counts for a small known
// workload, per class and per named actor; histograms off by default, then
// on with exact values under virtual time; the JSON and the families it
// renders; metric sources, the extension point. The Prometheus text is also
// parsed by the real parser (tests/metrics/, a CTest of its own).

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct item {};
struct hold {
  gate* g;
};

struct inbox : actor<inbox> {
  void on(item) {}
  void on(hold h) { h.g->wait(); }
};
struct other : actor<other> {
  void on(item) {}
};
struct failing : actor<failing> {
  void on(item) { throw std::runtime_error("no"); }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The class whose demangled name ends in `::name`.
const actor_class_metrics* find_class(const system_metrics& m, const std::string& name) {
  for (const auto& c : m.classes)
    if (ends_with(c.name, "::" + name)) return &c;
  return nullptr;
}

const metric_family* find_family(const std::vector<metric_family>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

// The value of the sample of family `name` whose labels include `want`.
double value_of(const std::vector<metric_family>& fs, const std::string& name,
                const std::vector<metric_label>& want) {
  const metric_family* f = find_family(fs, name);
  if (!f) throw std::runtime_error("no family " + name);
  for (const auto& s : f->samples) {
    bool all = true;
    for (const auto& w : want) {
      bool found = false;
      for (const auto& l : s.labels) found = found || (l.name == w.name && ends_with(l.value, w.value));
      all = all && found;
    }
    if (all) return s.value;
  }
  throw std::runtime_error("no sample of " + name);
}

std::uint64_t processed_of(actor_system& sys, const std::string& cls) {
  const auto m = sys.metrics();
  const auto* c = find_class(m, cls);
  return c ? c->processed : 0;
}

class MetricsTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, MetricsTest, ::testing::Values(1, 2), worker_name);

// One actor of capacity 4 held by a gate with three more messages queued, a
// fifth refused; a drop_newest actor; a stopped one; a supervised child; a
// failing one. Every count is known exactly.
TEST_P(MetricsTest, CountsAreExactForAKnownWorkload) {
  spawn_options o;
  o.capacity = 4;
  o.policy = overflow_policy::fail;
  auto a = sys.spawn<inbox>(o);
  ASSERT_TRUE(sys.register_name("front", a));
  gate g;
  ASSERT_TRUE(a.send(hold{&g}));
  ASSERT_TRUE(g.wait_entered());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.send(item{}));
  EXPECT_EQ(a.send(item{}).code(), actor_errc::mailbox_full);

  spawn_options drop;
  drop.capacity = 1;
  drop.policy = overflow_policy::drop_newest;
  gate g2;
  auto b = sys.spawn<inbox>(drop);
  ASSERT_TRUE(b.send(hold{&g2}));
  ASSERT_TRUE(g2.wait_entered());
  EXPECT_EQ(b.send(item{}).code(), actor_errc::dropped);
  EXPECT_EQ(b.send(item{}).code(), actor_errc::dropped);

  auto sup = sys.spawn_supervisor({});
  auto child = sup.spawn<other>();
  ASSERT_TRUE(child.send(item{}));
  ASSERT_TRUE(eventually([&] { return child.stats().processed == 1; }));

  {
    const auto m = sys.metrics({.actors = {"front", "nobody"}});
    const auto* c = find_class(m, "inbox");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->actors, 2u);
    EXPECT_EQ(c->mailbox_depth, 4u + 1u);  // each held message counts until its batch ends
    EXPECT_EQ(c->mailbox_high_water, 4u);
    EXPECT_EQ(c->processed, 0u);  // counted when a pass ends; both are still in their first
    EXPECT_EQ(c->dead_letters[dead_letter_reason::mailbox_full], 1u);
    EXPECT_EQ(c->dead_letters[dead_letter_reason::dropped_newest], 2u);
    EXPECT_EQ(c->dead_letters.total(), 3u);
    EXPECT_FALSE(c->handler_time.has_value());
    EXPECT_FALSE(c->mailbox_sojourn.has_value());
    const auto* k = find_class(m, "other");
    ASSERT_NE(k, nullptr);  // a supervised child: found through its supervisor
    EXPECT_EQ(k->actors, 1u);
    EXPECT_EQ(k->processed, 1u);
    const auto* s = find_class(m, "supervisor");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->actors, 1u);
    ASSERT_EQ(m.actors.size(), 1u);  // "nobody" is not registered
    EXPECT_EQ(m.actors[0].name, "front");
    EXPECT_TRUE(ends_with(m.actors[0].class_name, "::inbox"));
    EXPECT_EQ(m.actors[0].stats.depth, 4u);
    EXPECT_EQ(m.actors[0].stats.capacity, 4u);
    EXPECT_EQ(m.actors[0].stats.dead_letters[dead_letter_reason::mailbox_full], 1u);
    EXPECT_EQ(m.system.dead_letters.total(), 3u);
    EXPECT_EQ(m.runtime.workers.size(), GetParam());
    EXPECT_FALSE(m.histograms_enabled);
  }

  g.open();
  g2.open();
  ASSERT_TRUE(eventually([&] { return processed_of(sys, "inbox") == 4u + 1u; }));
  a.stop();
  a.watch(10s).get();
  EXPECT_EQ(a.send(item{}).code(), actor_errc::actor_stopped);

  auto f = sys.spawn<failing>();
  ASSERT_TRUE(f.send(item{}));
  f.watch(10s).get();

  const auto m = sys.metrics();
  const auto* c = find_class(m, "inbox");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->actors, 1u);  // a has stopped
  EXPECT_EQ(c->mailbox_depth, 0u);
  EXPECT_EQ(c->mailbox_high_water, 1u);  // b's; a's 4 went with it (a gauge over live actors)
  // 4 + 1 user messages, and a's stop token: a counter keeps what stopped actors did.
  EXPECT_EQ(c->processed, 4u + 1u + 1u);
  EXPECT_EQ(c->dead_letters[dead_letter_reason::actor_stopped], 1u);
  EXPECT_EQ(c->dead_letters.total(), 4u);
  const auto* x = find_class(m, "failing");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->failures, 1u);
  EXPECT_EQ(x->actors, 0u);
  EXPECT_EQ(m.system.failures, 1u);
  // Classes come sorted by name.
  EXPECT_TRUE(
      std::is_sorted(m.classes.begin(), m.classes.end(), [](auto& l, auto& r) { return l.name < r.name; }));
  sys.shutdown();
}

TEST_P(MetricsTest, RestartsAreCountedPerClass) {
  supervisor_options so;
  so.within = 10s;
  auto sup = sys.spawn_supervisor(so);
  auto w = sup.spawn<failing>();
  ASSERT_TRUE(w.send(item{}));
  ASSERT_TRUE(eventually([&] { return w.stats().restarts == 1; }));
  const auto m = sys.metrics();
  const auto* c = find_class(m, "failing");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->failures, 1u);
  EXPECT_EQ(c->restarts, 1u);
  EXPECT_EQ(c->actors, 1u);
  sys.shutdown();
}

class HistogramTest : public VirtualTimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, HistogramTest, ::testing::Values(1, 2), worker_name);

// Virtual time makes every duration exact: the first message's handler
// holds the actor while the test moves the clock 3 ms (handler 3 ms, the
// queued second message's sojourn 3 ms), then the second's handler holds
// it for 2 ms.
TEST_P(HistogramTest, OffByDefaultThenExactWhenOn) {
  auto a = sys.spawn<inbox>();
  ASSERT_TRUE(a.send(item{}));
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 1; }));
  {
    const auto m = sys.metrics();
    EXPECT_FALSE(m.histograms_enabled);
    const auto* c = find_class(m, "inbox");
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->handler_time.has_value());
    EXPECT_EQ(find_family(m.families(), "troupe_class_handler_duration_seconds"), nullptr);
    EXPECT_FALSE(nlohmann::json::parse(m.to_json())["classes"][0].contains("handler_time"));
  }

  sys.enable_histograms(true);
  EXPECT_TRUE(sys.histograms_enabled());
  gate g1, g2;
  ASSERT_TRUE(a.send(hold{&g1}));
  ASSERT_TRUE(g1.wait_entered());
  ASSERT_TRUE(a.send(hold{&g2}));  // queued behind the first, stamped now
  clk->advance(3ms);
  g1.open();
  ASSERT_TRUE(g2.wait_entered());
  clk->advance(2ms);
  g2.open();
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 3; }));

  const auto m = sys.metrics();
  EXPECT_TRUE(m.histograms_enabled);
  const auto* c = find_class(m, "inbox");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->handler_time.has_value());
  ASSERT_TRUE(c->mailbox_sojourn.has_value());
  EXPECT_EQ(c->handler_time->values.count(), 2u);
  EXPECT_EQ(c->handler_time->sum_ns, 5'000'000u);
  EXPECT_TRUE(c->handler_time->values.layout().equivalent(c->handler_time->values.max(), 3'000'000));
  EXPECT_TRUE(c->handler_time->values.layout().equivalent(c->handler_time->values.min(), 2'000'000));
  EXPECT_EQ(c->mailbox_sojourn->values.count(), 2u);
  EXPECT_EQ(c->mailbox_sojourn->sum_ns, 3'000'000u);
  EXPECT_EQ(c->mailbox_sojourn->values.min(), 0u);  // the first waited for nothing
  EXPECT_EQ(c->mailbox_sojourn->count_at_or_below(1e-6), 1u);
  EXPECT_EQ(c->mailbox_sojourn->count_at_or_below(2e-3), 1u);
  EXPECT_EQ(c->mailbox_sojourn->count_at_or_below(5e-3), 2u);

  // As Prometheus buckets: cumulative, +Inf implied by the count.
  const auto fs = m.families();
  const metric_family* h = find_family(fs, "troupe_class_handler_duration_seconds");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, metric_type::histogram);
  bool found = false;
  for (const auto& s : h->samples) {
    if (!ends_with(s.labels.at(0).value, "::inbox")) continue;
    found = true;
    EXPECT_EQ(s.count, 2u);
    EXPECT_DOUBLE_EQ(s.sum, 0.005);
    ASSERT_EQ(s.buckets.size(), duration_histogram::bucket_bounds_seconds().size());
    for (const auto& b : s.buckets)
      EXPECT_EQ(b.cumulative_count, b.upper_bound < 2e-3   ? 0u
                                    : b.upper_bound < 5e-3 ? 1u
                                                           : 2u)
          << "le=" << b.upper_bound;
  }
  EXPECT_TRUE(found);

  // Off again: nothing more is recorded, what was recorded stays.
  sys.enable_histograms(false);
  ASSERT_TRUE(a.send(item{}));
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 4; }));
  const auto later = sys.metrics();
  const auto* l = find_class(later, "inbox");
  ASSERT_NE(l, nullptr);
  ASSERT_TRUE(l->handler_time.has_value());
  EXPECT_EQ(l->handler_time->values.count(), 2u);
  EXPECT_FALSE(later.histograms_enabled);
  sys.shutdown();
}

// A message sent before histograms were switched on has no sojourn, but its
// handler is still timed.
TEST_P(HistogramTest, AMessageSentBeforeTheSwitchHasNoSojourn) {
  auto a = sys.spawn<inbox>();
  gate g;
  ASSERT_TRUE(a.send(hold{&g}));
  ASSERT_TRUE(g.wait_entered());
  ASSERT_TRUE(a.send(item{}));  // queued, not stamped
  sys.enable_histograms(true);
  g.open();
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 2; }));
  const auto m = sys.metrics();
  const auto* c = find_class(m, "inbox");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->handler_time->values.count(), 1u);  // item's (hold's started before the switch)
  EXPECT_EQ(c->mailbox_sojourn->values.count(), 0u);
  sys.shutdown();
}

TEST_P(MetricsTest, JsonHasTheFields) {
  auto a = sys.spawn<inbox>();
  ASSERT_TRUE(sys.register_name("front", a));
  ASSERT_TRUE(a.send(item{}));
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 1; }));
  sys.enable_histograms(true);
  const auto j = nlohmann::json::parse(sys.metrics({.actors = {"front"}}).to_json());
  EXPECT_TRUE(j["histograms_enabled"].get<bool>());
  ASSERT_EQ(j["runtime"]["workers"].size(), GetParam());
  for (const auto& w : j["runtime"]["workers"])
    for (const char* k :
         {"worker", "tasks_run", "steals", "failed_steals", "parks", "wakeups", "injection_pops", "lifo_runs",
          "fibers_created", "timers_fired", "timers_pending", "busy_ns"})
      EXPECT_TRUE(w.contains(k)) << k;
  for (const char* k : {"spawned", "failures", "restarts", "escalations", "live_actors", "dead_letters"})
    EXPECT_TRUE(j["system"].contains(k)) << k;
  EXPECT_EQ(j["system"]["dead_letters"].size(), dead_letter_reason_count);
  ASSERT_EQ(j["classes"].size(), 1u);
  const auto& c = j["classes"][0];
  EXPECT_TRUE(ends_with(c["name"].get<std::string>(), "::inbox"));
  EXPECT_EQ(c["actors"], 1);
  EXPECT_EQ(c["processed"], 1);
  EXPECT_EQ(c["mailbox_high_water"], 1);
  for (const char* h : {"handler_time", "mailbox_sojourn"}) {
    ASSERT_TRUE(c.contains(h)) << h;
    for (const char* k : {"count", "sum_ns", "min_ns", "max_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns",
                          "p999_ns", "clamped", "buckets"})
      EXPECT_TRUE(c[h].contains(k)) << h << "." << k;
    EXPECT_EQ(c[h]["buckets"].size(), duration_histogram::bucket_bounds_seconds().size());
  }
  ASSERT_EQ(j["actors"].size(), 1u);
  EXPECT_EQ(j["actors"][0]["name"], "front");
  EXPECT_EQ(j["actors"][0]["processed"], 1);
  EXPECT_EQ(j["sources"].size(), 0u);
  EXPECT_EQ(j["source_errors"], 0);
  sys.shutdown();
}

// Every family troupe renders: valid, unique, counters with _total, and the
// per-worker and per-class samples where expected.
TEST_P(MetricsTest, FamiliesFollowTheNamingRules) {
  auto a = sys.spawn<inbox>();
  ASSERT_TRUE(sys.register_name("front", a));
  ASSERT_TRUE(a.send(item{}));
  ASSERT_TRUE(eventually([&] { return a.stats().processed == 1; }));
  sys.enable_histograms(true);
  const auto m = sys.metrics({.actors = {"front"}});
  const auto fs = m.families();
  std::set<std::string> names;
  for (const auto& f : fs) {
    EXPECT_EQ(validate(f), "") << f.name;
    EXPECT_TRUE(names.insert(f.name).second) << "twice: " << f.name;
    EXPECT_EQ(f.name.rfind("troupe_", 0), 0u) << f.name;
    EXPECT_EQ(f.type == metric_type::counter, ends_with(f.name, "_total")) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_EQ(value_of(fs, "troupe_runtime_workers", {}), static_cast<double>(GetParam()));
  EXPECT_EQ(find_family(fs, "troupe_worker_busy_seconds_total")->samples.size(), GetParam());
  EXPECT_EQ(value_of(fs, "troupe_class_messages_processed_total", {{"class", "::inbox"}}), 1.0);
  EXPECT_EQ(value_of(fs, "troupe_class_actors", {{"class", "::inbox"}}), 1.0);
  EXPECT_EQ(value_of(fs, "troupe_actor_messages_processed_total", {{"actor", "front"}}), 1.0);
  EXPECT_EQ(value_of(fs, "troupe_system_dead_letters_total", {{"reason", "expired"}}), 0.0);
  EXPECT_EQ(find_family(fs, "troupe_system_dead_letters_total")->samples.size(), dead_letter_reason_count);
  EXPECT_EQ(value_of(fs, "troupe_system_histograms_enabled", {}), 1.0);
  ASSERT_NE(find_family(fs, "troupe_class_mailbox_sojourn_seconds"), nullptr);

  const std::string text = m.to_prometheus_text();
  EXPECT_NE(text.find("# TYPE troupe_class_handler_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("troupe_runtime_workers " + std::to_string(GetParam()) + "\n"), std::string::npos);
  EXPECT_NE(text.find("le=\"0.000001\"}"), std::string::npos);
  EXPECT_NE(text.find("le=\"+Inf\"}"), std::string::npos);
  sys.shutdown();
}

TEST(MetricFamilyTest, ValidateNamesTheProblem) {
  EXPECT_EQ(validate(metric_family::counter("ok_total", "h").add(1, {{"a", "x"}})), "");
  EXPECT_NE(validate(metric_family::counter("no_suffix", "h")), "");
  EXPECT_NE(validate(metric_family::gauge("gauge_total", "h")), "");
  EXPECT_NE(validate(metric_family::gauge("1bad", "h")), "");
  EXPECT_NE(validate(metric_family::gauge("bad-name", "h")), "");
  EXPECT_EQ(validate(metric_family::gauge("ns:ok", "h")), "");
  EXPECT_NE(validate(metric_family::gauge("g", "h").add(1, {{"__reserved", "x"}})), "");
  EXPECT_NE(validate(metric_family::gauge("g", "h").add(1, {{"a:b", "x"}})), "");
  EXPECT_NE(validate(metric_family::gauge("g", "h").add(1, {{"a", "x"}, {"a", "y"}})), "");
  EXPECT_NE(
      validate(
          metric_family::gauge("g", "h").add(1, {{"a", "x"}, {"b", "y"}}).add(2, {{"b", "y"}, {"a", "x"}})),
      "");
  metric_family h{"lat_seconds", "h", metric_type::histogram, {}};
  metric_sample s;
  s.buckets = {{0.1, 1}, {0.2, 3}};
  s.count = 3;
  h.samples.push_back(s);
  EXPECT_EQ(validate(h), "");
  h.samples[0].buckets = {{0.2, 1}, {0.1, 3}};
  EXPECT_NE(validate(h), "");
  h.samples[0].buckets = {{0.1, 4}};
  EXPECT_NE(validate(h), "");
  h.samples[0].buckets = {};
  h.samples[0].labels = {{"le", "1"}};
  EXPECT_NE(validate(h), "");
}

TEST(MetricFamilyTest, TextEscapesLabelValuesAndHelp) {
  const std::string t = to_prometheus_text({metric_family::gauge("g", "a \\ help\nline")
                                                .add(1.5, {{"v", "q\"uo\\te\nnl"}})
                                                .add(-2, {{"v", "x"}})});
  EXPECT_EQ(t,
            "# HELP g a \\\\ help\\nline\n"
            "# TYPE g gauge\n"
            "g{v=\"q\\\"uo\\\\te\\nnl\"} 1.5\n"
            "g{v=\"x\"} -2\n");
}

// --- metric sources: the extension point -----------------------------------------

TEST_P(MetricsTest, SourcesAddFamiliesUntilRemoved) {
  std::atomic<int> calls{0};
  auto src = sys.add_metric_source("test.breaker", [&](std::vector<metric_family>& out) {
    calls.fetch_add(1);
    out.push_back(metric_family::counter("troupe_breaker_transitions_total", "Breaker transitions.")
                      .add(3, {{"breaker", "payments"}, {"to", "open"}}));
    out.push_back(metric_family::gauge("troupe_breaker_state", "0 closed, 1 open, 2 half-open.")
                      .add(1, {{"breaker", "payments"}}));
  });
  EXPECT_TRUE(src);
  EXPECT_THROW((void)sys.add_metric_source("test.breaker", [](auto&) {}), actor_error);
  EXPECT_THROW((void)sys.add_metric_source("", [](auto&) {}), actor_error);

  auto m = sys.metrics();
  EXPECT_EQ(calls.load(), 1);
  ASSERT_EQ(m.sources.size(), 2u);
  EXPECT_EQ(m.source_errors, 0u);
  const auto fs = m.families();
  EXPECT_EQ(value_of(fs, "troupe_breaker_transitions_total", {{"to", "open"}}), 3.0);
  EXPECT_NE(
      m.to_prometheus_text().find("troupe_breaker_transitions_total{breaker=\"payments\",to=\"open\"} 3\n"),
      std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(m.to_json())["sources"][0]["name"], "troupe_breaker_transitions_total");

  src.remove();
  EXPECT_FALSE(src);
  m = sys.metrics();
  EXPECT_TRUE(m.sources.empty());
  EXPECT_EQ(calls.load(), 1);
  sys.shutdown();
}

TEST_P(MetricsTest, BadSourceFamiliesAreLeftOutAndCounted) {
  auto good = sys.add_metric_source("good", [](std::vector<metric_family>& out) {
    out.push_back(metric_family::gauge("troupe_limiter_limit", "Limit.").add(10));
  });
  auto bad = sys.add_metric_source("bad", [](std::vector<metric_family>& out) {
    out.push_back(metric_family::counter("no_total_suffix", "x"));       // invalid
    out.push_back(metric_family::gauge("troupe_class_actors", "x"));     // troupe's own
    out.push_back(metric_family::gauge("troupe_limiter_limit", "x"));    // another source's
    out.push_back(metric_family::gauge("troupe_retries", "x"));          // fine
    out.push_back(metric_family::counter("troupe_retries_total", "x"));  // its stem is taken
  });
  auto throwing = sys.add_metric_source("throwing", [](std::vector<metric_family>& out) {
    out.push_back(metric_family::gauge("troupe_never", "x"));
    throw std::runtime_error("source failed");
  });
  const auto m = sys.metrics();
  std::vector<std::string> got;
  for (const auto& f : m.sources) got.push_back(f.name);
  EXPECT_EQ(got, (std::vector<std::string>{"troupe_limiter_limit", "troupe_retries"}));
  EXPECT_EQ(m.source_errors, 4u + 1u);
  sys.shutdown();
}

// remove() waits for a snapshot that is calling the source: after it, the
// source's captures may go.
TEST_P(MetricsTest, RemovingASourceWaitsForItsCollection) {
  gate in_collect;
  std::atomic<bool> removed{false};
  auto src = sys.add_metric_source("slow", [&](std::vector<metric_family>&) {
    in_collect.wait();
    EXPECT_FALSE(removed.load());
  });
  std::thread snap([&] { (void)sys.metrics(); });
  ASSERT_TRUE(in_collect.wait_entered());
  std::thread remover([&] {
    src.remove();
    removed.store(true);
  });
  in_collect.open();
  remover.join();
  snap.join();
  EXPECT_TRUE(removed.load());
  sys.shutdown();
}

}  // namespace
}  // namespace troupe::test
