// The mailbox: the send path (lock-free unless the mailbox is full), the
// admission queue of senders waiting for room, and the one path that drains
// a mailbox (a turn). The word protocol is in mailbox_word.hpp and
// docs/design/actors.md.

#include "mailbox.hpp"

#include <mutex>
#include <optional>

#include "cell.hpp"
#include "coroutine.hpp"
#include "metrics.hpp"
#include "system.hpp"

#include "troupe/runtime/detail/fiber_local.hpp"
#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/detail/timer.hpp"
#include "troupe/runtime/detail/trace.hpp"
#include "troupe/runtime/detail/wait_list.hpp"
#include "troupe/runtime/error.hpp"

namespace troupe::detail {

static_assert(mailbox_word::user_mask == mailbox_depth_mask, "mailbox_depth() must read the depth bits");

// ------------------------------------------------------------ turn context

turn_context* current_turn() noexcept { return static_cast<turn_context*>(fiber_local()); }
turn_context* set_current_turn(turn_context* t) noexcept {
  void*& slot = fiber_local();
  return static_cast<turn_context*>(std::exchange(slot, t));
}
actor_cell* current_cell() noexcept {
  turn_context* t = current_turn();
  return t ? t->cell : nullptr;
}

namespace {

struct turn_scope {
  turn_context* saved;
  explicit turn_scope(turn_context* t) noexcept : saved(set_current_turn(t)) {}
  ~turn_scope() { set_current_turn(saved); }
};

void update_high_water(actor_cell* c, std::uint32_t d) noexcept {
  // relaxed: a statistic; only its maximum matters.
  std::uint32_t hw = c->high_water.load(std::memory_order_relaxed);
  while (d > hw && !c->high_water.compare_exchange_weak(hw, d, std::memory_order_relaxed)) {}
}

// Gives a send_async future (or a sender waiting for admission) the send's
// outcome: accepted or why not.
[[gnu::noinline]] void complete_accepted_slow(reply_state_base* s, actor_errc code) noexcept {
  if (code == actor_errc::ok)
    complete_with<void>(s, true, result<void>::ok());
  else
    complete_error<void>(s, code, to_string(code));
  s->release();
}

// Most sends have nobody to tell. The test is inline, apart from the rest:
// as one function GCC 12 saved six registers before testing s, 19
// instructions on every plain send.
inline void complete_accepted(reply_state_base* s, actor_errc code) noexcept {
  if (s) [[unlikely]]
    complete_accepted_slow(s, code);
}

send_result reject(actor_cell* c, envelope* e, dead_letter_reason why, actor_errc code,
                   reply_state_base* accepted) noexcept {
  try {
    e->fn(e, c, envelope_op::reject, why);
  } catch (...) {
    // reject only counts, completes and frees: it does not throw in practice.
  }
  complete_accepted(accepted, code);
  return send_result(code);
}

// Pushes an accepted message and schedules the actor if this send set SCHED.
void enqueue(actor_cell* c, envelope* e, mailbox_word accepted_word, bool scheduled) noexcept {
  update_high_water(c, accepted_word.depth());
  stamp_enqueued(c, e);
  if (scheduled && accepted_word.depth() == 1 && c->policy != overflow_policy::drop_oldest) {
    // This send woke the actor and its message is the only one counted: no
    // turn runs until we schedule one, and every earlier message was
    // consumed (a turn takes its count off before it clears SCHED). So the
    // message is handed to the turn directly, sparing the queue's fetch_add
    // and its segment (decisions 0023, 0027). A plain field: the turn that
    // cleared it released the word our CAS acquired, and scheduling
    // publishes our store to the turn we schedule.
    c->handed = e;
  } else {
    c->user_q.push(e);
  }
  if (scheduled) schedule_cell(c);
}

}  // namespace

void schedule_cell(actor_cell* c) noexcept { schedule(*c->sys->sched, c); }

// ------------------------------------------------------- the admission queue
//
// A sender that may wait and finds a `block` mailbox full queues its message
// for admission instead of retrying: it sets ADMIT with a CAS that checks the
// mailbox is still full (else it retries the plain send), and links a record
// under the cell's lock. While ADMIT is set, every sender that may wait
// queues behind the waiting ones, so a sender's messages keep their order.
// A turn that freed slots admits waiting messages in order, under the lock,
// clearing ADMIT when none is left. Who decides a record's fate (admitted,
// expired at its deadline, refused by a stop) is one CAS on its state, always
// made under the cell's lock; so exactly one party acts on each record.

struct admission {
  enum class state : std::uint8_t { waiting, admitted, expired, refused };
  enum class kind : std::uint8_t { blocking, async };

  admission(kind k, envelope* m, time_point until) noexcept : what(k), e(m), deadline(until) {}
  std::atomic<state> st{state::waiting};
  kind what;
  envelope* e;
  time_point deadline;              // never admitted at or after it
  admission* queue_next = nullptr;  // guarded by the cell's lock
  bool linked = false;              // guarded by the cell's lock

