// The actor system: construction, statistics, shutdown.

#include "system.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "cell.hpp"
#include "supervisor.hpp"

#include "troupe/actors/supervisor.hpp"

namespace troupe {

const char* to_string(actor_errc code) noexcept {
  switch (code) {
    case actor_errc::ok:
      return "ok";
    case actor_errc::mailbox_full:
      return "mailbox_full";
    case actor_errc::dropped:
      return "dropped";
    case actor_errc::actor_stopped:
      return "actor_stopped";
    case actor_errc::system_stopped:
      return "system_stopped";
    case actor_errc::deadline_passed:
      return "deadline_passed";
    case actor_errc::timeout:
      return "timeout";
    case actor_errc::already_replied:
      return "already_replied";
    case actor_errc::broken_reply:
      return "broken_reply";
    case actor_errc::invalid_argument:
      return "invalid_argument";
    case actor_errc::not_in_actor:
      return "not_in_actor";
    case actor_errc::cancelled:
      return "cancelled";
    case actor_errc::handler_failed:
      return "handler_failed";
    case actor_errc::would_deadlock:
      return "would_deadlock";
    case actor_errc::overloaded:
      return "overloaded";
    case actor_errc::circuit_open:
      return "circuit_open";
  }
  return "unknown";
}

const char* to_string(dead_letter_reason r) noexcept {
  switch (r) {
    case dead_letter_reason::actor_stopped:
      return "actor_stopped";
    case dead_letter_reason::mailbox_full:
      return "mailbox_full";
    case dead_letter_reason::dropped_newest:
      return "dropped_newest";
    case dead_letter_reason::dropped_oldest:
      return "dropped_oldest";
    case dead_letter_reason::expired:
      return "expired";
    case dead_letter_reason::deadline_passed:
      return "deadline_passed";
    case dead_letter_reason::unprocessed:
      return "unprocessed";
    case dead_letter_reason::unanswered:
      return "unanswered";
    case dead_letter_reason::system_stopped:
      return "system_stopped";
    case dead_letter_reason::shed:
      return "shed";
  }
  return "unknown";
}

const char* to_string(message_priority p) noexcept {
  switch (p) {
    case message_priority::critical:
      return "critical";
    case message_priority::normal:
      return "normal";
    case message_priority::best_effort:
      return "best_effort";
  }
  return "unknown";
}

const char* to_string(exit_kind k) noexcept {
  switch (k) {
    case exit_kind::normal:
      return "normal";
    case exit_kind::killed:
      return "killed";
    case exit_kind::failed:
      return "failed";
    case exit_kind::linked:
      return "linked";
    case exit_kind::restart_limit:
      return "restart_limit";
    case exit_kind::shutdown:
      return "shutdown";
  }
  return "unknown";
}

namespace detail {

actor_system& system_of(system_impl* s) {
  // acquire: pairs with the destructor's release, though all a caller may
  // learn from the null is that the object is gone.
  actor_system* o = s->owner.load(std::memory_order_acquire);
  if (!o)
    throw actor_error(actor_errc::system_stopped,
                      "this_actor::system: the actor_system object is gone (this actor was abandoned by its "
                      "shutdown and outlived it)");
  return *o;
}

system_impl::system_impl(runtime& r, actor_system* o, system_options opts)
    : rt(&r),
      sched(&scheduler_of(r)),
      runtime_accepting(&accepting_external_flag(*sched)),
      owner(o),
      hook(std::move(opts.dead_letter_hook)),
      shutdown_timeout(opts.shutdown_timeout),
      classes(worker_count(*sched)) {}

bool system_impl::add_top_level(actor_cell* c) {
  shard& sh = shard_of(c);
  std::lock_guard g(sh.lock);
  // seq_cst: shutdown sets `stopping` (seq_cst) before taking each shard
  // lock to collect actors: either it finds this one, or we see the flag.
  if (stopping.load(std::memory_order_seq_cst)) return false;
  c->next_sib = sh.head;
  if (sh.head) sh.head->prev = c;
  sh.head = c;
  sh.live.fetch_add(1, std::memory_order_relaxed);     // relaxed: read by shutdown's polling
  sh.spawned.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return true;
}

void system_impl::remove_top_level(actor_cell* c) noexcept {
  shard& sh = shard_of(c);
  std::lock_guard g(sh.lock);
  if (c->prev)
    c->prev->next_sib = c->next_sib;
  else
    sh.head = c->next_sib;
  if (c->next_sib) c->next_sib->prev = c->prev;
  // relaxed: read by shutdown's polling; the lock orders the list itself.
  sh.live.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace detail

actor_system::actor_system(runtime& rt, system_options options) {
  if (options.shutdown_timeout.count() < 0)
    throw actor_error(actor_errc::invalid_argument, "actor_system: shutdown_timeout must not be negative");
  impl_ = std::make_shared<detail::system_impl>(rt, this, std::move(options));
}

actor_system::~actor_system() {
  shutdown(stop_mode::graceful);
  // Timers, late replies and abandoned actors may still reach the state:
  // it lives until the runtime has shut down.
  // release: see system_of.
  impl_->owner.store(nullptr, std::memory_order_release);
  detail::scheduler& sched = *impl_->sched;
  detail::retain_until_exit(sched, std::move(impl_));
}

runtime& actor_system::rt() const noexcept { return *impl_->rt; }
clock::time_point actor_system::now() const noexcept { return impl_->rt->now(); }

bool actor_system::stopping() const noexcept { return impl_->stopping.load(std::memory_order_acquire); }

supervisor_ref actor_system::spawn_supervisor(const supervisor_options& options) {
  detail::check_supervisor_options(options);
  return supervisor_ref(spawn<supervisor>(spawn_options{}, options));
}

system_stats actor_system::stats() const {
  const detail::system_impl* s = impl_.get();
  system_stats st;
  // relaxed (all loads): statistics.
  for (std::size_t i = 0; i < dead_letter_reason_count; ++i)
    st.dead_letters.by_reason[i] = s->dead[i].load(std::memory_order_relaxed);
  st.failures = s->failures.load(std::memory_order_relaxed);
  st.restarts = s->restarts.load(std::memory_order_relaxed);
  st.escalations = s->escalations.load(std::memory_order_relaxed);
  st.spawned = s->children_spawned.load(std::memory_order_relaxed);
  std::int64_t live = 0;
  for (const auto& sh : s->shards) {
    st.spawned += sh.spawned.load(std::memory_order_relaxed);
    live += sh.live.load(std::memory_order_relaxed);
  }
  st.live_actors = static_cast<std::uint64_t>(live < 0 ? 0 : live);
  return st;
}

namespace {

std::vector<detail::actor_cell*> collect_top_level(detail::system_impl* s) {
  std::vector<detail::actor_cell*> all;
  for (auto& sh : s->shards) {
    std::lock_guard g(sh.lock);
    for (detail::actor_cell* c = sh.head; c; c = c->next_sib) {
      detail::add_ref(c);
      all.push_back(c);
    }
  }
  return all;
}

std::int64_t live_top_level(const detail::system_impl* s) {
  std::int64_t live = 0;
  // relaxed: polling; each actor's own stop is ordered by its lock-protected removal.
  for (const auto& sh : s->shards) live += sh.live.load(std::memory_order_relaxed);
  return live;
}

}  // namespace

shutdown_report actor_system::shutdown(stop_mode mode) {
  detail::system_impl* s = impl_.get();
  // seq_cst: see add_top_level (a spawn either is collected below or sees this).
  if (!s->stopping.exchange(true, std::memory_order_seq_cst)) {
    s->cancel_timers();
    for (detail::actor_cell* c : collect_top_level(s)) {
      detail::request_stop(c, mode, exit_kind::shutdown);
      detail::release_cell(c);
    }
  }
  if (detail::on_worker_of(*s->sched)) return {};  // cannot wait on a worker: only begin
  // Wait for every top-level actor (and so every supervised one) to stop,
  // for at most the timeout: a bound in real time, whatever the runtime's
  // clock (a virtual clock would never move while this thread waits).
  const auto give_up = default_clock()->now() + s->shutdown_timeout;
  auto pause = std::chrono::microseconds(50);
  while (live_top_level(s) > 0 && default_clock()->now() < give_up) {
    // The runtime shutting down under the system: what it can still run, its
    // own shutdown runs; waiting here would only wait out the timeout.
    // acquire: what the runtime's shutdown did before is seen after.
    if (!s->runtime_accepting->load(std::memory_order_acquire)) break;
    if (s->rt->driven()) {
      // Nothing runs unless this thread runs it; nothing left to run while
      // actors live means they wait on something that will not come.
      if (s->rt->run_until_idle() == 0) break;
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  shutdown_report report;
  if (live_top_level(s) > 0) {
    // Abandoned: name them, and stop them immediately (a handler blocked
    // forever stops when the runtime's shutdown cancels its wait).
    report.complete = false;
    for (detail::actor_cell* c : collect_top_level(s)) {
      ++report.abandoned;
      if (report.actors.size() < 32) report.actors.emplace_back(c->vt->type_name);
      detail::request_stop(c, stop_mode::immediate, exit_kind::shutdown);
      detail::release_cell(c);
    }
    return report;
  }
  // The last finaliser of each shard decremented `live` inside its lock:
  // taking every lock once waits for them to leave (and acquires all they
  // wrote).
  for (auto& sh : s->shards) std::lock_guard g(sh.lock);
  return report;
}

}  // namespace troupe
