#include "scheduler.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <system_error>
#include <utility>

#include "waiter.hpp"

#include "troupe/runtime/detail/fiber_local.hpp"
#include "troupe/runtime/detail/platform.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/trace.hpp"

namespace troupe::detail {

namespace {

// Driven runtimes this thread drives (and so must not block on).
thread_local unsigned tl_driven_here = 0;

// Consecutive LIFO-slot runs before the slot's item goes behind the rest, so
// two tasks that keep waking each other cannot starve a third (Tokio uses 3).
constexpr unsigned lifo_cap = 3;
// Every this many ticks a worker takes work from the far ends of its queues
// (injection queue, oldest deque item) and checks its timers.
constexpr unsigned fairness_interval = 61;
// A slice that made this many blocking sends on a one-worker runtime, and
// made some item ready, yields to what it woke (yield_after_send_batch).
// Measured on actor.fan_out (1,000 receivers, 1 worker): 256-1,024 sends
// give each receiver one message per turn (22 M msgs/s); 4,096 gives four
// per turn and 35 M; 8,192-16,384 lose some again (34 M, 31 M), as the
// backlog outgrows the cache.
constexpr std::uint32_t sends_before_yield = 4096;
// The largest runtime_options::stack_size accepted.
constexpr std::size_t max_stack_size = std::size_t{1} << 30;
// Idle runner fibers kept per worker; more are freed.
constexpr std::size_t max_idle_runners = 16;
// How long a searching worker keeps looking before it parks. A futex
// wake-up round trip costs ~100 us on these machines, so searching a little
// longer than a typical gap between messages is cheaper than parking.
constexpr auto search_budget = std::chrono::microseconds(50);
// A victim that has run nothing for this long is stuck in one task: its
// LIFO slot may be stolen.
constexpr auto stuck_interval = std::chrono::microseconds(20);
// A worker parks for at most this long while another is awake, then looks
// for a stuck one (decision 0020). Each look cost the parked worker's core
// about 7.5 µs and the busy worker nothing; a millisecond bounds how long a
// stranded LIFO item waits, like the grace for a stuck worker's timers.
constexpr auto stuck_watch = std::chrono::milliseconds(1);
// A timer overdue by this much on another worker's wheel is fired by whoever
// notices (its owner is stuck in a long task). Long enough that an owner
// that is merely busy fires its own (on a warm cache), short enough that a
// stuck one delays others' timeouts by about a millisecond.
constexpr std::uint64_t timer_grace_ns = 1'000'000;

#if TROUPE_TSAN
std::atomic<int> fence_word{0};
#endif

// TROUPE_TRACE names one file; a second runtime of the process writes
// "<path>.2", a third "<path>.3", and so on.
std::string trace_path_for_this_runtime(const char* path) {
  static std::atomic<int> runtimes{0};
  const int n = runtimes.fetch_add(1, std::memory_order_relaxed) + 1;  // relaxed: only a number
  return n == 1 ? std::string(path) : std::string(path) + "." + std::to_string(n);
}

std::uint64_t next_random(std::uint64_t& s) noexcept {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// The scheduler's spin budgets (searching, looking for stuck victims) are
// real CPU time, whatever the runtime's clock: a virtual clock must not make
// a searching worker spin until someone advances it.
auto real_now() noexcept { return std::chrono::steady_clock::now(); }

}  // namespace

bool thread_may_block() noexcept { return this_worker() != nullptr || tl_driven_here == 0; }

void check_thread_may_block() {
  if (tl_driven_here != 0)
    throw error(errc::would_deadlock,
                "a thread that drives a runtime cannot block on it (nothing would run): use "
                "testing::harness::await or run_until_idle()");
}

troupe::clock& caller_clock() noexcept {
  static troupe::clock& steady = *default_clock();  // the shared_ptr keeps it alive for the program
  worker* w = this_worker();
  return w ? w->sched.clock : steady;
}

troupe::clock& clock_of(const scheduler* s) noexcept { return s ? s->clock : caller_clock(); }

void full_fence() noexcept {
#if TROUPE_TSAN
  fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  seq_cst_fence();
#endif
}

// ---------------------------------------------------------------- injection

void injection_queue::push(task_header* t) noexcept {
  t->next = nullptr;
  std::lock_guard g(mutex_);
  if (tail_)
    tail_->next = t;
  else
    head_ = t;
  tail_ = t;
  // relaxed: the mutex publishes the item; the counter is only a hint that
  // lets workers skip locking an empty queue (a stale 0 is caught by the
  // parking recheck, which runs after a seq_cst fence).
  size_.fetch_add(1, std::memory_order_relaxed);
}

task_header* injection_queue::pop() noexcept {
  if (empty()) return nullptr;
  std::lock_guard g(mutex_);
  task_header* t = head_;
  if (!t) return nullptr;
  head_ = t->next;
  if (!head_) tail_ = nullptr;
  size_.fetch_sub(1, std::memory_order_relaxed);
  return t;
}

// ------------------------------------------------------------------ metrics

worker_metrics worker_counters::snapshot() const noexcept {
  auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  worker_metrics m;
  m.tasks_run = r(tasks_run);
  m.steals = r(steals);
  m.failed_steals = r(failed_steals);
  m.parks = r(parks);
  m.wakeups = r(wakeups);
  m.injection_pops = r(injection_pops);
  m.lifo_runs = r(lifo_runs);
  m.fibers_created = r(fibers_created);
  m.timers_fired = r(timers_fired);
  m.busy_ns = busy.busy_ns();
  return m;
}

std::uint64_t busy_clock::now_ns() noexcept {
  const auto ns = std::chrono::steady_clock::now().time_since_epoch().count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 1;
}

std::uint64_t busy_clock::busy_ns() const noexcept {
  for (unsigned spins = 0;;) {
    const std::uint64_t before = seq_.load(std::memory_order_seq_cst);
    if (before & 1) {  // the owner is between its stores: a few instructions
      backoff(spins);
      continue;
    }
    const std::uint64_t accumulated = accumulated_.load(std::memory_order_seq_cst);
    const std::uint64_t since = since_.load(std::memory_order_seq_cst);
    const std::uint64_t now = now_ns();
    if (seq_.load(std::memory_order_seq_cst) != before) continue;
    return accumulated + (since != 0 && now > since ? now - since : 0);
  }
}

// ------------------------------------------------------------ construction

fiber::fiber(scheduler& s, stack_pool& pool)
    : ctx(pool, [this, &s]() -> context* { return s.runner_main(this); }) {
  invoke = nullptr;
}

worker::worker(scheduler& s, std::size_t i)
    : worker_core(s, s.worker_count == 1, s.gate_for_deques()),
      index(i),
      lifo(s.worker_count == 1       ? lifo_thieves::none
           : heavy_fence_available() ? lifo_thieves::fenced
                                     : lifo_thieves::locked),
      rng(0x9E3779B97F4A7C15ull * (i + 1)),
      seen_tasks_run(s.worker_count, 0),
      gate_marks(s.worker_count, gate_cleared) {}

namespace {
std::mutex live_schedulers_mutex;  // guards live_schedulers and every listing's links
}  // namespace

scheduler_listing* live_schedulers = nullptr;

scheduler_listing::scheduler_listing(scheduler* s) noexcept : self(s) {
  std::lock_guard g(live_schedulers_mutex);
  next = live_schedulers;
  if (next) next->prev = this;
  live_schedulers = this;
}

scheduler_listing::~scheduler_listing() {
  std::lock_guard g(live_schedulers_mutex);
  if (prev)
    prev->next = next;
  else
    live_schedulers = next;
  if (next) next->prev = prev;
}

scheduler::scheduler(runtime& rt, const runtime_options& options, troupe::clock& clk)
    : owner(rt),
      worker_count(options.driven    ? 1
                   : options.workers ? *options.workers
                                     : std::max(1u, std::thread::hardware_concurrency())),
      stacks(options.stack_size),
      clock(clk),
      idle_state_(one_unparked * worker_count),
      clock_is_virtual_(clk.is_virtual()),
      driven_(options.driven),
      private_yield_(worker_count == 1 && !options.driven),
      shuffle_rng_(options.shuffle_seed),
      log_steps_(options.log_steps) {
  if (options.driven && (options.workers || options.pin_workers))
    throw error(errc::invalid_argument, "runtime: a driven runtime has no worker threads to count or pin");
  if ((options.shuffle_seed != 0 || options.log_steps) && !options.driven)
    throw error(errc::invalid_argument, "runtime: shuffle_seed and log_steps are for driven runtimes");
  if (options.workers && *options.workers == 0)
    throw error(errc::invalid_argument, "runtime: worker count must be at least 1");
  if (options.stack_size < std::size_t{16} * 1024)
    throw error(errc::invalid_argument, "runtime: stack_size must be at least 16 KiB");
  // Stacks are mapped lazily, on the workers: a size no system can map must
  // be refused here, not when a worker's first fiber needs one (an escaped
  // bad_alloc there ends the process). 1 GiB is far beyond any real need.
  if (options.stack_size > max_stack_size)
    throw error(errc::invalid_argument, "runtime: stack_size must be at most 1 GiB");
  // After every check that throws: the destructor that undoes it runs only
  // for a constructed scheduler. The labels of actors' turns and events
  // reach the log through the tracing hooks: keep them switched on while
  // this runtime lives.
  if (log_steps_) tracing_on.fetch_add(1, std::memory_order_relaxed);
  workers_.reserve(worker_count);
  for (std::size_t i = 0; i < worker_count; ++i) workers_.push_back(std::make_unique<worker>(*this, i));
  if (private_yield_) workers_[0]->send_batch = sends_before_yield;
  if (clock_is_virtual_) clock.subscribe(this);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): troupe never changes the environment
  if (const char* path = std::getenv("TROUPE_TRACE"); path && *path) {
    if (tracing_available()) {
      env_trace_path_ = trace_path_for_this_runtime(path);
      start_tracing(trace_options{}.events_per_worker);
    } else {
      std::fprintf(stderr,
                   "troupe: TROUPE_TRACE ignored: built without trace hooks (TROUPE_TRACE_HOOKS=OFF)\n");
    }
  }
  if (driven_) {
    // No threads: drive() runs the one worker. The constructing thread is
    // taken to be the driver (it must not block on the runtime) until
    // another thread drives it first.
    driver_ = std::this_thread::get_id();
    ++tl_driven_here;
    return;
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  try {
    for (auto& wp : workers_) {
      worker& w = *wp;
      w.thread = std::thread([this, &w] { thread_main(w); });
      if (options.pin_workers) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w.index % cpus, &set);
        if (const int err = pthread_setaffinity_np(w.thread.native_handle(), sizeof(set), &set); err != 0)
          throw error(errc::invalid_argument,
                      "runtime: pin_workers: cannot pin worker " + std::to_string(w.index) + " to CPU " +
                          std::to_string(w.index % cpus) + ": " + std::system_category().message(err));
      }
    }
  } catch (const std::system_error& e) {
    stop_started_workers();
    throw error(errc::resource_exhausted, std::string("runtime: cannot start a worker thread: ") + e.what());
  } catch (...) {
    stop_started_workers();
    throw;
  }
}

