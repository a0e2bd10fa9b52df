#pragma once
// The work-stealing fiber scheduler. Internal; see docs/design/scheduler.md.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "context.hpp"
#include "lifo_slot.hpp"
#include "parker.hpp"
#include "timer_wheel.hpp"
#include "tracer.hpp"

#include "troupe/runtime/detail/chase_lev_deque.hpp"
#include "troupe/runtime/detail/latch.hpp"
#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/detail/trace.hpp"
#include "troupe/runtime/metrics.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::detail {

class scheduler;
class worker;
struct waiter;

// A seq_cst fence. ThreadSanitizer does not model standalone fences, so in
// a TSan build it is a seq_cst RMW on one shared atomic, which TSan does
// model and which orders the same way on every thread that uses it.
void full_fence() noexcept;

// A stackful fiber. Every fiber is a "runner": it runs the worker loop and
// executes tasks inline on its stack. A fiber whose task blocks keeps its
// stack and is resumed later by scheduling its header (invoke == nullptr).
struct fiber : task_header {
  fiber(scheduler& s, stack_pool& pool);

  context ctx;
  void* saved_local = nullptr;        // its fiber_local() while suspended
  const char* saved_label = nullptr;  // its trace slice's name while suspended
  spinlock wait_lock;                 // guards blocked_on
  waiter* blocked_on = nullptr;       // set while blocked; shutdown cancels through it
  fiber* registry_prev = nullptr;     // scheduler's list of all fibers
  fiber* registry_next = nullptr;
  std::uint64_t id = 0;  // 1, 2, ... in creation order per scheduler (logs, gdb)

  // What runtime::fibers() reports; diagnostics only, so every access is
  // relaxed: a dump may see a fiber one switch early or late, nothing more.
  // Each is written by the thread running the fiber or switching to or away
  // from it, and read by any thread under the registry lock.
  std::atomic<int> running_on{-1};  // the worker running it, or -1
  std::atomic<bool> idle{false};    // nothing on its stack: looking for work, or kept for reuse
  std::atomic<fiber_state> waiting_as{fiber_state::ready};  // blocked or joining while it waits
  std::atomic<std::int64_t> wait_deadline_ns{0};  // blocked: its deadline's time_since_epoch, or max

  // Set before the fiber suspends to wait (so it is set before anyone can
  // wake it), cleared once it runs again. Running fiber only.
  void note_wait(fiber_state as, troupe::clock::time_point deadline) noexcept {
    wait_deadline_ns.store(deadline.time_since_epoch().count(), std::memory_order_relaxed);
    waiting_as.store(as, std::memory_order_relaxed);
  }
  void note_running() noexcept { waiting_as.store(fiber_state::ready, std::memory_order_relaxed); }
};

// w.current = f, with the dump's view of which fiber runs where. Owner only.
inline void set_current(worker& w, fiber* f) noexcept;

inline bool is_fiber(const task_header* t) noexcept { return t->invoke == nullptr; }
inline fiber* as_fiber(task_header* t) noexcept { return static_cast<fiber*>(t); }

// The global queue for work from threads outside the runtime. A mutex is
// fine here: the hot paths never touch it, and the size counter lets workers
// skip it without locking when it is empty.
class injection_queue {
 public:
  void push(task_header* t) noexcept;
  task_header* pop() noexcept;
  bool empty() const noexcept { return size_.load(std::memory_order_relaxed) == 0; }

