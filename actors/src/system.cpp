// The actor system: construction, statistics, shutdown.

#include <chrono>
#include <thread>

#include "system_impl.hpp"
#include "troupe/actors/supervisor.hpp"

namespace troupe {

const char* to_string(actor_errc code) noexcept {
  switch (code) {
    case actor_errc::ok: return "ok";
    case actor_errc::mailbox_full: return "mailbox_full";
    case actor_errc::dropped: return "dropped";
    case actor_errc::actor_stopped: return "actor_stopped";
    case actor_errc::system_stopped: return "system_stopped";
    case actor_errc::deadline_passed: return "deadline_passed";
    case actor_errc::timeout: return "timeout";
    case actor_errc::already_replied: return "already_replied";
    case actor_errc::broken_reply: return "broken_reply";
    case actor_errc::invalid_argument: return "invalid_argument";
    case actor_errc::not_in_actor: return "not_in_actor";
    case actor_errc::cancelled: return "cancelled";
    case actor_errc::handler_failed: return "handler_failed";
  }
  return "unknown";
}

const char* to_string(dead_letter_reason r) noexcept {
  switch (r) {
    case dead_letter_reason::actor_stopped: return "actor_stopped";
    case dead_letter_reason::mailbox_full: return "mailbox_full";
    case dead_letter_reason::dropped_newest: return "dropped_newest";
    case dead_letter_reason::dropped_oldest: return "dropped_oldest";
    case dead_letter_reason::expired: return "expired";
    case dead_letter_reason::unprocessed: return "unprocessed";
    case dead_letter_reason::unanswered: return "unanswered";
    case dead_letter_reason::system_stopped: return "system_stopped";
  }
  return "unknown";
}

const char* to_string(exit_kind k) noexcept {
  switch (k) {
    case exit_kind::normal: return "normal";
    case exit_kind::killed: return "killed";
    case exit_kind::failed: return "failed";
    case exit_kind::linked: return "linked";
    case exit_kind::restart_limit: return "restart_limit";
    case exit_kind::shutdown: return "shutdown";
  }
  return "unknown";
}

namespace detail {
actor_system& system_of(system_impl* s) noexcept { return *s->owner; }
}  // namespace detail

actor_system::actor_system(runtime& rt, system_options options)
    : impl_(std::make_unique<detail::system_impl>(rt, this, std::move(options))) {}

actor_system::~actor_system() { shutdown(stop_mode::graceful); }

runtime& actor_system::rt() const noexcept { return *impl_->rt; }

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

void actor_system::shutdown(stop_mode mode) {
  detail::system_impl* s = impl_.get();
  // seq_cst: see start_cell (a spawn either is collected below or sees this).
  if (!s->stopping.exchange(true, std::memory_order_seq_cst)) {
    s->timers.cancel_user();
    std::vector<detail::actor_cell*> all;
    for (auto& sh : s->shards) {
      sh.lock.lock();
      for (detail::actor_cell* c = sh.head; c; c = c->next_sib) {
        detail::add_ref(c);
        all.push_back(c);
      }
      sh.lock.unlock();
    }
    for (detail::actor_cell* c : all) {
      detail::request_stop(c, mode, exit_kind::shutdown);
      detail::release_cell(c);
    }
  }
  if (detail::on_worker_of(*s->sched)) return;  // cannot wait on a worker: only begin
  // Wait for every top-level actor (and so every supervised one) to stop.
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    std::int64_t live = 0;
    // relaxed: polling; each actor's own stop is ordered by its lock-protected removal.
    for (const auto& sh : s->shards) live += sh.live.load(std::memory_order_relaxed);
    if (live <= 0) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  // The last finaliser of each shard decremented `live` inside its lock:
  // taking every lock once waits for them to leave (and acquires all they
  // wrote), so nothing touches the system after this.
  for (auto& sh : s->shards) {
    sh.lock.lock();
    sh.lock.unlock();
  }
  s->timers.stop();
}

}  // namespace troupe
