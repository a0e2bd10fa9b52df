#include "bench_registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

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

double run_probe_in_fresh_process(const char* name, int threads) {
  const std::string cmd =
      "/proc/self/exe --probe '" + std::string(name) + "' --probe-threads " + std::to_string(threads);
  std::FILE* out = ::popen(cmd.c_str(), "r");
  if (!out) return -1;
  double value = -1;
  if (std::fscanf(out, "%lf", &value) != 1) value = -1;
  if (::pclose(out) != 0) return -1;
  return value;
}

bool run_probe_if_requested(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--probe") != 0) return false;
  const char* name = argc > 2 ? argv[2] : "";
  const int threads = argc > 4 && std::strcmp(argv[3], "--probe-threads") == 0 ? std::atoi(argv[4]) : 1;
  auto it = probes().find(name);
  if (it == probes().end() || threads < 1) {
    std::fprintf(stderr, "troupe-bench: unknown probe '%s'\n", name);
    std::exit(2);
  }
  std::printf("%.6f\n", it->second(threads));
  return true;
}

}  // namespace troupe::bench
