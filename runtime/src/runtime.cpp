#include "troupe/runtime/runtime.hpp"

#include <array>
#include <chrono>
#include <fmt/format.h>

#include "scheduler.hpp"

#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/trace.hpp"

namespace troupe {

runtime::runtime() : runtime(runtime_options{}) {}

runtime::runtime(const runtime_options& options)
    : clock_(options.clock ? options.clock : default_clock()),
      scheduler_(std::make_unique<detail::scheduler>(*this, options, *clock_)) {}

runtime::~runtime() {
  if (detail::on_worker_of(*scheduler_)) {
    // Destroyed from one of its own workers, which cannot join itself: the
    // scheduler outlives this object and a thread of its own finishes the
    // shutdown (docs/decisions/0004-shutdown-semantics.md).
    detail::scheduler::detach(std::move(scheduler_), std::move(clock_));
    return;
  }
  scheduler_->finish_shutdown();
}

void runtime::shutdown() {
  if (detail::this_worker() && &detail::this_worker()->sched == scheduler_.get()) {
    scheduler_->begin_shutdown();  // the owner's destructor completes it
    return;
  }
  scheduler_->finish_shutdown();
}

bool runtime::stopping() const noexcept { return !scheduler_->accepting_external(); }

std::size_t runtime::worker_count() const noexcept { return scheduler_->worker_count; }

std::size_t runtime::run_until_idle(std::size_t max_steps) { return scheduler_->drive(max_steps); }

bool runtime::driven() const noexcept { return scheduler_->driven(); }

std::optional<troupe::clock::time_point> runtime::next_timer() const {
  if (!scheduler_->driven())
    throw error(errc::invalid_argument, "runtime::next_timer: only for a driven runtime");
  return scheduler_->next_timer();
}

std::string runtime::step_log() const {
  if (!scheduler_->driven())
    throw error(errc::invalid_argument, "runtime::step_log: only for a driven runtime");
  return scheduler_->step_log();
}

metrics_snapshot runtime::metrics() const { return scheduler_->metrics(); }

const char* to_string(fiber_state s) noexcept {
  switch (s) {
    case fiber_state::running:
      return "running";
    case fiber_state::ready:
      return "ready";
    case fiber_state::blocked:
      return "blocked";
    case fiber_state::joining:
      return "joining";
    case fiber_state::idle:
      return "idle";
  }
  return "?";
}

std::vector<fiber_info> runtime::fibers() const { return scheduler_->fibers(); }

std::string runtime::dump_fibers() const {
  const std::vector<fiber_info> all = fibers();
  const clock::time_point now = clock_->now();
  std::array<std::size_t, 5> by_state{};
  for (const fiber_info& f : all) ++by_state[static_cast<std::size_t>(f.state)];
  std::string out = fmt::format("{} fibers:", all.size());
  for (std::size_t s = 0; s < by_state.size(); ++s)
    out += fmt::format(" {} {}", by_state[s], to_string(static_cast<fiber_state>(s)));
  out += '\n';
  for (const fiber_info& f : all) {
    out += fmt::format("fiber {}: {}", f.id, to_string(f.state));
    if (f.state == fiber_state::running) out += fmt::format(" on worker {}", f.worker);
    if (f.state == fiber_state::blocked) {
      if (f.deadline == clock::time_point::max())
        out += " (no deadline)";
      else
        out += fmt::format(" (deadline in {} ms)",
                           std::chrono::duration_cast<std::chrono::milliseconds>(f.deadline - now).count());
    }
    out += '\n';
  }
  return out;
}

bool tracing_available() noexcept { return TROUPE_TRACE_HOOKS != 0; }

void start_tracing(runtime& rt, const trace_options& options) {
  if (!tracing_available())
    throw error(
        errc::invalid_argument,
        "start_tracing: this build of troupe has no trace hooks (configured with TROUPE_TRACE_HOOKS=OFF)");
  rt.scheduler().start_tracing(options.events_per_worker);
}

std::size_t stop_tracing(runtime& rt, const std::string& path) { return rt.scheduler().stop_tracing(path); }

std::size_t trace_dropped(const runtime& rt) noexcept {
  return const_cast<runtime&>(rt).scheduler().trace_dropped();
}

runtime* runtime::current() noexcept {
  detail::worker* w = detail::this_worker();
  return w && !w->sched.detached() ? &w->sched.owner : nullptr;
}

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::runtime_stopped:
      return "runtime_stopped";
    case errc::not_in_fiber:
      return "not_in_fiber";
    case errc::already_joined:
      return "already_joined";
    case errc::broken_promise:
      return "broken_promise";
    case errc::already_satisfied:
      return "already_satisfied";
    case errc::cancelled:
      return "cancelled";
    case errc::timeout:
      return "timeout";
    case errc::deadline_passed:
      return "deadline_passed";
    case errc::resource_exhausted:
      return "resource_exhausted";
    case errc::would_deadlock:
      return "would_deadlock";
  }
  return "unknown";
}

