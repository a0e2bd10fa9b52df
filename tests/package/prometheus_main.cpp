// The optional component from an installed troupe: register an actor
// system's metrics with a prometheus-cpp Exposer in one call and collect
// them once.
#include <cstdio>
#include <cstdlib>
#include <prometheus/exposer.h>
#include <troupe/prometheus.hpp>
#include <troupe/troupe.hpp>

int main() {
  troupe::runtime rt(troupe::runtime_options{.workers = 1});
  troupe::actor_system system(rt);
  prometheus::Exposer exposer("127.0.0.1:0", 1);
  const auto exposed = troupe::prometheus::register_metrics(exposer, system);
  const auto families = exposed.get()->Collect();
  bool found = false;
  for (const auto& f : families) found = found || f.name == "troupe_runtime_workers";
  if (!found) {
    std::fprintf(stderr, "package_prometheus_test: troupe_runtime_workers missing\n");
    return EXIT_FAILURE;
  }
  std::printf("package_prometheus_test: ok (%zu families)\n", families.size());
  return EXIT_SUCCESS;
}
