#pragma once
// Mailbox options and the numbers a mailbox exposes.
//
// Every mailbox is bounded. When it is full, a send does what the actor's
// overflow_policy says; try_send never waits (`block` acts as `fail`).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "troupe/actors/dequeue_policy.hpp"

namespace troupe {

enum class overflow_policy : std::uint8_t {
  block,        // the sender waits for room until its deadline, then gets mailbox_full.
                // A fiber suspends (its worker runs other work); a foreign thread blocks.
  fail,         // mailbox_full at once
  drop_newest,  // the new message is discarded: send returns `dropped`
  drop_oldest,  // the oldest queued message is discarded to make room; send succeeds
};

// Why a message never reached a handler. Each is counted, system-wide and
// per actor, and handed to the dead-letter hook if one is set.
enum class dead_letter_reason : std::uint8_t {
  actor_stopped,    // sent to an actor that is stopped or stopping (not accepted)
  mailbox_full,     // rejected: `fail` policy, try_send, or a `block` wait timed out (not accepted)
  dropped_newest,   // rejected by `drop_newest` (not accepted)
  dropped_oldest,   // accepted, then discarded by `drop_oldest` to make room
  expired,          // accepted, then its deadline passed before a handler got it
  unprocessed,      // accepted, still queued when the actor stopped immediately or crashed unsupervised
  unanswered,       // a reply nobody waits for any more (the asker timed out, dropped its future, or died)
  system_stopped,   // refused: an external send while the actor system shuts down (not accepted)
  deadline_passed,  // refused: its deadline had passed when it was sent, or while it waited for room (not
                    // accepted)
  shed,             // accepted, then refused at dequeue by the actor's dequeue_policy (it waited too long);
                    // an asker gets actor_errc::overloaded
};
inline constexpr std::size_t dead_letter_reason_count = 10;
const char* to_string(dead_letter_reason r) noexcept;

struct dead_letter_counts {
  std::array<std::uint64_t, dead_letter_reason_count> by_reason{};
  std::uint64_t operator[](dead_letter_reason r) const noexcept {
    return by_reason[static_cast<std::size_t>(r)];
  }
  std::uint64_t total() const noexcept {
    std::uint64_t s = 0;
    for (auto v : by_reason) s += v;
    return s;
  }
};

struct spawn_options {
  // Messages accepted and not yet handled, at most, 1 .. 2^28-1 (zero is an
  // error). The message being handled still counts until its turn's batch
  // ends, as does one a suspended non-reentrant coroutine handler is
  // handling: capacity 4 is one running and three waiting.
  std::size_t capacity = 1024;
  overflow_policy policy = overflow_policy::block;
  // How long a `block` send without an explicit deadline waits for room.
  std::chrono::milliseconds block_timeout{10'000};
  // Messages handled per turn before the actor yields its worker, 1 .. 255.
  std::size_t budget = 32;
  // Opt-in: asked about every user message before its handler runs, with
  // the time the message was sent and its priority; may shed it (dead letter
  // `shed`, the asker gets actor_errc::overloaded). Only actors with a policy
  // read the clock when a message is sent to them. Shared: several actors
  // may use one policy if it is thread-safe. See dequeue_policy.hpp;
  // troupe::patterns::shed_by_queue_delay() makes a CoDel one.
  std::shared_ptr<dequeue_policy> dequeue = nullptr;
};

// A snapshot of one actor; fields are read without a common lock, so they
// may be a few messages apart.
struct actor_stats {
  std::size_t depth = 0;       // user messages accepted and not yet handled (or being handled)
  std::size_t high_water = 0;  // the largest depth ever reached
  std::size_t capacity = 0;
  // Messages handed to a handler, system messages included; a coroutine
  // handler's resumptions after a co_await are not messages.
  std::uint64_t processed = 0;
  dead_letter_counts dead_letters;
  std::uint64_t failures = 0;  // handler exceptions
  std::uint64_t restarts = 0;  // restarts by its supervisor
  bool stopped = false;        // stopping or stopped: sends are refused
};

}  // namespace troupe
