#include "timer_heap.hpp"

#include <mutex>

namespace troupe::detail {

void timer_heap::add(timer_node* n) {
  std::lock_guard g(lock_);
  heap_.push_back(n);
  n->index = static_cast<std::ptrdiff_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
}

void timer_heap::remove(timer_node* n) noexcept {
  std::lock_guard g(lock_);
  if (n->index >= 0) erase_at(static_cast<std::size_t>(n->index));
}

timer_heap::time_point timer_heap::next_deadline() const noexcept {
  std::lock_guard g(lock_);
  return heap_.empty() ? time_point::max() : heap_.front()->deadline;
}

std::size_t timer_heap::size() const noexcept {
  std::lock_guard g(lock_);
  return heap_.size();
}

void timer_heap::erase_at(std::size_t i) noexcept {
  timer_node* gone = heap_[i];
  gone->index = -1;
  timer_node* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  place(i, last);
  sift_up(i);
  sift_down(static_cast<std::size_t>(last->index));
}

void timer_heap::sift_up(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!(n->deadline < heap_[parent]->deadline)) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, n);
}

void timer_heap::sift_down(std::size_t i) noexcept {
  timer_node* n = heap_[i];
  const std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
    if (!(heap_[child]->deadline < n->deadline)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, n);
}

}  // namespace troupe::detail
