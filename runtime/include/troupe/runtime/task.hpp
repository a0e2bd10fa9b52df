#pragma once
// Spawning tasks, joining them, and fork-join task groups.
//
// A task runs on the worker that picks it, directly on that worker's current
// fiber: a task that never blocks costs no fiber switch and no stack of its
// own. Only when a task blocks (join, sleep, a primitive's wait) does it keep
// the stack it is on, and the worker continues on another fiber.

#include <atomic>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "troupe/runtime/detail/latch.hpp"
#include "troupe/runtime/detail/small_alloc.hpp"
#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe {

namespace detail {

// Counts an exception thrown by a task that nobody will join.
void note_detached_failure(scheduler& s) noexcept;
// The runtime whose worker is calling; throws error(not_in_fiber) otherwise.
runtime& current_runtime_or_throw(const char* what);

template <class R>
struct task_result {
  std::optional<R> value;
  template <class F>
  void run(F& f) {
    value.emplace(std::invoke(f));
  }
  R take() { return std::move(*value); }
};
template <>
struct task_result<void> {
  template <class F>
  void run(F& f) {
    std::invoke(f);
  }
  void take() {}
};

// One allocation per spawn: the queue header, the latch the joiner waits
// on, the result and (in the derived class) the closure. Two references:
// the queued task and the join handle.
template <class R>
struct task_state : task_header, small_object {
  explicit task_state(scheduler& s) : sched(&s), done(1) {}
  virtual ~task_state() = default;

  // The task's end and the handle each release once. A failure nobody
  // joined is counted by whichever is last: the task may fail before or
  // after its handle is dropped.
  void release() noexcept {
    // acq_rel: the last owner must see the other owner's writes (result,
    // error, joined) before destroying them.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (error && !joined) note_detached_failure(*sched);
      delete this;
    }
  }

  scheduler* sched;
  latch done;
  task_result<R> result;
  std::exception_ptr error;
  std::atomic<int> refs{2};
  bool joined = false;  // written by the handle before it releases
};

template <class F, class R>
struct spawned_task final : task_state<R> {
  spawned_task(F&& f, scheduler& s) : task_state<R>(s), fn(std::move(f)) { this->invoke = &run_task; }

  static void run_task(task_header* h) {
    auto* self = static_cast<spawned_task*>(h);
    try {
      self->result.run(self->fn);
    } catch (...) {
      self->error = std::current_exception();
    }
    self->done.count_down();
    self->release();
  }

  F fn;
};

}  // namespace detail

// The result of spawn(): join() waits for the task and returns its value or
// rethrows its exception. Move-only. Dropping an unjoined handle detaches the
// task; if it throws (before the handle is dropped or after), the failure is
// counted in metrics_snapshot::failed_detached_tasks.
template <class R>
class join_handle {
 public:
  join_handle() = default;
  join_handle(join_handle&& o) noexcept : task_(std::exchange(o.task_, nullptr)), mark_(o.mark_) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      reset();
      task_ = std::exchange(o.task_, nullptr);
      mark_ = o.mark_;
    }
    return *this;
  }
  ~join_handle() { reset(); }

  // False once joined (or for a default-constructed handle).
  bool joinable() const noexcept { return task_ != nullptr; }
  // Thread-safe to poll.
  bool done() const noexcept { return task_ && task_->done.done(); }

  // Waits for the task (suspending the fiber, or blocking a foreign thread)
  // and returns its result or rethrows its exception. Throws
  // error(already_joined) on a second call.
  R join() {
    if (!task_) throw error(errc::already_joined, "join_handle::join: already joined or empty handle");
    task_->done.wait(&mark_);
    holder h{std::exchange(task_, nullptr)};
    h.t->joined = true;
    if (h.t->error) std::rethrow_exception(h.t->error);
    return h.t->result.take();
  }

  // Internal: made by spawn().
  join_handle(detail::task_state<R>* t, const detail::help_mark& m) : task_(t), mark_(m) {}

 private:
  struct holder {
    detail::task_state<R>* t;
    ~holder() { t->release(); }
  };
  void reset() noexcept {
    if (task_) std::exchange(task_, nullptr)->release();
  }

  detail::task_state<R>* task_ = nullptr;
  detail::help_mark mark_{};
};

