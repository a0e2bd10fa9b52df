#include "troupe/runtime/detail/latch.hpp"

#include "scheduler.hpp"
#include "waiter.hpp"

#include "troupe/runtime/error.hpp"

namespace troupe::detail {

namespace {

// Who to wake: a fiber (rescheduled) or a foreign thread (its parker).
struct latch_owner {
  fiber* f = nullptr;
  scheduler* sched = nullptr;
  parker* thread = nullptr;
};

template <class Latch>
struct block_args {
  Latch* l;
  latch_owner* owner;
};

// After the owner fiber has switched away: register it, or, if the count
// reached zero meanwhile, make it runnable again at once.
template <class Latch>
void publish_owner(worker& w, void* p) {
  auto* a = static_cast<block_args<Latch>*>(p);
  if (!a->l->register_owner(a->owner)) w.sched.schedule(a->owner->f);
}

// Blocks the calling fiber or thread, the owner of `l`, until `l`'s last
// count_down wakes it (or until its register_owner finds nothing left).
template <class Latch>
void block_owner(Latch& l) {
  if (worker* w = this_worker()) {
    latch_owner owner{w->current, &w->sched, nullptr};
    block_args<Latch> args{&l, &owner};
    owner.f->note_wait(fiber_state::joining, troupe::clock::time_point::max());
    w->sched.suspend(&publish_owner<Latch>, &args);
    owner.f->note_running();
  } else {
    check_thread_may_block();
    latch_owner owner{nullptr, nullptr, &thread_parker()};
    if (l.register_owner(&owner)) owner.thread->park();
  }
}

void wake(void* latch_owner_ptr) noexcept {
  auto* o = static_cast<latch_owner*>(latch_owner_ptr);
  if (o->f)
    o->sched->schedule(o->f);
  else
    o->thread->unpark();
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

void latch::wake_owner() noexcept { wake(owner_); }

void latch::block() {
  block_owner(*this);
  // The count is zero and no counter touches the word any more: clear the
  // waiter bit so the latch can be reused (a task group spawning again).
  // relaxed: only the owner uses the word now.
  state_.store(state_.load(std::memory_order_relaxed) & ~waiter_bit, std::memory_order_relaxed);
}

bool group_latch::register_owner(void* owner) noexcept {
  owner_ = owner;
  // The owner's count moves into the word: zero it before the CAS that
  // publishes it (once the waiter bit is up, the last count_down may resume
  // the owner, which reads outstanding_ again).
  const std::uint64_t mine = 2 * std::exchange(outstanding_, 0);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s + mine == 0) return false;  // nothing left: block() zeroes the word
    // release: the last count_down, which acquires this word, sees owner_
    // and the zeroed outstanding_.
  } while (!state_.compare_exchange_weak(s, (s + mine) | waiter_bit, std::memory_order_release,
                                         std::memory_order_relaxed));
  return true;
}

void group_latch::wake_owner() noexcept { wake(owner_); }

void group_latch::block() {
  block_owner(*this);
  // Nothing is left, the owner's count is in the word, and no task touches
  // the word any more: zero it for the group's next round. relaxed: only
  // the owner uses the word now.
  state_.store(0, std::memory_order_relaxed);
}

void push_spawned_from_outside(scheduler& s, task_header* t) {
  if (!s.accepting_external())
    throw error(errc::runtime_stopped, "spawn: the runtime is shutting down and accepts no new work");
  s.inject(t);
}

void notify_spawned(scheduler& s) noexcept { s.notify_work(); }

}  // namespace troupe::detail
