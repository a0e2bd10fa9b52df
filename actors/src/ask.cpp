// Completion of asks: the reply, the asker's wait, abandonment and
// continuations.

#include "system_impl.hpp"
#include "troupe/actors/ask.hpp"

namespace troupe::detail {

bool complete_reply(reply_state_base* s, bool is_reply, void (*fill)(reply_state_base*, void*), void* arg) noexcept {
  s->lock.lock();
  if (is_reply) {
    if (s->delivered) {
      s->lock.unlock();
      return false;
    }
    s->delivered = true;
  }
  if (s->status != reply_status::pending) {
    // The asker gave up (or the deadline completed it): a late reply is a
    // dead letter; a late timeout or rejection is nothing.
    s->lock.unlock();
    if (is_reply) note_dead_letter(s->sys, nullptr, dead_letter_reason::unanswered, "reply");
    return true;
  }
  fill(s, arg);
  s->status = reply_status::done;
  // release: a reader that sees ready sees the result.
  s->ready.store(true, std::memory_order_release);
  sys_message* m = std::exchange(s->then_msg, nullptr);
  actor_cell* owner = std::exchange(s->then_cell, nullptr);
  s->waiters.notify_all();
  s->lock.unlock();
  if (m) {
    if (!post_sys(owner, m)) m->fn(m, owner, false);  // the asker is gone: unanswered
    release_cell(owner);
  }
  return true;
}

bool wait_reply(reply_state_base* s) {
  // acquire: pairs with the release store in complete_reply.
  if (s->ready.load(std::memory_order_acquire)) return true;
  s->lock.lock();
  for (;;) {
    if (s->status == reply_status::done) {
      s->lock.unlock();
      return true;
    }
    if (now() >= s->deadline) {
      s->status = reply_status::abandoned;
      s->lock.unlock();
      return false;
    }
    const wake_reason why = s->waiters.wait(s->lock, s->deadline);  // releases the lock
    s->lock.lock();
    if (why == wake_reason::cancelled && s->status != reply_status::done) {
      s->status = reply_status::abandoned;
      s->lock.unlock();
      throw actor_error(actor_errc::cancelled, "ask: wait cancelled by runtime shutdown");
    }
  }
}

void abandon_reply(reply_state_base* s) noexcept {
  s->lock.lock();
  if (s->status == reply_status::pending && !s->then_msg) s->status = reply_status::abandoned;
  s->lock.unlock();
}

void register_then(reply_state_base* s, actor_cell* owner, sys_message* m) {
  s->lock.lock();
  if (s->status == reply_status::done) {
    s->lock.unlock();
    if (!post_sys(owner, m)) m->fn(m, owner, false);
    return;
  }
  add_ref(owner);
  s->then_cell = owner;
  s->then_msg = m;
  s->lock.unlock();
  if (s->deadline == clock::time_point::max()) return;
  s->add_ref();
  struct holder {
    reply_state_base* s;
    explicit holder(reply_state_base* p) : s(p) {}
    holder(holder&& o) noexcept : s(std::exchange(o.s, nullptr)) {}
    ~holder() {
      if (s) s->release();
    }
  };
  try {
    s->sys->timers.add(
        s->deadline, clock::duration::zero(),
        [h = holder(s)]() {
          h.s->timeout_fn(h.s);
          return false;
        },
        /*user=*/false);
  } catch (...) {
    // No timer: the continuation still runs when the reply or a rejection arrives.
  }
}

}  // namespace troupe::detail