// Spawns `f` on runtime `rt`. From one of rt's workers the task goes on that
// worker's deque (work-first: idle workers steal it); from any other thread it
// goes on the global injection queue. Thread-safe. Throws
// error(runtime_stopped) once shutdown began (from a foreign thread).
template <class F, class R = std::invoke_result_t<std::decay_t<F>&>>
[[nodiscard]] join_handle<R> spawn(runtime& rt, F&& f) {
  using fn_t = std::decay_t<F>;
  auto* task = new detail::spawned_task<fn_t, R>(fn_t(std::forward<F>(f)), rt.scheduler());
  detail::help_mark mark;
  try {
    detail::push_spawned(rt.scheduler(), task, detail::this_thread_slots(), &mark);
  } catch (...) {
    delete task;  // never queued, never shared
    throw;
  }
  return join_handle<R>(task, mark);
}

// Spawns on the runtime of the calling worker. Fiber context only: throws
// error(not_in_fiber) from a foreign thread.
template <class F>
[[nodiscard]] auto spawn(F&& f) {
  return spawn(detail::current_runtime_or_throw("troupe::spawn"), std::forward<F>(f));
}

// Fork-join: spawn any number of tasks, then wait() for all of them. The
// first exception thrown by a task since the last wait() is rethrown by
// wait(); the rest are dropped (and counted as detached failures). A group
// may be reused: spawn and wait again. The destructor waits for
// outstanding tasks if wait() was not called. Owner only: spawn and wait from
// the fiber or thread that created the group (tasks may spawn into it too).
class task_group {
 public:
  // Uses the calling worker's runtime; throws error(not_in_fiber) outside.
  task_group() : task_group(detail::current_runtime_or_throw("troupe::task_group")) {}
  explicit task_group(runtime& rt) : rt_(&rt) {}
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  ~task_group() { latch_.wait(has_mark_ ? &mark_ : nullptr); }

  template <class F>
  void spawn(F&& f) {
    using task = child<std::decay_t<F>>;
    // Nothing below switches fibers until the push: one read of the thread's
    // slots serves the allocation, the owner test and the push.
    const detail::thread_slots& here = detail::this_thread_slots();
    void* mem = detail::small_alloc::allocate(sizeof(task), here);
    task* t;
    try {
      t = ::new (mem) task(std::forward<F>(f), *this);
    } catch (...) {
      detail::small_alloc::deallocate(mem, sizeof(task), here);
      throw;
    }
    const bool on_owner = latch_.on_owner_fiber(here);
    latch_.add(on_owner);
    // The mark is the owner's: a task spawning into the group runs on
    // another fiber (or thread) and must not touch it, so the owner test
    // comes first. A foreign-thread owner is never on_owner and keeps none
    // (take_to_help only helps on a worker).
    const bool keep_mark = on_owner && !has_mark_;
    try {
      detail::push_spawned(rt_->scheduler(), t, here, keep_mark ? &mark_ : nullptr);
    } catch (...) {
      delete t;
      latch_.count_down(on_owner);
      throw;
    }
    if (keep_mark) has_mark_ = true;
  }

  // Waits for every spawned task, helping to run them first. Rethrows the
  // first exception any of them threw.
  void wait() {
    latch_.wait(has_mark_ ? &mark_ : nullptr);
    has_mark_ = false;
    if (error_) {
      // The next round reports its own first failure. relaxed: every task
      // has ended, and the next ones are handed over through a queue.
      has_error_.store(false, std::memory_order_relaxed);
      std::rethrow_exception(std::exchange(error_, nullptr));
    }
  }

 private:
  template <class F>
  struct child final : detail::task_header, detail::small_object {
    child(F&& f, task_group& g) : fn(std::move(f)), group(&g) { invoke = &run; }
    child(const F& f, task_group& g) : fn(f), group(&g) { invoke = &run; }
    static void run(detail::task_header* h) {
      auto* self = static_cast<child*>(h);
      task_group* g = self->group;
      try {
        std::invoke(self->fn);
      } catch (...) {
        g->record(std::current_exception());
      }
      self->~child();  // before the read below: a capture's destructor may switch
      const detail::thread_slots& here = detail::this_thread_slots();
      const bool on_owner = g->latch_.on_owner_fiber(here);
      detail::small_alloc::deallocate(self, sizeof(child), here);
      g->latch_.count_down(on_owner);
    }
    F fn;
    task_group* group;
  };

  void record(std::exception_ptr e) noexcept {
    bool expected = false;
    // acq_rel: the owner reads error_ after the latch, which orders it too;
    // the flag only picks the first of several failing tasks.
    if (has_error_.compare_exchange_strong(expected, true, std::memory_order_acq_rel))
      error_ = std::move(e);
    else
      detail::note_detached_failure(rt_->scheduler());
  }

  runtime* rt_;
  detail::group_latch latch_;
  detail::help_mark mark_{};
  bool has_mark_ = false;
  std::atomic<bool> has_error_{false};
  std::exception_ptr error_;
};

}  // namespace troupe
