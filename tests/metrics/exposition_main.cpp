// Writes the Prometheus text rendering of a known workload's metrics to
// stdout, for check_exposition.py --text (the real parser reads it).

#include <cstdio>
#include <exception>

#include "metrics/workload.hpp"

int main() {
  try {
    troupe::runtime rt(troupe::runtime_options{.workers = 2});
    troupe::actor_system sys(rt);
    troupe::metrics_workload::workload w(sys);
    const std::string text = sys.metrics(troupe::metrics_workload::workload::options()).to_prometheus_text();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exposition: %s\n", e.what());
    return 1;
  }
}
