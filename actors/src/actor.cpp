// Lifecycle of an actor cell: creation, stop, failure, finalisation,
// monitors, links, dead letters and statistics.

#include <algorithm>
#include <thread>
#include <typeinfo>

#include "system_impl.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/supervisor.hpp"

namespace troupe::detail {

namespace {

thread_local actor_cell* tl_constructing = nullptr;

template <class F>
struct fn_message final : sys_message {
  explicit fn_message(F&& f) : body(std::move(f)) { this->fn = &run; }
  static void run(sys_message* m, actor_cell* c, bool deliver) {
    auto* self = static_cast<fn_message*>(m);
    struct cleanup {
      fn_message* p;
      ~cleanup() {
        p->~fn_message();
        actor_free(p, sizeof(fn_message));
      }
    } g{self};
    self->body(c, deliver);
  }
  F body;
};

// A system message running body(cell, deliver) in the target's turn.
template <class F>
sys_message* make_sys(F&& f) {
  using T = fn_message<std::decay_t<F>>;
  void* mem = actor_alloc(sizeof(T));
  return new (mem) T(std::forward<F>(f));
}

// Posts, or disposes of it at once (deliver=false) if the target is gone.
void post_or_dispose(actor_cell* target, sys_message* m) noexcept {
  if (!post_sys(target, m)) m->fn(m, nullptr, false);
}

exit_reason final_reason_of(actor_cell* c, cell_ext* x) {
  if (x && x->has_reason) return x->final_reason;
  return exit_reason{pending_kind(c), {}, {}};
}

void deliver_down(actor_cell* watcher, actor_cell* who, const exit_reason& r) {
  add_ref(who);
  post_or_dispose(watcher, make_sys([who, r](actor_cell* c, bool deliver) mutable {
    down d{actor_addr(who, actor_addr::adopt_t{}), std::move(r)};
    if (deliver && c->vt->on_down && (c->flags & flag_alive)) c->vt->on_down(c, &d);
  }));
}

void deliver_exit(actor_cell* peer, actor_cell* who, const exit_reason& r) {
  add_ref(who);
  post_or_dispose(peer, make_sys([who, r](actor_cell* c, bool deliver) mutable {
    exit_signal x{actor_addr(who, actor_addr::adopt_t{}), std::move(r)};
    if (!deliver) return;
    if (c->vt->on_exit && (c->flags & flag_alive)) {
      c->vt->on_exit(c, &x);
    } else if (x.reason.abnormal()) {
      exit_reason why{exit_kind::linked, "linked actor failed: " + x.reason.message, x.reason.exception};
      handle_failure(c, std::move(why));
    }
  }));
}

void destroy_object(actor_cell* c) noexcept {
  if (!(c->flags & flag_alive) || c->vt->supervisor) return;  // a supervisor's goes with the cell
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
  wake_all_senders(c);
  // seq_cst: FINAL was set by a seq_cst CAS; this load and the seq_cst CAS
  // in ensure_ext order against a concurrent monitor()/link() (see there).
  cell_ext* x = c->ext.load(std::memory_order_seq_cst);
  exit_reason reason;
  std::vector<actor_cell*> watchers, links;
  std::vector<reply_state_base*> watches;
  std::vector<std::string> names;
  if (x) {
    x->lock.lock();
    x->dead = true;
    reason = final_reason_of(c, x);
    x->final_reason = reason;
    x->has_reason = true;
    watchers.swap(x->watchers);
    watches.swap(x->watches);
    links.swap(x->links);
    names.swap(x->names);
    x->lock.unlock();
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
    if (cell_ext* px = peer->ext.load(std::memory_order_acquire)) {
      px->lock.lock();
      auto it = std::find(px->links.begin(), px->links.end(), c);
      bool found = it != px->links.end();
      if (found) px->links.erase(it);
      px->lock.unlock();
      if (found) release_cell(c);
    }
    deliver_exit(peer, c, reason);
    release_cell(peer);
  }
  if (!names.empty()) unregister_names(c, std::move(names));
  if (actor_cell* p = c->parent) {
    add_ref(c);
    post_or_dispose(p, make_sys([c](actor_cell* sup, bool deliver) {
      if (deliver) supervisor_child_exit(sup, c);
      release_cell(c);
    }));
    release_cell(p);
  } else {
    shard& sh = c->sys->shard_of(c);
    sh.lock.lock();
    if (c->prev) c->prev->next_sib = c->next_sib;
    else sh.head = c->next_sib;
    if (c->next_sib) c->next_sib->prev = c->prev;
    // relaxed: read by shutdown's polling; the lock orders the list itself.
    sh.live.fetch_sub(1, std::memory_order_relaxed);
    sh.lock.unlock();
  }
  release_cell(c);  // the running actor's reference
}

}  // namespace

clock::time_point now() noexcept { return clock::now(); }
actor_cell*& constructing_cell() noexcept { return tl_constructing; }

actor_base::actor_base() : cell_(tl_constructing) {
  if (!cell_)
    throw actor_error(actor_errc::invalid_argument, "actor objects are made by spawn(), never directly");
}

exit_kind pending_kind(const actor_cell* c) noexcept {
  if (c->word.load(std::memory_order_acquire) & final_bit)
    return static_cast<exit_kind>((c->word.load(std::memory_order_acquire) & kind_mask) >> kind_shift);
  return static_cast<exit_kind>((c->flags >> flag_kind_shift) & 7);
}

void set_pending_kind(actor_cell* c, exit_kind k) noexcept {
  if (c->flags & flag_kind_set) return;  // the first reason wins
  c->flags = static_cast<std::uint8_t>((c->flags & ~(7u << flag_kind_shift)) |
                                       (static_cast<unsigned>(k) << flag_kind_shift) | flag_kind_set);
}

exit_reason describe(std::exception_ptr e, exit_kind kind) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
  }
  return exit_reason{kind, std::move(what), std::move(e)};
}

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