void scheduler::stop_started_workers() noexcept {
  // The started workers have nothing to run: let them exit, join them.
  exiting_.store(true, std::memory_order_release);
  for (auto& w : workers_) w->park_token.unpark();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  joined_ = true;
  if (clock_is_virtual_) clock.unsubscribe(this);
}

scheduler::~scheduler() {
  finish_shutdown();
  {
    // A trace started and never stopped: nothing writes it, but the
    // process-wide flag and the list of tracing runtimes must let go.
    std::lock_guard g(tracers_mutex_);
    if (tracer_.exchange(nullptr, std::memory_order_acq_rel)) {
      tracing_on.fetch_sub(1, std::memory_order_relaxed);
      set_tracing_listed(this, false);
    }
  }
  if (clock_is_virtual_) clock.unsubscribe(this);
  if (driver_ != std::thread::id{} && driver_ == std::this_thread::get_id()) --tl_driven_here;
  if (log_steps_) tracing_on.fetch_sub(1, std::memory_order_relaxed);
}

// ------------------------------------------------------------ worker loop

void scheduler::thread_main(worker& w) {
  w.bind_to_this_thread();
  w.counters.busy.started();
  w.thread_ctx = std::make_unique<context>();
  fiber* first = acquire_runner(w);
  set_current(w, first);
  context::switch_to(*w.thread_ctx, first->ctx);
  // The last runner of this worker switched back here to exit.
  w.run_after_switch();
  w.counters.busy.stopped();
  w.unbind_from_thread();
}

fiber* scheduler::acquire_runner(worker& w) {
  if (!w.idle_runners.empty()) {
    fiber* f = w.idle_runners.back();
    w.idle_runners.pop_back();
    f->idle.store(false, std::memory_order_relaxed);
    return f;
  }
  owner_bump(w.counters.fibers_created);
  auto* f = new fiber(*this, stacks);
  register_fiber(f);
  return f;
}

