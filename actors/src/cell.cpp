// Lifecycle of an actor cell: creation, stop, failure, restart,
// finalisation, monitors, links, dead letters and statistics.

#include "cell.hpp"

#include <algorithm>
#include <cstdlib>
#include <cxxabi.h>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include "coroutine.hpp"
#include "mailbox.hpp"
#include "mailbox_word.hpp"
#include "metrics.hpp"
#include "registry.hpp"
#include "supervisor.hpp"
#include "system.hpp"

#include "troupe/actors/actor.hpp"
#include "troupe/actors/supervisor.hpp"

namespace troupe::detail {

namespace {

thread_local actor_cell* tl_constructing = nullptr;

exit_reason final_reason_of(actor_cell* c, cell_ext* x) {
  if (x && x->has_reason) return x->final_reason;
  return exit_reason{pending_kind(c), {}, {}};
}

void deliver_down(actor_cell* watcher, actor_cell* who, const exit_reason& r) {
  add_ref(who);
  post_or_dispose(watcher, make_sys([who, reason = r](actor_cell* c, bool deliver) mutable {
                    down d{actor_addr(who, actor_addr::adopt_t{}), std::move(reason)};
                    if (deliver && c->vt->on_down && (c->flags & flag_alive)) c->vt->on_down(c, &d);
                  }));
}

void deliver_exit(actor_cell* peer, actor_cell* who, const exit_reason& r) {
  add_ref(who);
  post_or_dispose(
      peer, make_sys([who, reason = r](actor_cell* c, bool deliver) mutable {
        exit_signal x{actor_addr(who, actor_addr::adopt_t{}), std::move(reason)};
        if (!deliver) return;
        if (c->vt->on_exit && (c->flags & flag_alive)) {
          c->vt->on_exit(c, &x);
        } else if (x.reason.abnormal()) {
          exit_reason why{exit_kind::linked, "linked actor failed: " + x.reason.message, x.reason.exception};
          handle_failure(c, why);
        }
      }));
}

// Destroys the user object (and first the coroutine handlers suspended in
// it, which point into it). A supervisor's object goes with the cell.
void destroy_object(actor_cell* c) noexcept {
  destroy_coroutines(c, actor_errc::actor_stopped);
  if (!(c->flags & flag_alive) || c->vt->supervisor) return;
  if (c->vt->on_stop) {
    try {
      c->vt->on_stop(c);
    } catch (...) {
      // relaxed: a statistic.
      c->sys->failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
  c->vt->destroy_object(c);
  c->flags &= static_cast<std::uint8_t>(~flag_alive);
}

// Everything after FINAL: the actor is gone; tell everyone who asked.
void finalize(actor_cell* c) {
  destroy_object(c);
  dispose_deferred(c);
  reject_admissions(c);
  // seq_cst: FINAL was set by a seq_cst CAS; this load and the seq_cst CAS
  // in ensure_ext order against a concurrent monitor()/link() (see there).
  cell_ext* x = c->ext.load(std::memory_order_seq_cst);
  exit_reason reason;
  std::vector<actor_cell*> watchers, links;
  std::vector<reply_state_base*> watches;
  std::vector<std::string> names;
  if (x) {
    std::lock_guard g(x->lock);
    x->dead = true;
    reason = final_reason_of(c, x);
    x->final_reason = reason;
    x->has_reason = true;
    watchers.swap(x->watchers);
    watches.swap(x->watches);
    links.swap(x->links);
    names.swap(x->names);
  } else {
    reason = final_reason_of(c, nullptr);
  }
  for (actor_cell* w : watchers) {
    deliver_down(w, c, reason);
    release_cell(w);
  }
  for (reply_state_base* s : watches) {
    result<exit_reason> r(reason);
    complete_reply(s, false, &fill_result<exit_reason>, &r);
    s->release();
  }
  for (actor_cell* peer : links) {
    if (cell_ext* px = ext_of(peer)) {
      bool found;
      {
        std::lock_guard g(px->lock);
        auto it = std::find(px->links.begin(), px->links.end(), c);
        found = it != px->links.end();
        if (found) px->links.erase(it);
      }
      if (found) release_cell(c);
    }
    deliver_exit(peer, c, reason);
    release_cell(peer);
  }
  if (!names.empty()) unregister_names(c, names);
  if (actor_cell* p = c->parent) {
    add_ref(c);
    post_or_dispose(p, make_sys([c](actor_cell* sup, bool deliver) {
                      if (deliver) supervisor_child_exit(sup, c);
                      release_cell(c);
                    }));
    release_cell(p);
  } else {
    c->sys->remove_top_level(c);
  }
  release_cell(c);  // the running actor's reference
}

}  // namespace

// ------------------------------------------------------------ construction

actor_cell*& constructing_cell_slot() noexcept { return tl_constructing; }

constructing_scope::constructing_scope(actor_cell* c) noexcept
    : saved(std::exchange(tl_constructing, c)), turn{c}, saved_turn(set_current_turn(&turn)) {
  // Asks made in the constructor inherit the deadline of the turn that
  // spawns the actor, as asks made in that turn would.
  if (saved_turn) turn.deadline = saved_turn->deadline;
}
constructing_scope::~constructing_scope() {
  set_current_turn(saved_turn);
  tl_constructing = saved;
}

actor_base::actor_base() : troupe_cell_(tl_constructing) {
  if (!troupe_cell_)
    throw actor_error(actor_errc::invalid_argument, "actor objects are made by spawn(), never directly");
}

void abandon_cell(actor_cell* c) noexcept {
  dispose_unstarted(c);  // e.g. what a constructor that then threw sent itself
  if (c->flags & flag_alive) {
    c->vt->destroy_object(c);
    c->flags &= static_cast<std::uint8_t>(~flag_alive);
  }
  // The spawner's two references (spawn_cell). A ref the constructor let
  // out keeps the cell, stopped and refusing, until it goes; the last
  // reference frees the extension block (set_factory's) with the cell.
  release_cell(c, 2);
}

void init_cell(actor_cell* c, system_impl* s, const spawn_options& o, const cell_vtable* vt) {
  c->vt = vt;  // first: abandon_cell frees the cell through it
  c->sys = s;
  if (o.capacity == 0)
    throw actor_error(actor_errc::invalid_argument, "spawn: mailbox capacity must be at least 1");
  if (o.capacity > mailbox_word::max_capacity)
    throw actor_error(actor_errc::invalid_argument, "spawn: mailbox capacity must be below 2^28");
  if (o.budget == 0 || o.budget > 255)
    throw actor_error(actor_errc::invalid_argument, "spawn: budget must be in 1..255");
  if (o.block_timeout.count() < 0 || o.block_timeout.count() > 0xffffffffLL)
    throw actor_error(actor_errc::invalid_argument, "spawn: block_timeout out of range");
  c->word.store(spawn_hold_word, std::memory_order_relaxed);  // private until start_cell ends
  c->invoke = &run_turn;
  c->vt = vt;
  c->sys = s;
  c->capacity = static_cast<std::uint32_t>(o.capacity);
  c->policy = o.policy;
  c->budget = static_cast<std::uint8_t>(o.budget);
  c->block_timeout_ms = static_cast<std::uint32_t>(o.block_timeout.count());
  if (o.dequeue) {
    ensure_ext(c)->dequeue = o.dequeue;
    c->dequeue = o.dequeue.get();
  }
  if (!vt->on_start) c->flags |= flag_started;
  c->klass = &s->classes.of(vt);  // the class's metrics entry, made by its first spawn
}

void check_can_spawn(system_impl* s) {
  // relaxed: a fast refusal; start_cell re-checks under the shard lock.
  if (s->stopping.load(std::memory_order_relaxed))
    throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
  // The runtime shutting down under the system: no turn of a new actor
  // could be guaranteed to run (work from running tasks is still accepted).
  // relaxed: a refusal "soon after" the runtime's shutdown begins.
  if (!s->runtime_accepting->load(std::memory_order_relaxed) && !on_worker_of(*s->sched))
    throw actor_error(actor_errc::system_stopped, "spawn: the runtime is shutting down");
}

void set_factory(actor_cell* c, unique_function<void(void*)> f) { ensure_ext(c)->factory = std::move(f); }

void construct_from_factory(actor_cell* c, void* storage) {
  constructing_scope scope(c);
  ext_of(c)->factory(storage);
  c->flags |= flag_alive;
}

void start_cell(actor_cell* c, actor_cell* parent) {
  c->flags |= flag_alive;
  system_impl* s = c->sys;
  if (!parent) {
    if (!s->add_top_level(c)) {
      abandon_cell(c);
      throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
    }
  } else {
    add_ref(parent);
    c->parent = parent;
    if (!supervisor_adopt(parent, c)) {
      c->parent = nullptr;
      release_cell(parent);
      abandon_cell(c);
      if (s->stopping.load(std::memory_order_relaxed))
        throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
      throw actor_error(actor_errc::actor_stopped, "supervisor_ref::spawn: the supervisor is stopping");
    }
    s->children_spawned.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  }
  // on_start runs in the first turn, before any message: a system message
  // ahead of everything a sender can queue (the cell was private so far).
  if (c->vt->on_start) {
    post_or_dispose(c, make_sys([](actor_cell* cell, bool deliver) {
                      if (!deliver || (cell->flags & flag_started)) return;
                      cell->flags |= flag_started;
                      if (cell->flags & flag_alive) cell->vt->on_start(cell);
                    }));
  }
  release_spawn_hold(c);
}

// ------------------------------------------------------------- references

cell_ext* ensure_ext(actor_cell* c) {
  // acquire: pairs with the publishing CAS below.
  cell_ext* x = c->ext.load(std::memory_order_acquire);
  if (x) return x;
  auto* n = new cell_ext;
  // seq_cst: against finalize's FINAL CAS and ext load (Dekker): either
  // finalize sees this ext, or whoever published it sees FINAL afterwards.
  if (c->ext.compare_exchange_strong(x, n, std::memory_order_seq_cst, std::memory_order_acquire)) return n;
  delete n;
  return x;
}

void release_cell(actor_cell* c, std::uint32_t n) noexcept {
  // acq_rel: the last owner must see every other owner's writes before freeing.
  if (c->refs.fetch_sub(n, std::memory_order_acq_rel) == n) {
    delete c->ext.load(std::memory_order_acquire);
    c->vt->free_cell(c);
  }
}

void post_or_dispose(actor_cell* target, sys_message* m) noexcept {
  if (!post_sys(target, m)) m->fn(m, nullptr, false);
}

// ------------------------------------------------------------- dead letters

const char* type_name(const std::type_info& t) noexcept {
  // Demangled once per type and kept for the program's life: dead letters
  // and metrics show `order_request`, not `N3shop13order_requestE`.
  static std::mutex mutex;
  // NOLINTNEXTLINE(bugprone-unhandled-exception-at-new): out of memory at first use ends the program
  static auto* names = new std::unordered_map<const std::type_info*, std::string>;
  std::lock_guard g(mutex);
  auto it = names->find(&t);
  if (it != names->end()) return it->second.c_str();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           &std::free);
  try {
    return names->emplace(&t, status == 0 && d ? d.get() : t.name()).first->second.c_str();
  } catch (...) {
    return t.name();
  }
}

void note_dead_letter(system_impl* s, actor_cell* target, dead_letter_reason why, const char* type) noexcept {
  if (!s) return;
  const auto i = static_cast<std::size_t>(why);
  // relaxed: counters, read as statistics.
  s->dead[i].fetch_add(1, std::memory_order_relaxed);
  if (target) count_dead_letter(target, why);
  try {
    if (target) ensure_ext(target)->dead_letters[i].fetch_add(1, std::memory_order_relaxed);
    if (s->hook) s->hook(dead_letter{why, actor_addr(target), type});
  } catch (...) {
    // A throwing hook (or no memory for the counters) must not lose the count above.
  }
}

void check_ref(const actor_cell* c, const char* what) {
  if (!c) throw actor_error(actor_errc::invalid_argument, std::string(what) + ": empty actor handle");
}

time_point now_of(const system_impl* s) noexcept { return s->rt->now(); }
scheduler& scheduler_of(const system_impl* s) noexcept { return *s->sched; }

bool actor_reentrant(const actor_cell* c) noexcept { return c->vt->reentrant; }

// ------------------------------------------------------------------- stops

exit_kind pending_kind(const actor_cell* c) noexcept { return static_cast<exit_kind>(c->pending_exit & 7); }

void set_pending_kind(actor_cell* c, exit_kind k) noexcept {
  if (c->pending_exit & 0x80) return;  // the first reason wins
  c->pending_exit = static_cast<std::uint8_t>(0x80 | static_cast<unsigned>(k));
}

exit_reason describe(std::exception_ptr e, exit_kind kind) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {}
  return exit_reason{kind, std::move(what), std::move(e)};
}

void close_cell(actor_cell* c, stop_mode mode, exit_kind why) noexcept {
  sys_message* token;
  try {
    token = make_sys([why](actor_cell* cell, bool) {
      if (cell) set_pending_kind(cell, why);
    });
  } catch (...) {
    return;  // out of memory: the stop is lost, nothing else breaks
  }
  const bool immediate = mode == stop_mode::immediate;
  mailbox_word::post_result r;
  if (!close_word(c, immediate, r)) {
    token->fn(token, nullptr, false);
    return;
  }
  c->sys_q.push(token);
  if (r.sets_sched) schedule_cell(c);
  reject_admissions(c);  // waiting senders see CLOSED: actor_stopped
  if (immediate && current_cell() == c) c->flags |= flag_stop_now;
}

void request_stop(actor_cell* c, stop_mode mode, exit_kind why) noexcept {
  if (c->vt->supervisor) {
    try {
      post_or_dispose(c, make_sys([mode, why](actor_cell* sup, bool deliver) {
                        if (deliver) supervisor_stop(sup, mode, why);
                      }));
    } catch (...) {}
    return;
  }
  close_cell(c, mode, why);
}

bool try_finalize(actor_cell* c, std::uint64_t w) {
  // seq_cst: see ensure_ext. Fails if a message arrived meanwhile.
  if (!c->word.compare_exchange_strong(w, mailbox_word(w).finalized().bits(), std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
    return false;
  finalize(c);
  return true;
}

void handle_failure(actor_cell* c, const exit_reason& reason) {
  system_impl* s = c->sys;
  // relaxed: statistics.
  s->failures.fetch_add(1, std::memory_order_relaxed);
  count_failure(c);
  try {
    ensure_ext(c)->failures.fetch_add(1, std::memory_order_relaxed);
  } catch (...) {}
  if (actor_cell* p = c->parent; p && !mailbox_word(c->word.load(std::memory_order_relaxed)).closed()) {
    if (!(c->flags & flag_suspended)) {
      c->flags |= flag_suspended;
      update_pause(c);  // user sends no longer schedule it; the restart resumes it
    }
    add_ref(c);
    sys_message* m = make_sys([c, reason](actor_cell* sup, bool deliver) mutable {
      if (deliver) supervisor_child_failed(sup, c, reason);
      release_cell(c);
    });
    if (post_sys(p, m)) return;
    m->fn(m, nullptr, false);  // the supervisor is gone: stop instead
  }
  cell_ext* x = ensure_ext(c);
  {
    std::lock_guard g(x->lock);
    if (!x->has_reason) {
      x->final_reason = reason;
      x->has_reason = true;
    }
  }
  set_pending_kind(c, reason.kind);
  c->flags |= flag_stop_now;
}

void run_sys(actor_cell* c, sys_message* m) {
  try {
    m->fn(m, c, true);
  } catch (...) {
    handle_failure(c, describe(std::current_exception(), exit_kind::failed));
  }
}

void restart_in_place(actor_cell* c) {
  if (mailbox_word(c->word.load(std::memory_order_relaxed)).closed()) return;  // stopping anyway
  cell_ext* x = ext_of(c);
  if (c->vt->supervisor) {
    supervisor_restart(c);
  } else {
    if (!x || !x->factory) return;
    destroy_object(c);
    // Continuations and timers registered by the old object must not run
    // on the new one: they check this number.
    ++c->incarnation;
    try {
      construct_from_factory(c, c->vt->storage(c));
    } catch (...) {
      handle_failure(c, describe(std::current_exception(), exit_kind::failed));
      return;
    }
    if (c->vt->on_start) {
      try {
        c->vt->on_start(c);
      } catch (...) {
        handle_failure(c, describe(std::current_exception(), exit_kind::failed));
        return;
      }
    }
  }
  // relaxed: statistics.
  c->sys->restarts.fetch_add(1, std::memory_order_relaxed);
  count_restart(c);
  if (x) x->restarts.fetch_add(1, std::memory_order_relaxed);
  if (c->flags & flag_suspended) {
    c->flags &= static_cast<std::uint8_t>(~flag_suspended);
    update_pause(c);  // this turn goes on with the messages that queued meanwhile
  }
}

void post_restart(actor_cell* child) {
  post_or_dispose(child, make_sys([](actor_cell* c, bool deliver) {
                    if (deliver) restart_in_place(c);
                  }));
}

// --------------------------------------------------------------- statistics

bool cell_stopped(const actor_cell* c) noexcept {
  // acquire: a caller that sees the stop may read what preceded it.
  return mailbox_word(c->word.load(std::memory_order_acquire)).closed();
}

actor_stats cell_stats(const actor_cell* c) {
  actor_stats st;
  // relaxed (all loads): a snapshot for monitoring.
  const mailbox_word w(c->word.load(std::memory_order_relaxed));
  st.depth = w.depth();
  st.high_water = c->high_water.load(std::memory_order_relaxed);
  st.capacity = c->capacity;
  st.processed = c->processed.load(std::memory_order_relaxed);
  st.stopped = w.closed();
  if (cell_ext* x = ext_of(c)) {
    for (std::size_t i = 0; i < dead_letter_reason_count; ++i)
      st.dead_letters.by_reason[i] = x->dead_letters[i].load(std::memory_order_relaxed);
    st.failures = x->failures.load(std::memory_order_relaxed);
    st.restarts = x->restarts.load(std::memory_order_relaxed);
  }
  return st;
}

// -------------------------------------------------------- monitors and links

namespace {
// True (with x->lock held) if c can still take monitors and links; else
// false, lock released, and *why holds the final reason.
bool lock_if_alive(actor_cell* c, cell_ext* x, exit_reason* why) {
  x->lock.lock();
  // seq_cst: see ensure_ext.
  if (!x->dead && !mailbox_word(c->word.load(std::memory_order_seq_cst)).final()) return true;
  // x, even before finalize() marks it dead: a failure records its reason
  // there before the word goes final.
  *why = final_reason_of(c, x);
  x->lock.unlock();
  return false;
}

// Two ext locks, always in address order (links are made from both sides).
struct lock_pair {
  cell_ext* first;
  cell_ext* second;
  lock_pair(cell_ext* a, cell_ext* b) : first(a < b ? a : b), second(a < b ? b : a) {
    first->lock.lock();
    second->lock.lock();
  }
  ~lock_pair() {
    second->lock.unlock();
    first->lock.unlock();
  }
};
}  // namespace

void add_monitor(actor_cell* target, actor_cell* watcher) {
  cell_ext* x = ensure_ext(target);
  // Allocate before taking the lock: a bad_alloc then leaves nothing locked.
  exit_reason why;
  if (lock_if_alive(target, x, &why)) {
    std::lock_guard g(x->lock, std::adopt_lock);
    x->watchers.push_back(watcher);  // may throw: the guard unlocks
    add_ref(watcher);
    return;
  }
  deliver_down(watcher, target, why);
}

void add_watch(actor_cell* c, reply_state_base* s) {
  cell_ext* x = ensure_ext(c);
  exit_reason why;
  if (lock_if_alive(c, x, &why)) {
    std::lock_guard g(x->lock, std::adopt_lock);
    x->watches.push_back(s);
    return;
  }
  result<exit_reason> r(std::move(why));
  complete_reply(s, false, &fill_result<exit_reason>, &r);
  s->release();
}

void add_link(actor_cell* a, actor_cell* b) {
  if (a == b) return;
  cell_ext* xa = ensure_ext(a);
  cell_ext* xb = ensure_ext(b);
  exit_reason why;
  bool dead = false;
  {
    lock_pair l(xa, xb);
    // seq_cst: see ensure_ext.
    if (xb->dead || mailbox_word(b->word.load(std::memory_order_seq_cst)).final()) {
      dead = true;
      why = final_reason_of(b, xb);
    } else if (std::find(xa->links.begin(), xa->links.end(), b) == xa->links.end()) {
      xa->links.reserve(xa->links.size() + 1);
      xb->links.reserve(xb->links.size() + 1);
      xa->links.push_back(b);
      add_ref(b);
      xb->links.push_back(a);
      add_ref(a);
    }
  }
  if (dead) deliver_exit(a, b, why);
}

void remove_link(actor_cell* a, actor_cell* b) noexcept {
  cell_ext* xa = ext_of(a);
  cell_ext* xb = ext_of(b);
  if (!xa || !xb || a == b) return;
  bool ra = false, rb = false;
  {
    lock_pair l(xa, xb);
    auto ia = std::find(xa->links.begin(), xa->links.end(), b);
    auto ib = std::find(xb->links.begin(), xb->links.end(), a);
    ra = ia != xa->links.end();
    rb = ib != xb->links.end();
    if (ra) xa->links.erase(ia);
    if (rb) xb->links.erase(ib);
  }
  if (ra) release_cell(b);
  if (rb) release_cell(a);
}

// ------------------------------------------------------------- this_actor

time_point ask_deadline(const actor_cell*, time_point requested) noexcept {
  const turn_context* t = current_turn();
  return t && t->deadline < requested ? t->deadline : requested;
}

}  // namespace troupe::detail

namespace troupe::this_actor {

namespace {
detail::turn_context& turn_or_throw(const char* what) {
  detail::turn_context* t = detail::current_turn();
  if (!t || !t->cell)
    throw actor_error(actor_errc::not_in_actor,
                      std::string(what) + ": actor context only (no actor's turn runs here)");
  return *t;
}
}  // namespace

bool active() noexcept {
  const detail::turn_context* t = detail::current_turn();
  return t && t->cell;
}
actor_system& system() { return detail::system_of(turn_or_throw("this_actor::system").cell->sys); }
actor_addr self() { return actor_addr(turn_or_throw("this_actor::self").cell); }
clock::time_point deadline() noexcept {
  const detail::turn_context* t = detail::current_turn();
  return t ? t->deadline : clock::time_point::max();
}
clock::time_point now() { return detail::now_of(turn_or_throw("this_actor::now").cell->sys); }
void stop(stop_mode mode) {
  detail::actor_cell* c = turn_or_throw("this_actor::stop").cell;
  detail::request_stop(c, mode, mode == stop_mode::graceful ? exit_kind::normal : exit_kind::killed);
}

}  // namespace troupe::this_actor
