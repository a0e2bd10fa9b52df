#include "context.hpp"

#if TROUPE_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include <boost/context/preallocated.hpp>
#include <new>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

#include "troupe/runtime/detail/platform.hpp"

namespace troupe::detail {

namespace ctx = boost::context;

namespace {
std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}
std::size_t round_to_pages(std::size_t n) {
  const std::size_t p = page_size();
  return (n + p - 1) / p * p;
}
constexpr std::size_t max_pooled_stacks = 1024;

// Hands a pooled stack back to the pool when Boost destroys a finished fiber.
struct pool_allocator {
  stack_pool* pool;
  ctx::stack_context allocate() { return pool->allocate(); }
  void deallocate(ctx::stack_context& sctx) noexcept { pool->deallocate(sctx); }
};
}  // namespace

// Named for the inline asm in context.hpp (so not in an unnamed namespace);
// initial-exec puts it in static TLS, at the same offset from every thread's
// pointer.
[[gnu::tls_model("initial-exec")]] thread_local thread_slots tl_slots __asm__("troupe_thread_slots");
TROUPE_FRESH_TLS_GETTER thread_slots& this_thread_slots_call() noexcept { return tl_slots; }

stack_pool::stack_pool(std::size_t usable_size)
    : usable_size_(round_to_pages(usable_size)), mapping_size_(usable_size_ + page_size()) {}

stack_pool::~stack_pool() {
  for (void* base : free_) ::munmap(base, mapping_size_);
}

ctx::stack_context stack_pool::allocate() {
  void* base = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      base = free_.back();
      free_.pop_back();
    }
  }
  if (base == nullptr) {
    // MAP_NORESERVE: a stack costs only the pages it touches.
    base = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                  -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    // The lowest page is the guard: stacks grow down into it and fault.
    if (::mprotect(base, page_size(), PROT_NONE) != 0) {
      ::munmap(base, mapping_size_);
      throw std::bad_alloc();
    }
  }
  ctx::stack_context sctx;
  sctx.size = usable_size_;
  sctx.sp = static_cast<char*>(base) + mapping_size_;  // stacks grow down from the top
  return sctx;
}

void stack_pool::deallocate(ctx::stack_context& sctx) noexcept {
  void* base = static_cast<char*>(sctx.sp) - mapping_size_;
#if TROUPE_ASAN
  // The dead fiber's frames left poisoned shadow behind: clear it, or the
  // next fiber (or mapping) here gets false reports.
  __asan_unpoison_memory_region(static_cast<char*>(base) + page_size(), usable_size_);
#endif
  {
    std::lock_guard lock(mutex_);
    if (free_.size() < max_pooled_stacks) {
      free_.push_back(base);
      return;
    }
  }
  ::munmap(base, mapping_size_);
}

context::context() noexcept {
  // The thread's own stack: learn its bounds for AddressSanitizer.
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      stack_bottom_ = addr;
      stack_size_ = size;
    }
    pthread_attr_destroy(&attr);
  }
#if TROUPE_TSAN
  tsan_fiber_ = __tsan_get_current_fiber();
#endif
}

context::context(stack_pool& pool, std::function<context*()> entry)
    : own_stack_(true), entry_(std::move(entry)) {
  ctx::stack_context sctx = pool.allocate();
  stack_bottom_ = static_cast<char*>(sctx.sp) - sctx.size;
  stack_size_ = sctx.size;
  cont_ = ctx::fiber(std::allocator_arg, ctx::preallocated(sctx.sp, sctx.size, sctx), pool_allocator{&pool},
                     [this](ctx::fiber&& caller) -> ctx::fiber {
                       finish_switch_in();
                       this_thread_slots().switched_from->cont_ = std::move(caller);
                       context* next = entry_();
                       // Switch away for good: Boost frees this stack on top
                       // of `next`, which resumes inside its switch_to().
                       start_switch_out(*next, true);
                       this_thread_slots().switched_from = this;
                       return std::move(next->cont_);
                     });
#if TROUPE_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
  owns_tsan_fiber_ = true;
#endif
}

context::~context() {
#if TROUPE_TSAN
  if (owns_tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
#endif
}

}  // namespace troupe::detail
