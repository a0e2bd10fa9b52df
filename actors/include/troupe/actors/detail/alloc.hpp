#pragma once
// Memory for actor cells and messages: the runtime's per-thread small-object
// cache (docs/decisions/0003-small-object-cache.md), the same one tasks use.
// A message is allocated by its sender's thread and freed by the receiver's,
// which the cache handles by design.

#include <cstddef>

#include "troupe/runtime/detail/small_alloc.hpp"

namespace troupe::detail {

inline void* actor_alloc(std::size_t n) { return small_alloc::allocate(n); }
inline void actor_free(void* p, std::size_t n) noexcept { small_alloc::deallocate(p, n); }

}  // namespace troupe::detail
