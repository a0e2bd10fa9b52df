#pragma once
// The actor cell: one allocation holding the scheduler header, the mailbox
// and (right after it, in cell_impl<A>) the user's actor object; the
// messages that travel to it; and the per-turn context a handler runs in.
// Internal: what the public templates need. Everything else is private to
// actors/src (the mailbox word and its transitions: src/mailbox_word.hpp).
//
// Layout budget: an idle actor must cost at most 256 bytes all included.
// Everything an idle actor does not need (monitors, links, names, per-actor
// dead-letter counts, the restart factory, waiting senders, suspended
// coroutine handlers) lives in a cell_ext allocated on first use.

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <new>

#include "troupe/actors/dequeue_policy.hpp"
#include "troupe/actors/detail/alloc.hpp"
#include "troupe/actors/detail/mpsc_queue.hpp"
#include "troupe/actors/detail/segmented_queue.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/task_header.hpp"

namespace troupe::detail {

using time_point = troupe::clock::time_point;
inline constexpr time_point no_deadline = time_point::max();

class scheduler;
struct system_impl;
struct actor_cell;
struct cell_ext;
struct class_stats;
struct reply_state_base;
struct coroutine_root;

enum class envelope_op : std::uint8_t { deliver, reject };

// A message's priority class and the time it was sent, in one word: the
// class in the top two bits, the send time (clock nanoseconds, written only
// for actors with a dequeue policy) in the other 62, which hold 146 years.
class send_stamp {
 public:
  message_priority priority() const noexcept { return static_cast<message_priority>(bits_ >> 62); }
  void set_priority(message_priority p) noexcept {
    bits_ = (bits_ & time_mask) | (static_cast<std::uint64_t>(p) << 62);
  }
  time_point sent_at() const noexcept {
    return time_point(clock::duration(static_cast<clock::duration::rep>(bits_ & time_mask)));
  }
  // Times before the clock's epoch count as the epoch.
  void set_sent_at(time_point t) noexcept {
    const auto ns = t.time_since_epoch().count();
    bits_ = (bits_ & ~time_mask) | (ns < 0 ? 0 : static_cast<std::uint64_t>(ns) & time_mask);
  }

