#include "bench_registry.hpp"

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

}  // namespace troupe::bench
