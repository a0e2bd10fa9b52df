#pragma once
// The mailbox state of an actor as a value: one 64-bit word, and the named
// transitions senders and the turn apply to it with a CAS. Pure functions of
// the word (no atomics here), so a single-threaded test and a fuzzer can
// drive every transition against a model (tests/actors/mailbox_word_test.cpp).
//
//   bit 58 FINAL   finalising or dead: system messages refused too
//   bit 57 CLOSED  stopping: user messages refused
//   bit 56 SCHED   a turn is queued or running (exactly one at a time)
//   bit 55 KILL    immediate stop: queued user messages are dead-lettered
//   bit 54 PAUSE   the user lane is paused (supervision suspended the actor,
//                  or a non-reentrant coroutine handler is awaiting): user
//                  sends queue but do not schedule the actor
//   bit 53 ADMIT   senders wait for room in the admission queue: a new
//                  sender that may wait joins the queue behind them (FIFO)
//   bits 28-52     system messages queued (25 bits)
//   bits  0-27     user messages accepted and not yet handled: the depth
//
// Who changes what: senders add to the counts (and set SCHED on the
// idle-to-busy edge, and ADMIT when they queue); the turn subtracts what it
// handled, clears SCHED when it goes idle, sets and clears PAUSE, and sets
// FINAL; a stop sets CLOSED (and KILL). docs/design/actors.md has the
// protocol; mailbox.cpp applies it.

#include <cstdint>
#include <optional>

namespace troupe::detail {

class mailbox_word {
 public:
  static constexpr std::uint64_t user_mask = (std::uint64_t{1} << 28) - 1;
  static constexpr unsigned sys_shift = 28;
  static constexpr std::uint64_t sys_one = std::uint64_t{1} << sys_shift;
  static constexpr std::uint64_t sys_mask = ((std::uint64_t{1} << 25) - 1) << sys_shift;
  static constexpr std::uint64_t admit_bit = std::uint64_t{1} << 53;
  static constexpr std::uint64_t pause_bit = std::uint64_t{1} << 54;
  static constexpr std::uint64_t kill_bit = std::uint64_t{1} << 55;
  static constexpr std::uint64_t sched_bit = std::uint64_t{1} << 56;
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 57;
  static constexpr std::uint64_t final_bit = std::uint64_t{1} << 58;
  static constexpr std::uint32_t max_capacity = static_cast<std::uint32_t>(user_mask);

  constexpr mailbox_word() noexcept = default;
  constexpr explicit mailbox_word(std::uint64_t bits) noexcept : bits_(bits) {}
  constexpr std::uint64_t bits() const noexcept { return bits_; }
  friend constexpr bool operator==(mailbox_word, mailbox_word) = default;

  constexpr std::uint32_t depth() const noexcept { return static_cast<std::uint32_t>(bits_ & user_mask); }
  constexpr std::uint32_t sys_count() const noexcept {
    return static_cast<std::uint32_t>((bits_ & sys_mask) >> sys_shift);
  }
  constexpr bool scheduled() const noexcept { return bits_ & sched_bit; }
  constexpr bool closed() const noexcept { return bits_ & (closed_bit | final_bit); }
  constexpr bool killed() const noexcept { return bits_ & kill_bit; }
  constexpr bool final() const noexcept { return bits_ & final_bit; }
  constexpr bool paused() const noexcept { return bits_ & pause_bit; }
  constexpr bool admitting() const noexcept { return bits_ & admit_bit; }

  // --- sender transitions -------------------------------------------------

  enum class reserve : std::uint8_t {
    scheduled,  // accepted; this sender set SCHED and must schedule the actor
    queued,     // accepted; a turn is queued or running (or the lane is paused)
    closed,     // refused: the actor is stopping or gone
    full,       // refused: at capacity
    behind,     // refused: senders wait for room; one that may wait queues behind them
  };
  struct reserve_result {
    reserve outcome;
    std::uint64_t next;  // the word to CAS in, for the accepting outcomes
  };
  // One user message offered at `capacity`.
  constexpr reserve_result try_reserve(std::uint32_t capacity) const noexcept {
    if (closed()) return {reserve::closed, bits_};
    if (admitting()) return {reserve::behind, bits_};
    if (depth() >= capacity) return {reserve::full, bits_};
    return admit_one();
  }
  // Adds one user message regardless of capacity and ADMIT: the turn
  // admitting a waiting sender into a slot it freed, or drop_oldest swapping
  // a message. Sets SCHED like try_reserve.
  constexpr reserve_result admit_one() const noexcept {
    std::uint64_t n = bits_ + 1;
    const bool wake = !(bits_ & (sched_bit | pause_bit));
    if (wake) n |= sched_bit;
    return {wake ? reserve::scheduled : reserve::queued, n};
  }
  // A sender found the mailbox full and may wait: it queues for room. Only
  // if still full and open (else it retries try_reserve).
  constexpr std::optional<mailbox_word> start_admitting(std::uint32_t capacity) const noexcept {
    if (closed() || (!admitting() && depth() < capacity)) return std::nullopt;
    return mailbox_word(bits_ | admit_bit);
  }
  // One system message. nullopt: FINAL, refused. sets_sched: the caller
  // schedules the actor.
  struct post_result {
    std::uint64_t next;
    bool sets_sched;
  };
  constexpr std::optional<post_result> post_sys() const noexcept {
    if (final()) return std::nullopt;
    const bool wake = !(bits_ & sched_bit);
    return post_result{(bits_ + sys_one) | (wake ? sched_bit : 0), wake};
  }
  // A stop: CLOSED (and KILL if immediate), plus the stop token as a system
  // message. nullopt: nothing to do (gone, or already stopping the same way).
  constexpr std::optional<post_result> close(bool immediate) const noexcept {
    if (final() || ((bits_ & closed_bit) && (!immediate || killed()))) return std::nullopt;
    const bool wake = !(bits_ & sched_bit);
    return post_result{((bits_ | closed_bit | (immediate ? kill_bit : 0)) + sys_one) | (wake ? sched_bit : 0),
                       wake};
  }

  // --- turn transitions ---------------------------------------------------

  // What a turn handled: subtracted in one RMW (fetch_sub of this amount).
  static constexpr std::uint64_t consumed(std::uint32_t sys, std::uint32_t user) noexcept {
    return std::uint64_t{sys} * sys_one + user;
  }
  // Runnable work left for a turn: system messages, or user messages while
  // the user lane is not paused.
  constexpr bool has_work() const noexcept { return sys_count() != 0 || (!paused() && depth() != 0); }
  // Going idle: clears SCHED, only if nothing runnable arrived.
  constexpr std::optional<mailbox_word> try_go_idle() const noexcept {
    if (has_work()) return std::nullopt;
    return mailbox_word(bits_ & ~sched_bit);
  }
  // A stopping actor with nothing left may finalise.
  constexpr bool may_finalize() const noexcept {
    return (bits_ & closed_bit) && sys_count() == 0 && depth() == 0;
  }
  constexpr mailbox_word finalized() const noexcept { return mailbox_word(bits_ | final_bit); }
  constexpr mailbox_word with_pause(bool on) const noexcept {
    return mailbox_word(on ? bits_ | pause_bit : bits_ & ~pause_bit);
  }
  constexpr mailbox_word without_admit() const noexcept { return mailbox_word(bits_ & ~admit_bit); }

 private:
  std::uint64_t bits_ = 0;
};

}  // namespace troupe::detail
