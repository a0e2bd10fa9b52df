#include "troupe/runtime/detail/latch.hpp"

#include "scheduler.hpp"
#include "waiter.hpp"

namespace troupe::detail {

namespace {

// Who to wake: a fiber (rescheduled) or a foreign thread (its parker).
struct latch_owner {
  fiber* f = nullptr;
  scheduler* sched = nullptr;
  parker* thread = nullptr;
};

struct block_args {
  latch* l;
  latch_owner* owner;
};

// After the owner fiber has switched away: register it, or, if the count
// reached zero meanwhile, make it runnable again at once.
void publish_owner(worker& w, void* p) {
  auto* a = static_cast<block_args*>(p);
  if (!a->l->register_owner(a->owner)) w.sched.schedule(a->owner->f);
}

}  // namespace

bool latch::register_owner(void* owner) noexcept {
  owner_ = owner;
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if ((s & ~waiter_bit) == 0) return false;
    // release: the last count_down, which acquires this word, sees owner_.
  } while (
      !state_.compare_exchange_weak(s, s | waiter_bit, std::memory_order_release, std::memory_order_relaxed));
  return true;
}

void latch::wake_owner() noexcept {
  auto* o = static_cast<latch_owner*>(owner_);
  if (o->f)
    o->sched->schedule(o->f);
  else
    o->thread->unpark();
}

void latch::block() {
  if (worker* w = this_worker()) {
    latch_owner owner{w->current, &w->sched, nullptr};
    block_args args{this, &owner};
    owner.f->note_wait(fiber_state::joining, troupe::clock::time_point::max());
    w->sched.suspend(&publish_owner, &args);
    owner.f->note_running();
  } else {
    check_thread_may_block();
    latch_owner owner{nullptr, nullptr, &thread_parker()};
    if (register_owner(&owner)) owner.thread->park();
  }
  // The count is zero and no counter touches the word any more: clear the
  // waiter bit so the latch can be reused (a task group spawning again).
  // relaxed: only the owner uses the word now.
  state_.store(state_.load(std::memory_order_relaxed) & ~waiter_bit, std::memory_order_relaxed);
}

bool help_one(const help_mark& mark) {
  worker* w = this_worker();
  if (!w || w != mark.worker || w->current->suspend_epoch != mark.fiber_epoch) return false;
  task_header* t = w->deque.pop_above(mark.bottom);
  if (!t) return false;
  if (is_fiber(t)) {
    // A resumable fiber cannot run inline on this stack; leave it queued.
    w->deque.push(t);
    return false;
  }
  worker_counters::bump(w->counters.tasks_run);
  t->invoke(t);
  return true;
}

help_mark push_spawned(scheduler& s, task_header* t) { return s.push_spawned(t); }

}  // namespace troupe::detail
