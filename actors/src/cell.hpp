#pragma once
// The lifecycle of an actor cell (cell.cpp): creation, stop, failure,
// restart, finalisation, monitors and links, dead letters and statistics;
// and the extension block an idle actor does without.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/detail/unique_function.hpp"
#include "troupe/actors/task.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::detail {

struct admission;

// actor_cell::flags beyond flag_alive, all consumer-owned (the turn's).
inline constexpr std::uint8_t flag_stop_now = 2;     // self-requested immediate stop, or failed unsupervised
inline constexpr std::uint8_t flag_stopping = 4;     // supervisor: stopping its children
inline constexpr std::uint8_t flag_suspended = 8;    // failed, waiting for its supervisor's decision
inline constexpr std::uint8_t flag_holding = 16;     // a non-reentrant coroutine handler holds the user lane
inline constexpr std::uint8_t flag_turn_state = 32;  // the extension holds roots or deferred messages
inline constexpr std::uint8_t flag_started = 64;     // on_start has run (or there is none)

// What an idle actor does not need, allocated on first use.
struct cell_ext {
  spinlock lock;            // guards the lifecycle fields below
  bool dead = false;        // finalised
  bool has_reason = false;  // final_reason holds details
  exit_reason final_reason;
  std::vector<actor_cell*> watchers;       // monitoring actors, one reference each
  std::vector<reply_state_base*> watches;  // watch() futures, one reference each
  std::vector<actor_cell*> links;          // one reference each
  std::vector<std::string> names;
  unique_function<void(void*)> factory;     // supervised children
  std::shared_ptr<dequeue_policy> dequeue;  // owns actor_cell::dequeue
  std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> dead_letters{};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> restarts{0};

  // Senders waiting for room, oldest first (guarded by the cell's lock).
  admission* admit_head = nullptr;
  admission* admit_tail = nullptr;

  // Turn-owned: suspended coroutine handlers, the one holding the user lane,
  // and user-code system messages deferred while it holds.
  coroutine_root* roots = nullptr;
  coroutine_root* holder = nullptr;
  sys_message* deferred_head = nullptr;
  sys_message* deferred_tail = nullptr;
};

cell_ext* ensure_ext(actor_cell* c);
inline cell_ext* ext_of(const actor_cell* c) noexcept { return c->ext.load(std::memory_order_acquire); }

// A system message running body(cell, deliver) in the target's turn.
template <class F>
struct fn_message final : sys_message, small_object {
  explicit fn_message(F&& f) : body(std::move(f)) { this->fn = &run; }
  static void run(sys_message* m, actor_cell* c, bool deliver) {
    std::unique_ptr<fn_message> self(static_cast<fn_message*>(m));
    self->body(c, deliver);
  }
  F body;
};
template <class F>
sys_message* make_sys(F&& f) {
  return new fn_message<std::decay_t<F>>(std::forward<F>(f));
}
// Posts, or disposes of it at once (deliver=false) if the target is gone.
void post_or_dispose(actor_cell* target, sys_message* m) noexcept;

// --- the running turn's side of the lifecycle ----------------------------------
// A handler threw (or a linked actor died): supervised, the actor is
// suspended and its supervisor decides; otherwise it stops.
void handle_failure(actor_cell* c, const exit_reason& reason);
// Runs a system message in the turn, turning an exception into a failure.
void run_sys(actor_cell* c, sys_message* m);
// Sets FINAL if the word still equals `w` (nothing arrived), then finalises.
bool try_finalize(actor_cell* c, std::uint64_t w);
// CLOSED (and KILL), plus a stop token; wakes waiting senders.
void close_cell(actor_cell* c, stop_mode mode, exit_kind why) noexcept;
exit_kind pending_kind(const actor_cell* c) noexcept;
void set_pending_kind(actor_cell* c, exit_kind k) noexcept;
exit_reason describe(std::exception_ptr e, exit_kind kind);
// Rebuilds the object from its factory (supervision); the mailbox is kept.
void restart_in_place(actor_cell* c);
// Posts a restart command to a child.
void post_restart(actor_cell* child);
// The cell whose turn runs now on this fiber, or null.
actor_cell* current_cell() noexcept;

}  // namespace troupe::detail