// always_inline: every frame between a switch and the code that resumes
// costs a mispredicted return after it (jump_fcontext leaves by an indirect
// jump, so the return-stack predictor is one entry off); fiber.switch went
// from 17.8 to 16.2 ns.
[[gnu::always_inline]] inline void scheduler::switch_fiber(worker& w, fiber* from, fiber* to) noexcept {
  w.begin_run_slice();
  from->saved_local = w.slots->fiber_local;
  if (TROUPE_TRACE_HOOKS) from->saved_label = w.slice_name;
  end_slice(w);
  set_current(w, to);
  thread_slots& resumed = context::switch_to(from->ctx, to->ctx, *w.slots);
  // Resumed, perhaps on another worker: take our fiber_local() along, then
  // do what the switcher asked.
  resumed.fiber_local = from->saved_local;
  worker* now = static_cast<worker*>(resumed.owner);
  now->run_after_switch();
  if (TROUPE_TRACE_HOOKS && from->saved_label) begin_slice(*now, from->saved_label);
}

namespace {
void park_idle_runner(worker& w, void* f) {
  static_cast<fiber*>(f)->idle.store(true, std::memory_order_relaxed);
  w.idle_runners.push_back(static_cast<fiber*>(f));
}
void delete_fiber(worker& w, void* f) {
  auto* dead = static_cast<fiber*>(f);
  w.sched.unregister_fiber(dead);
  delete dead;
}
}  // namespace

context* scheduler::runner_main(fiber* self) {
  this_thread_slots().fiber_local = nullptr;  // a new fiber starts with an empty slot
  this_worker()->run_after_switch();
  for (;;) {
    worker& w = *this_worker();
    task_header* t = std::exchange(w.handoff, nullptr);
    // Work on this worker, the common case, without find_work's frame.
    if (!t) t = find_local(w);
    if (!t) {
      // Looking for work (perhaps parked): nothing on this stack.
      self->idle.store(true, std::memory_order_relaxed);
      t = find_work(w);
      self->idle.store(false, std::memory_order_relaxed);
    }
    if (!t) {
      // Exiting: hand the exit over to an idle runner (which frees us), or,
      // as the last runner of this worker, return to the thread's stack.
      w.after_fn = &delete_fiber;
      w.after_arg = self;
      if (!w.idle_runners.empty()) {
        fiber* next = w.idle_runners.back();
        w.idle_runners.pop_back();
        next->idle.store(false, std::memory_order_relaxed);
        set_current(w, next);
        return &next->ctx;
      }
      set_current(w, nullptr);
      return w.thread_ctx.get();
    }
    if (driven_) {
      // One step per item; at the budget, hand back before running the next.
      if (w.drive_steps >= w.drive_budget) yield_to_driver(w);
      ++w.drive_steps;
      if (log_steps_) log_step(t);
    }
    owner_bump(w.counters.tasks_run);
    if (!is_fiber(t)) {
      begin_slice(w, "task");
      w.begin_run_slice();
      t->invoke(t);  // runs on this fiber's stack; may suspend it
      end_slice(*this_worker());
      continue;
    }
    // A blocked fiber became ready: switch to it. This runner has nothing
    // on its stack now, so it becomes idle (or is freed if enough are).
    fiber* target = as_fiber(t);
    if (w.idle_runners.size() < max_idle_runners) {
      w.after_fn = &park_idle_runner;
      w.after_arg = self;
      switch_fiber(w, self, target);
    } else {
      w.after_fn = &delete_fiber;
      w.after_arg = self;
      set_current(w, target);
      return &target->ctx;
    }
  }
}

// Pops the next item without leaving the worker: LIFO slot (capped), own
// deque, injection queue; with periodic fairness checks.
task_header* scheduler::find_local(worker& w) noexcept {
  if (shuffle_rng_ != 0) return shuffled_pick(w);
  task_header* t;
  if (++w.tick % fairness_interval == 0) {
    poll_timers(w, /*help_others=*/true);
    if ((t = pop_injection(w))) return t;
    if ((t = w.deque.steal_oldest())) return t;
  }
  if (w.oldest_until) {
    // Something went to the bottom of the deque: everything that was ready
    // before it on this worker goes first (the LIFO slot, the injection
    // queue, the deque oldest first), so a busy actor cannot hog the worker.
    if (w.lifo.occupied() && (t = w.lifo.exchange(nullptr))) return t;
    if ((t = pop_injection(w))) return t;
    t = w.deque.steal_oldest();
    if (!t || t == w.oldest_until) w.oldest_until = nullptr;
    if (t) return t;
  }
  // Peek first: most of the time the slot is empty.
  if (w.lifo.occupied() && (t = w.lifo.exchange(nullptr))) {
    if (++w.lifo_streak <= lifo_cap) {
      owner_bump(w.counters.lifo_runs);
      return t;
    }
    // Cap reached: the slot's item goes behind the others and the oldest
    // waiting item runs instead; with nothing else queued here it just runs.
    w.lifo_streak = 0;
    if (w.deque.empty_estimate()) return t;
    w.deque.push(t);
    return w.deque.steal_oldest();
  }
  w.lifo_streak = 0;
  if ((t = w.deque.pop())) return t;
  if ((t = pop_injection(w))) return t;
  // A yielder runs after everything else that was ready.
  return std::exchange(w.yielded, nullptr);
}

task_header* scheduler::pop_injection(worker& w) noexcept {
  task_header* t = injection_.pop();
  if (t) owner_bump(w.counters.injection_pops);
  return t;
}

// ------------------------------------------------------------------ timers

std::size_t scheduler::fire(timer_wheel& wheel, std::uint64_t now, bool try_lock) noexcept {
  std::size_t n = 0;
  for (timer_entry* e = wheel.take_due(now, try_lock); e;) {
    // Read the link first: on_fire may re-arm or free the entry.
    timer_entry* next = e->next;
    e->on_fire(e);
    ++n;
    e = next;
  }
  return n;
}

bool scheduler::poll_timers(worker& w, bool help_others) noexcept {
  const std::uint64_t now = now_ns();
  std::size_t fired = 0;
  w.firing_timers = true;
  if (w.wheel.hint() <= now) fired += fire(w.wheel, now, /*try_lock=*/false);
  if (help_others && worker_count > 1) {
    for (auto& other : workers_) {
      // Overdue by more than the grace: its owner is stuck (or parked
      // through a lost race); fire them here rather than let them wait.
      if (other.get() != &w && other->wheel.hint() <= now - std::min(now, timer_grace_ns))
        fired += fire(other->wheel, now, /*try_lock=*/true);
    }
  }
  w.firing_timers = false;
  owner_bump(w.counters.timers_fired, fired);
  return fired != 0;
}

void scheduler::arm(timer_entry* e, std::chrono::steady_clock::time_point deadline) noexcept {
  const auto ns = deadline.time_since_epoch().count();
  const std::uint64_t when = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
  e->when = when;
  worker* self = this_worker();
  timer_wheel* wheel;
  if (self && &self->sched == this) {
    wheel = &self->wheel;
  } else {
    // relaxed: only spreads threads over wheels.
    wheel = &workers_[foreign_arms_.fetch_add(1, std::memory_order_relaxed) % worker_count]->wheel;
  }
  e->wheel = wheel;
  // Not e->when after the insert: once in the wheel, a due entry may fire
  // on another worker and its on_fire free it (timer.hpp).
  if (wheel->insert(e)) timer_armed(*wheel, when);
}

