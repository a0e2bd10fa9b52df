#pragma once
// The runtime: one worker thread per core (by default), each running fibers
// from its own Chase-Lev deque and stealing from the others when idle.
//
// Shutdown (shutdown() or the destructor):
//  1. New work from threads outside the runtime is refused with
//     error(runtime_stopped). Work spawned by running tasks is still accepted.
//  2. Every queued task runs to completion, including what it spawns, and
//     sleeping fibers and timed waits wake at their deadlines as usual
//     (under a virtual clock, which only a test moves, they wake at once).
//  3. When nothing is runnable and no sleep or timed wait is pending, fibers
//     still blocked on a primitive nobody can signal any more, or asleep
//     without a deadline (until time_point::max()), are cancelled:
//     their wait throws error(cancelled), so their destructors run. A join
//     or task group wait is never cancelled (what it waits for always
//     finishes). Other timers still pending (ask deadlines, actor timers)
//     fire then, early, so that their callbacks run.
//  4. Then the workers exit and are joined; every stack is freed.
//
// Destroying the runtime from one of its own workers (inside a task) cannot
// join that worker: the destructor then only begins shutdown and returns; a
// thread of the runtime's own completes it and frees what is left (for a
// driven runtime, the driving thread, before its run_until_idle() or step()
// returns: that call is then the last use of the runtime). From then on
// runtime::current() is nullptr on its workers.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/metrics.hpp"

namespace troupe {

namespace detail {
class scheduler;
}

struct runtime_options {
  // Worker threads. Unset: one per hardware thread. Zero is an error.
  std::optional<std::size_t> workers;
  // Pin worker i to CPU (i mod hardware threads). If the system refuses, the
  // constructor throws error(invalid_argument) naming the worker and CPU.
  bool pin_workers = false;
  // Usable bytes per fiber stack (a guard page is added below it), 16 KiB
  // .. 1 GiB.
  std::size_t stack_size = std::size_t{256} * 1024;
  // The only source of time of this runtime and of everything built on it.
  // Null: the steady clock. A manual_clock gives virtual time.
  std::shared_ptr<troupe::clock> clock = nullptr;
  // Driven: no worker threads; one worker that runs only inside
  // run_until_idle() / step(), on the calling thread (deterministic tests:
  // troupe::testing). `workers` and `pin_workers` must be left unset.
  bool driven = false;
  // Driven only: 0 runs ready work in the usual order; any other value picks
  // the next runnable item at random from this seed, so a test explores
  // interleavings and replays one from its seed.
  std::uint64_t shuffle_seed = 0;
  // Driven only: keep a log of every step (step_log()), to compare runs.
  bool log_steps = false;
};

// What a fiber is doing, as runtime::fibers() reports it.
enum class fiber_state : std::uint8_t {
  running,  // on a worker now (fiber_info::worker says which)
  ready,    // queued to run, or yielded
  blocked,  // waiting on a primitive: mutex, condition variable, future, semaphore, sleep,
            // or an actor's blocked ask or send
  joining,  // waiting for spawned tasks (join, task group)
  idle,     // nothing on its stack: a worker's runner looking for work (or parked), or one kept for reuse
};
const char* to_string(fiber_state s) noexcept;

// One fiber of a runtime's registry.
struct fiber_info {
  std::uint64_t id = 0;  // 1, 2, ... in creation order (this_fiber::id())
  fiber_state state = fiber_state::ready;
  int worker = -1;  // running: the worker's index; otherwise -1
  // blocked: the wait's deadline (time_point::max(): none).
  clock::time_point deadline = clock::time_point::max();
};

class runtime {
 public:
  // Starts the workers. Throws error(invalid_argument) for zero workers, a
  // stack smaller than 16 KiB or larger than 1 GiB, driven-only options on
  // a threaded runtime (or workers/pinning on a driven one), or a pinning
  // the system refuses;
  // error(resource_exhausted) if a worker thread cannot be started (the
  // workers already started are stopped first).
  runtime();
  explicit runtime(const runtime_options& options);
  // Calls shutdown() and joins the workers. From one of its own workers:
  // see "Destroying the runtime" above.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Begins and completes shutdown (see the header comment). Thread-safe,
  // idempotent; from a worker of this runtime it only begins shutdown.
  void shutdown();
  bool stopping() const noexcept;

  std::size_t worker_count() const noexcept;

  // Driven runtimes only (runtime_options::driven), from one thread outside
  // the runtime at a time: run ready work, with its timers at the clock's
  // current time, until nothing is runnable (or max_steps items ran);
  // returns the number of items run. step() runs at most one. They throw
  // error(invalid_argument) on a threaded runtime or from inside a task.
  std::size_t run_until_idle(std::size_t max_steps = static_cast<std::size_t>(-1));
  bool step() { return run_until_idle(1) == 1; }
  bool driven() const noexcept;
  // Driven runtimes with log_steps: one line per item run ("<n> @<ns> task
  // | turn <actor type>" or "... resume fiber <id>"), the clock relative to
  // the first step. Same seed and same program: the same text. Call between
  // drives, from the driving thread.
  std::string step_log() const;
  // Driven runtimes: a time at or before the earliest pending timer's
  // deadline, after now() once the runtime ran until idle (exact when the
  // deadline is near, else the start of the timer's wheel slot); nullopt if
  // none is armed. Between drives, from the driving thread.
  std::optional<troupe::clock::time_point> next_timer() const;
  // This runtime's clock. Thread-safe.
  troupe::clock& clock() const noexcept { return *clock_; }
  // clock().now(). Thread-safe.
  clock::time_point now() const noexcept { return clock_->now(); }
  // Thread-safe; counters may lag by a few increments.
  metrics_snapshot metrics() const;
  // Every fiber of this runtime and what it is doing, by id: for a
  // watchdog or a debugger's view of a stuck program. Each fiber is read on
  // its own, without stopping the workers, so a fiber that switches
  // meanwhile may show its state just before or just after. Thread-safe;
  // fibers are not created or freed while it runs (it holds the registry
  // lock). In a driven runtime between drives, the fiber the next drive
  // resumes shows as running on worker 0.
  std::vector<fiber_info> fibers() const;
  // fibers() as text, one line per fiber ("fiber 7: blocked (deadline in
  // 12 ms)"), with a count by state first. Thread-safe.
  std::string dump_fibers() const;

  // The runtime whose worker is calling, or nullptr on a foreign thread.
  static runtime* current() noexcept;

  detail::scheduler& scheduler() noexcept { return *scheduler_; }

 private:
  std::shared_ptr<troupe::clock> clock_;
  std::unique_ptr<detail::scheduler> scheduler_;
};

}  // namespace troupe
