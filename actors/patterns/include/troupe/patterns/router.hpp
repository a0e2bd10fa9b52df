#pragma once
// Routers' pick logic over a set of routees that may change while picks run
// on other threads: round-robin, random and smallest-mailbox here;
// power-of-two-choices in p2c_router.hpp; consistent hashing in
// consistent_hash.hpp.
//
// A routee is any copyable value (an index the wrapper maps to actor refs,
// or a troupe::actor_ref<A> itself) with a caller-chosen routee_id that
// identifies it for add/remove (and places it on a hash ring).
//
// Membership lives in an immutable snapshot (detail::snapshot_cell): a pick
// reads the current snapshot without locks, allocation or shared writes
// beyond the router's own counter, so every pick returns a routee that was a
// member at the moment the pick read the set. add() and remove() copy the
// set, publish the copy, and wait until no pick can still see the old one;
// they are for membership changes (rare), not per message.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "troupe/patterns/detail/snapshot_cell.hpp"
#include "troupe/patterns/random.hpp"

namespace troupe::patterns {

using routee_id = std::uint64_t;

namespace detail {

// A routee type may count its picks (actor_router.hpp's per-routee shares):
// if it has note_pick() const noexcept, every pick that returns it calls it
// once, inside the snapshot read, so it never runs after remove() of that
// routee has returned (remove waits for such reads). No cost otherwise.
template <class Routee>
void note_pick(const Routee& r) noexcept {
  if constexpr (requires { r.note_pick(); }) r.note_pick();
}

// The routees of a router, in insertion order.
template <class Routee>
struct routee_list {
  std::vector<routee_id> ids;
  std::vector<Routee> routees;

  std::unique_ptr<const routee_list> with(routee_id id, const Routee& r) const {
    auto next = std::make_unique<routee_list>(*this);
    next->ids.push_back(id);
    next->routees.push_back(r);
    return next;
  }
  std::unique_ptr<const routee_list> without(std::size_t index) const {
    auto next = std::make_unique<routee_list>(*this);
    next->ids.erase(next->ids.begin() + static_cast<std::ptrdiff_t>(index));
    next->routees.erase(next->routees.begin() + static_cast<std::ptrdiff_t>(index));
    return next;
  }
  std::optional<std::size_t> find(routee_id id) const {
    const auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end()) return std::nullopt;
    return static_cast<std::size_t>(it - ids.begin());
  }
};

// Membership operations shared by the list-based routers.
template <class Routee>
class list_router_base {
 public:
  list_router_base() : cell_(std::make_unique<const routee_list<Routee>>()) {}

  // Adds a routee; false (and no change) if `id` is already a member.
  // Thread-safe; waits for picks still reading the old set (see router.hpp).
  bool add(routee_id id, Routee r) {
    bool added = false;
    cell_.update([&](const routee_list<Routee>& cur) -> std::unique_ptr<const routee_list<Routee>> {
      if (cur.find(id)) return std::make_unique<routee_list<Routee>>(cur);
      added = true;
      return cur.with(id, r);
    });
    return added;
  }
  // Removes a routee; false if `id` is not a member. Thread-safe; waits like add().
  bool remove(routee_id id) {
    bool removed = false;
    cell_.update([&](const routee_list<Routee>& cur) -> std::unique_ptr<const routee_list<Routee>> {
      const auto i = cur.find(id);
      if (!i) return std::make_unique<routee_list<Routee>>(cur);
      removed = true;
      return cur.without(*i);
    });
    return removed;
  }
  // Thread-safe, lock-free.
  std::size_t size() const {
    return cell_.read([](const routee_list<Routee>& l) { return l.ids.size(); });
  }
  // The member ids now, in insertion order. Thread-safe; allocates.
  std::vector<routee_id> members() const {
    return cell_.read([](const routee_list<Routee>& l) { return l.ids; });
  }

 protected:
  snapshot_cell<routee_list<Routee>> cell_;
};

}  // namespace detail

