// Consistent hashing (actors/patterns: hash_ring and consistent_hash_router)
// against a model, through membership changes the input picks: routees
// added and removed (also ones already in or not in), picks of probe keys
// and of arbitrary key hashes, and with bounded loads leases taken and
// given back, across removals and re-additions of the routee that holds them.
//
// The model is the ring by definition: every member id at its virtual_nodes
// points XXH3-64(replica number, seeded by the id), top 48 bits; a key hash
// belongs to the first point at or after it, wrapping, ties to the lower id.
// Checked: add/remove/size agree with a std::set; every unbounded pick is
// the model's owner; adding a member moves probe keys only onto it and
// removing one moves only its own keys (checked without the model's hash);
// with bounded loads each pick is the first routee on the ring walk from the
// key's point that holds fewer than ceil((1 + epsilon) * (m + 1) / n)
// leases, never exceeds that cap, and total_load() counts the leases held.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"

#include "troupe/patterns/consistent_hash.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace {

using router = troupe::patterns::consistent_hash_router<std::uint64_t>;
constexpr std::uint64_t owner_mask = 0xFFFF;

// The ring by definition: sorted points (position << 16 | index of the
// owner among the sorted ids).
struct model_ring {
  std::vector<std::uint64_t> ids;  // sorted
  std::vector<std::uint64_t> points;

  model_ring(const std::set<std::uint64_t>& members, std::uint32_t virtual_nodes)
      : ids(members.begin(), members.end()) {
    for (std::size_t owner = 0; owner < ids.size(); ++owner)
      for (std::uint32_t replica = 0; replica < virtual_nodes; ++replica)
        points.push_back((XXH3_64bits_withSeed(&replica, sizeof replica, ids[owner]) & ~owner_mask) | owner);
    std::sort(points.begin(), points.end());
  }
  // The point a key hash belongs to: the first at or after it, wrapping.
  std::size_t position(std::uint64_t key_hash) const {
    const auto it = std::lower_bound(points.begin(), points.end(), key_hash & ~owner_mask);
    return it == points.end() ? 0 : static_cast<std::size_t>(it - points.begin());
  }
  std::uint64_t owner_id(std::size_t pos) const { return ids[points[pos] & owner_mask]; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  troupe::patterns::consistent_hash_config cfg;
  cfg.virtual_nodes = static_cast<std::uint32_t>(in.range(1, 8));
  if (in.flag()) cfg.bounded_load_epsilon = static_cast<double>(in.range(1, 200)) / 100.0;
  router r(cfg);

  // Candidate ids: few, so that adds and removes hit members; spread over
  // 64 bits (and 0).
  auto pick_id = [&] { return in.range(0, 23) * 0x9E3779B97F4A7C15ull; };
  std::array<std::uint64_t, 8> probes{};
  for (auto& p : probes) p = in.integral<std::uint64_t>();

  std::set<std::uint64_t> members;
  model_ring ring(members, cfg.virtual_nodes);
  // Bounded loads: one node per addition of an id; leases name the node.
  std::map<std::uint64_t, std::uint64_t> generation;                      // id -> current node
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint32_t> load;  // (id, node) -> leases
  std::vector<std::pair<router::lease, std::pair<std::uint64_t, std::uint64_t>>> held;

  auto owners_of_probes = [&] {
    std::array<std::uint64_t, probes.size()> owners{};
    if (members.empty() || cfg.bounded_load_epsilon) return owners;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      auto l = r.pick(probes[i]);
      FUZZ_CHECK(static_cast<bool>(l), "a pick with members returned no routee");
      owners[i] = l.routee();
    }
    return owners;
  };

