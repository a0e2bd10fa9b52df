// Uses an installed troupe the way an application would: start a runtime,
// spawn one task, join it, check the result. Also includes the umbrella
// header, so every installed public header must be present and compile;
// round-trips a histogram through its compressed encoding, so the package
// must bring zlib (which the static runtime links) with it; and hashes a key
// on a ring: the patterns library must link without xxHash (compiled in).
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
  troupe::histogram h(1, 1'000'000, 3);
  h.record(static_cast<std::uint64_t>(result));
  const troupe::histogram back = troupe::hdr::decode_compressed(troupe::hdr::encode_compressed(h));
  if (back.value_at_percentile(50.0) != 42 || troupe::to_json(back).empty()) {
    std::fprintf(stderr, "package_test: histogram did not round-trip\n");
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