worker_metrics& worker_metrics::operator+=(const worker_metrics& o) noexcept {
  tasks_run += o.tasks_run;
  steals += o.steals;
  failed_steals += o.failed_steals;
  parks += o.parks;
  wakeups += o.wakeups;
  injection_pops += o.injection_pops;
  lifo_runs += o.lifo_runs;
  fibers_created += o.fibers_created;
  timers_fired += o.timers_fired;
  timers_pending += o.timers_pending;
  busy_ns += o.busy_ns;
  return *this;
}

worker_metrics metrics_snapshot::total() const noexcept {
  worker_metrics sum;
  for (const auto& w : workers) sum += w;
  return sum;
}

namespace detail {

void schedule(scheduler& s, task_header* t) noexcept { s.schedule(t); }
void schedule_yield(scheduler& s, task_header* t) noexcept { s.schedule_yield(t); }
void yield_after_send_batch_slow(scheduler& s) noexcept { s.yield_after_send_batch(); }
std::size_t worker_count(const scheduler& s) noexcept { return s.worker_count; }

const std::atomic<bool>& accepting_external_flag(const scheduler& s) noexcept { return s.accepting_flag(); }
scheduler& scheduler_of(runtime& rt) noexcept { return rt.scheduler(); }
void retain_until_exit(scheduler& s, std::shared_ptr<void> p) { s.retain(std::move(p)); }

void trace_label_slow(const char* name) noexcept {
  worker* w = this_worker();
  if (!w) return;
  if (w->slice_name) w->slice_name = name;
  w->sched.log_step_note("turn", name);
}

void trace_flow_slow(scheduler& s, bool begin, std::uint64_t id, const char* name) noexcept {
  if (this_worker() && &this_worker()->sched == &s) s.log_step_note(begin ? "sent" : "completed", name);
  tracer* t = s.active_tracer();
  if (!t) return;
  const trace_event e{tracer::now_ns(), id, name, begin ? 's' : 'f'};
  worker* w = this_worker();
  if (w && &w->sched == &s)
    t->worker(w->index).add(e);
  else
    t->foreign(e);
}

void trace_instant_slow(scheduler& s, const char* name) noexcept {
  if (this_worker() && &this_worker()->sched == &s) s.log_step_note("event", name);
  tracer* t = s.active_tracer();
  if (!t) return;
  const trace_event e{tracer::now_ns(), 0, name, 'i'};
  worker* w = this_worker();
  if (w && &w->sched == &s)
    t->worker(w->index).add(e);
  else
    t->foreign(e);
}

void note_detached_failure(scheduler& s) noexcept {
  // relaxed: a statistic, read by metrics() only.
  s.failed_detached.fetch_add(1, std::memory_order_relaxed);
}

runtime& current_runtime_or_throw(const char* what) {
  runtime* rt = runtime::current();
  if (!rt)
    throw error(
        errc::not_in_fiber,
        std::string(what) + ": called outside the runtime (no current worker); pass a runtime explicitly");
  return *rt;
}

}  // namespace detail
}  // namespace troupe
