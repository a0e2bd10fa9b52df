#include "context.hpp"

#if TROUPE_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include <new>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

#include "troupe/runtime/detail/platform.hpp"

namespace troupe::detail {

namespace ctx = boost::context;
namespace fc = boost::context::detail;

#if defined(__x86_64__) && defined(__ELF__)
// Boost 1.74's jump_fcontext (x86-64 System V), on the same saved frame:
// 0x00 MXCSR and x87 control word (callee-saved control bits), 0x08..0x30
// r12, r13, r14, r15, rbx, rbp, then the return address. Boost ends with
// `pop %r8; jmp *%r8`; a `ret` here pops the same address. The difference is
// the CPU's return-stack predictor: Boost's jump leaves the entry its call
// pushed, so every later return of the resumed fiber is predicted one frame
// off (decision 0018). make_fcontext's first frame (entry address at 0x38,
// reached with %rsp 0x40 above the frame) is entered the same way by both.
// Hidden: calls from this library bind directly, with no PLT.
__asm__(R"(
    .text
    .globl  troupe_jump_fcontext
    .hidden troupe_jump_fcontext
    .type   troupe_jump_fcontext, @function
    .align  16
troupe_jump_fcontext:
    leaq    -0x38(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)
    movq    %r12, 0x8(%rsp)
    movq    %r13, 0x10(%rsp)
    movq    %r14, 0x18(%rsp)
    movq    %r15, 0x20(%rsp)
    movq    %rbx, 0x28(%rsp)
    movq    %rbp, 0x30(%rsp)
    movq    %rsp, %rax
    movq    %rdi, %rsp
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    movq    0x8(%rsp), %r12
    movq    0x10(%rsp), %r13
    movq    0x18(%rsp), %r14
    movq    0x20(%rsp), %r15
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    leaq    0x38(%rsp), %rsp
    movq    %rsi, %rdx
    movq    %rax, %rdi
    ret
    .size   troupe_jump_fcontext, .-troupe_jump_fcontext
)");
#endif

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
      stack_.sp = static_cast<char*>(addr) + size;
      stack_.size = size;
    }
    pthread_attr_destroy(&attr);
  }
#if TROUPE_TSAN
  tsan_fiber_ = __tsan_get_current_fiber();
#endif
}

context::context(stack_pool& pool, std::function<context*()> entry)
    : pool_(&pool), stack_(pool.allocate()), entry_(std::move(entry)) {
  suspended_ = fc::make_fcontext(stack_.sp, stack_.size, &context::enter);
#if TROUPE_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
  owns_tsan_fiber_ = true;
#endif
}

void context::enter(fc::transfer_t from) noexcept {
  auto* self = static_cast<context*>(from.data);  // switch_to passes its target
  self->finish_switch_in(from.fctx);
  context* next = self->entry_();
  // Switch away for good. Whoever resumes stores our resume point, which
  // nobody uses; the stack goes back to the pool when its owner destroys
  // this context, after the switch (the scheduler's delete_fiber).
  self->start_switch_out(*next, true);
  this_thread_slots().switched_from = self;
  jump_context(std::exchange(next->suspended_, nullptr), next);
  __builtin_unreachable();
}

context::~context() {
  if (pool_) pool_->deallocate(stack_);
#if TROUPE_TSAN
  if (owns_tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
#endif
}

}  // namespace troupe::detail
