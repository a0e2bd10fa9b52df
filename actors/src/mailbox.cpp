// The mailbox: the send path (lock-free unless the mailbox is full) and the
// turn that drains it. The word protocol is described in detail/cell.hpp and
// docs/design/actors.md.

#include <thread>

#include "system_impl.hpp"
#include "troupe/runtime/detail/schedule.hpp"

namespace troupe::detail {

namespace {

thread_local actor_cell* tl_current = nullptr;

struct turn_scope {
  actor_cell* saved;
  explicit turn_scope(actor_cell* c) : saved(std::exchange(tl_current, c)) {}
  ~turn_scope() { tl_current = saved; }
};

void update_high_water(actor_cell* c, std::uint32_t d) noexcept {
  // relaxed: a statistic; only its maximum matters.
  std::uint32_t hw = c->high_water.load(std::memory_order_relaxed);
  while (d > hw && !c->high_water.compare_exchange_weak(hw, d, std::memory_order_relaxed)) {
  }
}

enum class reserve { scheduled, queued, closed, full };

// Reserves one user slot with one CAS: refuses if CLOSED or at capacity;
// sets SCHED if the actor is neither scheduled nor suspended (then the caller
// must schedule it, after pushing).
reserve reserve_user(actor_cell* c) noexcept {
  // relaxed: only the CAS below decides.
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  for (;;) {
    if (w & closed_bit) return reserve::closed;
    if (user_count(w) >= c->capacity) return reserve::full;
    std::uint64_t nw = w + 1;
    const bool sched = !(w & (sched_bit | susp_bit));
    if (sched) nw |= sched_bit;
    // acq_rel: acquire pairs with the release CAS by which the last turn
    // cleared SCHED, so the turn we schedule (the scheduler hand-off carries
    // it on) sees all that turn's writes to consumer state; release keeps the
    // reservation ahead of the push for the drop_oldest accounting.
    if (c->word.compare_exchange_weak(w, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      update_high_water(c, user_count(nw));
      return sched ? reserve::scheduled : reserve::queued;
    }
  }
}

send_result reject(actor_cell* c, envelope* e, dead_letter_reason why, actor_errc code) {
  e->fn(e, c, envelope_op::reject, why);
  return send_result(code);
}

enum class wait_result { retry, timeout, cancelled };

// Parks the sender until a turn frees a slot, the actor closes, or the
// deadline passes.
wait_result wait_for_room(actor_cell* c, clock::time_point deadline) {
  c->lock.lock();
  // seq_cst, with the load below and with the turn's seq_cst fetch_sub and
  // load of `blocked` (Dekker): either the turn sees this registration and
  // notifies, or this load sees the slot the turn freed.
  c->blocked.fetch_add(1, std::memory_order_seq_cst);
  const std::uint64_t w = c->word.load(std::memory_order_seq_cst);
  // relaxed (the decrements): a stale count costs the turn one useless lock.
  if ((w & closed_bit) || user_count(w) < c->capacity) {
    c->blocked.fetch_sub(1, std::memory_order_relaxed);
    c->lock.unlock();
    return wait_result::retry;
  }
  if (now() >= deadline) {
    c->blocked.fetch_sub(1, std::memory_order_relaxed);
    c->lock.unlock();
    return wait_result::timeout;
  }
  const wake_reason why = c->senders.wait(c->lock, deadline);  // releases the lock
  c->blocked.fetch_sub(1, std::memory_order_relaxed);
  switch (why) {
    case wake_reason::notified: return wait_result::retry;
    case wake_reason::timeout: return wait_result::timeout;
    case wake_reason::cancelled: return wait_result::cancelled;
  }
  return wait_result::retry;
}

void spin_pause(unsigned& spins) noexcept {
  if (++spins < 64)
    cpu_relax();
  else
    std::this_thread::yield();
}

// drop_oldest on a full mailbox: swap the oldest queued message for the new
// one. User pops of a drop_oldest mailbox happen under c->lock and decrement
// the depth at once, so under the lock depth == messages queued or being
// pushed.
send_result drop_oldest_and_push(actor_cell* c, envelope* e) {
  mpsc_node* victim = nullptr;
  unsigned spins = 0;
  c->lock.lock();
  for (;;) {
    switch (reserve_user(c)) {
      case reserve::scheduled:
        c->lock.unlock();
        c->user_q.push(e);
        schedule(*c->sys->sched, c);
        return send_result();
      case reserve::queued:
        c->lock.unlock();
        c->user_q.push(e);
        return send_result();
      case reserve::closed:
        c->lock.unlock();
        return reject(c, e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped);
      case reserve::full:
        break;
    }
    victim = c->user_q.pop();
    if (victim) break;
    spin_pause(spins);  // every queued message is still being linked by its producer
  }
  // The new message takes the victim's slot: depth unchanged, and the actor
  // is already scheduled (or suspended) since its depth is non-zero.
  c->user_q.push(e);
  c->lock.unlock();
  auto* v = static_cast<envelope*>(victim);
  v->fn(v, c, envelope_op::reject, dead_letter_reason::dropped_oldest);
  return send_result();
}

envelope* pop_user(actor_cell* c) noexcept {
  if (c->policy != overflow_policy::drop_oldest) return static_cast<envelope*>(c->user_q.pop());
  c->lock.lock();
  mpsc_node* n = c->user_q.pop();
  // seq_cst: the same Dekker pairing as the batched fetch_sub in run_turn.
  if (n) c->word.fetch_sub(1, std::memory_order_seq_cst);
  c->lock.unlock();
  return static_cast<envelope*>(n);
}

void wake_senders(actor_cell* c, std::uint32_t n) noexcept {
  c->lock.lock();
  for (std::uint32_t i = 0; i < n; ++i)
    if (!c->senders.notify_one()) break;
  c->lock.unlock();
}

void deliver_user(actor_cell* c, envelope* e) {
  if (e->deadline != clock::time_point::max() && e->deadline <= now()) {
    e->fn(e, c, envelope_op::reject, dead_letter_reason::expired);
    return;
  }
  try {
    e->fn(e, c, envelope_op::deliver, dead_letter_reason::actor_stopped);
  } catch (...) {
    tl_current = c;  // the handler may have blocked and moved to another worker
    handle_failure(c, describe(std::current_exception(), exit_kind::failed));
    return;
  }
  tl_current = c;
}

}  // namespace

actor_cell* current_cell() noexcept { return tl_current; }

send_result post_user(actor_cell* c, envelope* e, bool may_block, clock::time_point wait_deadline) {
  system_impl* s = c->sys;
  if (e->deadline != clock::time_point::max() && e->deadline <= now())
    return reject(c, e, dead_letter_reason::expired, actor_errc::deadline_passed);
  // relaxed: shutdown refuses external sends from "soon after" it begins;
  // what it guarantees about accepted messages rests on each actor's CLOSED bit.
  if (s->stopping.load(std::memory_order_relaxed) && !on_worker_of(*s->sched))
    return reject(c, e, dead_letter_reason::system_stopped, actor_errc::system_stopped);
  bool deadline_known = wait_deadline != clock::time_point::max();
  bool last_try = false;
  for (;;) {
    switch (reserve_user(c)) {
      case reserve::scheduled:
        c->user_q.push(e);
        schedule(*s->sched, c);
        return send_result();
      case reserve::queued:
        c->user_q.push(e);
        return send_result();
      case reserve::closed:
        return reject(c, e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped);
      case reserve::full:
        break;
    }
    switch (c->policy) {
      case overflow_policy::fail:
        return reject(c, e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full);
      case overflow_policy::drop_newest:
        return reject(c, e, dead_letter_reason::dropped_newest, actor_errc::dropped);
      case overflow_policy::drop_oldest:
        return drop_oldest_and_push(c, e);
      case overflow_policy::block:
        break;
    }
    if (!may_block || last_try) return reject(c, e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full);
    if (!deadline_known) {
      wait_deadline = now() + std::chrono::milliseconds(c->block_timeout_ms);
      deadline_known = true;
    }
    switch (wait_for_room(c, wait_deadline)) {
      case wait_result::retry: break;
      case wait_result::timeout: last_try = true; break;  // one more try, then mailbox_full
      case wait_result::cancelled:
        return reject(c, e, dead_letter_reason::system_stopped, actor_errc::cancelled);
    }
  }
}

bool post_sys(actor_cell* c, sys_message* m) noexcept {
  // relaxed: only the CAS decides.
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  bool sched = false;
  for (;;) {
    if (w & final_bit) return false;
    std::uint64_t nw = w + sys_one;
    sched = !(w & sched_bit);
    if (sched) nw |= sched_bit;
    // acq_rel: as in reserve_user.
    if (c->word.compare_exchange_weak(w, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
  }
  c->sys_q.push(m);
  if (sched) schedule(*c->sys->sched, c);
  return true;
}

void wake_all_senders(actor_cell* c) noexcept {
  c->lock.lock();
  c->senders.notify_all();
  c->lock.unlock();
}

// One turn. Holds SCHED from start to end: exactly one turn of an actor runs
// at a time, and only a turn finalises the actor. Each pass takes a snapshot
// of the counts, handles system messages first, then up to the budget of user
// messages, then subtracts what it handled in one RMW.
void run_turn(task_header* h) {
  auto* c = static_cast<actor_cell*>(h);
  turn_scope scope(c);
  int budget = c->budget;
  for (;;) {
    // acquire: pairs with the senders' CAS so the counts seen are backed by
    // reservations (their nodes are published by the queue itself).
    const std::uint64_t w = c->word.load(std::memory_order_acquire);
    if ((w & kill_bit) || (c->flags & flag_stop_now)) {
      kill_and_finalize(c);
      return;
    }
    const std::uint32_t ns = sys_count(w);
    std::uint32_t ps = 0, pu = 0;
    bool lagging = false;  // a counted message is still being linked by its producer
    while (ps < ns && budget > 0) {
      auto* m = static_cast<sys_message*>(c->sys_q.pop());
      if (!m) {
        lagging = true;
        break;
      }
      ++ps;
      --budget;
      run_sys(c, m);
      tl_current = c;
      if (c->flags & flag_stop_now) break;
    }
    if (!(c->flags & (flag_suspended | flag_stop_now)) && !lagging) {
      const std::uint32_t nu = user_count(w);
      while (pu < nu && budget > 0) {
        envelope* e = pop_user(c);
        if (!e) {
          lagging = true;
          break;
        }
        ++pu;
        --budget;
        deliver_user(c, e);
        if (c->flags & (flag_suspended | flag_stop_now)) break;
      }
    }
    // relaxed: only this turn writes it; readers want a statistic.
    c->processed.store(c->processed.load(std::memory_order_relaxed) + ps + pu, std::memory_order_relaxed);
    const std::uint64_t sub =
        std::uint64_t{ps} * sys_one + (c->policy == overflow_policy::drop_oldest ? 0 : std::uint64_t{pu});
    // seq_cst: the Dekker pairing with wait_for_room (see there).
    const std::uint64_t w2 = sub ? c->word.fetch_sub(sub, std::memory_order_seq_cst) - sub
                                 : c->word.load(std::memory_order_seq_cst);
    if (pu && c->policy == overflow_policy::block && c->blocked.load(std::memory_order_seq_cst) != 0)
      wake_senders(c, pu);
    if ((w2 & kill_bit) || (c->flags & flag_stop_now)) continue;
    const bool suspended = c->flags & flag_suspended;
    if ((w2 & closed_bit) && sys_count(w2) == 0 && (user_count(w2) == 0 || suspended)) {
      if (user_count(w2) != 0) {  // stopped while suspended: its queue cannot be handled
        kill_and_finalize(c);
        return;
      }
      if (try_finalize(c, w2)) return;
      continue;
    }
    const bool more = sys_count(w2) > 0 || (!suspended && user_count(w2) > 0);
    if (more) {
      if (budget <= 0 || lagging) {
        schedule_yield(*c->sys->sched, c);
        return;
      }
      continue;
    }
    // Go idle. acq_rel: release hands this turn's writes to whoever sets
    // SCHED next (see reserve_user). After this CAS the cell must not be
    // touched: another turn may already run (and finalise it).
    std::uint64_t expected = w2;
    if (c->word.compare_exchange_strong(expected, w2 & ~sched_bit, std::memory_order_acq_rel,
                                        std::memory_order_relaxed))
      return;
    if (budget <= 0) {
      schedule_yield(*c->sys->sched, c);
      return;
    }
  }
}

}  // namespace troupe::detail
