// Uses an installed troupe the way an application would: start a runtime,
// spawn one task, join it, check the result. Also includes the umbrella
// header, so every installed public header must be present and compile, and
// hashes a key on a ring: the patterns library must link without xxHash
// (it is compiled in).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <troupe/runtime.hpp>
#include <troupe/troupe.hpp>

int main() {
  troupe::runtime rt;
  auto task = troupe::spawn(rt, [] { return 6 * 7; });
  const int result = task.join();
  if (result != 42) {
    std::fprintf(stderr, "package_test: expected 42, got %d\n", result);
    return EXIT_FAILURE;
  }
  const std::uint64_t ids[] = {1, 2, 3};
  const troupe::patterns::hash_ring ring(ids, 10);
  if (ring.lookup(troupe::patterns::hash_key("user-42")) >= 3) {
    std::fprintf(stderr, "package_test: hash_ring gave an owner out of range\n");
    return EXIT_FAILURE;
  }
  std::printf("package_test: ok (%zu workers, result %d)\n", rt.worker_count(), result);
  return EXIT_SUCCESS;
}
