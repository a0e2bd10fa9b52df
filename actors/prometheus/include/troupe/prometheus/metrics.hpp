#pragma once
// troupe's metrics in prometheus-cpp (optional component troupe::prometheus,
// `find_package(troupe COMPONENTS prometheus)`): a server that already
// serves /metrics with prometheus-cpp's Exposer gets troupe's metrics by one
// call, collected afresh on every scrape.
//
//   prometheus::Exposer exposer("127.0.0.1:9464");
//   troupe::actor_system system(rt);
//   auto exposed = troupe::prometheus::register_metrics(exposer, system);
//   ...                          // every scrape takes system.metrics()
//   // `exposed` goes before `system`: its destructor unregisters and waits
//   // for a scrape in progress.
//
// The families and their names are those of system_metrics::families()
// (docs/design/metrics.md): the same numbers as to_prometheus_text(), read
// by prometheus-cpp's own serializer. Note that prometheus-cpp prints every
// value with six decimals, so busy time and histogram sums are exact to the
// microsecond there.

#include <memory>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <string>
#include <vector>

#include "troupe/actors/metrics.hpp"
#include "troupe/actors/system.hpp"

namespace troupe::prometheus {

// troupe's families as prometheus-cpp's (counters, gauges, histograms with
// their +Inf bucket). Thread-safe.
std::vector<::prometheus::MetricFamily> to_prometheus(const std::vector<metric_family>& families);

// A prometheus-cpp Collectable whose Collect() takes a snapshot of `system`
// (actor_system::metrics(options)) and converts it. Register it wherever
// prometheus-cpp pulls collectables (Exposer::RegisterCollectable), or call
// Collect() from a handler of your own. It refers to `system`, which must
// outlive every Collect() call. Collect() is thread-safe.
class collectable final : public ::prometheus::Collectable {
 public:
  explicit collectable(actor_system& system, metrics_options options = {});
  std::vector<::prometheus::MetricFamily> Collect() const override;

 private:
  actor_system* system_;
  metrics_options options_;
};

// What register_metrics returns: while it lives, the exposer serves the
// system's metrics. Its destructor (or reset()) removes the collectable
// from the exposer, which waits for a scrape that is collecting it, so the
// system may be destroyed afterwards. Destroy it before the system and
// before the exposer. Move-only.
class registration {
 public:
  registration() noexcept = default;
  registration(registration&& o) noexcept;
  registration& operator=(registration&& o) noexcept;
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;
  ~registration() { reset(); }

  void reset() noexcept;
  explicit operator bool() const noexcept { return exposer_ != nullptr; }
  // The registered collectable (e.g. to collect it directly).
  const std::shared_ptr<collectable>& get() const noexcept { return collectable_; }

 private:
  friend registration register_metrics(::prometheus::Exposer&, actor_system&, const std::string&,
                                       metrics_options);
  registration(::prometheus::Exposer& e, std::shared_ptr<collectable> c, std::string uri) noexcept
      : exposer_(&e), collectable_(std::move(c)), uri_(std::move(uri)) {}
  ::prometheus::Exposer* exposer_ = nullptr;
  std::shared_ptr<collectable> collectable_;
  std::string uri_;
};

// The one call: exposes `system`'s metrics at `uri` of `exposer` (beside
// whatever else it serves there) until the result is destroyed. Thread-safe.
[[nodiscard]] registration register_metrics(::prometheus::Exposer& exposer, actor_system& system,
                                            const std::string& uri = "/metrics",
                                            metrics_options options = {});

}  // namespace troupe::prometheus