 private:
  std::mutex mutex_;
  task_header* head_ = nullptr;
  task_header* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

// A worker's busy time (worker_metrics::busy_ns): the real time it was not
// parked, accumulated at each park and wake-up, never per task.
//
// The worker alone writes (stopped() before it parks or exits, started()
// when it wakes or starts); any thread reads (busy_ns()). A reader must see
// `accumulated` and `since` of the same instant, or a park between its two
// loads would count the last run twice (and a later reading would go
// back): so the writer brackets its two stores with a sequence number made
// odd while it writes (a seqlock). Every access is seq_cst, so all of them
// fall in one total order and the argument is the plain one: a reader that
// sees the same even number before and after its loads saw no write in
// between. Each store is one locked instruction, four per park, beside a
// futex wait. The writer reads the clock after making the number odd, so a
// reader whose loads came before it also read the clock before it: the
// running interval it adds never reaches past the park, and busy_ns() never
// goes back.
class busy_clock {
 public:
  // Owner only. The worker runs from now on (it started, or woke up).
  void started() noexcept {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
    since_.store(now_ns(), std::memory_order_seq_cst);
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  }
  // Owner only. The worker stops running (it parks, or exits).
  void stopped() noexcept {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
    const std::uint64_t now = now_ns();
    const std::uint64_t since = since_.load(std::memory_order_relaxed);
    if (since != 0 && now > since)
      accumulated_.store(accumulated_.load(std::memory_order_relaxed) + (now - since),
                         std::memory_order_seq_cst);
    since_.store(0, std::memory_order_seq_cst);
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  }
  // Any thread: the busy time up to now.
  std::uint64_t busy_ns() const noexcept;

 private:
  static std::uint64_t now_ns() noexcept;
  std::atomic<std::uint64_t> seq_{0};          // odd while the owner writes
  std::atomic<std::uint64_t> accumulated_{0};  // busy time up to the last stop
  std::atomic<std::uint64_t> since_{0};        // steady-clock ns of the last start; 0 while stopped
};

// Per-worker counters, each written only by its worker. Aligned so two
// workers' counters never share a cache line.
struct alignas(64) worker_counters {
  std::atomic<std::uint64_t> tasks_run{0}, steals{0}, failed_steals{0}, parks{0}, wakeups{0},
      injection_pops{0}, lifo_runs{0}, fibers_created{0}, timers_fired{0};
  busy_clock busy;

  // Each is incremented with owner_bump (worker_core.hpp).
  worker_metrics snapshot() const noexcept;
};

// What the fiber switched to must do first, on behalf of the fiber that
// switched away (it cannot do it itself: its context is saved only by then).
using after_switch_fn = void (*)(worker&, void*);

// sched, alone, the deque and the suspension count are in worker_core, which
// the inline fork-join paths reach (latch.hpp).
class worker : public worker_core {
 public:
  worker(scheduler& s, std::size_t index);

  const std::size_t index;
  // The task just made ready: run next, on a warm cache. Stealable (see
  // steal_from) so it cannot be stranded behind a long computation.
  alignas(64) lifo_slot lifo;

  // --- owner-only state below ---
  alignas(64) fiber* current = nullptr;
  // The open trace slice (tracing only): where it is recorded, since when,
  // and its name (null: none open).
  tracer* slice_tracer = nullptr;
  std::uint64_t slice_begin = 0;
  const char* slice_name = nullptr;
  std::unique_ptr<context> thread_ctx;  // the worker thread's own stack
  std::vector<fiber*> idle_runners;     // fibers with nothing on their stack
  task_header* handoff = nullptr;       // first task for the next fresh runner
  after_switch_fn after_fn = nullptr;
  void* after_arg = nullptr;
  unsigned tick = 0;
  unsigned lifo_streak = 0;
  // Something went to the bottom of the deque to let the others run first
  // (a yield, an actor at its turn budget): until it comes up again, or the
  // deque empties, items are taken oldest first. Compared, never followed.
  const task_header* oldest_until = nullptr;
  // Since the current run slice began: whether this worker made an item
  // ready (push_local); and whether timers are firing (their callbacks must
  // not yield). The slice's sends are counted down in thread_slots, from
  // send_batch. See yield_after_send_batch.
  bool woke_this_slice = false;
  bool firing_timers = false;
  std::uint32_t send_batch = UINT32_MAX;
  // A fiber that yielded while nothing else was ready here, kept out of the
  // stealable deque: the next yield switches to it without an atomic RMW.
  // Owner only; used when no other worker could steal (private_yield_).
  fiber* yielded = nullptr;
  bool searching = false;
  std::uint64_t rng;
  std::vector<std::uint64_t> seen_tasks_run;  // per victim, for stuck detection
  // Per victim, while this worker is inside the steal gate (deque gated):
  // the victim's checkpoints() when it entered, or gate_cleared once it may
  // steal from that victim (scheduler::victim_cleared). And when it entered.
  static constexpr std::uint64_t gate_cleared = UINT64_MAX;
  std::vector<std::uint64_t> gate_marks;
  std::chrono::steady_clock::time_point gate_entered{};
  // Driven mode: items left to run in this drive() call, and how many ran.
  std::size_t drive_budget = 0;
  std::size_t drive_steps = 0;
  std::vector<task_header*> shuffle_scratch;

