#pragma once
// The actor cell: one allocation holding the scheduler header, the mailbox
// and (right after it, in cell_impl<A>) the user's actor object. Internal.
//
// Layout budget: an idle actor must cost at most 256 bytes all included. The
// cell is 168 bytes; everything an idle actor does not need (monitors,
// links, names, per-actor dead-letter counts, the restart factory) lives in a
// cell_ext allocated on first use.
//
// The mailbox state is one 64-bit word, changed only by atomic RMW:
//
//   bit 63 FINAL   the actor is finalising or dead: system messages refused
//   bit 62 CLOSED  stopping: user messages refused
//   bit 61 SCHED   a turn is queued or running (exactly one at a time)
//   bit 60 SUSP    suspended after a failure: user sends do not schedule it
//   bit 59 KILL    immediate stop: queued user messages are dead-lettered
//   bits 56-58     exit_kind, written with FINAL
//   bits 28-55     system messages queued (28 bits)
//   bits  0-27     user messages accepted and not yet handled (the depth)
//
// A sender reserves a slot with one CAS (checking CLOSED and the capacity),
// and the same CAS sets SCHED if it was clear; only the sender that set
// SCHED schedules the actor. The turn clears SCHED with a CAS that also
// checks that nothing runnable is left, so a message is never stranded. See
// docs/design/actors.md.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>

#include "troupe/actors/detail/alloc.hpp"
#include "troupe/actors/detail/mpsc_queue.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/runtime/detail/spinlock.hpp"
#include "troupe/runtime/detail/task_header.hpp"
#include "troupe/runtime/detail/wait_list.hpp"

namespace troupe::detail {

using clock = std::chrono::steady_clock;

struct system_impl;
struct actor_cell;
struct cell_ext;
struct reply_state_base;

inline constexpr std::uint64_t user_mask = (std::uint64_t{1} << 28) - 1;
inline constexpr unsigned sys_shift = 28;
inline constexpr std::uint64_t sys_one = std::uint64_t{1} << sys_shift;
inline constexpr std::uint64_t sys_mask = user_mask << sys_shift;
inline constexpr unsigned kind_shift = 56;
inline constexpr std::uint64_t kind_mask = std::uint64_t{7} << kind_shift;
inline constexpr std::uint64_t kill_bit = std::uint64_t{1} << 59;
inline constexpr std::uint64_t susp_bit = std::uint64_t{1} << 60;
inline constexpr std::uint64_t sched_bit = std::uint64_t{1} << 61;
inline constexpr std::uint64_t closed_bit = std::uint64_t{1} << 62;
inline constexpr std::uint64_t final_bit = std::uint64_t{1} << 63;
inline constexpr std::size_t max_capacity = user_mask;

constexpr std::uint32_t user_count(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w & user_mask); }
constexpr std::uint32_t sys_count(std::uint64_t w) noexcept {
  return static_cast<std::uint32_t>((w & sys_mask) >> sys_shift);
}

enum class envelope_op : std::uint8_t { deliver, reject };

// A user message. The typed subclass (user_envelope<A, M>) holds the payload.
struct envelope : mpsc_node {
  // deliver: hand the payload to the handler, reply if asked, free the
  // envelope; a handler exception is given to the asker and rethrown.
  // reject: count a dead letter for `why`, fail the asker, free.
  void (*fn)(envelope*, actor_cell*, envelope_op, dead_letter_reason) = nullptr;
  clock::time_point deadline = clock::time_point::max();  // max(): none
  reply_state_base* reply = nullptr;                      // asks only (one reference)
};

// A system message (stop token, down, exit signal, supervision, continuation).
// Not bounded by the capacity, handled before user messages, handled even
// while suspended.
struct sys_message : mpsc_node {
  // deliver=true: run it in the actor's turn. false: the actor is dying or
  // gone; dispose of it (counting what must be counted). Frees itself.
  void (*fn)(sys_message*, actor_cell*, bool deliver) = nullptr;
};