// A new timer lowered `wheel`'s earliest deadline: make sure some worker
// will look at it in time. Its owner looks when it polls (every fairness
// tick while running; when it parks, it sleeps no later than its earliest
// deadline). A parked owner that would sleep past it is woken. In case the
// owner gets stuck in a long task, one other worker must be running or
// parked no later than the deadline plus the grace; otherwise one is woken.
void scheduler::timer_armed(timer_wheel& wheel, std::uint64_t when) noexcept {
  if (clock_is_virtual_ && when > now_ns()) return;  // only advance() makes it due
  // The Dekker pair of park(): the new hint is visible before we read who
  // is parked until when, just as a parker publishes parked_until before it
  // reads the hints.
  full_fence();
  worker* self = this_worker();
  if (self && &self->sched != this) self = nullptr;
  worker* owner = nullptr;
  bool covered = worker_count == 1;  // nobody else could help anyway
  worker* latest = nullptr;
  std::uint64_t latest_until = 0;
  for (auto& wp : workers_) {
    worker& w = *wp;
    if (&w.wheel == &wheel) owner = &w;
    if (&w == self || &w.wheel == &wheel) continue;
    // relaxed: ordered by the fences on both sides.
    const std::uint64_t until = w.parked_until.load(std::memory_order_relaxed);
    if (until == 0 || until <= when + timer_grace_ns) covered = true;
    if (until > latest_until) {
      latest_until = until;
      latest = &w;
    }
  }
  if (owner && owner != self) {
    const std::uint64_t until = owner->parked_until.load(std::memory_order_relaxed);
    if (until != 0 && until > when) owner->park_token.unpark();  // it re-reads its wheel
  }
  if (!covered && latest) latest->park_token.unpark();
}

std::uint64_t scheduler::wake_time(const worker& w) const noexcept {
  if (clock_is_virtual_) return timer_wheel::never;  // advance() wakes everyone
  // The hint, not the earliest slot's start: a wheel that was idle while
  // the clock ran on files a new entry in a coarse slot that began long
  // ago, and waking for that start would spin until the deadline.
  std::uint64_t t = w.wheel.hint();
  for (auto& other : workers_) {
    if (other.get() == &w) continue;
    const std::uint64_t h = other->wheel.hint();
    if (h != timer_wheel::never) t = std::min(t, h + timer_grace_ns);
  }
  return t;
}

void scheduler::clock_advanced() noexcept {
  // Virtual time moved: every worker looks at its timers. Unparking a
  // running worker only leaves a token that makes its next park return.
  for (auto& w : workers_) w->park_token.unpark();
}

std::size_t scheduler::expire_all_timers() noexcept {
  std::size_t n = 0;
  for (auto& w : workers_) n += fire(w->wheel, timer_wheel::never, /*try_lock=*/false);
  return n;
}

// runner_main's call when find_local found nothing: timers, the search for
// work on other workers, parking; and on this worker again after each wait.
task_header* scheduler::find_work(worker& w) {
  bool looked_locally = true;  // runner_main has just called find_local
  for (;;) {
    task_header* t = looked_locally ? nullptr : find_local(w);
    looked_locally = false;
    if (!t && poll_timers(w, /*help_others=*/true)) t = find_local(w);
    if (t) {
      if (w.searching && end_search(w)) wake_one();
      return t;
    }
    if (exiting_.load(std::memory_order_acquire)) return nullptr;
    if (driven_) {  // nothing runnable: hand control back to the driving thread
      yield_to_driver(w);
      continue;
    }
    if (w.searching || try_begin_search(w)) {
      if ((t = search(w))) {
        // The last searcher to find work wakes another to keep looking, so
        // a burst of new work spreads without a stampede.
        if (end_search(w)) wake_one();
        return t;
      }
    }
    park(w);
  }
}

task_header* scheduler::steal_from(worker& thief, worker& victim, bool may_take_lifo) noexcept {
  task_header* t = nullptr;
  // An empty deque needs no clearing: the gate is entered, and a victim
  // that takes nothing is fenced, only when there is something to steal.
  for (int attempt = 0; attempt < 4 && !victim.deque.empty_estimate() && victim_cleared(thief, victim);
       ++attempt) {
    steal_status s = victim.deque.steal(t);
    if (s == steal_status::success) {
      owner_bump(thief.counters.steals);
      trace_point(thief, "steal");
      return t;
    }
    if (s == steal_status::empty) break;
  }
  // The victim's LIFO slot is left to the victim (it is about to run it on
  // a warm cache) unless the victim has not run anything since we last
  // looked, a stuck_interval ago: then it is stuck in a long task and the
  // item would be stranded.
  if (!may_take_lifo) {
    owner_bump(thief.counters.failed_steals);
    return nullptr;
  }
  std::uint64_t ran = victim.counters.tasks_run.load(std::memory_order_relaxed) +
                      victim.tasks_helped.load(std::memory_order_relaxed);
  std::uint64_t& seen = thief.seen_tasks_run[victim.index];
  bool stuck = ran == seen;
  seen = ran;
  if (stuck && (t = victim.lifo.take_from_stuck_owner())) {
    owner_bump(thief.counters.steals);
    return t;
  }
  owner_bump(thief.counters.failed_steals);
  return nullptr;
}

// A thief enters the steal gate once, marks every victim's checkpoint count,
// and steals from a victim once it has passed two more checkpoints: with the
// gate open each take is one, so that is the victim's next two takes
// (chase_lev_deque ordering 8). A victim that takes nothing for a stuck_interval (running
// one long task, or only pushing) would hold the thief back: a heavy fence
// then clears every victim at once. The thief stays inside while it keeps
// stealing; it leaves when it has work of its own again (its deque counts
// its takes) or parks.
bool scheduler::victim_cleared(worker& thief, worker& victim) noexcept {
  if (!thief.deque.gated()) return true;
  if (thief.deque.start_stealing()) {
    for (std::size_t i = 0; i < worker_count; ++i) thief.gate_marks[i] = workers_[i]->deque.checkpoints();
    thief.gate_entered = real_now();
  }
  std::uint64_t& mark = thief.gate_marks[victim.index];
  if (mark == worker::gate_cleared) return true;
  if (victim.deque.steal_cleared(mark)) {
    mark = worker::gate_cleared;
    return true;
  }
  if (real_now() - thief.gate_entered < stuck_interval) return false;
  heavy_fence();
  std::fill(thief.gate_marks.begin(), thief.gate_marks.end(), worker::gate_cleared);
  return true;
}

