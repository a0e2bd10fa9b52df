// Workloads router.<kind> and ring.lookup of docs/benchmarks.md.
//
//   router.round_robin/troupe      one pick over 100 routees
//   router.consistent_hash/troupe  one pick by key (XXH3 of an 8-byte key, then
//                                  the ring: 100 routees x 1,000 virtual nodes)
//   router.p2c/troupe              one pick over 100 routees with latency
//                                  estimates, and the lease's release
//   router.smallest_mailbox/troupe one pick over 100 routees whose depths are
//                                  atomics on their own cache lines, none
//                                  empty (the scan cannot stop early)
//   router.smallest_mailbox.scan16/troupe  the same with max_scan = 16
//   ring.lookup/troupe             hash_ring lookup, XXH3 key hash included,
//                                  100 routees x 1,000 virtual nodes
//   ring.lookup/naive_md5          the same lookup as a naive ring: MD5 of the
//                                  key (OpenSSL EVP_Digest, one call per
//                                  lookup), its first 8 bytes as the position,
//                                  std::upper_bound over sorted
//                                  (position, routee) pairs
//
// Keys cycle through 64Ki random 64-bit values, so lookups touch the whole
// ring as real traffic would instead of one hot cache line. Single-threaded:
// the worker count of the config does not apply. Items = picks.

#include <algorithm>
#include <array>
#include <atomic>
#include <benchmark/benchmark.h>
#include <cstdint>
#include <cstring>
#include <openssl/evp.h>
#include <string>
#include <utility>
#include <vector>

#include "bench_registry.hpp"

#include "troupe/patterns/consistent_hash.hpp"
#include "troupe/patterns/p2c_router.hpp"
#include "troupe/patterns/router.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::clock;
namespace tp = troupe::patterns;

constexpr std::uint32_t kRoutees = 100;
constexpr std::uint32_t kVirtualNodes = 1000;
constexpr std::size_t kKeys = 1 << 16;

std::vector<std::uint64_t> make_keys() {
  std::vector<std::uint64_t> keys(kKeys);
  tp::random_source rng(2026);
  for (auto& k : keys) k = rng();
  return keys;
}

void round_robin(benchmark::State& state) {
  tp::round_robin_router<std::uint32_t> r;
  for (std::uint32_t i = 0; i < kRoutees; ++i) r.add(i, i);
  std::uint64_t sum = 0;
  for (auto _ : state) sum += *r.pick();
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

void consistent_hash(benchmark::State& state) {
  tp::consistent_hash_router<std::uint32_t> r(
      {.virtual_nodes = kVirtualNodes, .bounded_load_epsilon = std::nullopt});
  for (std::uint32_t i = 0; i < kRoutees; ++i) r.add(i, i);
  const auto keys = make_keys();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += r.pick(tp::hash_key(keys[i])).routee();
    i = (i + 1) & (kKeys - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

void p2c(benchmark::State& state) {
  tp::p2c_router<std::uint32_t> r;
  const clock::time_point t0 = clock::time_point{} + 1h;
  for (std::uint32_t i = 0; i < kRoutees; ++i) r.add(i, i, t0);
  // Past slow start, with a measured latency each.
  const clock::time_point now = t0 + 1min;
  tp::random_source rng(1);
  for (int k = 0; k < 10000; ++k) {
    auto l = r.pick(now);
    l.complete(tp::outcome::success,
               clock::duration(1'000'000 + static_cast<clock::duration::rep>(rng.below(1'000'000))), now);
  }
  std::uint64_t sum = 0;
  for (auto _ : state) {
    auto l = r.pick(now);
    sum += l.routee();
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

struct alignas(64) padded_depth {
  std::atomic<std::size_t> depth{0};
};

void smallest_mailbox(benchmark::State& state, std::uint32_t max_scan) {
  std::vector<padded_depth> depths(kRoutees);
  tp::random_source rng(3);
  for (auto& d : depths) d.depth.store(1 + rng.below(1000), std::memory_order_relaxed);
  auto depth_of = [&depths](const std::uint32_t& i) {
    return depths[i].depth.load(std::memory_order_relaxed);
  };
  tp::smallest_mailbox_router<std::uint32_t, decltype(depth_of)> r(depth_of, {.max_scan = max_scan});
  for (std::uint32_t i = 0; i < kRoutees; ++i) r.add(i, i);
  std::uint64_t sum = 0;
  for (auto _ : state) sum += *r.pick();
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

void ring_troupe(benchmark::State& state) {
  std::vector<std::uint64_t> ids(kRoutees);
  for (std::uint32_t i = 0; i < kRoutees; ++i) ids[i] = i;
  const tp::hash_ring ring(ids, kVirtualNodes);
  const auto keys = make_keys();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += ring.lookup(tp::hash_key(keys[i]));
    i = (i + 1) & (kKeys - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

// The naive ring: what a first implementation of Karger's scheme usually is.
class md5_ring {
 public:
  md5_ring(std::uint32_t routees, std::uint32_t vnodes) {
    for (std::uint32_t r = 0; r < routees; ++r) {
      for (std::uint32_t v = 0; v < vnodes; ++v) {
        const std::string name = "routee-" + std::to_string(r) + "#" + std::to_string(v);
        points_.emplace_back(md5_position(name.data(), name.size()), r);
      }
    }
    std::sort(points_.begin(), points_.end());
  }
  std::uint32_t lookup(std::uint64_t key) const {
    const std::uint64_t h = md5_position(&key, sizeof key);
    auto it = std::upper_bound(points_.begin(), points_.end(),
                               std::pair<std::uint64_t, std::uint32_t>(h, 0xFFFFFFFF));
    if (it == points_.end()) it = points_.begin();
    return it->second;
  }
  bool ok() const { return ok_; }

 private:
  std::uint64_t md5_position(const void* data, std::size_t n) const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data, n, md, &len, EVP_md5(), nullptr) != 1 || len < 8) ok_ = false;
    std::uint64_t h;
    std::memcpy(&h, md, sizeof h);
    return h;
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> points_;
  mutable bool ok_ = true;
};

void ring_naive_md5(benchmark::State& state) {
  const md5_ring ring(kRoutees, kVirtualNodes);
  const auto keys = make_keys();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += ring.lookup(keys[i]);
    i = (i + 1) & (kKeys - 1);
  }
  benchmark::DoNotOptimize(sum);
  if (!ring.ok()) state.SkipWithError("EVP_Digest(MD5) failed");
  state.SetItemsProcessed(state.iterations());
}

void register_router_benchmarks([[maybe_unused]] const troupe::bench::config& cfg) {
  benchmark::RegisterBenchmark("router.round_robin/troupe", round_robin)->UseRealTime();
  benchmark::RegisterBenchmark("router.consistent_hash/troupe", consistent_hash)->UseRealTime();
  benchmark::RegisterBenchmark("router.p2c/troupe", p2c)->UseRealTime();
  benchmark::RegisterBenchmark("router.smallest_mailbox/troupe", smallest_mailbox, 0u)->UseRealTime();
  benchmark::RegisterBenchmark("router.smallest_mailbox.scan16/troupe", smallest_mailbox, 16u)->UseRealTime();
  benchmark::RegisterBenchmark("ring.lookup/troupe", ring_troupe)->UseRealTime();
  benchmark::RegisterBenchmark("ring.lookup/naive_md5", ring_naive_md5)->UseRealTime();
}

}  // namespace

TROUPE_BENCHMARKS(register_router_benchmarks);
