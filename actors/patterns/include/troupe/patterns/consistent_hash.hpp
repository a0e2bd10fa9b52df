#pragma once
// Consistent hashing (Karger et al., STOC 1997) with virtual nodes, and the
// bounded-loads variant of Mirrokni, Thorup and Zadimoghaddam, "Consistent
// Hashing with Bounded Loads" (SODA 2018).
//
// hash_ring: every member id is placed at `virtual_nodes` points of a 64-bit
// ring (XXH3-64 of the id and the replica number); a key hash belongs to the
// first point at or after it, wrapping. Positions depend only on the ids, so
// adding a member moves only keys onto it, and removing one moves only its
// own keys. A point is stored as one 64-bit word, its top 48 bits the
// position and its low 16 bits the owner, and a table indexed by the top
// bits of a key hash gives the first candidate point, so a lookup is two
// dependent loads and a short scan (about one point on average) instead of a
// binary search over 100,000 points. It never allocates.
//
// consistent_hash_router: the ring over a routee set that may change while
// picks run (see router.hpp). With bounded loads, a pick skips routees that
// already hold ceil((1 + epsilon) * (m + 1) / n) leases, m being the leases
// out before it, and takes the first one below that: no routee ever exceeds
// ceil((1 + epsilon) * mean), at the price of moving keys off hot routees.

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "troupe/patterns/detail/routee_node.hpp"
#include "troupe/patterns/detail/snapshot_cell.hpp"
#include "troupe/patterns/router.hpp"

namespace troupe::patterns {

// XXH3-64 of a key. Thread-safe; no allocation.
std::uint64_t hash_key(std::span<const std::byte> key) noexcept;
std::uint64_t hash_key(std::string_view key) noexcept;
std::uint64_t hash_key(std::uint64_t key) noexcept;

// An immutable ring. Construction allocates and sorts; lookups are const,
// thread-safe and allocation-free.
class hash_ring {
 public:
  static constexpr std::size_t kMaxMembers = 0xFFFF;

  hash_ring() = default;
  // Owners are indices into `ids`. Two points at the same 48-bit position
  // (about one pair in 10^4 rings of 100,000 points) go to the lower index,
  // so pass ids sorted if ties must not depend on membership. Throws
  // std::invalid_argument for more than kMaxMembers ids or duplicate ids.
  hash_ring(std::span<const std::uint64_t> ids, std::uint32_t virtual_nodes);

  bool empty() const noexcept { return points_.empty(); }
  std::size_t points() const noexcept { return points_.size(); }

  // The owner index of `key_hash`. Requires !empty().
  std::uint32_t lookup(std::uint64_t key_hash) const noexcept { return owner_at(position(key_hash)); }
  // The point `key_hash` belongs to, and walking on from it (bounded loads).
  std::size_t position(std::uint64_t key_hash) const noexcept {
    const std::uint64_t key = key_hash & ~kOwnerMask;
    const std::size_t b = static_cast<std::size_t>(key_hash >> shift_);
    std::size_t i = first_[b];
    const std::size_t end = first_[b + 1];
    while (i < end && points_[i] < key) ++i;
    return i == points_.size() ? 0 : i;
  }
  std::uint32_t owner_at(std::size_t pos) const noexcept {
    return static_cast<std::uint32_t>(points_[pos] & kOwnerMask);
  }
  std::size_t next(std::size_t pos) const noexcept { return pos + 1 == points_.size() ? 0 : pos + 1; }
  // The point at `pos`: its position in the top 48 bits, its owner in the low 16.
  std::uint64_t point_at(std::size_t pos) const noexcept { return points_[pos]; }

 private:
  static constexpr std::uint64_t kOwnerMask = 0xFFFF;
  std::vector<std::uint64_t> points_;  // sorted: position << 16 | owner
  std::vector<std::uint32_t> first_;   // first_[b]: first point whose top bits are >= b; size 2^k + 1
  unsigned shift_ = 63;
};

struct consistent_hash_config {
  std::uint32_t virtual_nodes = 1000;
  // Set: bounded loads with this epsilon (> 0).
  std::optional<double> bounded_load_epsilon;
};

template <class Routee>
class consistent_hash_router {
  struct no_state {};
  using node = detail::routee_node<Routee, no_state>;
  struct snapshot {
    detail::node_list<node> members;  // sorted by id; ring owners index it
    hash_ring ring;
  };

