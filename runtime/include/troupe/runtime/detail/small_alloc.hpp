#pragma once
// Per-thread caches of small fixed-size blocks for task and message objects.
//
// Fork-join allocates and frees one small object per task, in bursts larger
// than glibc's per-thread cache (7 blocks per size), so half of skynet's
// instructions went to malloc/free. Here a block is freed into the freeing
// thread's cache, whatever thread allocated it; each size class keeps at
// most `max_cached` blocks, the rest go back to the global heap. A thread's
// cache is returned to the heap when the thread exits.
// (docs/decisions/0003-small-object-cache.md)

#include <cstddef>
#include <new>
#include <utility>

// Sanitizer builds bypass the cache, so ASan sees every block's lifetime and
// TSan every reuse.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TROUPE_SMALL_ALLOC_BYPASS 1
#endif

namespace troupe::detail {

class small_alloc {
 public:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t max_size = 256;
  static constexpr std::size_t max_cached = 1024;

  static void* allocate(std::size_t size) {
#ifdef TROUPE_SMALL_ALLOC_BYPASS
    return ::operator new(size);
#endif
    if (size > max_size) return ::operator new(size);
    cache& c = local();
    auto& list = c.lists[index(size)];
    if (list.head) {
      block* b = list.head;
      list.head = b->next;
      --list.count;
      return b;
    }
    return ::operator new(round(size));
  }

  static void deallocate(void* p, std::size_t size) noexcept {
#ifdef TROUPE_SMALL_ALLOC_BYPASS
    return ::operator delete(p);
#endif
    if (size > max_size) return ::operator delete(p);
    cache& c = local();
    auto& list = c.lists[index(size)];
    if (list.count >= max_cached) return ::operator delete(p);
    auto* b = static_cast<block*>(p);
    b->next = list.head;
    list.head = b;
    ++list.count;
  }

 private:
  struct block {
    block* next;
  };
  struct free_list {
    block* head = nullptr;
    std::size_t count = 0;
  };
  struct cache {
    free_list lists[max_size / granule];
    ~cache() {
      for (auto& l : lists)
        while (l.head) ::operator delete(std::exchange(l.head, l.head->next));
    }
  };
  static std::size_t index(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }
  static std::size_t round(std::size_t size) noexcept { return (index(size) + 1) * granule; }
  // Not inlined: a fiber may migrate to another thread between two calls,
  // and an inlined thread_local address could be reused from the old one.
  [[gnu::noinline, gnu::noipa]] static cache& local() noexcept {
    thread_local cache c;
    return c;
  }
};

// Gives a class the cache as its operator new/delete.
struct small_object {
  static void* operator new(std::size_t size) { return small_alloc::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { small_alloc::deallocate(p, size); }
};

}  // namespace troupe::detail