  // This worker's timers. Any worker may fire them once they are overdue by
  // more than timer_grace (the owner may be stuck in a long task).
  timer_wheel wheel;
  // While parked: when (clock ns) this worker will wake by itself; 0 while
  // it runs. Read by arming threads to decide whether someone will wake in
  // time for a new timer (see scheduler::timer_armed).
  std::atomic<std::uint64_t> parked_until{0};
  parker park_token;
  worker_counters counters;
  std::thread thread;

  // The slots of the thread this worker runs on (set while bound).
  thread_slots* slots = nullptr;
  void bind_to_this_thread() noexcept {
    slots = &this_thread_slots();
    slots->owner = this;
    slots->sched = &sched;
    slots->worker_index = index;
    slots->running_fiber = current;
    slots->sends_left = send_batch;
  }
  void unbind_from_thread() noexcept {
    slots->owner = nullptr;
    slots->sched = nullptr;
    slots->running_fiber = nullptr;
    slots->sends_left = UINT32_MAX;
    slots = nullptr;
  }
  // A new run slice on this worker (a task or a resumed fiber) starts with
  // nothing woken and no sends counted.
  void begin_run_slice() noexcept {
    woke_this_slice = false;
    slots->sends_left = send_batch;
  }

  void run_after_switch() noexcept {
    if (after_fn) {
      auto fn = after_fn;
      after_fn = nullptr;
      fn(*this, after_arg);
    }
  }
};

// A scheduler's place on the list of live schedulers that debuggers walk
// (scripts/troupe-gdb.py); the runtime itself never reads it.
struct scheduler_listing {
  explicit scheduler_listing(scheduler* s) noexcept;
  ~scheduler_listing();
  scheduler_listing(const scheduler_listing&) = delete;
  scheduler_listing& operator=(const scheduler_listing&) = delete;
  scheduler* self;
  scheduler_listing* prev = nullptr;
  scheduler_listing* next = nullptr;
};

class scheduler final : public clock_listener {
 public:
  scheduler(runtime& rt, const runtime_options& options, troupe::clock& clk);
  ~scheduler();

  runtime& owner;
  const std::size_t worker_count;
  stack_pool stacks;
  troupe::clock& clock;

  // For the workers' deques, at construction: the steal gate, or null where
  // thieves could not clear a victim that takes nothing (no heavy fence;
  // then every take fences) or nobody steals (one worker).
  steal_gate* gate_for_deques() noexcept {
    return worker_count > 1 && heavy_fence_available() ? &steal_gate_ : nullptr;
  }

  // The runtime clock's time in nanoseconds (the timer wheels' unit).
  std::uint64_t now_ns() const noexcept {
    const auto t = clock_is_virtual_ ? clock.now() : std::chrono::steady_clock::now();
    const auto ns = t.time_since_epoch().count();
    return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
  }

  // --- timers (timer.hpp) ---
  void arm(timer_entry* e, std::chrono::steady_clock::time_point deadline) noexcept;
  // Fires what is due on w's wheel and, with help_others, the overdue timers
  // of the other workers. True if anything fired. Worker only.
  bool poll_timers(worker& w, bool help_others) noexcept;
  // Runtime shutdown: fires every remaining timer now. Foreign thread only.
  std::size_t expire_all_timers() noexcept;
  void clock_advanced() noexcept override;

  // --- tracing (trace.hpp) ---
  void start_tracing(std::size_t events_per_worker);
  std::size_t stop_tracing(const std::string& path);
  std::size_t trace_dropped() const noexcept;
  tracer* active_tracer() const noexcept { return tracer_.load(std::memory_order_acquire); }
  // Keeps the process-wide list of tracing runtimes (scheduler.cpp).
  static void set_tracing_listed(scheduler* s, bool listed);
  // The scheduler's own hooks: a run slice opens when a worker starts an
  // item or resumes a fiber, and closes when it returns or switches away.
  void begin_slice(worker& w, const char* name) noexcept {
    if (tracing()) [[unlikely]]
      begin_slice_slow(w, name);
  }
  void end_slice(worker& w) noexcept {
    // TROUPE_TRACE_HOOKS=0: no slice is ever opened, and no check is left.
    if (TROUPE_TRACE_HOOKS && w.slice_name) [[unlikely]]
      end_slice_slow(w);
  }
  void trace_point(worker& w, const char* name) noexcept {
    if (tracing()) [[unlikely]]
      trace_point_slow(w, name);
  }

