#pragma once
// The one place that owns Boost.Context (as folly fibers keep
// BoostContextCompatibility.h): switching, stack allocation and the sanitizer
// annotations every switch needs. Boost 1.74's fcontext fibers do not tell
// AddressSanitizer or ThreadSanitizer about stack switches, so we do.
//
// Boost makes each context's first frame (make_fcontext); on x86-64 the
// switch itself is troupe_jump_fcontext (context.cpp), Boost's jump with a
// `ret` at its end instead of an indirect jump, which keeps the CPU's
// return-address predictions right (decision 0018).

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/stack_context.hpp>
#include <cstddef>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "troupe/runtime/detail/platform.hpp"  // TROUPE_ASAN, TROUPE_TSAN
#include "troupe/runtime/detail/thread_slots.hpp"

#if TROUPE_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if TROUPE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace troupe::detail {

class context;

// Switches to `to`, passing `data`; returns, with the switcher's context and
// data, when some context switches back. Boost 1.74's jump_fcontext on the
// same saved frame, ending in `ret` (x86-64 System V; Boost's own elsewhere).
#if defined(__x86_64__) && defined(__ELF__)
extern "C" boost::context::detail::transfer_t troupe_jump_fcontext(boost::context::detail::fcontext_t to,
                                                                   void* data) noexcept;
inline constexpr auto jump_context = &troupe_jump_fcontext;
#else
inline constexpr auto jump_context = &boost::context::detail::jump_fcontext;
#endif

// mmap'd stacks with a PROT_NONE guard page below each, so an overflow
// faults instead of corrupting a neighbour. Freed stacks are kept for reuse:
// in steady state no fiber creation maps or protects memory.
class stack_pool {
 public:
  explicit stack_pool(std::size_t usable_size);
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& sctx) noexcept;
  std::size_t usable_size() const noexcept { return usable_size_; }

 private:
  std::size_t usable_size_;
  std::size_t mapping_size_;  // usable + guard page
  std::mutex mutex_;
  std::vector<void*> free_;  // mapping base addresses
};

// One execution context: a stack plus, while suspended, its continuation.
// The worker thread's own stack is a context too (is_thread_stack()).
class context {
 public:
  // The calling thread's own stack.
  context() noexcept;
  // A new context on a pooled stack that will run `entry` when first
  // switched to. `entry` returns the context to switch to when it ends.
  context(stack_pool& pool, std::function<context*()> entry);
  ~context();
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  bool is_thread_stack() const noexcept { return pool_ == nullptr; }

  // Switches from `from` (the running context) to `to`. `here` must be the
  // calling thread's this_thread_slots(). Returns, with the slots of the
  // thread it resumed on, when some other context switches back to `from`.
  // Inline: it sits on the hot path of every yield and wake-up.
  static thread_slots& switch_to(context& from, context& to, thread_slots& here) noexcept;
  static void switch_to(context& from, context& to) noexcept { switch_to(from, to, this_thread_slots()); }

 private:
  // The first frame of every own-stack context: runs entry_, then switches
  // to what it returns, for good.
  [[noreturn]] static void enter(boost::context::detail::transfer_t from) noexcept;
  // Back on this context: stores where the switcher resumes (before anything
  // else can try to resume it) and returns the slots of the thread we are on.
  thread_slots& finish_switch_in(boost::context::detail::fcontext_t switcher) noexcept;
  void start_switch_out(context& to, bool from_is_exiting) noexcept;

  boost::context::detail::fcontext_t suspended_ = nullptr;  // where it resumes, while suspended
  stack_pool* pool_ = nullptr;                              // the own stack's pool, else null
  boost::context::stack_context stack_{};  // top and size; the thread's own too, for the sanitizers
  std::function<context*()> entry_;
  // Sanitizer bookkeeping.
  [[maybe_unused]] void* asan_fake_stack_ = nullptr;  // used by sanitizer builds only
  [[maybe_unused]] void* tsan_fiber_ = nullptr;
  [[maybe_unused]] bool owns_tsan_fiber_ = false;
};

// thread_slots::switched_from: the context switched to stores where the
// switcher will resume.

inline void context::start_switch_out([[maybe_unused]] context& to, [[maybe_unused]] bool exiting) noexcept {
#if TROUPE_ASAN
  // A context that will never run again passes no fake-stack slot, so ASan
  // frees its fake frames.
  __sanitizer_start_switch_fiber(exiting ? nullptr : &asan_fake_stack_,
                                 static_cast<const char*>(to.stack_.sp) - to.stack_.size, to.stack_.size);
#endif
#if TROUPE_TSAN
  // Flag 0: the switch synchronises the two fibers (happens-before), which
  // is what a hand-off between them means.
  __tsan_switch_to_fiber(to.tsan_fiber_, 0);
#endif
}

inline thread_slots& context::finish_switch_in(boost::context::detail::fcontext_t switcher) noexcept {
#if TROUPE_ASAN
  __sanitizer_finish_switch_fiber(asan_fake_stack_, nullptr, nullptr);
#endif
  thread_slots& now = this_thread_slots();
  now.switched_from->suspended_ = switcher;
  return now;
}

inline thread_slots& context::switch_to(context& from, context& to, thread_slots& here) noexcept {
  from.start_switch_out(to, false);
  here.switched_from = &from;
  // `to` is the data: a context entered for the first time learns from it
  // who it is (enter()).
  const boost::context::detail::transfer_t back = jump_context(std::exchange(to.suspended_, nullptr), &to);
  // Back in `from`, maybe on another thread.
  return from.finish_switch_in(back.fctx);
}

}  // namespace troupe::detail
