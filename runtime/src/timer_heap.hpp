#pragma once
// Per-worker timers: a binary min-heap of intrusive nodes keyed by deadline.
// The owning worker fires due timers; any thread may remove a node (a timed
// wait that was notified first cancels its timer), hence the spinlock.

#include <chrono>
#include <mutex>
#include <cstddef>
#include <vector>

#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::detail {

struct waiter;

struct timer_node {
  std::chrono::steady_clock::time_point deadline{};
  std::ptrdiff_t index = -1;  // position in the heap; -1 when not in one
  waiter* owner = nullptr;
};

class timer_heap {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  void add(timer_node* n);
  // Removes `n` if it is still queued. Thread-safe.
  void remove(timer_node* n) noexcept;
  // Pops every node due at `now` and calls on_due(node) for each while
  // still holding the lock, so a concurrent remove() cannot return (and its
  // waiter vanish) while on_due looks at the node. Owner only.
  template <class F>
  void pop_due(time_point now, F&& on_due) {
    std::lock_guard g(lock_);
    while (!heap_.empty() && heap_.front()->deadline <= now) {
      timer_node* n = heap_.front();
      erase_at(0);
      on_due(n);
    }
  }
  // time_point::max() when empty. Approximate from other threads.
  time_point next_deadline() const noexcept;
  std::size_t size() const noexcept;

 private:
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void erase_at(std::size_t i) noexcept;
  void place(std::size_t i, timer_node* n) noexcept {
    heap_[i] = n;
    n->index = static_cast<std::ptrdiff_t>(i);
  }

  mutable spinlock lock_;
  std::vector<timer_node*> heap_;
};

}  // namespace troupe::detail
