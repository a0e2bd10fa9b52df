#pragma once
// The per-thread state the scheduler and the layers above read on their hot
// paths, behind one getter that a fiber switch cannot fool. Internal: the
// runtime writes these slots; the actors layer reads them inline (its send
// and turn paths would otherwise make an out-of-line call per read).

#include <cstddef>
#include <cstdint>

#include "troupe/runtime/detail/platform.hpp"  // TROUPE_ASAN, TROUPE_TSAN

namespace troupe::detail {

class context;
class scheduler;
struct worker_core;

// One thread_local struct: a switch that may resume on another thread pays
// one fresh thread-local lookup, not one per field.
struct thread_slots {
  context* switched_from = nullptr;     // the context that last switched away here
  worker_core* owner = nullptr;         // the scheduler's worker on this thread, if any
  const scheduler* sched = nullptr;     // the owner's scheduler, if any
  std::size_t worker_index = 0;         // the owner's index in sched
  const void* running_fiber = nullptr;  // the fiber the owner runs, if any: an identity
  // The running fiber's fiber_local(); off the workers, the thread's own.
  // The scheduler carries it along when a fiber suspends and resumes.
  void* fiber_local = nullptr;
  // Blocking sends the running slice may make before
  // yield_after_send_batch() looks at whether to yield (schedule.hpp).
  std::uint32_t sends_left = UINT32_MAX;
  // This thread's small_alloc cache, made on first use; null again once the
  // thread's thread_locals are being destroyed.
  void* alloc_cache = nullptr;
};

// The calling thread's slots, computed afresh on every call (a fiber may
// resume on another thread, so a result from before a switch is stale).
// Any code; a fiber must call it again after anything that may switch.
thread_slots& this_thread_slots_call() noexcept;  // an opaque call, every platform
#if defined(__x86_64__) && !TROUPE_ASAN && !TROUPE_TSAN
// x86-64: the thread pointer (%fs:0) plus the slots' offset in static TLS
// (initial-exec, the symbol named in context.cpp), read by volatile asm the
// compiler can neither merge nor move across the switch (memory clobber).
// Two instructions instead of a call; the sanitizer builds keep the call.
inline thread_slots& this_thread_slots() noexcept {
  thread_slots* p;
  asm volatile(
      "movq %%fs:0, %0\n\t"
      "addq troupe_thread_slots@gottpoff(%%rip), %0"
      : "=r"(p)
      :
      : "memory", "cc");
  return *p;
}
#else
inline thread_slots& this_thread_slots() noexcept { return this_thread_slots_call(); }
#endif

}  // namespace troupe::detail
