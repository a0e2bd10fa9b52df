#pragma once
// Compiler- and CPU-specific spellings the runtime needs, in one place.
// Internal.

#include <atomic>

// TROUPE_ASAN / TROUPE_TSAN: 1 in an AddressSanitizer / ThreadSanitizer
// build, else 0. GCC says so with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__;
// clang 19 defines neither and answers __has_feature instead (the asan
// preset is clang's: without this its fibers would switch stacks unannounced).
#if defined(__SANITIZE_ADDRESS__)
#define TROUPE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TROUPE_ASAN 1
#endif
#endif
#ifndef TROUPE_ASAN
#define TROUPE_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TROUPE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TROUPE_TSAN 1
#endif
#endif
#ifndef TROUPE_TSAN
#define TROUPE_TSAN 0
#endif

// On a function that returns (the address of) a thread_local: every call
// computes it afresh. A fiber may suspend on one thread and resume on
// another, so a caller must never reuse a result from before a switch. GCC:
// noipa stops it proving the function pure and merging calls. Clang has no
// noipa and infers memory(none) through noinline alone (it then reused the
// first thread's slot after a migration); optnone stops that inference.
#if defined(__clang__)
#define TROUPE_FRESH_TLS_GETTER __attribute__((noinline, optnone))
#else
#define TROUPE_FRESH_TLS_GETTER __attribute__((noinline, noipa))
#endif

namespace troupe::detail {

// std::atomic_thread_fence(seq_cst), at GCC's price on x86-64 with either
// compiler: a locked RMW on the top of the stack, a full barrier on x86
// like mfence but several times cheaper on current cores (clang emits
// mfence, which made its fork-join 2-5x slower). Sanitizer builds keep the
// standard fence (ThreadSanitizer's callers avoid fences altogether).
inline void seq_cst_fence() noexcept {
#if defined(__x86_64__) && !TROUPE_TSAN && !TROUPE_ASAN
  asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace troupe::detail
