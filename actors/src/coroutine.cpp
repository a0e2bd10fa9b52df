// Coroutine handlers inside the turn: a handler's coroutine runs in its
// actor's turn; every resumption is a system message to that actor, so the
// coroutine always runs in a turn, never concurrently with one.

#include "coroutine.hpp"

#include <algorithm>

#include "cell.hpp"
#include "mailbox.hpp"
#include "system.hpp"

namespace troupe::detail {

namespace {

void link_root(actor_cell* c, coroutine_root* r) {
  cell_ext* x = ensure_ext(c);
  r->prev = nullptr;
  r->next = x->roots;
  if (x->roots) x->roots->prev = r;
  x->roots = r;
  c->flags |= flag_turn_state;
}

void unlink_root(actor_cell* c, coroutine_root* r) noexcept {
  cell_ext* x = ext_of(c);
  if (r->prev)
    r->prev->next = r->next;
  else
    x->roots = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = nullptr;
}

void release_hold(actor_cell* c, coroutine_root* r) noexcept {
  if (!r->holding) return;
  r->holding = false;
  ext_of(c)->holder = nullptr;
  c->flags &= static_cast<std::uint8_t>(~flag_holding);
  update_pause(c);
}

// Replies from the finished frame; returns the handler's exception, if any.
std::exception_ptr finish(coroutine_root* r) noexcept {
  std::exception_ptr error = r->finish(r);
  r->frame.destroy();
  if (r->reply) r->reply->release();
  return error;
}

}  // namespace

void start_root(actor_cell* c, coroutine_root* r) {
  r->ctx.root = r;
  turn_context* outer = set_current_turn(&r->ctx);
  r->frame.resume();  // to its first suspension, or its end
  set_current_turn(outer);
  if (r->frame.done()) {
    std::exception_ptr error = finish(r);
    delete r;
    if (error) std::rethrow_exception(error);  // the turn reports it, as from a plain handler
    return;
  }
  link_root(c, r);
  if (!r->reentrant) {
    // Turn-based: no other user message (or user-code system message)
    // runs until this handler finishes.
    r->holding = true;
    ext_of(c)->holder = r;
    c->flags |= flag_holding;
    update_pause(c);
  }
}

void resume_in_turn(coroutine_root* r, std::coroutine_handle<> h) noexcept {
  actor_cell* c = r->cell;
  turn_context* outer = set_current_turn(&r->ctx);
  h.resume();
  set_current_turn(outer);
  if (!r->frame.done()) return;
  unlink_root(c, r);
  release_hold(c, r);
  std::exception_ptr error = finish(r);
  delete r;
  if (error) {
    try {
      handle_failure(c, describe(error, exit_kind::failed));
    } catch (...) {
      // No memory to record the failure: the actor goes on.
    }
  }
}

coroutine_root& running_root(const char* what) {
  turn_context* t = current_turn();
  if (!t || !t->root)
    throw actor_error(actor_errc::not_in_actor,
                      std::string(what) + ": only inside a coroutine handler run by an actor");
  return *t->root;
}

void destroy_coroutines(actor_cell* c, actor_errc code) noexcept {
  cell_ext* x = ext_of(c);
  if (!x) return;
  while (coroutine_root* r = x->roots) {
    unlink_root(c, r);
    release_hold(c, r);
    // Destroying the frame destroys what it awaits: asks are abandoned
    // (late replies counted as unanswered), delays cancelled.
    r->frame.destroy();
    if (r->reply) {
      r->reply->error_fn(r->reply, code);
      r->reply->release();
    }
    delete r;
  }
}

bool has_coroutines(const actor_cell* c) noexcept {
  if (!(c->flags & flag_turn_state)) return false;
  const cell_ext* x = ext_of(c);
  return x && x->roots;
}

// --------------------------------------------------------- resume records

namespace {
void run_resume(sys_message* m, actor_cell*, bool deliver) {
  auto* r = static_cast<resume_record*>(m);
  // The frame may have been destroyed since (its awaiter cleared `handle`):
  // both happen in this actor's turns, one after the other.
  if (deliver && r->handle) resume_in_turn(r->root, r->handle);
  r->release();
}
void hook_ready(completion_hook* h, reply_state_base* s) noexcept {
  s->release();  // the hook's reference: the awaiter keeps its own
  static_cast<resume_record*>(h)->post();
}
}  // namespace

resume_record::resume_record(coroutine_root* r, std::coroutine_handle<> h) noexcept
    : root(r), handle(h), cell(r->cell) {
  add_ref(cell);
  this->fn = &run_resume;
  this->resumes = r;
  this->run = &hook_ready;
}

resume_record::~resume_record() { release_cell(cell); }

void resume_record::post() noexcept {
  if (!post_sys(cell, this)) fn(this, cell, false);
}

void resume_record::drop_awaiter() noexcept {
  handle = nullptr;
  release();
}

void resume_record::release() noexcept {
  // acq_rel: the last owner sees the other's writes before deleting.
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

// ------------------------------------------------------------------ delay

namespace {
void delay_fired(timer_entry* t) noexcept { static_cast<delay_record*>(t)->post(); }
}  // namespace

delay_record::delay_record(coroutine_root* r, std::coroutine_handle<> h) noexcept
    : resume_record(r, h), timer_entry(&delay_fired) {}

void arm_delay(delay_record* d, time_point until) noexcept { arm_timer(*d->cell->sys->sched, d, until); }

bool cancel_delay(delay_record* d) noexcept { return cancel_timer(d); }

time_point turn_now(const char* what) {
  turn_context* t = current_turn();
  if (!t || !t->cell)
    throw actor_error(actor_errc::not_in_actor, std::string(what) + ": only in an actor's turn");
  return now_of(t->cell->sys);
}

// ------------------------------------------------------------- when_all/any

join_awaiter::join_awaiter(std::vector<task<void>> parts, bool any, time_point until) : until_(until) {
  join_.any = any;
  join_.pending = parts.size();
  children_.reserve(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i)
    children_.push_back(run_child(std::move(parts[i]), join_, i));
}

join_awaiter::~join_awaiter() {
  if (deadline_) {  // destroyed while suspended
    if (cancel_delay(deadline_)) deadline_->release();
    deadline_->drop_awaiter();
  }
  // children_ goes now: unfinished children are destroyed, abandoning what
  // they await.
}

bool join_awaiter::await_suspend(std::coroutine_handle<> h) {
  coroutine_root& root = running_root("when_all/when_any");
  join_.waiter = h;
  for (auto& child : children_) child.h.resume();  // each to its first suspension (or end)
  join_.starting = false;
  if (join_.any ? join_.winner != static_cast<std::size_t>(-1) : join_.pending == 0) {
    join_.resumed = true;
    return false;  // all done already: no suspension
  }
  const time_point deadline = std::min(until_, root.ctx.deadline);
  if (deadline != no_deadline) {
    deadline_ = new delay_record(&root, h);
    arm_delay(deadline_, deadline);
  }
  return true;
}

std::size_t join_awaiter::await_resume() noexcept {
  join_.resumed = true;
  if (deadline_) {
    if (cancel_delay(deadline_)) deadline_->release();
    std::exchange(deadline_, nullptr)->drop_awaiter();
  }
  return join_.winner;
}

}  // namespace troupe::detail