task_header* scheduler::search(worker& w) noexcept {
  const auto give_up = real_now() + search_budget;
  bool slow = false;  // past the budget, still searching because work is visible
  for (unsigned round = 0;; ++round) {
    if (worker_count > 1) {
      std::size_t start = next_random(w.rng) % worker_count;
      for (std::size_t i = 0; i < worker_count; ++i) {
        worker& victim = *workers_[(start + i) % worker_count];
        if (&victim == &w) continue;
        if (task_header* t = steal_from(w, victim, slow)) return t;
      }
    }
    if (task_header* t = pop_injection(w)) return t;
    if (task_header* t = find_local(w)) return t;
    if (exiting_.load(std::memory_order_relaxed)) return nullptr;
    if (!slow && round % 16 == 15 && real_now() > give_up) {
      // Keep searching while some other worker's queues hold work (it may
      // become stealable when its owner gets stuck); otherwise park.
      if (!work_visible()) return nullptr;
      slow = true;
    }
    if (slow) {
      // Every look pulls the victims' hot cache lines away from them, so
      // look rarely: about every stuck_interval.
      if (!work_visible()) return nullptr;
      const auto until = real_now() + stuck_interval;
      while (real_now() < until)
        for (int i = 0; i < 64; ++i) cpu_relax();
    } else {
      for (int i = 0; i < 32; ++i) cpu_relax();
    }
  }
}

// ---------------------------------------------------------------- parking

bool scheduler::try_begin_search(worker& w) noexcept {
  // At most half the workers search at once (rounded up), so idle workers
  // do not all hammer the victims' deques.
  std::uint64_t s = idle_state_.load(std::memory_order_seq_cst);
  if (2 * searching_of(s) >= worker_count && worker_count > 1) return false;
  idle_state_.fetch_add(one_searching, std::memory_order_seq_cst);
  w.searching = true;
  return true;
}

bool scheduler::end_search(worker& w) noexcept {
  w.searching = false;
  // seq_cst: pairs with notify_work's fence; a pusher that saw us searching
  // relies on us, so after this decrement our later checks must see its push.
  std::uint64_t prev = idle_state_.fetch_sub(one_searching, std::memory_order_seq_cst);
  return searching_of(prev) == 1;
}

void scheduler::notify_work() noexcept {
  // The Dekker pair of park(): our push must be visible before we read the
  // idle state, just as a parking worker's state change is visible before it
  // rechecks the queues. Then either we see it parked, or it sees our work.
  full_fence();
  std::uint64_t s = idle_state_.load(std::memory_order_relaxed);
  if (searching_of(s) == 0 && unparked_of(s) < worker_count) wake_one();
}

void scheduler::wake_one() noexcept {
  worker* w = nullptr;
  {
    std::lock_guard g(sleep_mutex_);
    std::uint64_t s = idle_state_.load(std::memory_order_seq_cst);
    // Someone already searching will find the work: waking more would only
    // stampede.
    if (searching_of(s) != 0 || sleepers_.empty()) return;
    w = sleepers_.back();
    sleepers_.pop_back();
    // The woken worker starts out searching (it sets its own flag).
    idle_state_.fetch_add(one_unparked + one_searching, std::memory_order_seq_cst);
  }
  w->park_token.unpark();
}

bool scheduler::work_visible() const noexcept {
  if (!injection_.empty()) return true;
  for (auto& w : workers_)
    if (!w->deque.empty_estimate() || w->lifo.occupied()) return true;
  return false;
}

void scheduler::park(worker& w) {
  // Asleep, it steals nothing: the others' takes need not fence for it.
  w.deque.stop_stealing();
  bool others_awake;
  {
    std::lock_guard g(sleep_mutex_);
    sleepers_.push_back(&w);
    // seq_cst: see notify_work.
    const std::uint64_t prev =
        idle_state_.fetch_sub(one_unparked + (w.searching ? one_searching : 0), std::memory_order_seq_cst);
    others_awake = unparked_of(prev) > 1;
    w.searching = false;
  }
  full_fence();
  auto unpark_self = [&]() {
    // Leave the sleeper list ourselves; if a waker already took us off it,
    // it counted us as unparked and searching and posted our token.
    {
      std::lock_guard g(sleep_mutex_);
      for (auto it = sleepers_.begin(); it != sleepers_.end(); ++it) {
        if (*it == &w) {
          sleepers_.erase(it);
          idle_state_.fetch_add(one_unparked, std::memory_order_seq_cst);
          return;
        }
      }
    }
    w.park_token.park();
    w.searching = true;
  };
  if (work_visible() || exiting_.load(std::memory_order_acquire)) {
    unpark_self();
    return;
  }
  // When to wake by ourselves: our own earliest deadline, or another wheel's
  // plus the grace. Publish it, then re-read the wheels (the Dekker pair of
  // timer_armed): either an arming thread sees when we sleep until, or we
  // see its new timer.
  std::uint64_t until = wake_time(w);
  for (;;) {
    // relaxed: ordered by the fence below.
    w.parked_until.store(until == 0 ? 1 : until, std::memory_order_relaxed);
    full_fence();
    const std::uint64_t again = wake_time(w);
    if (again >= until) break;
    until = again;
  }
  owner_bump(w.counters.parks);
  trace_point(w, "park");
  // A finite `until` is steady-clock time: wake_time() is `never` under a
  // virtual clock.
  const auto timer_until = until == timer_wheel::never
                               ? std::chrono::steady_clock::time_point::max()
                               : std::chrono::steady_clock::time_point(std::chrono::nanoseconds(until));
  bool woken = false;
  for (;;) {
    // While another worker is awake, an item it puts in its empty LIFO slot
    // wakes nobody (push_local): look every stuck_watch whether that worker
    // got stuck with it. Real time, also under a virtual clock. A look that
    // sees no work anywhere sleeps again at once.
    const auto watch_until =
        others_awake ? real_now() + stuck_watch : std::chrono::steady_clock::time_point::max();
    if (until == timer_wheel::never && !others_awake) {
      w.counters.busy.stopped();
      w.park_token.park();
      w.counters.busy.started();
      woken = true;
      break;
    }
    if (until != timer_wheel::never && until <= now_ns()) break;  // a timer is due
    w.counters.busy.stopped();
    woken = w.park_token.park_until(std::min(timer_until, watch_until));
    w.counters.busy.started();
    if (woken || timer_until <= watch_until || work_visible()) break;
    // seq_cst: as the word's other reads; we are parked, so any unparked
    // worker is another.
    others_awake = unparked_of(idle_state_.load(std::memory_order_seq_cst)) > 0;
  }
  w.parked_until.store(0, std::memory_order_relaxed);
  owner_bump(w.counters.wakeups);
  trace_point(w, "wake");
  if (woken && !sleeper_listed(w)) {
    w.searching = true;  // woken by wake_one, which counted us as searching
    return;
  }
  unpark_self();  // a timer is due, a timer-arming thread woke us, or a look saw work
}