struct cell_vtable {
  const void* type;  // identity of the actor class (registry lookups)
  const char* type_name;
  void* (*storage)(actor_cell*) noexcept;  // where the object lives
  void (*destroy_object)(actor_cell*) noexcept;
  void (*free_cell)(actor_cell*) noexcept;
  void (*on_stop)(actor_cell*);                              // null: the class has none
  void (*on_down)(actor_cell*, void* down_msg);              // null: cannot monitor
  void (*on_exit)(actor_cell*, void* exit_msg);              // null: does not trap exits
  bool supervisor;
};

// Consumer-owned flag bits (cell::flags).
inline constexpr std::uint8_t flag_alive = 1;      // the user object is constructed
inline constexpr std::uint8_t flag_stop_now = 2;   // self-requested immediate stop
inline constexpr std::uint8_t flag_stopping = 4;   // supervisor: stopping its children

struct actor_cell : task_header {
  const cell_vtable* vt = nullptr;
  system_impl* sys = nullptr;
  std::atomic<std::uint64_t> word{0};
  mpsc_queue user_q;
  mpsc_queue sys_q;
  std::atomic<std::uint32_t> refs{1};  // actor_refs, plus one while not finalised
  std::uint32_t capacity = 0;
  std::atomic<std::uint32_t> high_water{0};
  std::atomic<std::uint32_t> blocked{0};  // senders registered to wait for room
  std::uint32_t block_timeout_ms = 0;
  spinlock lock;  // guards `senders`; serialises user pops under drop_oldest
  overflow_policy policy = overflow_policy::block;
  std::uint8_t budget = 32;
  std::uint8_t flags = 0;  // consumer-owned
  wait_list senders;       // blocked senders
  std::atomic<cell_ext*> ext{nullptr};
  actor_cell* parent = nullptr;  // supervisor, or null for a top-level actor
  actor_cell* prev = nullptr;    // top-level list of the system (under its shard lock)
  actor_cell* next_sib = nullptr;
  std::atomic<std::uint64_t> processed{0};  // written by the turn only
};

inline void add_ref(actor_cell* c) noexcept {
  // relaxed: a new reference is made from an existing one, which keeps the
  // cell alive meanwhile (the usual shared_ptr argument).
  c->refs.fetch_add(1, std::memory_order_relaxed);
}
void release_cell(actor_cell* c) noexcept;

template <class A>
struct cell_impl final : actor_cell {
  alignas(A) unsigned char storage[sizeof(A)];
};

template <class A>
A& object_of(actor_cell* c) noexcept {
  return *std::launder(reinterpret_cast<A*>(static_cast<cell_impl<A>*>(c)->storage));
}

// --- mailbox.cpp -----------------------------------------------------------

// Offers a user message. may_block: a full `block` mailbox waits until
// `wait_deadline` (capped by the message's own deadline). Consumes `e` in
// every case (accepted, or rejected and dead-lettered).
send_result post_user(actor_cell* c, envelope* e, bool may_block, clock::time_point wait_deadline);
// Offers a system message; false if the actor is finalising or gone (the
// caller still owns `m`).
bool post_sys(actor_cell* c, sys_message* m) noexcept;
// The task_header::invoke of every actor: runs one turn.
void run_turn(task_header* h);

// --- actor.cpp -------------------------------------------------------------

void note_dead_letter(system_impl* s, actor_cell* target, dead_letter_reason why, const char* type) noexcept;
// Validates options, fills the cell's mailbox fields. Throws actor_error.
void init_cell(actor_cell* c, system_impl* s, const spawn_options& o, const cell_vtable* vt);
// Throws actor_error(system_stopped) once shutdown began.
void check_can_spawn(system_impl* s);
// Makes a freshly built cell live: top level (parent null) or a supervisor's child.
void start_cell(actor_cell* c, actor_cell* parent);
void request_stop(actor_cell* c, stop_mode mode, exit_kind why) noexcept;
actor_cell* current_cell() noexcept;            // the actor whose turn runs on this thread
actor_cell*& constructing_cell() noexcept;       // set around the actor constructor
clock::time_point now() noexcept;

}  // namespace troupe::detail