 private:
  static constexpr std::uint64_t time_mask = (std::uint64_t{1} << 62) - 1;
  std::uint64_t bits_ = static_cast<std::uint64_t>(message_priority::normal) << 62;
};

// A user message. The typed subclass (user_envelope<A, M>) holds the payload.
struct envelope {
  // deliver: hand the payload to the handler, reply if asked, free the
  // envelope; a handler exception is given to the asker and rethrown.
  // reject: count a dead letter for `why`, fail the asker, free.
  void (*fn)(envelope*, actor_cell*, envelope_op, dead_letter_reason) = nullptr;
  // When it was accepted into the mailbox (runtime clock), for the mailbox
  // sojourn histogram: stamped only while the system records histograms;
  // time_point::min() otherwise.
  time_point enqueued = time_point::min();
  time_point deadline = no_deadline;
  reply_state_base* reply = nullptr;  // asks only (one reference)
  send_stamp stamp;                   // priority class; send time if the target has a dequeue policy
};

// A system message: stop tokens, monitors' down and exit signals,
// supervision, continuations, timer deliveries and coroutine resumptions.
// Not bounded by the capacity, handled before user messages, handled even
// while the user lane is paused.
struct sys_message : mpsc_node {
  // deliver=true: run it in the actor's turn. false: the actor is dying or
  // gone; dispose of it (counting what must be counted). Frees itself.
  void (*fn)(sys_message*, actor_cell*, bool deliver) = nullptr;
  // A resumption of a suspended coroutine handler: which one. Runs even
  // while a non-reentrant handler holds the actor, if it is that handler.
  coroutine_root* resumes = nullptr;
  // Runs user code that is not part of a suspended handler (a continuation,
  // a timer's message): deferred while a non-reentrant handler holds the
  // actor, so no other user code interleaves with it.
  bool user_code = false;
};

struct cell_vtable {
  const void* type;  // identity of the actor class (registry lookups)
  const char* type_name;
  void* (*storage)(actor_cell*) noexcept;  // where the object lives
  void (*destroy_object)(actor_cell*) noexcept;
  void (*free_cell)(actor_cell*) noexcept;
  void (*on_start)(actor_cell*);        // null: the class has none
  void (*on_stop)(actor_cell*);         // null: the class has none
  void (*on_down)(actor_cell*, void*);  // null: cannot monitor
  void (*on_exit)(actor_cell*, void*);  // null: does not trap exits
  bool supervisor;
  bool reentrant;  // coroutine handlers do not hold the actor while suspended
};

// actor_cell::flags bits the templates read (the rest: src/cell.hpp).
inline constexpr std::uint8_t flag_alive = 1;  // the user object is constructed

struct actor_cell : task_header {
  const cell_vtable* vt = nullptr;
  system_impl* sys = nullptr;
  // The class's metrics entry (src/metrics.hpp), set at spawn; entries live
  // as long as the system. Saves a table probe on every turn.
  class_stats* klass = nullptr;
  // spawn_options::dequeue, owned by the cell_ext; set before the actor is
  // published and never changed, so senders and turns read it plainly.
  dequeue_policy* dequeue = nullptr;
  std::atomic<std::uint64_t> word{0};  // a mailbox_word (src/mailbox_word.hpp)
  // The user message that woke an idle actor, when it was the only one:
  // handed to the turn past user_q (src/mailbox.cpp: enqueue, pop_user).
  envelope* handed = nullptr;
  segmented_queue<envelope> user_q;  // the consumer prefetches what it pops next (decision 0027)
  mpsc_queue sys_q;
  std::atomic<std::uint32_t> refs{1};  // actor_refs, plus one while not finalised
  std::uint32_t capacity = 0;
  std::atomic<std::uint32_t> high_water{0};
  std::uint32_t block_timeout_ms = 0;
  spinlock lock;  // guards the admission queue; serialises user pops under drop_oldest
  overflow_policy policy = overflow_policy::block;
  std::uint8_t budget = 32;
  std::uint8_t flags = 0;  // consumer-owned (src/cell.hpp)
  std::uint8_t pending_exit =
      0;  // consumer-owned: why it stops (exit_kind | 0x80 once set); read after FINAL
  std::uint32_t incarnation = 0;  // consumer-owned: bumped by each restart
  std::atomic<cell_ext*> ext{nullptr};
  actor_cell* parent = nullptr;  // supervisor, or null for a top-level actor
  actor_cell* prev = nullptr;    // top-level list of the system (under its shard lock)
  actor_cell* next_sib = nullptr;
  std::atomic<std::uint64_t> processed{0};  // written by the turn only
};

// The bits of actor_cell::word that count queued user messages (the depth):
// mailbox_word::user_mask (src/mailbox_word.hpp checks they agree).
inline constexpr std::uint64_t mailbox_depth_mask = (std::uint64_t{1} << 28) - 1;
// User messages accepted and not yet handled (or being handled), as of one
// relaxed load of the word: for balancers, which want a recent value and
// nothing published with it. Any thread.
inline std::size_t mailbox_depth(const actor_cell* c) noexcept {
  return static_cast<std::size_t>(c->word.load(std::memory_order_relaxed) & mailbox_depth_mask);
}

inline void add_ref(actor_cell* c) noexcept {
  // relaxed: a new reference is made from an existing one, which keeps the
  // cell alive meanwhile (the usual shared_ptr argument).
  c->refs.fetch_add(1, std::memory_order_relaxed);
}
// Drops n references; the last frees the cell. Any thread holding them.
void release_cell(actor_cell* c, std::uint32_t n = 1) noexcept;

template <class A>
struct cell_impl final : actor_cell {
  alignas(A) unsigned char storage[sizeof(A)];
};

template <class A>
A& object_of(actor_cell* c) noexcept {
  return *std::launder(reinterpret_cast<A*>(static_cast<cell_impl<A>*>(c)->storage));
}

// What a handler runs in: set by the turn for each message and each
// resumption, kept per fiber (a handler that blocks may resume on another
// worker thread). Null outside actors.
struct turn_context {
  actor_cell* cell = nullptr;
  envelope* current = nullptr;        // the plain handler's message, if any
  time_point deadline = no_deadline;  // of the request being handled: asks inherit it
  coroutine_root* root = nullptr;     // the coroutine handler being run, if any
};
turn_context* current_turn() noexcept;
// Sets the current turn context; returns the previous one.
turn_context* set_current_turn(turn_context* t) noexcept;

// How a sender meets a full `block` mailbox.
enum class send_mode : std::uint8_t {
  block,  // wait for room (the fiber suspends, a foreign thread blocks), up to the deadline
  queue,  // never wait here: the message waits for room in the admission queue, up to its deadline
  fail,   // never wait: mailbox_full at once
};

// --- mailbox.cpp -------------------------------------------------------------

// Offers a user message. A full `block` mailbox waits as `mode` says, until
// `wait_deadline` (capped by the message's own deadline). Consumes `e` in
// every case: accepted (or queued for admission), or rejected and
// dead-lettered (the asker, if any, is told why).
send_result post_user(actor_cell* c, envelope* e, send_mode mode, time_point wait_deadline);
// send_async: like post_user with send_mode::queue; `accepted` (one
// reference, a reply_state<void>) completes when the message is accepted,
// or with the reason it was refused.
void post_accepted(actor_cell* c, envelope* e, time_point wait_deadline, reply_state_base* accepted);
// Offers a system message; false if the actor is finalising or gone (the
// caller still owns `m`).
bool post_sys(actor_cell* c, sys_message* m) noexcept;

// --- cell.cpp ----------------------------------------------------------------

void note_dead_letter(system_impl* s, actor_cell* target, dead_letter_reason why, const char* type) noexcept;
void check_ref(const actor_cell* c, const char* what);
time_point now_of(const system_impl* s) noexcept;
// The runtime scheduler of s: for layers above that arm their own timers
// (detail::arm_timer) on the wheels the actors use.
scheduler& scheduler_of(const system_impl* s) noexcept;

}  // namespace troupe::detail
