#include "bench_registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unistd.h>

#include "workload_sizes.hpp"

namespace troupe::bench {

namespace {
std::vector<registration>& list() {
  static std::vector<registration> l;  // function-local: safe during static init
  return l;
}
}  // namespace

int add_registration(registration r) {
  list().push_back(r);
  return 0;
}

const std::vector<registration>& registrations() { return list(); }

void as_physical_limit(benchmark::internal::Benchmark* b) {
  b->Repetitions(kLimitRepetitions)->ReportAggregatesOnly(false);
}

namespace {
const workload_sizes* selected = &full_sizes;
}  // namespace

const workload_sizes& sizes() { return *selected; }
void select_sizes(bool quick) { selected = quick ? &quick_sizes : &full_sizes; }
bool quick_sizes_selected() { return selected == &quick_sizes; }

namespace {
std::map<std::string, probe>& probes() {
  static std::map<std::string, probe> m;
  return m;
}
}  // namespace

int add_probe(const char* name, probe p) {
  probes()[name] = p;
  return 0;
}

std::vector<double> run_probe_in_fresh_process(const char* name, int threads) {
  // popen runs a shell, for which /proc/self/exe would be the shell itself.
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return {};
  self[len] = '\0';
  // The probe runs the workload at this run's sizes (workload_sizes.hpp).
  const std::string cmd = "'" + std::string(self) + "' --probe '" + name + "' --probe-threads " +
                          std::to_string(threads) + (quick_sizes_selected() ? " --probe-quick" : "");
  std::FILE* out = ::popen(cmd.c_str(), "r");
  if (!out) return {};
  std::vector<double> values;
  double v;
  while (std::fscanf(out, "%lf", &v) == 1) values.push_back(v);
  if (::pclose(out) != 0) return {};
  return values;
}

bool run_probe_if_requested(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--probe") != 0) return false;
  const char* name = argc > 2 ? argv[2] : "";
  const int threads = argc > 4 && std::strcmp(argv[3], "--probe-threads") == 0 ? std::atoi(argv[4]) : 1;
  select_sizes(argc > 5 && std::strcmp(argv[5], "--probe-quick") == 0);
  auto it = probes().find(name);
  if (it == probes().end() || threads < 1) {
    std::fprintf(stderr, "troupe-bench: unknown probe '%s'\n", name);
    std::exit(2);
  }
  const std::vector<double> values = it->second(threads);
  for (double v : values) std::printf("%.6f\n", v);
  std::fflush(stdout);
  if (values.empty()) std::exit(1);
  return true;
}

}  // namespace troupe::bench