  // --- entry points (see schedule.hpp, latch.hpp) ---
  void schedule(task_header* t) noexcept;
  void schedule_yield(task_header* t) noexcept;
  void yield_after_send_batch() noexcept;
  void inject(task_header* t) noexcept;

  // Suspends the calling fiber; `after(worker, arg)` runs once the fiber is
  // safely switched away (e.g. to release the lock of the list it joined).
  void suspend(after_switch_fn after, void* arg) noexcept;
  void yield(worker& w) noexcept;

  void begin_shutdown() noexcept;
  void finish_shutdown();  // foreign thread only
  // The runtime object is being destroyed on one of our own workers: begin
  // shutdown and let a thread of its own finish it and free us (driven: the
  // driving thread, when its drive() gets control back).
  static void detach(std::unique_ptr<scheduler> self, std::shared_ptr<troupe::clock> clk);
  bool detached() const noexcept { return detached_.load(std::memory_order_acquire); }
  bool accepting_external() const noexcept { return accepting_.load(std::memory_order_acquire); }
  const std::atomic<bool>& accepting_flag() const noexcept { return accepting_; }

  metrics_snapshot metrics() const;
  // Every registered fiber's state (runtime::fibers()). Thread-safe.
  std::vector<fiber_info> fibers() const;
  void retain(std::shared_ptr<void> p);

  // --- driven mode (runtime_options::driven) ---
  bool driven() const noexcept { return driven_; }
  std::size_t drive(std::size_t max_steps);
  // The step log (runtime_options::log_steps); driver thread only.
  const std::string& step_log() const noexcept { return step_log_; }
  std::optional<troupe::clock::time_point> next_timer() noexcept;
  // Appends to the current step's line, if steps are logged (worker only).
  void log_step_note(const char* what, const char* name) noexcept;
  std::atomic<std::uint64_t> failed_detached{0};

  worker& worker_at(std::size_t i) noexcept { return *workers_[i]; }

  void register_fiber(fiber* f);
  void unregister_fiber(fiber* f) noexcept;

  // The body of every runner fiber; returns the context to switch to when
  // the worker exits.
  context* runner_main(fiber* self);
  // After making work ready: wake a parked worker if nobody is searching.
  // Any thread: the injection queue calls it for every push, a worker for a
  // push that push_stealable asks a wake-up for.
  void notify_work() noexcept;

 private:
  void thread_main(worker& w);
  fiber* acquire_runner(worker& w);
  void switch_fiber(worker& w, fiber* from, fiber* to) noexcept;

  task_header* find_local(worker& w) noexcept;
  task_header* find_work(worker& w);
  task_header* search(worker& w) noexcept;
  task_header* steal_from(worker& thief, worker& victim, bool may_take_lifo) noexcept;
  // Whether the thief may steal from the victim's gated deque now; enters
  // the gate first if the thief is outside.
  bool victim_cleared(worker& thief, worker& victim) noexcept;
  task_header* pop_injection(worker& w) noexcept;
  std::size_t fire(timer_wheel& wheel, std::uint64_t now, bool try_lock) noexcept;
  void timer_armed(timer_wheel& wheel, std::uint64_t when) noexcept;
  std::uint64_t wake_time(const worker& w) const noexcept;
  void park(worker& w);
  bool sleeper_listed(worker& w);
  void yield_to_driver(worker& w) noexcept;
  task_header* shuffled_pick(worker& w) noexcept;
  void finish_driven_shutdown();
  void log_step(task_header* t) noexcept;
  void begin_slice_slow(worker& w, const char* name) noexcept;
  void end_slice_slow(worker& w) noexcept;
  void trace_point_slow(worker& w, const char* name) noexcept;
  void stop_started_workers() noexcept;
  void push_local(worker& w, task_header* t) noexcept;

