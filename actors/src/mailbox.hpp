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

}  // namespace troupe::detail
