#pragma once
// One pointer of context that belongs to the running fiber, not to the
// thread: the scheduler saves it when a fiber suspends and restores it when
// the fiber resumes, on whichever worker that is. A thread_local would be
// read on the wrong thread after a fiber migrated. The actors layer keeps
// the current turn (the actor and the request being handled) in it.
// Internal.

#include "troupe/runtime/detail/thread_slots.hpp"

namespace troupe::detail {

// The running fiber's slot; on a thread outside the runtime, a slot of the
// thread's own. Starts null for every new fiber. The caller owns what it
// stores: set it, and restore the previous value before returning.
inline void*& fiber_local() noexcept { return this_thread_slots().fiber_local; }

}  // namespace troupe::detail
