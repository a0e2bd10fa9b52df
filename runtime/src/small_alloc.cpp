// The depot behind the per-thread small-object caches (small_alloc.hpp):
// the out-of-line paths that move magazines between a thread's lists and
// the depot.

#include "troupe/runtime/detail/small_alloc.hpp"

#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace troupe::detail {

struct small_alloc::depot {
  std::mutex mutex;
  std::vector<full_magazine*> magazines[classes];
};

small_alloc::depot& small_alloc::shared() noexcept {
  // Never destroyed: threads may exit after static destruction. Out of
  // memory here, at first use, ends the program.
  static depot* d = new depot;  // NOLINT(bugprone-unhandled-exception-at-new)
  return *d;
}

// The list's blocks were freed on this thread, so walking it is local.
void small_alloc::spill(free_list& list, std::size_t cls) noexcept {
  auto* m = new (std::nothrow) full_magazine;
  for (std::size_t i = 0; i < magazine; ++i) {
    block* b = std::exchange(list.head, list.head->next);
    if (m)
      m->blocks[i] = b;
    else
      ::operator delete(b);
  }
  list.count -= magazine;
  if (!m) return;
  depot& d = shared();
  {
    std::lock_guard g(d.mutex);
    if (d.magazines[cls].size() < max_depot) {
      try {
        d.magazines[cls].push_back(m);
        return;
      } catch (...) {}
    }
  }
  for (block* b : m->blocks) ::operator delete(b);
  delete m;
}

// The prefetches (for writing: the blocks will be written) are independent
// and overlap, so the links the allocations then follow are in this core's
// cache.
bool small_alloc::load(free_list& list, std::size_t cls) noexcept {
  full_magazine* m = nullptr;
  {
    depot& d = shared();
    std::lock_guard g(d.mutex);
    if (d.magazines[cls].empty()) return false;
    m = d.magazines[cls].back();
    d.magazines[cls].pop_back();
  }
  for (block* b : m->blocks) __builtin_prefetch(b, 1);
  m->blocks[magazine - 1]->next = list.head;
  list.head = m->blocks[0];
  list.count += magazine;
  delete m;
  return true;
}

}  // namespace troupe::detail