void release_cell(actor_cell* c) noexcept {
  // acq_rel: the last owner must see every other owner's writes before freeing.
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete c->ext.load(std::memory_order_acquire);
    c->vt->free_cell(c);
  }
}

void note_dead_letter(system_impl* s, actor_cell* target, dead_letter_reason why, const char* type) noexcept {
  const auto i = static_cast<std::size_t>(why);
  // relaxed: counters, read as statistics.
  s->dead[i].fetch_add(1, std::memory_order_relaxed);
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

void init_cell(actor_cell* c, system_impl* s, const spawn_options& o, const cell_vtable* vt) {
  if (o.capacity == 0)
    throw actor_error(actor_errc::invalid_argument, "spawn: mailbox capacity must be at least 1");
  if (o.capacity > max_capacity)
    throw actor_error(actor_errc::invalid_argument, "spawn: mailbox capacity must be below 2^28");
  if (o.budget == 0 || o.budget > 255)
    throw actor_error(actor_errc::invalid_argument, "spawn: budget must be in 1..255");
  if (o.block_timeout.count() < 0 || o.block_timeout.count() > 0xffffffffLL)
    throw actor_error(actor_errc::invalid_argument, "spawn: block_timeout out of range");
  c->invoke = &run_turn;
  c->vt = vt;
  c->sys = s;
  c->capacity = static_cast<std::uint32_t>(o.capacity);
  c->policy = o.policy;
  c->budget = static_cast<std::uint8_t>(o.budget);
  c->block_timeout_ms = static_cast<std::uint32_t>(o.block_timeout.count());
}

void check_can_spawn(system_impl* s) {
  // relaxed: a fast refusal; start_cell re-checks under the shard lock.
  if (s->stopping.load(std::memory_order_relaxed))
    throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
}

void set_factory(actor_cell* c, unique_function<void(void*)> f) { ensure_ext(c)->factory = std::move(f); }

void construct_from_factory(actor_cell* c, void* storage) {
  actor_cell*& slot = tl_constructing;
  actor_cell* saved = std::exchange(slot, c);
  struct restore {
    actor_cell*& slot;
    actor_cell* saved;
    ~restore() { slot = saved; }
  } r{slot, saved};
  c->ext.load(std::memory_order_acquire)->factory(storage);
}

void start_cell(actor_cell* c, actor_cell* parent) {
  system_impl* s = c->sys;
  auto abandon = [c] {
    destroy_object(c);
    c->refs.store(1, std::memory_order_relaxed);
    release_cell(c);
  };
  if (!parent) {
    shard& sh = s->shard_of(c);
    sh.lock.lock();
    // seq_cst: shutdown sets `stopping` (seq_cst) before taking each shard
    // lock to collect actors: either it finds this one, or we see the flag.
    if (s->stopping.load(std::memory_order_seq_cst)) {
      sh.lock.unlock();
      abandon();
      throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
    }
    c->next_sib = sh.head;
    if (sh.head) sh.head->prev = c;
    sh.head = c;
    sh.live.fetch_add(1, std::memory_order_relaxed);     // relaxed: see finalize
    sh.spawned.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    sh.lock.unlock();
    return;
  }
  add_ref(parent);
  c->parent = parent;
  if (!supervisor_adopt(parent, c)) {
    c->parent = nullptr;
    release_cell(parent);
    abandon();
    if (s->stopping.load(std::memory_order_relaxed))
      throw actor_error(actor_errc::system_stopped, "spawn: the actor system is shutting down");
    throw actor_error(actor_errc::actor_stopped, "supervisor_ref::spawn: the supervisor is stopping");
  }
  s->children_spawned.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

void close_cell(actor_cell* c, stop_mode mode, exit_kind why) noexcept {
  const bool immediate = mode == stop_mode::immediate;
  // relaxed: the CAS decides.
  std::uint64_t w = c->word.load(std::memory_order_relaxed);
  if ((w & final_bit) || ((w & closed_bit) && (!immediate || (w & kill_bit)))) return;
  sys_message* token;
  try {
    token = make_sys([why](actor_cell* cell, bool) { set_pending_kind(cell, why); });
  } catch (...) {
    return;  // out of memory: the stop is lost, nothing else breaks
  }
  bool sched = false;
  for (;;) {
    if (w & final_bit) {
      token->fn(token, nullptr, false);
      return;
    }
    std::uint64_t nw = (w | closed_bit | (immediate ? kill_bit : 0)) + sys_one;
    sched = !(w & sched_bit);
    if (sched) nw |= sched_bit;
    // seq_cst: blocked senders re-check CLOSED under c->lock after this; see
    // wake_all_senders below.
    if (c->word.compare_exchange_weak(w, nw, std::memory_order_seq_cst, std::memory_order_relaxed)) break;
  }
  c->sys_q.push(token);
  if (sched) schedule(*c->sys->sched, c);
  if (!(w & closed_bit)) wake_all_senders(c);  // they see CLOSED and give up
  if (immediate && current_cell() == c) c->flags |= flag_stop_now;
}

void request_stop(actor_cell* c, stop_mode mode, exit_kind why) noexcept {
  if (c->vt->supervisor) {
    try {
      post_or_dispose(c, make_sys([mode, why](actor_cell* sup, bool deliver) {
        if (deliver) supervisor_stop(sup, mode, why);
      }));
    } catch (...) {
    }
    return;
  }
  close_cell(c, mode, why);
}

bool try_finalize(actor_cell* c, std::uint64_t w) {
  const auto kind = static_cast<std::uint64_t>(pending_kind(c));
  // seq_cst: see ensure_ext. Fails if a system message arrived meanwhile.
  if (!c->word.compare_exchange_strong(w, w | final_bit | (kind << kind_shift), std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
    return false;
  finalize(c);
  return true;
}

// Immediate stop, inside the turn: refuse new messages, dead-letter every
// queued user message, dispose of system messages, finalise.
void kill_and_finalize(actor_cell* c) {
  // seq_cst: as in close_cell.
  std::uint64_t before = c->word.fetch_or(closed_bit | kill_bit, std::memory_order_seq_cst);
  if (!(before & closed_bit)) wake_all_senders(c);
  unsigned spins = 0;
  for (;;) {
    const std::uint64_t w = c->word.load(std::memory_order_acquire);
    const std::uint32_t ns = sys_count(w), nu = user_count(w);
    std::uint32_t ps = 0, pu = 0;
    while (ps < ns) {
      auto* m = static_cast<sys_message*>(c->sys_q.pop());
      if (!m) break;
      ++ps;
      m->fn(m, c, false);
    }
    while (pu < nu) {
      mpsc_node* n;
      if (c->policy == overflow_policy::drop_oldest) {
        c->lock.lock();
        n = c->user_q.pop();
        if (n) c->word.fetch_sub(1, std::memory_order_seq_cst);
        c->lock.unlock();
      } else {
        n = c->user_q.pop();
      }
      if (!n) break;
      ++pu;
      auto* e = static_cast<envelope*>(n);
      e->fn(e, c, envelope_op::reject, dead_letter_reason::unprocessed);
    }
    const std::uint64_t sub =
        std::uint64_t{ps} * sys_one + (c->policy == overflow_policy::drop_oldest ? 0 : std::uint64_t{pu});
    const std::uint64_t w2 = sub ? c->word.fetch_sub(sub, std::memory_order_seq_cst) - sub
                                 : c->word.load(std::memory_order_seq_cst);
    if (sys_count(w2) == 0 && user_count(w2) == 0 && try_finalize(c, w2)) return;
    if (ps == 0 && pu == 0) {  // producers still linking their nodes
      if (++spins < 64) cpu_relax();
      else std::this_thread::yield();
    }
  }
}

void handle_failure(actor_cell* c, exit_reason reason) {
  system_impl* s = c->sys;
  // relaxed: statistics.
  s->failures.fetch_add(1, std::memory_order_relaxed);
  try {
    ensure_ext(c)->failures.fetch_add(1, std::memory_order_relaxed);
  } catch (...) {
  }
  if (actor_cell* p = c->parent; p && !(c->word.load(std::memory_order_relaxed) & closed_bit)) {
    if (!(c->flags & flag_suspended)) {
      c->flags |= flag_suspended;
      // acq_rel: like a reservation; senders that see SUSP leave scheduling to the restart.
      c->word.fetch_or(susp_bit, std::memory_order_acq_rel);
    }
    add_ref(c);
    sys_message* m = make_sys([c, reason](actor_cell* sup, bool deliver) mutable {
      if (deliver) supervisor_child_failed(sup, c, std::move(reason));
      release_cell(c);
    });
    if (post_sys(p, m)) return;
    m->fn(m, nullptr, false);  // the supervisor is gone: stop instead
  }
  cell_ext* x = ensure_ext(c);
  x->lock.lock();
  if (!x->has_reason) {
    x->final_reason = reason;
    x->has_reason = true;
  }
  x->lock.unlock();
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
  if (c->word.load(std::memory_order_relaxed) & closed_bit) return;  // stopping anyway
  cell_ext* x = c->ext.load(std::memory_order_acquire);
  if (c->vt->supervisor) {
    supervisor_restart(c);
  } else {
    if (!x || !x->factory) return;
    destroy_object(c);
    try {
      construct_from_factory(c, c->vt->storage(c));
    } catch (...) {
      handle_failure(c, describe(std::current_exception(), exit_kind::failed));
      return;
    }
    c->flags |= flag_alive;
  }
  // relaxed: statistics.
  c->sys->restarts.fetch_add(1, std::memory_order_relaxed);
  if (x) x->restarts.fetch_add(1, std::memory_order_relaxed);
  if (c->flags & flag_suspended) {
    c->flags &= static_cast<std::uint8_t>(~flag_suspended);
    // acq_rel: user sends from now on schedule the actor again; this turn
    // goes on with the messages that queued meanwhile.
    c->word.fetch_and(~susp_bit, std::memory_order_acq_rel);
  }
}

bool cell_stopped(const actor_cell* c) noexcept {
  // acquire: a caller that sees the stop may read what preceded it.
  return (c->word.load(std::memory_order_acquire) & (closed_bit | final_bit)) != 0;
}

actor_stats cell_stats(const actor_cell* c) {
  actor_stats st;
  // relaxed (all loads): a snapshot for monitoring.
  const std::uint64_t w = c->word.load(std::memory_order_relaxed);
  st.depth = user_count(w);
  st.high_water = c->high_water.load(std::memory_order_relaxed);
  st.capacity = c->capacity;
  st.processed = c->processed.load(std::memory_order_relaxed);
  st.stopped = (w & (closed_bit | final_bit)) != 0;
  if (cell_ext* x = c->ext.load(std::memory_order_acquire)) {
    for (std::size_t i = 0; i < dead_letter_reason_count; ++i)
      st.dead_letters.by_reason[i] = x->dead_letters[i].load(std::memory_order_relaxed);
    st.failures = x->failures.load(std::memory_order_relaxed);
    st.restarts = x->restarts.load(std::memory_order_relaxed);
  }
  return st;
}

namespace {
// True (with x->lock held) if c can still take monitors and links; else
// false, lock released, and *why holds the final reason.
bool lock_if_alive(actor_cell* c, cell_ext* x, exit_reason* why) {
  x->lock.lock();
  // seq_cst: see ensure_ext.
  if (!x->dead && !(c->word.load(std::memory_order_seq_cst) & final_bit)) return true;
  *why = final_reason_of(c, x->dead ? x : nullptr);
  x->lock.unlock();
  return false;
}
}  // namespace

void add_monitor(actor_cell* target, actor_cell* watcher) {
  cell_ext* x = ensure_ext(target);
  exit_reason why;
  if (lock_if_alive(target, x, &why)) {
    x->watchers.push_back(watcher);
    add_ref(watcher);
    x->lock.unlock();
    return;
  }
  deliver_down(watcher, target, why);
}

void add_watch(actor_cell* c, reply_state_base* s) {
  cell_ext* x = ensure_ext(c);
  exit_reason why;
  if (lock_if_alive(c, x, &why)) {
    x->watches.push_back(s);
    x->lock.unlock();
    return;
  }
  result<exit_reason> r(std::move(why));
  complete_reply(s, false, &fill_result<exit_reason>, &r);
  s->release();
}

namespace {
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

void add_link(actor_cell* a, actor_cell* b) {
  if (a == b) return;
  cell_ext* xa = ensure_ext(a);
  cell_ext* xb = ensure_ext(b);
  exit_reason why;
  bool dead = false;
  {
    lock_pair l(xa, xb);
    // seq_cst: see ensure_ext.
    if (xb->dead || (b->word.load(std::memory_order_seq_cst) & final_bit)) {
      dead = true;
      why = final_reason_of(b, xb->dead ? xb : nullptr);
    } else if (std::find(xa->links.begin(), xa->links.end(), b) == xa->links.end()) {
      xa->links.push_back(b);
      add_ref(b);
      xb->links.push_back(a);
      add_ref(a);
    }
  }
  if (dead) deliver_exit(a, b, why);
}

void remove_link(actor_cell* a, actor_cell* b) noexcept {
  cell_ext* xa = a->ext.load(std::memory_order_acquire);
  cell_ext* xb = b->ext.load(std::memory_order_acquire);
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

void post_restart(actor_cell* child) {
  post_or_dispose(child, make_sys([](actor_cell* c, bool deliver) {
    if (deliver) restart_in_place(c);
  }));
}

}  // namespace troupe::detail