// Each pick takes the next routee in turn. With membership changes the turn
// continues from the same counter, so no routee is starved.
template <class Routee>
class round_robin_router : public detail::list_router_base<Routee> {
 public:
  // nullopt when there is no routee. Thread-safe, lock-free, no allocation.
  std::optional<Routee> pick() const {
    return this->cell_.read([this](const detail::routee_list<Routee>& l) -> std::optional<Routee> {
      if (l.routees.empty()) return std::nullopt;
      // relaxed: the counter only has to hand out distinct turns; the
      // routees themselves are published by the snapshot.
      const std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
      const Routee& r = l.routees[static_cast<std::size_t>(turn % l.routees.size())];
      detail::note_pick(r);
      return r;
    });
  }

 private:
  mutable std::atomic<std::uint64_t> next_{0};
};

// Each pick takes a routee uniformly at random, from the router's shared
// seeded source or from the caller's own.
template <class Routee>
class random_router : public detail::list_router_base<Routee> {
 public:
  explicit random_router(std::uint64_t seed = 0x2545f4914f6cdd1dULL) : rng_(seed) {}

  // Thread-safe, lock-free, no allocation.
  std::optional<Routee> pick() const { return pick_with(rng_); }
  // With the caller's generator (one per thread): no shared write at all.
  std::optional<Routee> pick(random_source& rng) const { return pick_with(rng); }

 private:
  template <class Rng>
  std::optional<Routee> pick_with(Rng& rng) const {
    return this->cell_.read([&](const detail::routee_list<Routee>& l) -> std::optional<Routee> {
      if (l.routees.empty()) return std::nullopt;
      const Routee& r = l.routees[static_cast<std::size_t>(rng.below(l.routees.size()))];
      detail::note_pick(r);
      return r;
    });
  }
  mutable shared_random_source rng_;
};

struct smallest_mailbox_config {
  // 0: scan every routee (exact, as Akka's SmallestMailboxRoutingLogic).
  // k > 0: scan only k consecutive routees from a start that advances by k
  // on each pick of a thread, so a pick costs O(k) and k successive picks
  // of one thread cover the whole set; the smallest of k is not always the
  // smallest of all.
  std::uint32_t max_scan = 0;
};

// Each pick takes the routee with the fewest queued messages, as read by
// `Depth` (a callable std::size_t(const Routee&), e.g. one reading an
// actor's mailbox depth or an element of a span of atomics). Scans from a
// starting point that rotates per thread, so ties spread instead of piling
// onto the first, and stops early at an empty mailbox. Depths are read
// without synchronisation between them: the answer is the smallest as of
// the scan, which is all a snapshot of moving queues can be.
//
// Cost: one depth read per routee scanned. Over 100 routees whose depths sit
// on 100 cache lines that is ~100 dependent-free loads, about 1 ns each here
// even from L1, and a cache miss each when other cores are writing those
// mailboxes; use max_scan to bound it on large sets.
template <class Routee, class Depth>
class smallest_mailbox_router : public detail::list_router_base<Routee> {
 public:
  explicit smallest_mailbox_router(Depth depth = Depth{}, smallest_mailbox_config cfg = {})
      : depth_(std::move(depth)), cfg_(cfg) {}

  // Thread-safe if Depth is; lock-free; no allocation.
  std::optional<Routee> pick() const {
    return this->cell_.read([this](const detail::routee_list<Routee>& l) -> std::optional<Routee> {
      const std::size_t n = l.routees.size();
      if (n == 0) return std::nullopt;
      const std::size_t scan = cfg_.max_scan == 0 ? n : std::min<std::size_t>(n, cfg_.max_scan);
      thread_local std::size_t rotation = 0;  // per thread: no shared write
      const std::size_t start = rotation % n;
      rotation += cfg_.max_scan == 0 ? 1 : scan;
      std::size_t best = start;
      std::size_t best_depth = std::numeric_limits<std::size_t>::max();
      // Two straight runs instead of a wrapping index: [start, end) then [0, rest).
      const std::size_t first_end = std::min(n, start + scan);
      const std::size_t rest = scan - (first_end - start);
      auto run = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
          const std::size_t d = depth_(l.routees[i]);
          if (d < best_depth) {
            best_depth = d;
            best = i;
            if (d == 0) return true;
          }
        }
        return false;
      };
      if (!run(start, first_end)) run(0, rest);
      detail::note_pick(l.routees[best]);
      return l.routees[best];
    });
  }

 private:
  Depth depth_;
  smallest_mailbox_config cfg_;
};

}  // namespace troupe::patterns
