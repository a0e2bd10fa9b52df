// troupe's metric families handed to prometheus-cpp.

#include "troupe/prometheus/metrics.hpp"

#include <utility>

namespace troupe::prometheus {

namespace {

::prometheus::MetricType type_of(metric_type t) noexcept {
  switch (t) {
    case metric_type::counter:
      return ::prometheus::MetricType::Counter;
    case metric_type::gauge:
      return ::prometheus::MetricType::Gauge;
    case metric_type::histogram:
      return ::prometheus::MetricType::Histogram;
  }
  return ::prometheus::MetricType::Untyped;
}

}  // namespace

std::vector<::prometheus::MetricFamily> to_prometheus(const std::vector<metric_family>& families) {
  std::vector<::prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (const metric_family& f : families) {
    ::prometheus::MetricFamily pf;
    pf.name = f.name;
    pf.help = f.help;
    pf.type = type_of(f.type);
    pf.metric.reserve(f.samples.size());
    for (const metric_sample& s : f.samples) {
      ::prometheus::ClientMetric m;
      m.label.reserve(s.labels.size());
      for (const metric_label& l : s.labels) m.label.push_back({l.name, l.value});
      switch (f.type) {
        case metric_type::counter:
          m.counter.value = s.value;
          break;
        case metric_type::gauge:
          m.gauge.value = s.value;
          break;
        case metric_type::histogram:
          m.histogram.sample_count = s.count;
          m.histogram.sample_sum = s.sum;
          m.histogram.bucket.reserve(s.buckets.size());
          for (const metric_bucket& b : s.buckets) {
            ::prometheus::ClientMetric::Bucket pb;
            pb.upper_bound = b.upper_bound;
            pb.cumulative_count = b.cumulative_count;
            m.histogram.bucket.push_back(pb);
          }
          break;  // the serializer adds the +Inf bucket (the count)
      }
      pf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(pf));
  }
  return out;
}

collectable::collectable(actor_system& system, metrics_options options)
    : system_(&system), options_(std::move(options)) {}

std::vector<::prometheus::MetricFamily> collectable::Collect() const {
  return to_prometheus(system_->metrics(options_).families());
}

registration::registration(registration&& o) noexcept
    : exposer_(std::exchange(o.exposer_, nullptr)),
      collectable_(std::move(o.collectable_)),
      uri_(std::move(o.uri_)) {}

registration& registration::operator=(registration&& o) noexcept {
  if (this != &o) {
    reset();
    exposer_ = std::exchange(o.exposer_, nullptr);
    collectable_ = std::move(o.collectable_);
    uri_ = std::move(o.uri_);
  }
  return *this;
}

void registration::reset() noexcept {
  if (!exposer_) return;
  // prometheus-cpp removes it under the lock its scrapes collect under, so
  // no scrape uses the collectable once this returns.
  try {
    exposer_->RemoveCollectable(collectable_, uri_);
  } catch (...) {
    // An unknown uri: it was never registered there; nothing to undo.
  }
  exposer_ = nullptr;
  collectable_.reset();
}

registration register_metrics(::prometheus::Exposer& exposer, actor_system& system, const std::string& uri,
                              metrics_options options) {
  auto c = std::make_shared<collectable>(system, std::move(options));
  exposer.RegisterCollectable(c, uri);
  return registration(exposer, std::move(c), uri);
}

}  // namespace troupe::prometheus
