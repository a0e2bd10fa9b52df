#pragma once
// Memory for actors and messages: oneTBB's scalable allocator (per-thread
// size-class caches, no header per block, so an actor costs exactly its size
// class). Sanitizer builds use the system allocator so that ASan sees every
// block and TSan every reuse.

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TROUPE_ACTORS_SYSTEM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TROUPE_ACTORS_SYSTEM_MALLOC 1
#endif
#endif

#ifndef TROUPE_ACTORS_SYSTEM_MALLOC
#include <tbb/scalable_allocator.h>
#endif

namespace troupe::detail {

inline void* actor_alloc(std::size_t n) {
#ifdef TROUPE_ACTORS_SYSTEM_MALLOC
  return ::operator new(n);
#else
  void* p = scalable_malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
#endif
}

inline void actor_free(void* p, [[maybe_unused]] std::size_t n) noexcept {
#ifdef TROUPE_ACTORS_SYSTEM_MALLOC
  ::operator delete(p, n);
#else
  scalable_free(p);
#endif
}

}  // namespace troupe::detail
