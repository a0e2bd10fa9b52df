#pragma once
// Per-thread caches of small fixed-size blocks for task and message objects,
// with a shared depot of magazines behind them (Bonwick's magazine layer).
//
// Fork-join allocates and frees one small object per task, in bursts larger
// than glibc's per-thread cache (7 blocks per size), and an actor's messages
// are allocated on the sender's thread and freed on the receiver's. So each
// thread keeps a free list per 16-byte size class; a list that grows past two
// magazines hands one magazine (128 blocks, still linked, and an array of
// their addresses) to the depot, and an empty list loads one back: a
// producer thread and a consumer thread exchange whole magazines under one
// short lock per 128 blocks. The array lets the loading thread prefetch all
// 128 blocks at once; walking the links alone cost one dependent cache miss
// per allocation, on lines the freeing core wrote last (decision 0026). The
// depot keeps at most `max_depot` magazines per class; the rest go back to
// the heap, as does a thread's cache when the thread exits.
// (docs/decisions/0003-small-object-cache.md)

#include <cstddef>
#include <new>
#include <utility>

#include "troupe/runtime/detail/platform.hpp"
#include "troupe/runtime/detail/thread_slots.hpp"

// Sanitizer builds bypass the cache, so ASan sees every block's lifetime and
// TSan every reuse.
#if TROUPE_ASAN || TROUPE_TSAN
#define TROUPE_SMALL_ALLOC_BYPASS 1
#endif

namespace troupe::detail {

class small_alloc {
 public:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t max_size = 256;
  static constexpr std::size_t classes = max_size / granule;
  static constexpr std::size_t magazine = 128;    // blocks moved to or from the depot at once
  static constexpr std::size_t max_depot = 1024;  // magazines kept per class (at most 33 MiB)

  // Inline: with `size` known at the call site, the common case is a few
  // loads and stores; refills and first use go out of line.
  [[gnu::always_inline]] static void* allocate(std::size_t size) {
    return allocate(size, this_thread_slots());
  }
  // `here`: this_thread_slots(), read by the caller with no switch since
  // (each read is a compiler barrier; a spawn reads them once for all it does).
  [[gnu::always_inline]] static void* allocate(std::size_t size, const thread_slots& here) {
#ifdef TROUPE_SMALL_ALLOC_BYPASS
    return ::operator new(size);
#endif
    if (size > max_size) return ::operator new(size);
    if (auto* c = static_cast<cache*>(here.alloc_cache)) [[likely]] {
      free_list& list = c->lists[index(size)];
      if (block* b = list.head) [[likely]] {
        list.head = b->next;
        --list.count;
        return b;
      }
    }
    return allocate_slow(size);
  }

  [[gnu::always_inline]] static void deallocate(void* p, std::size_t size) noexcept {
    deallocate(p, size, this_thread_slots());
  }
  // `here` as for allocate.
  [[gnu::always_inline]] static void deallocate(void* p, std::size_t size,
                                                const thread_slots& here) noexcept {
#ifdef TROUPE_SMALL_ALLOC_BYPASS
    return ::operator delete(p);
#endif
    if (size > max_size) return ::operator delete(p);
    auto* c = static_cast<cache*>(here.alloc_cache);
    if (!c) [[unlikely]]
      return deallocate_slow(p, size);
    free_list& list = c->lists[index(size)];
    auto* b = static_cast<block*>(p);
    b->next = list.head;
    list.head = b;
    if (++list.count >= 2 * magazine) [[unlikely]]
      spill(list, index(size));
  }

 private:
  struct block {
    block* next;
  };
  struct free_list {
    block* head = nullptr;
    std::size_t count = 0;
  };
  // blocks[i]->next == blocks[i + 1]: spill keeps the list's links.
  struct full_magazine {
    block* blocks[magazine];
  };
  struct cache {
    free_list lists[classes];
    ~cache() {
      for (auto& l : lists) release_chain(l.head);
    }
  };
  struct depot;  // small_alloc.cpp

  static void release_chain(block* b) noexcept {
    while (b) ::operator delete(std::exchange(b, b->next));
  }
  // The list is empty (a new cache's lists are too), or this thread has no
  // cache any more (it exits): load a magazine into the list and take from
  // it, or use the heap.
  [[gnu::noinline]] static void* allocate_slow(std::size_t size) {
    cache* c = local();
    if (c && load(c->lists[index(size)], index(size))) return allocate(size);
    return ::operator new(round(size));
  }
  [[gnu::noinline]] static void deallocate_slow(void* p, std::size_t size) noexcept {
    if (local()) return deallocate(p, size);  // first use on this thread
    ::operator delete(p);                     // it exits: its cache is gone
  }
  // Moves `magazine` blocks from the top of the list into a magazine for the
  // depot, or to the heap if the depot is full (small_alloc.cpp).
  static void spill(free_list& list, std::size_t cls) noexcept;
  // Puts a magazine of the depot in front of the class's list; false if the
  // depot has none (small_alloc.cpp).
  static bool load(free_list& list, std::size_t cls) noexcept;
  static depot& shared() noexcept;  // small_alloc.cpp

  static std::size_t index(std::size_t size) noexcept { return (size + granule - 1) / granule - 1; }
  static std::size_t round(std::size_t size) noexcept { return (index(size) + 1) * granule; }
  // The calling thread's cache, found through this_thread_slots() (fresh on
  // every call: a fiber may migrate between two calls); null while the
  // thread exits, after its cache was freed (the block then goes to or
  // from the heap directly).
  static cache* local() noexcept {
    auto* c = static_cast<cache*>(this_thread_slots().alloc_cache);
    return c ? c : attach();
  }
  // First use on this thread: makes the cache, freed at thread exit.
  [[gnu::noinline]] static cache* attach() noexcept {
    struct holder {
      cache c;
      bool alive = true;
      ~holder() {  // runs before c's destructor returns its blocks
        alive = false;
        this_thread_slots().alloc_cache = nullptr;
      }
    };
    thread_local holder h;
    if (!h.alive) return nullptr;
    this_thread_slots().alloc_cache = &h.c;
    return &h.c;
  }
};

// Gives a class the cache as its operator new/delete.
struct small_object {
  static void* operator new(std::size_t size) { return small_alloc::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { small_alloc::deallocate(p, size); }
};

}  // namespace troupe::detail
