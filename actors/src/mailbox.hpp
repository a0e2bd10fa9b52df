#pragma once
// The mailbox (mailbox.cpp): the send path (lock-free unless the mailbox is
// full), the admission queue of senders waiting for room, and the turn that
// drains the mailbox. The word protocol: mailbox_word.hpp and
// docs/design/actors.md.

#include "mailbox_word.hpp"

#include "troupe/actors/detail/cell.hpp"

namespace troupe::detail {

// The task_header::invoke of every actor: runs one turn.
void run_turn(task_header* h);
// Queues the actor's turn on its runtime.
void schedule_cell(actor_cell* c) noexcept;
// The stop transition of the word (mailbox_word::close) with its CAS loop;
// false if there is nothing to do.
bool close_word(actor_cell* c, bool immediate, mailbox_word::post_result& out) noexcept;
// Sets or clears PAUSE from the turn's reasons (suspended, holding). Turn only.
void update_pause(actor_cell* c) noexcept;
// Refuses every waiting sender with actor_stopped (the actor is stopping).
void reject_admissions(actor_cell* c) noexcept;
// Disposes of the messages deferred while a handler held the actor.
void dispose_deferred(actor_cell* c) noexcept;

// A new cell is born holding its turn (SCHED), so that messages its
// constructor sends to it only queue: no turn may run before the spawner
// has started it. Spawn only: the spawner ends the hold with
// release_spawn_hold (scheduling the first turn if anything is queued), or,
// if the actor never starts, disposes of what was queued with
// dispose_unstarted.
inline constexpr std::uint64_t spawn_hold_word = mailbox_word::sched_bit;
void release_spawn_hold(actor_cell* c) noexcept;
void dispose_unstarted(actor_cell* c) noexcept;

}  // namespace troupe::detail
