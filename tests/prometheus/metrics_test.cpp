// troupe::prometheus: the families handed to prometheus-cpp (types, labels,
// histogram buckets), serialized by prometheus-cpp's own serializer, and the
// registration with an Exposer. The scrape over HTTP, parsed by the real
// parser, is tests/prometheus/exposer_main.cpp with check_exposition.py.

#include <gtest/gtest.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <string>
#include <vector>

#include "metrics/workload.hpp"

#include "troupe/prometheus.hpp"

namespace {

using namespace std::chrono_literals;

const prometheus::MetricFamily* find(const std::vector<prometheus::MetricFamily>& fs,
                                     const std::string& name) {
  for (const auto& f : fs)
    if (f.name == name) return &f;
  return nullptr;
}

TEST(PrometheusTest, FamiliesKeepTheirTypesLabelsAndBuckets) {
  troupe::metric_family h{"lat_seconds", "Latency.", troupe::metric_type::histogram, {}};
  troupe::metric_sample s;
  s.labels = {{"route", "/a"}};
  s.buckets = {{0.1, 1}, {0.5, 3}};
  s.count = 4;
  s.sum = 1.5;
  h.samples.push_back(s);
  const auto fs =
      troupe::prometheus::to_prometheus({troupe::metric_family::counter("a_total", "A.").add(3, {{"k", "v"}}),
                                         troupe::metric_family::gauge("b", "B.").add(0.5), h});
  ASSERT_EQ(fs.size(), 3u);
  EXPECT_EQ(fs[0].type, prometheus::MetricType::Counter);
  EXPECT_EQ(fs[0].metric.at(0).counter.value, 3);
  ASSERT_EQ(fs[0].metric[0].label.size(), 1u);
  EXPECT_EQ(fs[0].metric[0].label[0].name, "k");
  EXPECT_EQ(fs[0].metric[0].label[0].value, "v");
  EXPECT_EQ(fs[1].type, prometheus::MetricType::Gauge);
  EXPECT_EQ(fs[1].metric.at(0).gauge.value, 0.5);
  EXPECT_EQ(fs[2].type, prometheus::MetricType::Histogram);
  const auto& ph = fs[2].metric.at(0).histogram;
  EXPECT_EQ(ph.sample_count, 4u);
  EXPECT_EQ(ph.sample_sum, 1.5);
  ASSERT_EQ(ph.bucket.size(), 2u);
  EXPECT_EQ(ph.bucket[1].upper_bound, 0.5);
  EXPECT_EQ(ph.bucket[1].cumulative_count, 3u);

  const std::string text = prometheus::TextSerializer().Serialize(fs);
  EXPECT_NE(text.find("# TYPE a_total counter\na_total{k=\"v\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4"), std::string::npos) << text;
}

TEST(PrometheusTest, TheCollectableTakesASnapshotOnEveryCollect) {
  troupe::runtime rt(troupe::runtime_options{.workers = 2});
  troupe::actor_system sys(rt);
  troupe::metrics_workload::workload w(sys);
  troupe::prometheus::collectable c(sys, troupe::metrics_workload::workload::options());
  const auto fs = c.Collect();
  // The same families, in the same order, as the snapshot's own rendering.
  const auto own = sys.metrics(troupe::metrics_workload::workload::options()).families();
  ASSERT_EQ(fs.size(), own.size());
  for (std::size_t i = 0; i < fs.size(); ++i) {
    EXPECT_EQ(fs[i].name, own[i].name);
    EXPECT_EQ(fs[i].metric.size(), own[i].samples.size()) << own[i].name;
  }
  const auto* processed = find(fs, "troupe_actor_messages_processed_total");
  ASSERT_NE(processed, nullptr);
  ASSERT_EQ(processed->metric.size(), 1u);
  EXPECT_EQ(processed->metric[0].counter.value, 11);
  const auto* handler = find(fs, "troupe_class_handler_duration_seconds");
  ASSERT_NE(handler, nullptr);
  EXPECT_EQ(handler->type, prometheus::MetricType::Histogram);
}  // w releases its held actor before sys shuts down

TEST(PrometheusTest, RegistrationEndsWhenItsHandleGoes) {
  troupe::runtime rt(troupe::runtime_options{.workers = 1});
  troupe::actor_system sys(rt);
  prometheus::Exposer exposer("127.0.0.1:0", 1);
  {
    auto r = troupe::prometheus::register_metrics(exposer, sys);
    EXPECT_TRUE(r);
    std::weak_ptr<troupe::prometheus::collectable> weak = r.get();
    auto moved = std::move(r);
    EXPECT_FALSE(r);
    EXPECT_TRUE(moved);
    moved.reset();
    EXPECT_FALSE(moved);
    EXPECT_TRUE(weak.expired());  // the exposer held only a weak reference, and dropped it
  }
  EXPECT_FALSE(exposer.GetListeningPorts().empty());
  sys.shutdown();
}

}  // namespace
