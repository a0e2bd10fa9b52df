// Supervision: restart decisions, intensity, backoff, escalation, and
// stopping children first. Everything here runs in the supervisor's turn
// except supervisor_adopt, supervisor_children and child_count (any thread,
// under children_lock).

#include "supervisor.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "cell.hpp"
#include "mailbox_word.hpp"
#include "system.hpp"

#include "troupe/actors/supervisor.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace troupe {

namespace detail {

namespace {

supervisor& sup_of(actor_cell* c) { return object_of<supervisor>(c); }

std::vector<actor_cell*> snapshot(supervisor& s) {
  std::lock_guard g(s.children_lock);
  std::vector<actor_cell*> v = s.children;
  for (actor_cell* c : v) add_ref(c);
  return v;
}

// A delayed restart: a one-shot timer on the runtime's wheels. Nothing
// cancels it: a child that stopped meanwhile ignores the restart.
struct restart_timer final : timer_entry, small_object {
  explicit restart_timer(actor_cell* c) noexcept : timer_entry(&fire), child(c) { add_ref(c); }
  static void fire(timer_entry* t) noexcept {
    std::unique_ptr<restart_timer> self(static_cast<restart_timer*>(t));
    post_restart(self->child);
    release_cell(self->child);
  }
  actor_cell* child;
};

clock::duration backoff(const supervisor_options& o, std::size_t n) {
  if (o.backoff_initial.count() <= 0) return clock::duration::zero();
  double ms = static_cast<double>(o.backoff_initial.count()) *
              std::pow(o.backoff_multiplier, static_cast<double>(n > 0 ? n - 1 : 0));
  ms = std::min(ms, static_cast<double>(o.backoff_max.count()));
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

void schedule_restart(actor_cell* sup, actor_cell* child, clock::duration delay) {
  if (delay <= clock::duration::zero()) {
    post_restart(child);
    return;
  }
  arm_timer(*sup->sys->sched, new restart_timer(child), clock::after(now_of(sup->sys), delay));
}

void escalate(actor_cell* sc, supervisor& s, const exit_reason& cause) {
  s.escalated = true;
  exit_reason r{exit_kind::restart_limit,
                "restart intensity exceeded (" + std::to_string(s.options.max_restarts) + " in " +
                    std::to_string(s.options.within.count()) + " ms); last failure: " + cause.message,
                cause.exception};
  if (sc->parent) {
    handle_failure(sc, r);  // our parent decides
    return;
  }
  // relaxed: a statistic.
  sc->sys->escalations.fetch_add(1, std::memory_order_relaxed);
  cell_ext* x = ensure_ext(sc);
  {
    std::lock_guard g(x->lock);
    if (!x->has_reason) {
      x->final_reason = r;
      x->has_reason = true;
    }
  }
  set_pending_kind(sc, exit_kind::restart_limit);
  supervisor_stop(sc, stop_mode::graceful, exit_kind::shutdown);
}

}  // namespace

void check_supervisor_options(const supervisor_options& o) {
  if (o.within.count() <= 0)
    throw actor_error(actor_errc::invalid_argument, "supervisor: `within` must be positive");
  if (o.backoff_initial.count() < 0 || o.backoff_max < o.backoff_initial)
    throw actor_error(actor_errc::invalid_argument, "supervisor: need 0 <= backoff_initial <= backoff_max");
  if (!(o.backoff_multiplier >= 1.0))
    throw actor_error(actor_errc::invalid_argument, "supervisor: backoff_multiplier must be >= 1");
}

std::vector<actor_cell*> supervisor_children(actor_cell* sup) { return snapshot(sup_of(sup)); }

bool supervisor_adopt(actor_cell* sup, actor_cell* child) {
  supervisor& s = sup_of(sup);
  std::lock_guard g(s.children_lock);
  // acquire: a stop that closed the supervisor is seen with what preceded it.
  const bool ok = !s.closed && !mailbox_word(sup->word.load(std::memory_order_acquire)).closed();
  if (ok) {
    s.children.push_back(child);  // may throw: the guard unlocks
    add_ref(child);
  }
  return ok;
}

void supervisor_child_failed(actor_cell* sc, actor_cell* child, const exit_reason& reason) {
  supervisor& s = sup_of(sc);
  bool known;
  std::size_t index;
  {
    std::lock_guard g(s.children_lock);
    auto it = std::find(s.children.begin(), s.children.end(), child);
    known = it != s.children.end();
    index = static_cast<std::size_t>(it - s.children.begin());
  }
  if (!known) return;
  if (sc->flags & flag_stopping) {
    request_stop(child, stop_mode::graceful, exit_kind::shutdown);
    return;
  }
  if (s.escalated) return;  // waiting for our own parent's decision
  const auto t = now_of(sc->sys);
  while (!s.restarts.empty() && t - s.restarts.front() > s.options.within) s.restarts.pop_front();
  if (s.restarts.size() >= s.options.max_restarts) {
    escalate(sc, s, reason);
    return;
  }
  s.restarts.push_back(t);
  const clock::duration delay = backoff(s.options, s.restarts.size());
  std::vector<actor_cell*> all = snapshot(s);
  for (std::size_t i = 0; i < all.size(); ++i) {
    bool restart = false;
    switch (s.options.strategy) {
      case restart_strategy::one_for_one:
        restart = all[i] == child;
        break;
      case restart_strategy::one_for_all:
        restart = true;
        break;
      case restart_strategy::rest_for_one:
        restart = i >= index;
        break;
    }
    if (restart) schedule_restart(sc, all[i], delay);
    release_cell(all[i]);
  }
}

void supervisor_child_exit(actor_cell* sc, actor_cell* child) {
  supervisor& s = sup_of(sc);
  bool found, empty;
  {
    std::lock_guard g(s.children_lock);
    auto it = std::find(s.children.begin(), s.children.end(), child);
    found = it != s.children.end();
    if (found) s.children.erase(it);
    empty = s.children.empty();
  }
  if (found) release_cell(child);
  if ((sc->flags & flag_stopping) && empty) close_cell(sc, stop_mode::graceful, pending_kind(sc));
}

void supervisor_stop(actor_cell* sc, stop_mode mode, exit_kind why) {
  supervisor& s = sup_of(sc);
  set_pending_kind(sc, why);
  const bool again = sc->flags & flag_stopping;
  sc->flags |= flag_stopping;
  {
    std::lock_guard g(s.children_lock);
    s.closed = true;
  }
  std::vector<actor_cell*> all = snapshot(s);
  if (all.empty()) {
    close_cell(sc, stop_mode::graceful, why);
    return;
  }
  if (!again || mode == stop_mode::immediate)
    for (auto it = all.rbegin(); it != all.rend(); ++it) request_stop(*it, mode, why);
  for (actor_cell* c : all) release_cell(c);
}

void supervisor_restart(actor_cell* sc) {
  supervisor& s = sup_of(sc);
  s.escalated = false;
  s.restarts.clear();
  std::vector<actor_cell*> all = snapshot(s);
  for (actor_cell* c : all) {
    post_restart(c);
    release_cell(c);
  }
}

}  // namespace detail

std::size_t supervisor_ref::child_count() const {
  detail::check_ref(c_, "supervisor_ref::child_count");
  supervisor& s = detail::object_of<supervisor>(c_);
  std::lock_guard g(s.children_lock);
  return s.children.size();
}

}  // namespace troupe