  // Under the cell's lock: decides the record's fate once.
  bool claim(state to) noexcept {
    state expected = state::waiting;
    // relaxed would do (the cell's lock orders every claim); acq_rel keeps
    // the argument local.
    return st.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }
};

namespace {

// A fiber or thread blocked in send(): lives on its stack. The party that
// claims it notifies it under `lk`; the sender takes `lk` before leaving, so
// nothing touches the record after the sender returned.
struct blocking_admission : admission {
  blocking_admission(envelope* m, time_point until) noexcept : admission(kind::blocking, m, until) {}
  spinlock lk;
  wait_list waiters;
  bool notified = false;  // guarded by lk
};

// A sender that did not wait (an ask, send_async): on the heap, with a timer
// for its deadline. Two owners: the queue (until claimed) and the timer.
struct async_admission : admission, timer_entry, small_object {
  async_admission(actor_cell* c, envelope* m, reply_state_base* acc, time_point until) noexcept
      : admission(kind::async, m, until), timer_entry(&expire), cell(c), accepted(acc) {}
  static void expire(timer_entry* t) noexcept;
  void release() noexcept {
    // acq_rel: the last owner sees the other's writes before freeing.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  actor_cell* cell;            // one reference
  reply_state_base* accepted;  // send_async's future, or null
  std::atomic<int> refs{2};
  ~async_admission() { release_cell(cell); }
};

void link_admission(cell_ext* x, admission* a) noexcept {
  a->queue_next = nullptr;
  if (x->admit_tail)
    x->admit_tail->queue_next = a;
  else
    x->admit_head = a;
  x->admit_tail = a;
  a->linked = true;
}

void unlink_admission(cell_ext* x, admission* a) noexcept {
  admission* prev = nullptr;
  for (admission* p = x->admit_head; p; prev = p, p = p->queue_next) {
    if (p != a) continue;
    if (prev)
      prev->queue_next = a->queue_next;
    else
      x->admit_head = a->queue_next;
    if (x->admit_tail == a) x->admit_tail = prev;
    a->linked = false;
    return;
  }
}

// Tells a blocked sender its fate (after the claim, outside the cell's lock).
void notify_blocking(blocking_admission* b) noexcept {
  std::lock_guard g(b->lk);
  b->notified = true;
  b->waiters.notify_one();
}

// Clears ADMIT when no sender waits any more. Under the cell's lock.
void clear_admit_if_empty(actor_cell* c, cell_ext* x) noexcept {
  // seq_cst: like every change of the word that senders read.
  if (!x->admit_head) c->word.fetch_and(~mailbox_word::admit_bit, std::memory_order_seq_cst);
}

// Resolves claimed records outside the lock: notifies blocked senders; for
// async ones, accepted or refused, and lets go of the queue's reference.
void resolve(actor_cell* c, admission* list) noexcept {
  while (admission* a = list) {
    list = a->queue_next;
    const admission::state fate = a->st.load(std::memory_order_acquire);
    if (a->what == admission::kind::blocking) {
      notify_blocking(static_cast<blocking_admission*>(a));
      continue;
    }
    auto* as = static_cast<async_admission*>(a);
    if (fate == admission::state::refused)
      reject(c, as->e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped, as->accepted);
    else if (fate == admission::state::expired)
      reject(c, as->e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, as->accepted);
    else
      complete_accepted(as->accepted, actor_errc::ok);
    if (cancel_timer(as)) as->release();  // the timer's reference
    as->release();                        // the queue's
  }
}

// The turn freed slots: admit waiting messages in order while there is room.
void admit_waiting(actor_cell* c) noexcept {
  cell_ext* x = ext_of(c);
  if (!x) return;
  admission* done = nullptr;
  admission** tail = &done;
  {
    std::lock_guard g(c->lock);
    // The depth can only grow under this lock now (lock-free senders see
    // ADMIT and queue), and only this turn shrinks it.
    mailbox_word w(c->word.load(std::memory_order_acquire));
    const time_point now = now_of(c->sys);
    while (x->admit_head && !w.closed() && w.depth() < c->capacity) {
      admission* a = x->admit_head;
      x->admit_head = a->queue_next;
      if (!x->admit_head) x->admit_tail = nullptr;
      a->linked = false;
      if (a->deadline <= now) {
        // Its deadline passed while it waited (its timer has not come round
        // yet): the send is refused, never accepted late.
        if (a->claim(admission::state::expired)) {
          a->queue_next = nullptr;
          *tail = a;
          tail = &a->queue_next;
        }
        continue;
      }
      if (!a->claim(admission::state::admitted)) continue;  // expired: its sender cleans up
      // seq_cst: the depth grows like any accepted send; the turn runs, so
      // SCHED is set and nothing needs scheduling.
      w = mailbox_word(c->word.fetch_add(1, std::memory_order_seq_cst) + 1);
      update_high_water(c, w.depth());
      stamp_enqueued(c, a->e);
      c->user_q.push(a->e);
      a->queue_next = nullptr;
      *tail = a;
      tail = &a->queue_next;
    }
    clear_admit_if_empty(c, x);
  }
  resolve(c, done);
}

// Queues `e` for admission. false: the mailbox was not full after all (or
// closed): the caller retries the plain send.
bool enqueue_admission(actor_cell* c, admission* a) {
  cell_ext* x = ensure_ext(c);
  std::lock_guard g(c->lock);
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  for (;;) {
    const auto next = mailbox_word(w).start_admitting(c->capacity);
    if (!next) return false;
    // seq_cst: against the turn's fetch_sub: either this CAS sees the slot
    // the turn freed (and fails), or the turn's fetch_sub returns a word
    // with ADMIT and the turn admits us (it takes this lock after we link).
    if (c->word.compare_exchange_weak(w, next->bits(), std::memory_order_seq_cst, std::memory_order_relaxed))
      break;
  }
  link_admission(x, a);
  return true;
}

void async_admission::expire(timer_entry* t) noexcept {
  auto* a = static_cast<async_admission*>(t);
  bool expired = false;
  {
    std::lock_guard g(a->cell->lock);
    if (a->claim(state::expired)) {
      expired = true;
      if (a->linked) unlink_admission(ext_of(a->cell), a);
      clear_admit_if_empty(a->cell, ext_of(a->cell));
    }
  }
  if (expired) {
    reject(a->cell, a->e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, a->accepted);
    a->release();  // the queue's: unlinked here
  }
  a->release();  // the timer's
}

// A blocked sender waits for its record's fate.
send_result wait_admission(actor_cell* c, blocking_admission& b, time_point deadline) {
  scheduler* sched = c->sys->sched;
  wake_reason why;
  {
    b.lk.lock();
    if (b.notified) {
      b.lk.unlock();
      why = wake_reason::notified;
    } else {
      why = b.waiters.wait(b.lk, deadline, /*cancellable=*/true, sched);
    }
  }
  if (why != wake_reason::notified) {
    // Timed out (or cancelled by runtime shutdown): expire it, unless a turn
    // or a stop claimed it first.
    bool expired = false;
    {
      std::lock_guard g(c->lock);
      if (b.claim(admission::state::expired)) {
        expired = true;
        if (b.linked) unlink_admission(ext_of(c), &b);
        clear_admit_if_empty(c, ext_of(c));
      }
    }
    if (expired) {
      const bool cancelled = why == wake_reason::cancelled;
      return reject(c, b.e, cancelled ? dead_letter_reason::system_stopped : dead_letter_reason::mailbox_full,
                    cancelled ? actor_errc::cancelled : actor_errc::mailbox_full, nullptr);
    }
    // Claimed meanwhile: wait for the claimer's notification, after which
    // nobody touches `b` again.
    b.lk.lock();
    if (!b.notified)
      b.waiters.wait(b.lk, no_deadline, /*cancellable=*/false, sched);
    else
      b.lk.unlock();
  }
  // The claimer notifies under b.lk: taking it once more makes sure it has
  // let go of `b` before this frame (and `b` with it) goes away.
  b.lk.lock();
  b.lk.unlock();
  switch (b.st.load(std::memory_order_acquire)) {
    case admission::state::admitted:
      return send_result();
    case admission::state::expired:  // decided by a turn: its deadline had passed
      return reject(c, b.e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, nullptr);
    default:
      return reject(c, b.e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped, nullptr);
  }
}

enum class attempt : std::uint8_t { accepted, lost_race, closed, no_room };

// One try to reserve a slot in c's mailbox word `w` (the value last read).
// accepted: the slot is this sender's, and `scheduled` says whether it must
// schedule the actor (it set SCHED). lost_race: another sender or a turn
// changed the word first, and `w` now holds the new value.
inline attempt reserve_slot(actor_cell* c, std::uint64_t& w, bool& scheduled) noexcept {
  const auto r = mailbox_word(w).try_reserve(c->capacity);
  switch (r.outcome) {
    case mailbox_word::reserve::closed:
      return attempt::closed;
    case mailbox_word::reserve::full:
    case mailbox_word::reserve::behind:
      return attempt::no_room;
    case mailbox_word::reserve::scheduled:
    case mailbox_word::reserve::queued:
      break;
  }
  // acq_rel: acquire pairs with the release CAS by which the last turn
  // cleared SCHED, so the turn we schedule (the scheduler hand-off carries
  // it on) sees all that turn's writes to consumer state; release keeps the
  // reservation ahead of the push.
  if (!c->word.compare_exchange_weak(w, r.next, std::memory_order_acq_rel, std::memory_order_relaxed))
    return attempt::lost_race;
  w = r.next;
  scheduled = r.outcome == mailbox_word::reserve::scheduled;
  return attempt::accepted;
}

// reserve_slot, and if the slot is won, pushes e and tells `accepted`.
inline attempt try_accept(actor_cell* c, envelope* e, std::uint64_t& w, reply_state_base* accepted) noexcept {
  bool scheduled = false;
  const attempt a = reserve_slot(c, w, scheduled);
  if (a == attempt::accepted) {
    enqueue(c, e, mailbox_word(w), scheduled);
    complete_accepted(accepted, actor_errc::ok);
  }
  return a;
}

// drop_oldest on a full mailbox: swap the oldest queued message for the new
// one. User pops of a drop_oldest mailbox happen under c->lock and decrement
// the depth at once, so under the lock depth == messages queued or being
// pushed.
send_result drop_oldest_and_push(actor_cell* c, envelope* e, reply_state_base* accepted) {
  envelope* victim = nullptr;
  unsigned spins = 0;
  c->lock.lock();
  std::uint64_t w = c->word.load(std::memory_order_relaxed);  // relaxed: only the CAS decides
  for (;;) {
    bool scheduled = false;
    const attempt a = reserve_slot(c, w, scheduled);
    if (a == attempt::lost_race) continue;
    if (a == attempt::closed) {
      c->lock.unlock();
      return reject(c, e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped, accepted);
    }
    if (a == attempt::accepted) {
      // Room after all (a turn took a message): push outside the lock.
      c->lock.unlock();
      enqueue(c, e, mailbox_word(w), scheduled);
      complete_accepted(accepted, actor_errc::ok);
      return send_result();
    }
    victim = c->user_q.pop();
    if (victim) break;
    // Every queued message is still being linked by its producer.
    backoff(spins);
    w = c->word.load(std::memory_order_relaxed);  // relaxed: only the CAS decides
  }
  // The new message takes the victim's slot: depth unchanged, and the actor
  // is already scheduled (or paused) since its depth is non-zero.
  stamp_enqueued(c, e);
  c->user_q.push(e);
  c->lock.unlock();
  victim->fn(victim, c, envelope_op::reject, dead_letter_reason::dropped_oldest);
  complete_accepted(accepted, actor_errc::ok);
  return send_result();
}

// A send out of the ordinary: to an actor with a dequeue policy (it needs
// the send time), with a deadline of its own, or while the system or the
// runtime stops. Such a send takes post_slow's checks (refuse_unusual).
// relaxed: shutdown refuses external sends from "soon after" it begins;
// what it guarantees about accepted messages rests on each actor's CLOSED
// bit. The runtime's flag: the same "soon after" promise.
inline bool unusual(const actor_cell* c, const envelope* e) noexcept {
  const system_impl* s = c->sys;
  return c->dequeue || e->deadline != no_deadline || s->stopping.load(std::memory_order_relaxed) ||
         !s->runtime_accepting->load(std::memory_order_relaxed);
}

// The checks an unusual send takes before it reserves: a refusal, or
// nullopt to go on.
std::optional<send_result> refuse_unusual(actor_cell* c, envelope* e, reply_state_base* accepted) {
  system_impl* s = c->sys;
  // Only an actor with a dequeue policy needs the send time (dequeue_policy.hpp).
  if (c->dequeue) e->stamp.set_sent_at(now_of(s));
  if (e->deadline != no_deadline && e->deadline <= now_of(s))
    return reject(c, e, dead_letter_reason::deadline_passed, actor_errc::deadline_passed, accepted);
  // A runtime shutting down under a live system refuses sends too: once it
  // has shut down nothing would run the actor, and the message would sit in
  // its mailbox forever. Sends from the runtime's own workers go on: shutdown
  // runs the work already queued, and what it sends (decision 0004).
  // relaxed: as in unusual().
  if ((s->stopping.load(std::memory_order_relaxed) ||
       !s->runtime_accepting->load(std::memory_order_relaxed)) &&
      !on_worker_of(*s->sched))
    return reject(c, e, dead_letter_reason::system_stopped, actor_errc::system_stopped, accepted);
  return std::nullopt;
}

// post() for every case: an unusual send, a lost race, a mailbox without
// room (its overflow policy; a `block` mailbox makes the sender wait,
// blocking_admission, or queues the message, send_async's
// async_admission).
[[gnu::noinline]] send_result post_slow(actor_cell* c, envelope* e, send_mode mode, time_point wait_deadline,
                                        reply_state_base* accepted) {
  if (unusual(c, e)) {
    if (const auto refused = refuse_unusual(c, e, accepted)) return *refused;
  }
  system_impl* s = c->sys;
  std::uint64_t w = c->word.load(std::memory_order_relaxed);  // relaxed: only the CAS decides
  for (;;) {
    switch (try_accept(c, e, w, accepted)) {
      case attempt::accepted:
        return send_result();
      case attempt::lost_race:
        continue;
      case attempt::closed:
        return reject(c, e, dead_letter_reason::actor_stopped, actor_errc::actor_stopped, accepted);
      case attempt::no_room:
        break;
    }
    switch (c->policy) {
      case overflow_policy::fail:
        return reject(c, e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, accepted);
      case overflow_policy::drop_newest:
        return reject(c, e, dead_letter_reason::dropped_newest, actor_errc::dropped, accepted);
      case overflow_policy::drop_oldest:
        return drop_oldest_and_push(c, e, accepted);
      case overflow_policy::block:
        break;
    }
    if (mode == send_mode::fail)
      return reject(c, e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, accepted);
    if (wait_deadline == no_deadline)
      wait_deadline = clock::after(now_of(s), std::chrono::milliseconds(c->block_timeout_ms));
    if (e->deadline < wait_deadline) wait_deadline = e->deadline;
    if (mode == send_mode::queue) {
      auto* a = new async_admission(c, e, accepted, wait_deadline);
      add_ref(c);
      if (!enqueue_admission(c, a)) {
        a->e = nullptr;
        a->accepted = nullptr;
        delete a;
        w = c->word.load(std::memory_order_relaxed);
        continue;
      }
      if (wait_deadline != no_deadline)
        arm_timer(*s->sched, a, wait_deadline);
      else
        a->release();  // no timer will ever hold it
      return send_result();
    }
    if (wait_deadline > now_of(s) && !thread_may_block()) {
      // The thread that drives the runtime would wait for room only it can
      // make: refuse before anything is queued (the record lives on this
      // stack), and count the message like any other refused one.
      (void)reject(c, e, dead_letter_reason::mailbox_full, actor_errc::mailbox_full, accepted);
      throw error(
          errc::would_deadlock,
          "actor_ref::send: the thread that drives the runtime cannot wait for room in a full mailbox; "
          "use try_send, send_async or a deadline with when_full::fail");
    }
    blocking_admission b(e, wait_deadline);
    if (!enqueue_admission(c, &b)) {
      w = c->word.load(std::memory_order_relaxed);
      continue;
    }
    return wait_admission(c, b, wait_deadline);
  }
}

// Sends e to c: accepted, refused (counted as a dead letter) or, for a full
// `block` mailbox, waiting for room as `mode` says. The common send (not
// unusual, room in the mailbox, the first CAS won) is taken inline in its
// two callers; anything else goes to post_slow, which starts over.
[[gnu::always_inline]] inline send_result post(actor_cell* c, envelope* e, send_mode mode,
                                               time_point wait_deadline, reply_state_base* accepted) {
  if (!unusual(c, e)) [[likely]] {
    std::uint64_t w = c->word.load(std::memory_order_relaxed);  // relaxed: only the CAS decides
    if (try_accept(c, e, w, accepted) == attempt::accepted) [[likely]]
      return send_result();
  }
  return post_slow(c, e, mode, wait_deadline, accepted);
}

}  // namespace

send_result post_user(actor_cell* c, envelope* e, send_mode mode, time_point wait_deadline) {
  const send_result r = post(c, e, mode, wait_deadline, nullptr);
  // A blocking send may suspend its sender: also to let a fan-out's
  // receivers run on a one-worker runtime (yield_after_send_batch).
  if (mode == send_mode::block && r) yield_after_send_batch(*c->sys->sched);
  return r;
}

void post_accepted(actor_cell* c, envelope* e, time_point wait_deadline, reply_state_base* accepted) {
  post(c, e, send_mode::queue, wait_deadline, accepted);
}

void reject_admissions(actor_cell* c) noexcept {
  cell_ext* x = ext_of(c);
  if (!x) return;
  admission* done = nullptr;
  admission** tail = &done;
  {
    std::lock_guard g(c->lock);
    while (admission* a = x->admit_head) {
      x->admit_head = a->queue_next;
      a->linked = false;
      if (!a->claim(admission::state::refused)) continue;
      a->queue_next = nullptr;
      *tail = a;
      tail = &a->queue_next;
    }
    x->admit_tail = nullptr;
    clear_admit_if_empty(c, x);
  }
  resolve(c, done);
}

// -------------------------------------------------------------- system lane

bool post_sys(actor_cell* c, sys_message* m) noexcept {
  // relaxed: only the CAS decides.
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  mailbox_word::post_result r;
  for (;;) {
    const auto next = mailbox_word(w).post_sys();
    if (!next) return false;
    r = *next;
    // acq_rel: as in post().
    if (c->word.compare_exchange_weak(w, r.next, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
  }
  c->sys_q.push(m);
  if (r.sets_sched) schedule_cell(c);
  return true;
}

bool close_word(actor_cell* c, bool immediate, mailbox_word::post_result& out) noexcept {
  // relaxed: the CAS decides.
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  for (;;) {
    const auto next = mailbox_word(w).close(immediate);
    if (!next) return false;
    out = *next;
    // seq_cst: a sender queuing for admission (seq_cst CAS) either sees
    // CLOSED, or is queued before reject_admissions takes the lock.
    if (c->word.compare_exchange_weak(w, out.next, std::memory_order_seq_cst, std::memory_order_relaxed))
      return true;
  }
}

void update_pause(actor_cell* c) noexcept {
  const bool want = c->flags & (flag_suspended | flag_holding);
  // acq_rel (both): like a reservation; senders that see PAUSE leave the
  // scheduling to whoever clears it (always a turn, which then goes on).
  if (want)
    c->word.fetch_or(mailbox_word::pause_bit, std::memory_order_acq_rel);
  else
    c->word.fetch_and(~mailbox_word::pause_bit, std::memory_order_acq_rel);
}

// ------------------------------------------------------- deferred messages

namespace {

bool holding(const actor_cell* c) noexcept { return c->flags & flag_holding; }

// A user-code system message that must wait while a non-reentrant handler
// holds the actor: continuations, timer messages, other handlers' resumptions.
bool must_defer(actor_cell* c, const sys_message* m) noexcept {
  if (!holding(c)) return false;
  if (m->resumes) return m->resumes != ext_of(c)->holder;
  return m->user_code;
}

void defer(actor_cell* c, sys_message* m) noexcept {
  cell_ext* x = ext_of(c);  // exists: something holds
  m->next.store(nullptr, std::memory_order_relaxed);
  if (x->deferred_tail)
    x->deferred_tail->next.store(m, std::memory_order_relaxed);
  else
    x->deferred_head = m;
  x->deferred_tail = m;
  c->flags |= flag_turn_state;
}

sys_message* take_deferred(actor_cell* c) noexcept {
  cell_ext* x = ext_of(c);
  if (!x || !x->deferred_head) return nullptr;
  sys_message* m = x->deferred_head;
  x->deferred_head = static_cast<sys_message*>(m->next.load(std::memory_order_relaxed));
  if (!x->deferred_head) x->deferred_tail = nullptr;
  return m;
}

bool has_deferred(const actor_cell* c) noexcept {
  if (!(c->flags & flag_turn_state)) return false;
  const cell_ext* x = ext_of(c);
  return x && x->deferred_head;
}

}  // namespace

void dispose_deferred(actor_cell* c) noexcept {
  while (sys_message* m = take_deferred(c)) m->fn(m, c, false);
}

// -------------------------------------------------------------------- turn

namespace {

envelope* pop_user(actor_cell* c) noexcept {
  if (envelope* e = c->handed) {  // the oldest: it woke the actor (enqueue)
    c->handed = nullptr;
    return e;
  }
  if (c->policy != overflow_policy::drop_oldest) return c->user_q.pop();
  std::lock_guard g(c->lock);
  envelope* n = c->user_q.pop();
  // seq_cst: the same pairing as the batched fetch_sub in run_turn.
  if (n) c->word.fetch_sub(1, std::memory_order_seq_cst);
  return n;
}

// The actor's dequeue policy sheds `e`: refused as `shed` (the asker gets
// overloaded). Out of line: only actors with a policy come here.
[[gnu::noinline]] bool shed_at_dequeue(actor_cell* c, envelope* e) {
  const dequeued_message m{e->stamp.sent_at(), now_of(c->sys), e->stamp.priority()};
  if (!c->dequeue->should_shed(m)) return false;
  e->fn(e, c, envelope_op::reject, dead_letter_reason::shed);
  return true;
}

void deliver_user(actor_cell* c, envelope* e) {
  if (e->deadline != no_deadline && e->deadline <= now_of(c->sys)) {
    e->fn(e, c, envelope_op::reject, dead_letter_reason::expired);
    return;
  }
  if (c->dequeue && shed_at_dequeue(c, e)) [[unlikely]]
    return;
  try {
    if (histograms_on(c->sys)) [[unlikely]]
      deliver_timed(c, e);  // the same, timing the handler and the message's wait (metrics.cpp)
    else
      e->fn(e, c, envelope_op::deliver, dead_letter_reason::actor_stopped);
  } catch (...) {
    handle_failure(c, describe(std::current_exception(), exit_kind::failed));
  }
}

// What one pass took out of the mailbox.
struct pass_result {
  std::uint32_t sys = 0, user = 0;
  std::uint32_t resumed = 0;  // of `sys`: coroutine resumptions, not messages (not `processed`)
  bool lagging = false;       // a counted message is still being linked by its producer
};

// The system lane's part of a pass (below): its `ns` counted messages, then
// the deferred ones. False: an immediate stop came, and the pass ends here.
bool pass_system(actor_cell* c, std::uint32_t ns, int& budget, bool dispose, turn_context& ctx,
                 pass_result& p) {
  while (p.sys < ns && (dispose || budget > 0)) {
    auto* m = static_cast<sys_message*>(c->sys_q.pop());
    if (!m) {
      p.lagging = true;
      break;
    }
    ++p.sys;
    if (dispose) {
      m->fn(m, c, false);
      continue;
    }
    if (m->resumes) ++p.resumed;
    --budget;
    if (must_defer(c, m)) {
      defer(c, m);
    } else {
      run_sys(c, m);
      ctx = turn_context{c};
    }
    if (c->flags & flag_stop_now) return false;
  }
  if (dispose) {
    dispose_deferred(c);
  } else {
    while (!holding(c) && budget > 0 && !(c->flags & flag_stop_now)) {
      sys_message* m = take_deferred(c);
      if (!m) break;
      --budget;
      run_sys(c, m);
      ctx = turn_context{c};
    }
  }
  return true;
}

// One pass over a snapshot `w` of the mailbox. deliver: system messages
// first (user-code ones deferred while a handler holds the actor), then the
// deferred ones once nothing holds, then user messages unless the lane is
// paused; each costs one unit of `budget`. dispose (immediate stop,
// failure): every message counted in `w` is disposed of, without budget.
pass_result pass(actor_cell* c, mailbox_word w, int& budget, bool dispose, turn_context& ctx) {
  pass_result p;
  // Most passes have only user messages: no system message counted, and
  // nothing ever deferred (flag_turn_state, set by the first defer or the
  // first coroutine root, is never cleared).
  if ((w.sys_count() != 0 || (c->flags & flag_turn_state)) &&
      !pass_system(c, w.sys_count(), budget, dispose, ctx, p))
    return p;
  // `w` was read before the system messages ran: one of them may have
  // paused the actor since (on_start failed and the supervisor will restart
  // it; a resumed coroutine holds it again). The flags are this turn's own.
  // Handing the next user message to the failed object would be wrong.
  if (p.lagging || (!dispose && (w.paused() || (c->flags & (flag_suspended | flag_holding))))) return p;
  const std::uint32_t nu = w.depth();
  while (p.user < nu && (dispose || budget > 0)) {
    envelope* e = pop_user(c);
    if (!e) {
      p.lagging = true;
      break;
    }
    ++p.user;
    if (dispose) {
      e->fn(e, c, envelope_op::reject, dead_letter_reason::unprocessed);
      continue;
    }
    --budget;
    deliver_user(c, e);
    ctx = turn_context{c};
    if (c->flags & (flag_suspended | flag_stop_now | flag_holding)) break;
    // An immediate stop from another thread while the handler ran takes
    // effect now, not after the rest of this pass's snapshot. relaxed:
    // whoever ordered the stop before the handler's end (as a test opening
    // a gate does) is seen through that ordering; others get "soon after".
    if (mailbox_word(c->word.load(std::memory_order_relaxed)).killed()) break;
  }
  return p;
}

// Immediate stop (or failure): refuse new messages before disposing.
void start_disposing(actor_cell* c) noexcept {
  // seq_cst: as in close_word.
  const mailbox_word before(
      c->word.fetch_or(mailbox_word::closed_bit | mailbox_word::kill_bit, std::memory_order_seq_cst));
  if (!before.closed()) reject_admissions(c);
}

}  // namespace

void release_spawn_hold(actor_cell* c) noexcept {
  // acquire: the counts seen are backed by reservations. acq_rel on the
  // idle CAS: like a turn going idle, it hands the spawner's writes (the
  // constructed object, the flags) to whoever sets SCHED next.
  std::uint64_t w = c->word.load(std::memory_order_acquire);
  for (;;) {
    const auto idle = mailbox_word(w).try_go_idle();
    if (!idle) {
      schedule_cell(c);  // on_start, or what the constructor sent itself
      return;
    }
    if (c->word.compare_exchange_weak(w, idle->bits(), std::memory_order_acq_rel, std::memory_order_acquire))
      return;
  }
}

void dispose_unstarted(actor_cell* c) noexcept {
  // FINAL (with SCHED, which init_cell set, unless it threw first): refuse
  // anything more. Then dispose of what was counted, as a disposing turn
  // does: a sender on another thread, through a ref the constructor let
  // out, may still be linking its node. acq_rel: acquire the counted
  // senders' reservations, as a turn's load does.
  mailbox_word w(
      c->word.fetch_or(mailbox_word::final_bit | mailbox_word::sched_bit, std::memory_order_acq_rel));
  turn_context ctx{c};
  int budget = 0;
  unsigned spins = 0;
  while (w.sys_count() != 0 || w.depth() != 0) {
    const pass_result p = pass(c, w, budget, true, ctx);
    // drop_oldest pops took their depth off already (pop_user).
    const std::uint64_t sub =
        mailbox_word::consumed(p.sys, c->policy == overflow_policy::drop_oldest ? 0 : p.user);
    w = mailbox_word(c->word.fetch_sub(sub, std::memory_order_acq_rel) - sub);
    if (p.sys == 0 && p.user == 0) {  // the sender is still linking its node
      backoff(spins);
    }
  }
}

// One turn. Holds SCHED from start to end: exactly one turn of an actor runs
// at a time, and only a turn finalises the actor. Each pass takes a snapshot
// of the counts, handles what it may, then subtracts what it took in one RMW.
// The same path disposes of everything when the actor is killed or failed.
void run_turn(task_header* h) {
  auto* c = static_cast<actor_cell*>(h);
  trace_label(c->vt->type_name);  // the run slice is this actor's turn
  turn_context ctx{c};
  turn_scope scope(&ctx);
  int budget = c->budget;
  unsigned idle_spins = 0;
  for (;;) {
    // acquire: pairs with the senders' CAS so the counts seen are backed by
    // reservations (their nodes are published by the queue itself).
    const mailbox_word w(c->word.load(std::memory_order_acquire));
    const bool dispose = w.killed() || (c->flags & flag_stop_now);
    if (dispose && !w.killed()) {
      start_disposing(c);
      continue;
    }
    const pass_result p = pass(c, w, budget, dispose, ctx);
    // relaxed: only this turn writes it; readers want a statistic.
    if (!dispose) {
      const std::uint32_t handled = p.sys - p.resumed + p.user;
      c->processed.store(c->processed.load(std::memory_order_relaxed) + handled, std::memory_order_relaxed);
      count_processed(c, *c->sys->sched, handled);  // per class and worker
    }
    const std::uint64_t sub =
        mailbox_word::consumed(p.sys, c->policy == overflow_policy::drop_oldest ? 0 : p.user);
    if (!dispose && sub != 0) {
      // The common end of a turn: nothing arrived during the pass, so the
      // word is still `w`. Take off what was consumed and go idle in one CAS
      // instead of the fetch_sub and the idle CAS below, if the word after
      // the fetch_sub would lead straight to going idle. seq_cst: it stands
      // for both (the fetch_sub's seq_cst, the idle CAS's release). On
      // failure nothing changed: the general path below runs.
      const mailbox_word after(w.bits() - sub);
      const bool idle_next = !after.admitting() && !after.killed() && !after.closed() &&
                             !(c->flags & flag_stop_now) && (holding(c) || !has_deferred(c));
      if (auto idle = after.try_go_idle(); idle && idle_next) {
        std::uint64_t expected = w.bits();
        if (c->word.compare_exchange_strong(expected, idle->bits(), std::memory_order_seq_cst,
                                            std::memory_order_relaxed))
          return;
      }
    }
    // seq_cst: against senders queuing for admission (enqueue_admission).
    mailbox_word w2(sub ? c->word.fetch_sub(sub, std::memory_order_seq_cst) - sub
                        : c->word.load(std::memory_order_seq_cst));
    if (w2.admitting() && !dispose) {
      admit_waiting(c);
      w2 = mailbox_word(c->word.load(std::memory_order_seq_cst));
    }
    if (dispose) {
      if (w2.sys_count() == 0 && w2.depth() == 0 && try_finalize(c, w2.bits())) return;
      if (p.sys == 0 && p.user == 0) {  // producers still linking their nodes
        backoff(idle_spins);
      }
      continue;
    }
    if (w2.killed() || (c->flags & flag_stop_now)) continue;
    const bool suspended = c->flags & flag_suspended;
    if (w2.closed() && w2.sys_count() == 0) {
      if (w2.depth() != 0 && suspended) {  // stopped while suspended: its queue cannot be handled
        c->flags |= flag_stop_now;
        continue;
      }
      if (w2.depth() == 0 && !has_coroutines(c) && !has_deferred(c)) {
        if (try_finalize(c, w2.bits())) return;
        continue;
      }
    }
    const bool more = w2.has_work() || (!holding(c) && has_deferred(c));
    if (more) {
      if (budget <= 0 || p.lagging) {
        schedule_yield(*c->sys->sched, c);
        return;
      }
      continue;
    }
    // Go idle. acq_rel: release hands this turn's writes to whoever sets
    // SCHED next (see post()). After this CAS the cell must not be touched:
    // another turn may already run (and finalise it).
    std::uint64_t expected = w2.bits();
    if (auto idle = w2.try_go_idle();
        idle && c->word.compare_exchange_strong(expected, idle->bits(), std::memory_order_acq_rel,
                                                std::memory_order_relaxed))
      return;
    if (budget <= 0) {
      schedule_yield(*c->sys->sched, c);
      return;
    }
  }
}

}  // namespace troupe::detail
