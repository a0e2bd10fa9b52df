// Serves a known workload's metrics the way a server would: prometheus-cpp's
// Exposer on an ephemeral loopback port, troupe's metrics registered by one
// call. Prints "port N", then serves until its stdin closes (the scraping
// test, check_exposition.py --scrape, closes it when done).

#include <cstdio>
#include <exception>
#include <iostream>
#include <prometheus/exposer.h>
#include <string>

#include "metrics/workload.hpp"

#include "troupe/prometheus.hpp"

int main() {
  try {
    troupe::runtime rt(troupe::runtime_options{.workers = 2});
    troupe::actor_system sys(rt);
    troupe::metrics_workload::workload w(sys);
    prometheus::Exposer exposer("127.0.0.1:0", 1);
    const auto exposed = troupe::prometheus::register_metrics(exposer, sys, "/metrics",
                                                              troupe::metrics_workload::workload::options());
    const auto ports = exposer.GetListeningPorts();
    if (ports.empty() || ports[0] == 0) throw std::runtime_error("the exposer listens on no port");
    std::printf("port %d\n", ports[0]);
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {}
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exposer: %s\n", e.what());
    return 1;
  }
}
