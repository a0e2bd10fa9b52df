#include "timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <mutex>

#include "scheduler.hpp"

namespace troupe::detail {

namespace {

// Entries at most this many ticks ahead fit the wheel: 63 top-level slots,
// so that the top level's wrapped slot index never equals its current one.
constexpr std::uint64_t max_ahead = std::uint64_t{63}
                                    << (timer_wheel::level_bits * (timer_wheel::levels - 1));
// A level-0 slot longer than this is not scanned for its exact earliest
// deadline (the worker then wakes at the slot's start and looks again).
constexpr int max_scan = 64;

}  // namespace

timer_wheel::timer_wheel() noexcept = default;

void timer_wheel::count(timer_entry* e, int delta) noexcept {
  // relaxed (both): written under lock_, read as statistics and by
  // shutdown's quiescence check, which re-checks under the workers' parking.
  count_.store(count_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  if (e->keeps_alive)
    keepalive_.store(keepalive_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

void timer_wheel::link(std::uint16_t slot, timer_entry* e) noexcept {
  list& l = slots_[slot];
  e->slot = slot;
  e->next = nullptr;
  e->prev = l.tail;
  if (l.tail)
    l.tail->next = e;
  else
    l.head = e;
  l.tail = e;
  if (slot < far_slot) occupied_[slot / slots_per_level] |= std::uint64_t{1} << (slot % slots_per_level);
}

void timer_wheel::unlink(timer_entry* e) noexcept {
  list& l = slots_[e->slot];
  if (e->prev)
    e->prev->next = e->next;
  else
    l.head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l.tail = e->prev;
  if (!l.head && e->slot < far_slot)
    occupied_[e->slot / slots_per_level] &= ~(std::uint64_t{1} << (e->slot % slots_per_level));
  e->slot = no_slot;
  e->prev = e->next = nullptr;
}

timer_wheel::list timer_wheel::take_list(std::uint16_t slot) noexcept {
  list l = slots_[slot];
  slots_[slot] = list{};
  if (slot < far_slot) occupied_[slot / slots_per_level] &= ~(std::uint64_t{1} << (slot % slots_per_level));
  return l;
}

void timer_wheel::place(timer_entry* e) noexcept {
  const std::uint64_t tick = std::max(e->when >> tick_shift, elapsed_);
  if (tick - elapsed_ >= max_ahead) {
    // Years away: park it on the far list until it comes within range.
    link(far_slot, e);
    far_check_ = std::min(far_check_, tick - max_ahead + 1);
    return;
  }
  // The level whose slots first tell `tick` apart from the current time: the
  // highest 6-bit digit in which they differ (capped at the top level).
  const std::uint64_t diff = (tick ^ elapsed_) | (slots_per_level - 1);
  const unsigned level = std::min<unsigned>((63 - std::countl_zero(diff)) / level_bits, levels - 1);
  const unsigned slot = static_cast<unsigned>(tick >> (level * level_bits)) & (slots_per_level - 1);
  link(static_cast<std::uint16_t>(level * slots_per_level + slot), e);
}

bool timer_wheel::insert(timer_entry* e) noexcept {
  std::lock_guard g(lock_);
  // release: a canceller that wins against `pending` (acquire) sees `wheel`
  // and `when`, written before.
  e->state.store(timer_state::pending, std::memory_order_release);
  place(e);
  count(e, +1);
  const bool lowered = e->when < hint_.load(std::memory_order_relaxed);
  // relaxed: hint_ is written under lock_ and read as a hint; the callers
  // that act on a lowered hint fence themselves (scheduler::timer_armed).
  if (lowered) hint_.store(e->when, std::memory_order_relaxed);
  return lowered;
}

void timer_wheel::remove(timer_entry* e) noexcept {
  std::lock_guard g(lock_);
  if (e->slot == no_slot) return;  // a firing worker dropped it already
  unlink(e);
  count(e, -1);
}

bool timer_wheel::next_expiry(expiry& out) const noexcept {
  bool found = false;
  for (unsigned level = 0; level < levels; ++level) {
    const std::uint64_t bits = occupied_[level];
    if (!bits) continue;
    const unsigned shift = level * level_bits;
    const unsigned pos = static_cast<unsigned>(elapsed_ >> shift) & (slots_per_level - 1);
    const unsigned slot =
        (pos + static_cast<unsigned>(std::countr_zero(std::rotr(bits, static_cast<int>(pos))))) &
        (slots_per_level - 1);
    const std::uint64_t slot_range = std::uint64_t{1} << shift;
    const std::uint64_t level_range = slot_range << level_bits;
    std::uint64_t tick = (elapsed_ & ~(level_range - 1)) + slot * slot_range;
    if (slot < pos) tick += level_range;  // wrapped round: the next rotation
    if (!found || tick < out.tick) out = expiry{level, slot, tick};
    found = true;
  }
  if (slots_[far_slot].head && (!found || far_check_ < out.tick)) {
    out = expiry{levels, 0, far_check_};
    found = true;
  }
  return found;
}

timer_entry* timer_wheel::take_due(std::uint64_t now_ns, bool try_lock) noexcept {
  if (try_lock) {
    if (!lock_.try_lock()) return nullptr;
  } else {
    lock_.lock();
  }
  std::lock_guard g(lock_, std::adopt_lock);
  const std::uint64_t now_tick = now_ns >> tick_shift;
  timer_entry* head = nullptr;
  timer_entry* tail = nullptr;
  if (count_.load(std::memory_order_relaxed) == 0) {
    elapsed_ = std::max(elapsed_, now_tick);  // keep the wheel's time fresh
    hint_.store(never, std::memory_order_relaxed);
    return nullptr;
  }
  expiry x;
  while (next_expiry(x) && x.tick <= now_tick) {
    elapsed_ = std::max(elapsed_, x.tick);
    if (x.level == levels) {  // the far list: re-place what came within range
      list far = take_list(far_slot);
      far_check_ = never;
      for (timer_entry* e = far.head; e;) {
        timer_entry* next = e->next;
        place(e);
        e = next;
      }
      continue;
    }
    list l = take_list(static_cast<std::uint16_t>(x.level * slots_per_level + x.slot));
    bool kept = false;
    for (timer_entry* e = l.head; e;) {
      timer_entry* next = e->next;
      if (x.level != 0) {
        place(e);  // cascade to a finer level
      } else if (e->when > now_ns) {
        // Due later within the current tick: stays for the next poll.
        link(static_cast<std::uint16_t>(x.slot), e);
        kept = true;
      } else {
        e->slot = no_slot;
        count(e, -1);
        timer_state expected = timer_state::pending;
        // acq_rel: acquire what the armer wrote before arming (release in
        // insert); release our claim to a canceller that loses (acquire).
        if (e->state.compare_exchange_strong(expected, timer_state::fired, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
          e->prev = tail;
          e->next = nullptr;
          if (tail)
            tail->next = e;
          else
            head = e;
          tail = e;
        }
        // Otherwise it was cancelled: its canceller finds it unlinked.
      }
      e = next;
    }
    if (kept) break;  // nothing later in the wheel can be due yet
  }
  hint_.store(next_poll_locked(now_ns), std::memory_order_relaxed);
  return head;
}

std::uint64_t timer_wheel::next_poll_locked(std::uint64_t now_ns) const noexcept {
  expiry x;
  if (!next_expiry(x)) return never;
  if (x.level != 0) return x.tick << tick_shift;
  std::uint64_t earliest = never;
  int scanned = 0;
  for (const timer_entry* e = slots_[x.slot].head; e; e = e->next) {
    // Too long to scan: the slot's start, but never now or earlier. A slot
    // of the current tick was just polled, so all it holds is due after
    // now; a hint of its start would have its worker poll again at once,
    // and again, until the tick ended (and a driven runtime's next_timer()
    // would not move on).
    if (++scanned > max_scan) return std::max(x.tick << tick_shift, now_ns == never ? never : now_ns + 1);
    earliest = std::min(earliest, e->when);
  }
  return earliest;
}

}  // namespace troupe::detail

namespace troupe::detail {

void arm_timer(scheduler& s, timer_entry* e, std::chrono::steady_clock::time_point deadline) noexcept {
  s.arm(e, deadline);
}

bool cancel_timer(timer_entry* e) noexcept {
  timer_state expected = timer_state::pending;
  // acq_rel: acquire `wheel` (released by insert); release our claim to the
  // firing worker, whose CAS then fails.
  if (!e->state.compare_exchange_strong(expected, timer_state::cancelled, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
    return false;
  e->wheel->remove(e);
  return true;
}

}  // namespace troupe::detail