 public:
  // The routee of one pick. With bounded loads it holds one unit of the
  // routee's load until destroyed. Move-only; must not outlive the router.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept
        : routee_(std::move(o.routee_)), node_(std::exchange(o.node_, nullptr)), total_(o.total_) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        routee_ = std::move(o.routee_);
        node_ = std::exchange(o.node_, nullptr);
        total_ = o.total_;
      }
      return *this;
    }
    ~lease() { release(); }
    explicit operator bool() const noexcept { return routee_.has_value(); }
    const Routee& routee() const { return *routee_; }
    // Gives the load back now (the destructor does it otherwise).
    void release() noexcept {
      if (node_) {
        // relaxed: the total only sizes the bound; it publishes nothing.
        total_->fetch_sub(1, std::memory_order_relaxed);
        node::release_lease(std::exchange(node_, nullptr));
      }
    }

   private:
    friend class consistent_hash_router;
    std::optional<Routee> routee_;
    node* node_ = nullptr;
    std::atomic<std::uint64_t>* total_ = nullptr;
  };

  explicit consistent_hash_router(consistent_hash_config cfg = {})
      : cfg_(cfg), cell_(std::make_unique<const snapshot>()) {
    if (cfg_.virtual_nodes == 0)
      throw std::invalid_argument("consistent_hash_router: virtual_nodes must be > 0");
    if (cfg_.bounded_load_epsilon && !(*cfg_.bounded_load_epsilon > 0))
      throw std::invalid_argument("consistent_hash_router: bounded_load_epsilon must be > 0");
  }

  // Membership, as in router.hpp: false when nothing changed. Rebuilds the
  // ring (O(points log points)), then waits for picks reading the old one.
  // Thread-safe.
  bool add(routee_id id, Routee r) {
    bool added = false;
    cell_.update([&](const snapshot& cur) -> std::unique_ptr<const snapshot> {
      auto next = std::make_unique<snapshot>();
      next->members.copy_from(cur.members);
      if (!cur.members.contains(id)) {
        next->members.insert(new node(id, std::move(r)));
        added = true;
      }
      build_ring(*next);
      return next;
    });
    return added;
  }
  bool remove(routee_id id) {
    bool removed = false;
    cell_.update([&](const snapshot& cur) -> std::unique_ptr<const snapshot> {
      auto next = std::make_unique<snapshot>();
      next->members.copy_from(cur.members);
      removed = next->members.erase(id);
      build_ring(*next);
      return next;
    });
    return removed;
  }
  std::size_t size() const {
    return cell_.read([](const snapshot& s) { return s.members.nodes().size(); });
  }

  // The routee for a key hash (hash_key()). An empty lease when there is no
  // routee. Thread-safe, lock-free, no allocation (beyond copying Routee).
  lease pick(std::uint64_t key_hash) const {
    return cell_.read([&](const snapshot& s) {
      lease l;
      const auto& nodes = s.members.nodes();
      if (nodes.empty()) return l;
      if (!cfg_.bounded_load_epsilon) {
        l.routee_.emplace(nodes[s.ring.lookup(key_hash)]->routee);
        detail::note_pick(*l.routee_);
        return l;
      }
      // relaxed: the bound is computed from a recent total; see bounded_cap.
      const std::uint64_t m = total_.load(std::memory_order_relaxed);
      const std::uint32_t cap = bounded_cap(m, nodes.size());
      std::size_t pos = s.ring.position(key_hash);
      node* chosen = nullptr;
      for (std::size_t step = 0; step < s.ring.points(); ++step, pos = s.ring.next(pos)) {
        node* n = nodes[s.ring.owner_at(pos)];
        if (n->take_lease_below(cap)) {
          chosen = n;
          break;
        }
      }
      if (!chosen) {  // only when racing pickers filled every routee: take the key's own
        chosen = nodes[s.ring.lookup(key_hash)];
        chosen->take_lease();
      }
      total_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see above
      l.routee_.emplace(chosen->routee);
      detail::note_pick(*l.routee_);
      l.node_ = chosen;
      l.total_ = &total_;
      return l;
    });
  }
  template <class Key>
  lease pick_key(const Key& key) const {
    return pick(hash_key(key));
  }

  // Leases out (bounded loads). Thread-safe. relaxed: a statistic.
  std::uint64_t total_load() const noexcept { return total_.load(std::memory_order_relaxed); }

  // ceil((1 + epsilon) * (m + 1) / n): the most leases one routee may hold
  // when the (m+1)-th is placed. With concurrent pickers m may be a few
  // leases stale, so the bound holds against the total some picker saw.
  std::uint32_t bounded_cap(std::uint64_t m, std::size_t n) const noexcept {
    const double c =
        std::ceil((1.0 + *cfg_.bounded_load_epsilon) * static_cast<double>(m + 1) / static_cast<double>(n));
    return c >= 4.0e9 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(c);
  }

 private:
  void build_ring(snapshot& s) const {
    std::vector<std::uint64_t> ids;
    ids.reserve(s.members.nodes().size());
    for (const node* n : s.members.nodes()) ids.push_back(n->id);
    s.ring = hash_ring(ids, cfg_.virtual_nodes);
  }

  consistent_hash_config cfg_;
  detail::snapshot_cell<snapshot> cell_;
  mutable std::atomic<std::uint64_t> total_{0};
};

}  // namespace troupe::patterns