  // Idle protocol (after Tokio's): one atomic word holds how many workers
  // are unparked and how many of those are searching for work.
  static constexpr std::uint64_t one_searching = 1;
  static constexpr std::uint64_t one_unparked = std::uint64_t{1} << 32;
  static std::uint64_t searching_of(std::uint64_t s) noexcept { return s & 0xffffffffu; }
  static std::uint64_t unparked_of(std::uint64_t s) noexcept { return s >> 32; }
  void wake_one() noexcept;
  bool try_begin_search(worker& w) noexcept;
  bool end_search(worker& w) noexcept;  // true if w was the last searcher
  bool work_visible() const noexcept;
  bool quiescent() const;
  std::size_t cancel_blocked_fibers();

  // Thieves announce themselves here so that the workers' takes skip their
  // fence while nobody steals (chase_lev_deque ordering 8). Used with two
  // or more workers where the kernel has a heavy fence.
  steal_gate steal_gate_;
  std::vector<std::unique_ptr<worker>> workers_;
  injection_queue injection_;
  alignas(64) std::atomic<std::uint64_t> idle_state_;
  std::mutex sleep_mutex_;
  std::vector<worker*> sleepers_;  // guarded by sleep_mutex_

  const bool clock_is_virtual_;
  const bool driven_;
  // One free-running worker: nobody could steal a yielded fiber, so yields
  // between fibers go through worker::yielded instead of the deque.
  const bool private_yield_;
  std::uint64_t shuffle_rng_;         // driven: the random picks' state (0: no shuffling)
  std::thread::id driver_;            // driven: the first thread that drove it
  std::thread::id thread_ctx_owner_;  // driven: whose stack the worker's thread_ctx is
  const bool log_steps_;              // driven: keep step_log_
  std::string step_log_;              // driven: one line per step, plus labels and events
  std::uint64_t next_fiber_id_ = 0;   // guarded by registry_mutex_
  std::int64_t log_origin_ = 0;
  std::uint64_t logged_steps_ = 0;
  std::atomic<std::size_t> foreign_arms_{0};  // spreads foreign threads' timers over the wheels

  std::atomic<bool> accepting_{true};
  std::atomic<bool> detached_{false};
  // Driven and detached: drive() finishes the shutdown and frees this
  // scheduler (and then the clock) once control is back on the driving
  // thread. Only the driving thread touches these.
  bool orphaned_ = false;
  bool orphan_finishing_ = false;
  std::shared_ptr<troupe::clock> orphan_clock_;
  std::atomic<bool> exiting_{false};
  std::mutex shutdown_mutex_;
  bool joined_ = false;

  std::atomic<tracer*> tracer_{nullptr};
  std::mutex tracers_mutex_;
  std::vector<std::unique_ptr<tracer>> tracers_;  // started ones, freed with the scheduler
  std::string env_trace_path_;                    // TROUPE_TRACE, written at shutdown

  std::mutex retained_mutex_;
  std::vector<std::shared_ptr<void>> retained_;  // freed after the workers are joined

  mutable std::mutex registry_mutex_;
  fiber* registry_head_ = nullptr;

  // On the list of live schedulers; last member: listed once constructed.
  scheduler_listing debug_listing_{this};
};

// Head of the live schedulers' list, newest first; for debuggers only.
extern scheduler_listing* live_schedulers;

// The worker running the calling thread, or nullptr; fresh on every call
// (this_thread_slots), so a fiber that migrated reads its new thread's.
inline worker* this_worker() noexcept { return static_cast<worker*>(this_thread_slots().owner); }

// Throws error(would_deadlock) on a thread that drives a driven runtime:
// blocking it would stop the only thread that runs that runtime's work.
// Called before a foreign thread blocks.
void check_thread_may_block();

inline void set_current(worker& w, fiber* f) noexcept {
  if (w.current) w.current->running_on.store(-1, std::memory_order_relaxed);
  w.current = f;
  w.slots->running_fiber = f;
  if (f) f->running_on.store(static_cast<int>(w.index), std::memory_order_relaxed);
}

}  // namespace troupe::detail