  while (!in.empty()) {
    const char* op = "";
    switch (in.byte() % 6) {
      case 0:
      case 1: {
        op = "add";
        const std::uint64_t id = pick_id();
        const auto before = owners_of_probes();
        const bool was_member = members.contains(id);
        FUZZ_CHECK(r.add(id, id) == !was_member, "add(" + std::to_string(id) + ") disagrees with the model");
        if (was_member) break;
        members.insert(id);
        ++generation[id];
        ring = model_ring(members, cfg.virtual_nodes);
        const auto after = owners_of_probes();
        if (members.size() > 1 && !cfg.bounded_load_epsilon)
          for (std::size_t i = 0; i < probes.size(); ++i)
            FUZZ_CHECK(after[i] == before[i] || after[i] == id,
                       "adding " + std::to_string(id) + " moved a key between two other members");
        break;
      }
      case 2: {
        op = "remove";
        const std::uint64_t id = pick_id();
        const auto before = owners_of_probes();
        const bool was_member = members.contains(id);
        FUZZ_CHECK(r.remove(id) == was_member, "remove(" + std::to_string(id) + ") disagrees with the model");
        if (!was_member) break;
        members.erase(id);
        ring = model_ring(members, cfg.virtual_nodes);
        const auto after = owners_of_probes();
        if (!members.empty() && !cfg.bounded_load_epsilon)
          for (std::size_t i = 0; i < probes.size(); ++i)
            FUZZ_CHECK(before[i] == id || after[i] == before[i],
                       "removing " + std::to_string(id) + " moved a key it did not own");
        break;
      }
      case 3:
      case 4: {
        op = "pick";
        const std::uint64_t key =
            in.flag() ? probes[in.range(0, probes.size() - 1)] : in.integral<std::uint64_t>();
        auto l = r.pick(key);
        if (members.empty()) {
          FUZZ_CHECK(!l, "a pick with no members returned a routee");
          break;
        }
        FUZZ_CHECK(static_cast<bool>(l), "a pick with members returned no routee");
        std::uint64_t want;
        if (!cfg.bounded_load_epsilon) {
          want = ring.owner_id(ring.position(key));
        } else {
          std::uint64_t m = 0;
          for (const auto& [node, n] : load) m += n;
          const double c = std::ceil((1.0 + *cfg.bounded_load_epsilon) * static_cast<double>(m + 1) /
                                     static_cast<double>(members.size()));
          const auto cap = static_cast<std::uint32_t>(c);
          std::size_t pos = ring.position(key);
          want = ring.owner_id(pos);  // if every routee were at the cap (never, one thread)
          for (std::size_t step = 0; step < ring.points.size();
               ++step, pos = pos + 1 == ring.points.size() ? 0 : pos + 1) {
            const std::uint64_t id = ring.owner_id(pos);
            if (load[{id, generation[id]}] < cap) {
              want = id;
              break;
            }
          }
          const std::pair node{want, generation[want]};
          FUZZ_CHECK(load[node] < cap, "every routee is at the cap with one picker");
          ++load[node];
        }
        FUZZ_CHECK(l.routee() == want, "pick(" + std::to_string(key) + ") is " + std::to_string(l.routee()) +
                                           ", the model's owner " + std::to_string(want));
        if (cfg.bounded_load_epsilon && in.flag())
          held.emplace_back(std::move(l), std::pair{want, generation[want]});
        else if (cfg.bounded_load_epsilon)
          --load[{want, generation[want]}];  // the lease ends here
        break;
      }
      case 5: {
        op = "release";
        if (held.empty()) break;
        const std::size_t i = in.range(0, held.size() - 1);
        held[i].first.release();
        --load[held[i].second];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    FUZZ_CHECK(r.size() == members.size(), std::string("after ") + op + ": size " + std::to_string(r.size()) +
                                               ", model " + std::to_string(members.size()));
    std::uint64_t total = 0;
    for (const auto& [node, n] : load) total += n;
    FUZZ_CHECK(r.total_load() == total, std::string("after ") + op + ": total_load " +
                                            std::to_string(r.total_load()) + ", model " +
                                            std::to_string(total));
  }
  return 0;
}
