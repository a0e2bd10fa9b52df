// Completion of asks: the reply, the asker's wait, abandonment, the
// deadline timer, and the hooks (continuations, coroutine resumptions,
// callbacks) that run when an ask completes.

#include "troupe/actors/ask.hpp"

#include <cstddef>
#include <mutex>

#include "cell.hpp"
#include "system.hpp"

#include "troupe/runtime/error.hpp"

namespace troupe::detail {

namespace {

// on_fire of a reply state's deadline timer: completes it with a timeout
// (a no-op if it completed meanwhile), then lets go of the timer's reference.
void reply_deadline(timer_entry* t) noexcept {
  auto* s =
      reinterpret_cast<reply_state_base*>(reinterpret_cast<char*>(t) - offsetof(reply_state_base, timer));
  s->error_fn(s, actor_errc::timeout);
  s->release();
}

}  // namespace

bool complete_reply(reply_state_base* s, bool is_reply, void (*fill)(reply_state_base*, void*),
                    void* arg) noexcept {
  completion_hook* hook;
  bool armed;
  {
    std::lock_guard g(s->lock);
    if (is_reply) {
      if (s->delivered) return false;
      s->delivered = true;
    }
    if (s->status != reply_status::pending) {
      // The asker gave up (or the deadline completed it): a late reply is a
      // dead letter; a late timeout or rejection is nothing.
      if (is_reply) note_dead_letter(s->sys, nullptr, dead_letter_reason::unanswered, "reply");
      return true;
    }
    fill(s, arg);
    s->status = reply_status::done;
    s->replied = is_reply;
    if (s->flow_id) trace_flow(*s->sys->sched, false, s->flow_id, "ask");
    // release: a reader that sees ready sees the result.
    s->ready.store(true, std::memory_order_release);
    hook = std::exchange(s->hook, nullptr);
    armed = std::exchange(s->timer_armed, false);
    s->waiters.notify_all();
  }
  // A completed ask frees its deadline timer at once (the caller's
  // reference keeps s alive here).
  if (armed && cancel_timer(&s->timer)) s->release();
  if (hook) hook->run(hook, s);
  return true;
}

bool wait_reply(reply_state_base* s) {
  // acquire: pairs with the release store in complete_reply.
  if (s->ready.load(std::memory_order_acquire)) return true;
  if (actor_cell* self = current_cell(); self && self == s->target) {
    abandon_reply(s);
    if (s->ready.load(std::memory_order_acquire)) return true;
    throw actor_error(
        actor_errc::would_deadlock,
        "ask_future::get: an actor waiting on its own reply inside its turn could only time out "
        "(the request runs after this turn); use then() or co_await in a reentrant handler");
  }
  s->lock.lock();
  for (;;) {
    if (s->status == reply_status::done) {
      s->lock.unlock();
      return true;
    }
    if (now_of(s->sys) >= s->deadline) {
      s->status = reply_status::abandoned;
      s->lock.unlock();
      return false;
    }
    if (!thread_may_block()) {
      // The thread that drives the runtime: the wait could never end. The
      // future is consumed, so a reply that comes later is unanswered.
      s->status = reply_status::abandoned;
      s->lock.unlock();
      throw error(
          errc::would_deadlock,
          "ask_future::get: the thread that drives the runtime cannot block on it (nothing would run); "
          "use testing::harness::await, or run_until_idle() then get_result()");
    }
    const wake_reason why = s->waiters.wait(s->lock, s->deadline, /*cancellable=*/true, s->sys->sched);
    s->lock.lock();
    if (why == wake_reason::cancelled && s->status != reply_status::done) {
      s->status = reply_status::abandoned;
      s->lock.unlock();
      throw actor_error(actor_errc::cancelled, "ask: wait cancelled by runtime shutdown");
    }
  }
}

void abandon_reply(reply_state_base* s) noexcept {
  std::lock_guard g(s->lock);
  if (s->status == reply_status::pending && !s->hook) s->status = reply_status::abandoned;
}

void register_hook(reply_state_base* s, completion_hook* h) noexcept {
  {
    std::lock_guard g(s->lock);
    if (s->status != reply_status::done) {
      s->hook = h;
      if (s->deadline != no_deadline && !s->timer_armed) {
        // Armed under the lock, so a completion that follows finds it armed
        // and cancels it (the lock orders arm before cancel).
        s->timer_armed = true;
        s->add_ref();  // the timer's
        s->timer.on_fire = &reply_deadline;
        arm_timer(*s->sys->sched, &s->timer, s->deadline);
      }
      return;
    }
  }
  h->run(h, s);  // already complete: run it now
}

bool cancel_hook(reply_state_base* s, completion_hook* h) noexcept {
  bool armed;
  {
    std::lock_guard g(s->lock);
    if (s->hook != h) return false;  // ran (or is running) already
    s->hook = nullptr;
    s->status = reply_status::abandoned;
    armed = std::exchange(s->timer_armed, false);
  }
  if (armed && cancel_timer(&s->timer)) s->release();
  return true;
}

bool reply_ready(const reply_state_base* s) noexcept {
  return s->ready.load(std::memory_order_acquire) ||
         (s->deadline != no_deadline && now_of(s->sys) >= s->deadline);
}

actor_cell* asking_actor(const char* what) {
  actor_cell* c = current_cell();
  if (!c)
    throw actor_error(
        actor_errc::not_in_actor,
        std::string(what) + ": only in an actor's handler (from elsewhere use on_complete or get)");
  return c;
}

void trace_ask(reply_state_base* s) noexcept {
  static std::atomic<std::uint64_t> flows{0};
  s->flow_id = flows.fetch_add(1, std::memory_order_relaxed) + 1;  // relaxed: only unique
  trace_flow(*s->sys->sched, true, s->flow_id, "ask");
}

void note_callback_failure(reply_state_base* s) noexcept {
  // relaxed: a statistic.
  s->sys->failures.fetch_add(1, std::memory_order_relaxed);
}

void post_continuation(continuation_base* c, reply_state_base*) noexcept {
  actor_cell* owner = c->owner;
  if (!post_sys(owner, c)) c->fn(c, owner, false);  // the asker is gone: unanswered
}

bool continuation_runnable(continuation_base* c, actor_cell* cell, bool deliver, const char* type) noexcept {
  // Registered by the object being run now, not by one a restart replaced.
  const bool ok = deliver && cell && cell->incarnation == c->incarnation && (cell->flags & flag_alive);
  if (ok) {
    current_turn()->deadline = c->deadline;  // asks made in f inherit the asking request's deadline
  } else {
    system_impl* s = cell ? cell->sys : c->owner->sys;
    note_dead_letter(s, cell ? cell : c->owner, dead_letter_reason::unanswered, type);
  }
  release_cell(c->owner);
  return ok;
}

}  // namespace troupe::detail