bool scheduler::sleeper_listed(worker& w) {
  std::lock_guard g(sleep_mutex_);
  for (worker* s : sleepers_)
    if (s == &w) return true;
  return false;
}

// --------------------------------------------------------- entry points

void scheduler::push_local(worker& w, task_header* t) noexcept {
  if (!w.lifo.occupied()) {
    // No wake-up for it: this worker runs it next, so a woken worker would
    // find nothing to take (Tokio's rule). That saves a ping-pong at two
    // workers a fence per message and a futex wake-up every ~100 µs. Should
    // this worker get stuck first, the others' parks wake every stuck_watch
    // to look (park()).
    w.lifo.fill(t);
  } else {
    // The displaced item goes to the deque, where it may wake a worker
    // (push_stealable).
    task_header* displaced = w.lifo.exchange(t);
    if (displaced && w.push_stealable(displaced)) notify_work();
  }
  w.woke_this_slice = true;
}

void scheduler::schedule(task_header* t) noexcept {
  worker* w = this_worker();
  if (w && &w->sched == this)
    push_local(*w, t);
  else
    inject(t);
}

void scheduler::schedule_yield(task_header* t) noexcept {
  worker* w = this_worker();
  if (w && &w->sched == this) {
    w->oldest_until = t;
    if (w->push_stealable(t)) notify_work();
  } else {
    inject(t);
  }
}

// One worker runs everything: a handler that keeps making receivers ready
// (a fan-out) would queue its whole output before any of it runs, and the
// backlog (a million envelopes in actor.fan_out) falls out of every cache.
// So a blocking send, which may suspend its sender anyway, yields behind
// what the slice made ready once it has sent sends_before_yield messages:
// the backlog stays in cache, and each receiver's turn still takes several
// messages. With more workers the others take the receivers as they come.
// The inline part (schedule.hpp) counts the sends down in thread_slots;
// this runs when the count reaches zero.
void scheduler::yield_after_send_batch() noexcept {
  thread_slots& slots = this_thread_slots();
  worker* w = static_cast<worker*>(slots.owner);
  if (!private_yield_ || !w || &w->sched != this) {
    slots.sends_left = UINT32_MAX;  // no batch applies on this thread
    return;
  }
  if (w->firing_timers || !w->woke_this_slice) {
    slots.sends_left = 1;  // nothing to yield to yet: look again at the next send
    return;
  }
  // Counts afresh if nothing else turns out to be ready (yield returns at
  // once); a switch starts the next slice's count anyway.
  slots.sends_left = w->send_batch;
  yield(*w);
}

void scheduler::inject(task_header* t) noexcept {
  injection_.push(t);
  notify_work();
}

void scheduler::suspend(after_switch_fn after, void* arg) noexcept {
  worker& w = *this_worker();
  fiber* self = w.current;
  ++w.suspends;
  // Driven: the runner picks the next item, so it is counted as a step and
  // can go back to the driver first.
  task_header* next = driven_ ? nullptr : find_local(w);
  fiber* target;
  if (next && is_fiber(next)) {
    target = as_fiber(next);
    owner_bump(w.counters.tasks_run);
  } else {
    target = acquire_runner(w);
    w.handoff = next;  // may be null: the runner then looks for work itself
  }
  w.after_fn = after;
  w.after_arg = arg;
  switch_fiber(w, self, target);
}

namespace {
void requeue_yielded(worker& w, void* f) {
  if (w.push_stealable(static_cast<fiber*>(f))) w.sched.notify_work();
}
}  // namespace

void scheduler::yield(worker& w) noexcept {
  fiber* self = w.current;
  // Every fairness tick, as find_local does: a loop of yields must not keep
  // the timers from firing (a sleeper it waits for would never wake).
  if (++w.tick % fairness_interval == 0) poll_timers(w, /*help_others=*/true);
  // Fast path (one worker): another fiber yielded earlier and nothing else is
  // ready: trade places with it. All reads are the owner's own state or
  // relaxed peeks; something that becomes ready a moment later is seen at
  // the next yield or suspension, as it would be after a deque push.
  if (w.yielded && w.deque.empty_estimate() && !w.lifo.occupied() && injection_.empty()) {
    fiber* target = std::exchange(w.yielded, self);
    ++w.suspends;
    owner_bump(w.counters.tasks_run);
    switch_fiber(w, self, target);
    return;
  }
  // Anything else ready: the yielder kept aside goes behind it.
  if (w.yielded) w.deque.push(std::exchange(w.yielded, nullptr));
  // Take the oldest ready item, so the yielding fiber goes behind everything
  // already waiting on this worker.
  task_header* next = nullptr;
  if (!driven_) {  // driven: every yield goes through the runner (a step)
    next = w.deque.steal_oldest();
    if (!next && w.lifo.occupied()) next = w.lifo.exchange(nullptr);
    if (!next) next = pop_injection(w);
    if (!next) return;  // nothing else to run
  }
  ++w.suspends;
  const bool to_fiber = next && is_fiber(next);
  fiber* target;
  if (to_fiber) {
    target = as_fiber(next);
    owner_bump(w.counters.tasks_run);
  } else {
    // A runner runs the task (or, driven, picks the next step).
    target = acquire_runner(w);
    w.handoff = next;
    if (next) owner_bump(w.counters.tasks_run);
  }
  if (private_yield_ && to_fiber && w.deque.empty_estimate()) {
    // No thief exists and the deque is empty: keep the yielder for the
    // fast path. Safe before the switch: only this worker's own next yield
    // or find_local takes it, and both run after the switch.
    w.yielded = self;
  } else {
    // Requeued after the switch; what waited before it runs first.
    w.after_fn = &requeue_yielded;
    w.after_arg = self;
    w.oldest_until = self;
  }
  switch_fiber(w, self, target);
}

}  // namespace troupe::detail

