// See troupe/patterns/consistent_hash.hpp. The only user of xxHash: compiled
// in here (XXH_INLINE_ALL), so nothing outside this file sees it and the
// installed library needs no xxHash.

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "troupe/patterns/consistent_hash.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace troupe::patterns {

std::uint64_t hash_key(std::span<const std::byte> key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}
std::uint64_t hash_key(std::string_view key) noexcept { return XXH3_64bits(key.data(), key.size()); }
std::uint64_t hash_key(std::uint64_t key) noexcept { return XXH3_64bits(&key, sizeof key); }

hash_ring::hash_ring(std::span<const std::uint64_t> ids, std::uint32_t virtual_nodes) {
  if (ids.size() > kMaxMembers) throw std::invalid_argument("hash_ring: more than 65535 members");
  {
    std::vector<std::uint64_t> sorted(ids.begin(), ids.end());
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw std::invalid_argument("hash_ring: duplicate member id");
  }
  points_.reserve(ids.size() * virtual_nodes);
  for (std::size_t owner = 0; owner < ids.size(); ++owner) {
    for (std::uint32_t replica = 0; replica < virtual_nodes; ++replica) {
      // The id seeds the hash of the replica number: positions depend on the
      // id alone, never on the order or number of members.
      const std::uint64_t h = XXH3_64bits_withSeed(&replica, sizeof replica, ids[owner]);
      points_.push_back((h & ~kOwnerMask) | owner);
    }
  }
  std::sort(points_.begin(), points_.end());
  // About one point per table slot: 2^k >= points.
  const unsigned k =
      points_.empty() ? 1 : std::max(1u, static_cast<unsigned>(std::bit_width(points_.size() - 1)));
  shift_ = 64 - k;
  const std::size_t slots = std::size_t{1} << k;
  first_.assign(slots + 1, static_cast<std::uint32_t>(points_.size()));
  std::size_t i = 0;
  for (std::size_t b = 0; b < slots; ++b) {
    while (i < points_.size() && (points_[i] >> shift_) < b) ++i;
    first_[b] = static_cast<std::uint32_t>(i);
  }
}

}  // namespace troupe::patterns
