#pragma once
// A routee whose load and per-routee state must survive membership changes
// (p2c_router, consistent_hash_router with bounded loads). Snapshots refer to
// nodes; a pick that hands out a lease pins the node, so a lease stays valid
// after its routee is removed, and the node is freed when the last snapshot
// and the last lease have let go of it.
//
// One 64-bit word counts both: snapshots << 32 | leases. So taking a lease
// is a single RMW, which also gives the routee's in-flight count for the
// balancers.

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

namespace troupe::patterns::detail {

template <class Routee, class State>
class routee_node {
 public:
  template <class... Args>
  routee_node(std::uint64_t id, Routee r, Args&&... state_args)
      : id(id), routee(std::move(r)), state(std::forward<Args>(state_args)...) {}
  routee_node(const routee_node&) = delete;
  routee_node& operator=(const routee_node&) = delete;

  const std::uint64_t id;
  const Routee routee;
  State state;

  // Leases out now. relaxed: a load estimate; the node's lifetime is not
  // decided from it.
  std::uint32_t leases() const noexcept {
    return static_cast<std::uint32_t>(word_.load(std::memory_order_relaxed));
  }

  // A snapshot starts referring to the node. relaxed: the caller already
  // holds a reference (the writer's previous snapshot or the new node), as
  // with any reference-count increment.
  void pin() noexcept { word_.fetch_add(kSnapshot, std::memory_order_relaxed); }
  // A snapshot lets go; frees the node if nothing else holds it.
  static void unpin(routee_node* n) noexcept { drop(n, kSnapshot); }

  // A lease, unconditionally. relaxed: the caller is inside a snapshot read
  // that keeps the node alive.
  void take_lease() noexcept { word_.fetch_add(1, std::memory_order_relaxed); }
  // A lease only while fewer than `cap` are out (bounded loads). relaxed:
  // as take_lease; the CAS makes the bound exact against other takers.
  bool take_lease_below(std::uint32_t cap) noexcept {
    std::uint64_t w = word_.load(std::memory_order_relaxed);  // relaxed: see above
    while (static_cast<std::uint32_t>(w) < cap) {
      if (word_.compare_exchange_weak(w, w + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  static void release_lease(routee_node* n) noexcept { drop(n, 1); }

 private:
  static constexpr std::uint64_t kSnapshot = std::uint64_t{1} << 32;
  static void drop(routee_node* n, std::uint64_t amount) noexcept {
    // acq_rel: the release orders this holder's uses before the delete; the
    // acquire, on the last drop, makes every other holder's uses visible
    // before deleting (the usual reference-count protocol).
    if (n->word_.fetch_sub(amount, std::memory_order_acq_rel) == amount) delete n;
  }
  std::atomic<std::uint64_t> word_{kSnapshot};  // born referenced by the snapshot that adds it
};

// A snapshot's nodes, sorted by id. Owns one pin on each.
template <class Node>
class node_list {
 public:
  node_list() = default;
  node_list(const node_list&) = delete;
  node_list& operator=(const node_list&) = delete;
  ~node_list() {
    for (Node* n : nodes_) Node::unpin(n);
  }
  // A copy that pins every node again.
  void copy_from(const node_list& other) {
    nodes_ = other.nodes_;
    for (Node* n : nodes_) n->pin();
  }
  // Takes over the pin of a new node (born pinned); keeps ids sorted.
  void insert(Node* n) {
    auto it = nodes_.begin();
    while (it != nodes_.end() && (*it)->id < n->id) ++it;
    nodes_.insert(it, n);
  }
  // Drops the node with `id` from this list (and its pin); false if absent.
  bool erase(std::uint64_t id) {
    for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
      if ((*it)->id == id) {
        Node::unpin(*it);
        nodes_.erase(it);
        return true;
      }
    }
    return false;
  }
  bool contains(std::uint64_t id) const {
    for (Node* n : nodes_)
      if (n->id == id) return true;
    return false;
  }
  const std::vector<Node*>& nodes() const noexcept { return nodes_; }

 private:
  std::vector<Node*> nodes_;
};

}  // namespace troupe::patterns::detail