namespace troupe::detail {

// ---------------------------------------------------------------- registry

void scheduler::register_fiber(fiber* f) {
  std::lock_guard g(registry_mutex_);
  f->id = ++next_fiber_id_;
  f->registry_next = registry_head_;
  if (registry_head_) registry_head_->registry_prev = f;
  registry_head_ = f;
}

void scheduler::unregister_fiber(fiber* f) noexcept {
  std::lock_guard g(registry_mutex_);
  if (f->registry_prev)
    f->registry_prev->registry_next = f->registry_next;
  else
    registry_head_ = f->registry_next;
  if (f->registry_next) f->registry_next->registry_prev = f->registry_prev;
}

std::vector<fiber_info> scheduler::fibers() const {
  std::vector<fiber_info> out;
  std::lock_guard g(registry_mutex_);
  for (const fiber* f = registry_head_; f; f = f->registry_next) {
    fiber_info i;
    i.id = f->id;
    // relaxed: a diagnostic snapshot (see fiber::running_on).
    const int on = f->running_on.load(std::memory_order_relaxed);
    const fiber_state waiting = f->waiting_as.load(std::memory_order_relaxed);
    if (f->idle.load(std::memory_order_relaxed)) {
      i.state = fiber_state::idle;  // a runner looking for work is on a worker, but runs nothing
    } else if (on >= 0) {
      i.state = fiber_state::running;
      i.worker = on;
    } else if (waiting != fiber_state::ready) {
      i.state = waiting;
      if (waiting == fiber_state::blocked)
        i.deadline = troupe::clock::time_point(
            troupe::clock::duration(f->wait_deadline_ns.load(std::memory_order_relaxed)));
    } else {
      i.state = fiber_state::ready;
    }
    out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [](const fiber_info& a, const fiber_info& b) { return a.id < b.id; });
  return out;
}

// ---------------------------------------------------------------- shutdown

void scheduler::begin_shutdown() noexcept { accepting_.store(false, std::memory_order_release); }

bool scheduler::quiescent() const {
  // (Under a virtual clock nothing but the test advances time, so sleeping
  // fibers do not keep the runtime alive: they wake early at exit.)
  // Every worker parked with no timer pending and nothing queued anywhere.
  if (unparked_of(idle_state_.load(std::memory_order_seq_cst)) != 0) return false;
  // Sleeping fibers and timed waits keep the runtime alive; other timers
  // (ask deadlines, actor timers) fire early at exit.
  if (!clock_is_virtual_)
    for (auto& w : workers_)
      if (w->wheel.keepalive() != 0) return false;
  return !work_visible();
}

std::size_t scheduler::cancel_blocked_fibers() {
  std::size_t cancelled = 0;
  std::lock_guard g(registry_mutex_);
  for (fiber* f = registry_head_; f; f = f->registry_next) {
    std::lock_guard fl(f->wait_lock);
    if (f->blocked_on && cancel_waiter(*f->blocked_on)) ++cancelled;
  }
  return cancelled;
}

void scheduler::finish_shutdown() {
  begin_shutdown();
  std::lock_guard g(shutdown_mutex_);
  if (joined_) return;
  if (this_worker() && &this_worker()->sched == this)
    throw error(errc::would_deadlock, "runtime: cannot complete shutdown from one of its own workers");
  if (driven_) {
    finish_driven_shutdown();
    return;
  }
  // Drain: let queued work, and what it spawns, run. When the runtime is
  // quiescent, cancel fibers blocked forever, and drain again. Polling is
  // fine here: shutdown is rare and this thread is not a worker.
  for (;;) {
    if (quiescent()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (!quiescent()) continue;
      if (cancel_blocked_fibers() == 0 && quiescent()) {
        // What is left are timers nobody waits on: fire them now, so that
        // their callbacks (a deadline's error, a last message) still run.
        if (expire_all_timers() != 0) continue;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  exiting_.store(true, std::memory_order_release);
  {
    std::lock_guard sg(sleep_mutex_);
    for (worker* w : sleepers_) {
      idle_state_.fetch_add(one_unparked, std::memory_order_seq_cst);
      w->park_token.unpark();
    }
    sleepers_.clear();
  }
  for (auto& w : workers_) w->thread.join();
  joined_ = true;
  if (!env_trace_path_.empty() && active_tracer()) {
    try {
      const std::size_t n = stop_tracing(env_trace_path_);
      std::fprintf(stderr, "troupe: wrote %zu trace events to %s\n", n, env_trace_path_.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "troupe: TROUPE_TRACE: %s\n", e.what());
    }
  }
  std::vector<std::shared_ptr<void>> retained;
  {
    std::lock_guard rg(retained_mutex_);
    retained.swap(retained_);
  }
  retained.clear();  // outside the lock: their destructors may do anything
}

void scheduler::retain(std::shared_ptr<void> p) {
  std::lock_guard g(retained_mutex_);
  retained_.push_back(std::move(p));
}

// ------------------------------------------------------------------ tracing

namespace {

// The runtimes tracing now, for instants from threads outside them
// (trace_instant_anywhere_slow). Leaked: used until the process ends.
std::mutex& tracing_list_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<scheduler*>& tracing_list() {
  static auto* v = new std::vector<scheduler*>;
  return *v;
}

}  // namespace

// Called under s's tracers_mutex_ (lock order: tracers_mutex_, then the list's).
void scheduler::set_tracing_listed(scheduler* s, bool listed) {
  std::lock_guard g(tracing_list_mutex());
  auto& v = tracing_list();
  if (listed)
    v.push_back(s);
  else
    std::erase(v, s);
}

void trace_instant_anywhere_slow(std::string_view name) noexcept {
  const char* interned = intern_trace_name(name);
  if (!interned) return;  // out of memory: the event is lost, as a full buffer's
  if (worker* w = this_worker()) {
    w->sched.log_step_note("event", interned);
    if (tracer* t = w->sched.active_tracer()) {
      t->worker(w->index).add(trace_event{tracer::now_ns(), 0, interned, 'i'});
      return;
    }
  }
  const trace_event e{tracer::now_ns(), 0, interned, 'i'};
  // Under the list's lock, a listed scheduler is not destroyed (its
  // destructor unlists it first) and its active tracer stays allocated.
  std::lock_guard g(tracing_list_mutex());
  for (scheduler* s : tracing_list())
    if (tracer* t = s->active_tracer()) t->foreign(e);
}

void scheduler::begin_slice_slow(worker& w, const char* name) noexcept {
  tracer* t = active_tracer();
  if (!t) return;
  w.slice_tracer = t;
  w.slice_begin = tracer::now_ns();
  w.slice_name = name;
}

void scheduler::end_slice_slow(worker& w) noexcept {
  const std::uint64_t end = tracer::now_ns();
  w.slice_tracer->worker(w.index).add(trace_event{w.slice_begin, end - w.slice_begin, w.slice_name, 'X'});
  w.slice_name = nullptr;
}

void scheduler::trace_point_slow(worker& w, const char* name) noexcept {
  if (tracer* t = active_tracer()) t->worker(w.index).add(trace_event{tracer::now_ns(), 0, name, 'i'});
}

void scheduler::start_tracing(std::size_t events_per_worker) {
  auto t = std::make_unique<tracer>(worker_count, std::max<std::size_t>(events_per_worker, 16));
  std::lock_guard g(tracers_mutex_);
  // release: workers that load the pointer (acquire) see the buffers built.
  if (!tracer_.exchange(t.get(), std::memory_order_acq_rel)) {
    tracing_on.fetch_add(1, std::memory_order_relaxed);
    set_tracing_listed(this, true);
  }
  // An earlier tracer stays allocated: a worker may still be writing to it.
  tracers_.push_back(std::move(t));
}

std::size_t scheduler::stop_tracing(const std::string& path) {
  tracer* t;
  {
    std::lock_guard g(tracers_mutex_);
    t = tracer_.exchange(nullptr, std::memory_order_acq_rel);
    if (t) {
      tracing_on.fetch_sub(1, std::memory_order_relaxed);
      set_tracing_listed(this, false);
    }
  }
  if (!t) throw error(errc::invalid_argument, "stop_tracing: tracing was not started");
  // Slices still open are recorded into t after this, past the prefix the
  // writer reads: they are simply not in the file.
  const std::size_t n = t->write(path);
  if (n == static_cast<std::size_t>(-1))
    throw error(errc::invalid_argument,
                "stop_tracing: cannot write " + path + ": " + std::system_category().message(errno));
  return n;
}

std::size_t scheduler::trace_dropped() const noexcept {
  std::lock_guard g(const_cast<std::mutex&>(tracers_mutex_));
  return tracers_.empty() ? 0 : tracers_.back()->dropped();
}

// ------------------------------------------------------------- driven mode

std::size_t scheduler::drive(std::size_t max_steps) {
  if (!driven_) throw error(errc::invalid_argument, "runtime::run_until_idle: only for a driven runtime");
  if (this_worker())
    throw error(errc::would_deadlock, "runtime::run_until_idle: called from inside a runtime");
  worker& w = *workers_[0];
  w.bind_to_this_thread();
  // This thread's stack is where the worker hands control back to. Made
  // once per driving thread: describing a thread's stack reads
  // /proc/self/maps.
  if (!w.thread_ctx || thread_ctx_owner_ != std::this_thread::get_id()) {
    w.thread_ctx = std::make_unique<context>();
    thread_ctx_owner_ = std::this_thread::get_id();
  }
  w.drive_budget = max_steps;
  w.drive_steps = 0;
  if (!w.current) set_current(w, acquire_runner(w));
  w.counters.busy.started();  // a driven worker is busy while it is driven
  // This thread's own fiber_local() while the worker's fibers use the slot.
  void* drivers_local = w.slots->fiber_local;
  context::switch_to(*w.thread_ctx, w.current->ctx);
  // Back: the worker ran out of work or of budget (or exited).
  w.slots->fiber_local = drivers_local;
  w.counters.busy.stopped();
  w.run_after_switch();
  w.unbind_from_thread();
  const std::size_t steps = w.drive_steps;
  if (orphaned_ && !orphan_finishing_) {
    // A task destroyed the runtime (detach): finish here, on the driving
    // thread. The destructor's own drive() calls skip this branch.
    orphan_finishing_ = true;
    std::shared_ptr<troupe::clock> clk = std::move(orphan_clock_);
    delete this;
  }
  return steps;
}

void scheduler::yield_to_driver(worker& w) noexcept {
  void* mine = w.slots->fiber_local;
  context::switch_to(w.current->ctx, *w.thread_ctx);
  // Resumed by the next drive(), on its thread.
  this_thread_slots().fiber_local = mine;
}

// Driven with a seed: every runnable item is a candidate, one is picked at
// random, the others keep their order at the back of the deque. One thread
// runs everything, so the same seed gives the same sequence.
task_header* scheduler::shuffled_pick(worker& w) noexcept {
  auto& v = w.shuffle_scratch;
  v.clear();
  if (w.deque.empty_estimate() && !w.lifo.occupied() && injection_.empty()) return nullptr;
  try {
    while (task_header* t = w.deque.steal_oldest()) v.push_back(t);
    if (task_header* t = w.lifo.exchange(nullptr)) v.push_back(t);
    while (task_header* t = injection_.pop()) v.push_back(t);
  } catch (...) {
    std::terminate();  // a test harness out of memory: nothing sensible to do
  }
  if (v.empty()) return nullptr;
  next_random(shuffle_rng_);
  const std::size_t pick = shuffle_rng_ % v.size();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (i != pick) w.deque.push(v[i]);
  return v[pick];
}

// One line per step: its number, the clock (ns since the log's first
// step, so a manual clock gives the same text every run) and what ran.
void scheduler::log_step(task_header* t) noexcept {
  try {
    const auto now = clock.now().time_since_epoch().count();
    if (step_log_.empty()) log_origin_ = now;
    if (!step_log_.empty()) step_log_ += '\n';
    step_log_ += fmt::format("{} @{}ns ", ++logged_steps_, now - log_origin_);
    if (is_fiber(t))
      step_log_ += fmt::format("resume fiber {}", as_fiber(t)->id);
    else
      step_log_ += "task";
  } catch (...) {  // out of memory in a test harness: the log is cut short
  }
}

void scheduler::log_step_note(const char* what, const char* name) noexcept {
  if (!log_steps_) return;
  try {
    step_log_ += fmt::format(" | {} {}", what, name);
  } catch (...) {}
}

std::optional<troupe::clock::time_point> scheduler::next_timer() noexcept {
  const std::uint64_t t = workers_[0]->wheel.hint();
  if (t == timer_wheel::never) return std::nullopt;
  return troupe::clock::time_point(troupe::clock::duration(static_cast<troupe::clock::duration::rep>(t)));
}

void scheduler::finish_driven_shutdown() {
  // The same rule as threaded shutdown, with this thread doing the work:
  // run what is queued, cancel waits nobody can end, fire what is left.
  for (;;) {
    drive(static_cast<std::size_t>(-1));
    if (cancel_blocked_fibers() != 0) continue;
    if (expire_all_timers() != 0) continue;
    if (!work_visible()) break;
  }
  exiting_.store(true, std::memory_order_release);
  drive(static_cast<std::size_t>(-1));  // the runners leave their loops
  joined_ = true;
}

void scheduler::detach(std::unique_ptr<scheduler> self, std::shared_ptr<troupe::clock> clk) {
  self->begin_shutdown();
  self->detached_.store(true, std::memory_order_release);
  if (self->driven_) {
    // No thread of its own, and a second thread must never drive it while
    // the driving thread is inside drive() (it is: this runs in a task).
    // That drive() completes the shutdown when control comes back to it.
    self->orphan_clock_ = std::move(clk);
    self->orphaned_ = true;
    (void)self.release();
    return;
  }
  // A thread of its own completes the shutdown (a worker cannot join
  // itself), then frees the scheduler and lets go of the clock.
  std::thread([s = std::move(self), c = std::move(clk)]() mutable {
    s.reset();
    c.reset();
  }).detach();
}

metrics_snapshot scheduler::metrics() const {
  metrics_snapshot m;
  for (auto& w : workers_) {
    m.workers.push_back(w->counters.snapshot());
    m.workers.back().timers_pending = w->wheel.size();
    m.workers.back().tasks_run += w->tasks_helped.load(std::memory_order_relaxed);
  }
  m.failed_detached_tasks = failed_detached.load(std::memory_order_relaxed);
  return m;
}

}  // namespace troupe::detail
