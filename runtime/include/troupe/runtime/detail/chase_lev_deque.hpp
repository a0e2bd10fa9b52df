#pragma once
// The per-worker work-stealing deque: Chase and Lev, "Dynamic circular
// work-stealing deque" (SPAA 2005), with the C11 memory orderings of Lê, Pop,
// Cohen and Zappa Nardelli, "Correct and efficient work-stealing for weak
// memory models" (PPoPP 2013), called [LPCZ] below; "Fig. 1" is its code
// (push, take, steal, resize). Internal to the runtime.
//
// Contract
//   - Owner thread only: push, pop, pop_above, steal_oldest, bottom_index.
//     The owner is one fixed thread (a worker); it may change only across a
//     happens-before edge (e.g. a thread join).
//   - Thread-safe: steal, empty_estimate, size_estimate.
//   - Every pushed item is returned exactly once, by the owner (pop,
//     pop_above, steal_oldest) or by one successful steal.
//   - Memory ordering: for an item x, everything the owner did before
//     push(x) happens before everything the thread that takes x does after
//     taking it. Nothing else is ordered.
//   - Constructed with deque_thieves::none (a one-worker runtime, where
//     nobody else can reach the deque): steal must never be called, and the
//     owner's pops and steal_oldest skip the fence and the CASes that only
//     race thieves (the owner is then the only thread touching the deque).
//   - Constructed with deque_thieves::gated and a steal_gate: a thread may
//     call steal only while it is inside the gate (steal_gate::enter) and
//     after steal_cleared() said yes for the marks it took on entering
//     (ordering 8). In return the owner's takes skip the StoreLoad fence
//     while nobody is inside the gate.
//   - T is a pointer type; nullptr means "nothing" and must not be pushed.
//     The deque never owns the pointees: destroying it with items inside
//     drops the pointers.
//
// Indices. top_ (the next index to steal) and bottom_ (the next index to push)
// are signed 64-bit; top_ only moves up, bottom_ moves up on push and down
// on pop. Neither wraps (2^63 pushes is centuries), so a CAS on top_ has no
// ABA. take() lowers bottom_ before it knows whether an item is left, so a
// thief may see bottom_ < top_ for a moment: that reads as empty. Slot i
// lives at buffer[i & mask].
//
// Buffers. A full push doubles the buffer, copies the live range, publishes
// the new buffer with a release store and re-reads it. A thief may still be
// reading the old buffer (it loaded array_ before the grow), so old buffers
// are retired, not freed: each buffer links to the one it replaced and the
// whole chain is freed by ~chase_lev_deque. Growth is geometric from a
// capacity >= 2, so the retired buffers together are smaller than the live
// one: at most 2x the memory of the live buffer, no epochs or hazard
// pointers, and no cost on any fast path. A deque does not shrink.
//
// Orderings. Each one below says why it is enough. Where this code departs
// from [LPCZ] Fig. 1 it is marked "(departure N)":
//   1. The owner's StoreLoad in take() is [LPCZ]'s "store bottom relaxed;
//      fence(seq_cst); load top relaxed". GCC 12 emits the fence as
//      `lock orq $0,(%rsp)` on x86-64, not `mfence`. Measured here (push +
//      pop with one item left underneath, so every pop runs take(); CPU time
//      per pair, g++ -O2, 2-core Xeon VM): lock or 9 ns, a seq_cst store of
//      bottom_ (`xchg`) 14 ns, `mfence` 21 ns. So the fence stays.
//      ThreadSanitizer does not model std::atomic_thread_fence, so under TSan
//      (and only there) the same StoreLoad is a seq_cst store of bottom_ and
//      a seq_cst load of top_: in C++20 [atomics.order] both forms, paired
//      with the thief's seq_cst loads (2), forbid the outcome [LPCZ] needs
//      to forbid. This is the only sanitizer-specific code.
//   2. A thief loads top_ and then bottom_ with seq_cst loads instead of
//      "load acquire; fence(seq_cst); load acquire". On x86 these are plain
//      loads, so a steal attempt costs no fence. Why it is enough: the bad
//      outcome is the owner reading a top_ older than the thief's while the
//      thief reads a bottom_ older than the owner's store. Then the thief's
//      bottom_ load precedes the owner's fence in the total order S (it is
//      coherence-ordered before a store sequenced before that fence), the
//      fence precedes the thief's top_ load (it is sequenced before a load
//      coherence-ordered before it), and the thief's two seq_cst loads are
//      in program order: a cycle in S, so impossible ([atomics.order]/4).
//      With the TSan form of 1 the four accesses are all seq_cst and S
//      forbids the same store-buffering outcome directly. No fence here
//      means TSan sees this side exactly as it ships.
//   3. push publishes with a release store of bottom_ instead of "fence
//      (release); store relaxed": equivalent when, as here, one store follows.
//   4. Every store to bottom_ is a release store: push's (3), and take's
//      decrement and restore (relaxed in [LPCZ]; release is a plain `mov` on
//      x86). [LPCZ] gets the same from push's release fence, which also
//      covers take's later relaxed stores; with release stores instead, each
//      store must be release itself. So whatever value a thief reads from
//      bottom_, its acquire synchronises with the owner at that point and
//      the items below are visible. It also settles the last-item race: if
//      the owner's CAS loses to a thief's, the thief cannot have read the
//      bottom_ the owner restores afterwards (that store would then happen
//      before the thief's CAS, which the owner's CAS read).
//   5. pop/pop_above first read top_ without any fence. top_ only grows and
//      only the owner writes bottom_, so that possibly stale value is a lower
//      bound: if it says "empty" the deque is empty; if it says "exactly one
//      item" the owner takes that item from the top with a CAS, as a thief
//      would (this is steal_oldest, which needs no fence because bottom_ is
//      not touched). Only when it says "two or more" does the owner run the
//      [LPCZ] take with its StoreLoad. Push-then-pop thus costs one locked
//      instruction, not two (the StoreLoad and the last-item CAS).
//   6. push keeps top_cache_, the last value of top_ it read with acquire (or
//      wrote with its own CAS): a lower bound of top_, re-read only when it
//      says "full". [LPCZ] loads top_ (acquire) on every push; the acquire is
//      what orders a thief's read of slot i before the owner's later
//      overwrite of that slot with item i + capacity, and the cached value
//      keeps that edge because it was obtained the same way.
//   7. steal loads array_ with acquire where [LPCZ] uses consume (which
//      compilers implement as acquire anyway).
//   8. (departure 8, deque_thieves::gated) Fork-join steals a handful of
//      times per run, each followed by long stretches of the thief's own
//      work, yet every take paid the StoreLoad of 1 (decision 0024). So
//      thieves announce themselves in a steal_gate (a seq_cst RMW, G)
//      before stealing, and the owner's take fences only while the gate is
//      open. Every kCheckpointEvery-th take without a thief still fences
//      and then raises checkpoints_ (release), and so does every take with
//      the gate open. A thief reads checkpoints_ (seq_cst) after G, as m,
//      and steals only once it reads m + 2 or more.
//      Why that is enough (C++20 [atomics.order]): let F be the fence of the
//      checkpoint that raised checkpoints_ to m + 2. The store of m + 1 is
//      sequenced before F, and the thief's read of m (seq_cst, after G) did
//      not see it, so F does not precede that read in S, so G precedes F in
//      S; every gate load the owner makes after F therefore reads G or later
//      and fences. A take before F is sequenced before the release store of
//      m + 2, which the thief's read acquires: its bottom_ store and its
//      top_ load happen before the thief's loads and CAS, so the two do not
//      race. A take holding F fences anyway. A thief leaves with a release
//      RMW, which an owner's acquire load of 0 synchronises with: its
//      steals happen before that take. A thief may instead clear every
//      victim with a heavy fence (membarrier, lifo_slot.hpp) for an owner
//      that takes nothing. Under TSan every take uses the seq_cst form of 1
//      and counts as a checkpoint. Cost without thieves: a load, a
//      decrement and a branch per take, and one fence every
//      kCheckpointEvery takes.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "troupe/runtime/detail/platform.hpp"

namespace troupe::detail {

enum class steal_status { success, empty, lost_race };
enum class deque_thieves {
  possible,  // thieves may steal at any time: every take pays the StoreLoad
  gated,     // thieves steal only inside a steal_gate: takes fence while it is open
  none,      // no thieves (a one-worker runtime)
};

// Where the thieves of gated deques announce themselves (ordering 8 in the
// notes above). One per scheduler, shared by its workers' deques.
class steal_gate {
 public:
  // A thread about to steal from gated deques; it then reads each victim's
  // checkpoints() as its mark. seq_cst: this is G of ordering 8.
  void enter() noexcept { thieves_.fetch_add(1, std::memory_order_seq_cst); }
  // A thread that entered and steals no more. release: an owner's take that
  // reads the count without us has our steals before it (ordering 8).
  void leave() noexcept { thieves_.fetch_sub(1, std::memory_order_release); }
  // An owner's take: anyone inside? acquire: pairs with leave.
  bool open() const noexcept { return thieves_.load(std::memory_order_acquire) != 0; }

 private:
  // Written only when a thread starts or stops stealing; read by every take.
  alignas(128) std::atomic<std::uint32_t> thieves_{0};
};

template <class T>  // T is a pointer type
class chase_lev_deque {
  static_assert(std::is_pointer_v<T>, "chase_lev_deque<T>: T must be a pointer type");

 public:
  // Capacity is rounded up to a power of two, at least 2.
  // `gate`: with deque_thieves::gated only, and then required (else
  // std::invalid_argument).
  explicit chase_lev_deque(std::size_t initial_capacity = 256,
                           deque_thieves thieves = deque_thieves::possible, steal_gate* gate = nullptr)
      : alone_(thieves == deque_thieves::none),
        gate_(thieves != deque_thieves::gated ? nullptr
              : gate != nullptr               ? gate
                                : throw std::invalid_argument("chase_lev_deque: gated needs a gate")),
        array_(buffer::create(static_cast<std::int64_t>(
                                  std::bit_ceil(std::clamp<std::size_t>(initial_capacity, 2, kMaxInitial))),
                              nullptr)) {}

  // No thread may be using the deque any more.
  ~chase_lev_deque() {
    buffer* b = array_.load(std::memory_order_relaxed);
    while (b != nullptr) {
      buffer* older = b->retired;
      buffer::destroy(b);
      b = older;
    }
  }

  chase_lev_deque(const chase_lev_deque&) = delete;
  chase_lev_deque& operator=(const chase_lev_deque&) = delete;

  // Adds `item` at the bottom, growing the buffer when full. Owner thread
  // only. Throws std::bad_alloc if a grow fails (the deque is then unchanged).
  void push(T item) {
    // relaxed: only the owner writes bottom_ ([LPCZ] Fig. 1 push).
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // relaxed: only the owner writes array_.
    buffer* a = array_.load(std::memory_order_relaxed);
    if (b - top_cache_ >= a->capacity) [[unlikely]] {
      a = make_room(a, b);
    }
    // relaxed: published by the release store of bottom_ below.
    a->put(b, item);
    // release: a thief that acquires bottom_ > b sees the slot and everything
    // the owner wrote before push (departure 3).
    bottom_.store(b + 1, std::memory_order_release);
  }

  // Takes the bottom (newest) item; nullptr when empty. Owner thread only.
  T pop() noexcept {
    // relaxed: only the owner writes bottom_.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    return pop_bottom(b);
  }

  // Takes the bottom item only if its index is >= mark (it was pushed when
  // bottom_index() was >= mark); nullptr otherwise or when empty. Used by
  // fork-join "help" to run only tasks pushed after `mark`. Same protocol as
  // pop. Owner thread only.
  T pop_above(std::int64_t mark) noexcept {
    // relaxed: only the owner writes bottom_.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    if (b - 1 < mark) return nullptr;
    return pop_bottom(b);
  }

  // Takes the top (oldest) item, racing thieves with a CAS on top_ exactly
  // like steal; nullptr when empty. No fence: the owner does not move
  // bottom_ here, and its own pops are on the same thread. Owner thread only.
  T steal_oldest() noexcept {
    // relaxed: only the owner writes bottom_.
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // relaxed: t is only a guess that the CAS validates; the item was
    // written by this thread, so no acquire is needed to read it.
    std::int64_t t = top_.load(std::memory_order_relaxed);
    // relaxed: only the owner writes array_.
    buffer* a = array_.load(std::memory_order_relaxed);
    if (alone_) {
      // No thief: nobody else moves top_. relaxed: this thread's own word.
      if (t >= b) return nullptr;
      top_.store(t + 1, std::memory_order_relaxed);
      top_cache_ = t + 1;
      return a->get(t);
    }
    while (t < b) {
      const T x = a->get(t);
      // seq_cst (acquire is the part used): reading the previous writer of
      // top_ makes this a valid top_cache_ (departure 6); seq_cst costs the
      // same `lock cmpxchg` on x86. Failure relaxed: t is reloaded, retried.
      if (top_.compare_exchange_weak(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        top_cache_ = t + 1;
        return x;
      }
    }
    return nullptr;
  }

  // Takes the top (oldest) item into `out` (success). `empty`: nothing to
  // take when looked at; `lost_race`: another thief or the owner took the
  // item first (the deque may still hold more). Thread-safe; lock-free.
  // Never on a deque constructed with deque_thieves::none.
  steal_status steal(T& out) noexcept {
    // seq_cst: with the owner's StoreLoad in take(), forbids "the owner reads
    // a stale top_ while we read a stale bottom_"; stands for [LPCZ] steal's
    // fence (departure 2). Includes the acquire [LPCZ] has on this load.
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    // seq_cst: see above. Includes acquire: every store to bottom_ is a
    // release, so the slots below b and the items are visible (departure 4).
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return steal_status::empty;
    // acquire: pairs with the release store in grow, so the buffer's size
    // and copied slots are visible ([LPCZ] consume; departure 7). A buffer
    // older than the newest is still alive (retired, never freed early).
    buffer* a = array_.load(std::memory_order_acquire);
    // Read the slot BEFORE the CAS: once top_ moves past t the owner may
    // reuse the slot. If the CAS succeeds, no overwrite can have happened
    // before this read (the owner overwrites slot t only after acquiring a
    // top_ > t, which our successful CAS precedes).
    const T x = a->get(t);
    // seq_cst ([LPCZ]): decides the race with other thieves and with the
    // owner's last-item CAS; release lets the owner's acquire of top_ order
    // our slot read before its overwrite. Failure relaxed: nothing is read.
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      return steal_status::lost_race;
    }
    out = x;
    return steal_status::success;
  }

  // --- deque_thieves::gated ---------------------------------------------
  // With the gate shut the owner fences once per kCheckpointEvery takes.
  // With it open every take is a checkpoint, so an entering thief waits for
  // the victim's next two takes.
  static constexpr std::uint32_t kCheckpointEvery = 32;
  // An owner inside the gate that took this many items of its own has work
  // again; it leaves, so that the others' takes stop fencing for it.
  static constexpr std::uint32_t kOwnTakesToLeave = 64;

  // Thread-safe: how many checkpoints the owner has passed. A thief inside
  // the gate reads it once as its mark. seq_cst: ordering 8 needs the read
  // of the mark to be in S.
  std::uint64_t checkpoints() const noexcept { return checkpoints_.load(std::memory_order_seq_cst); }
  // Thread-safe: whether a thief that entered the gate and then read `mark`
  // may steal from this deque now (ordering 8).
  bool steal_cleared(std::uint64_t mark) const noexcept { return checkpoints() >= mark + 2; }
  // Owner only, gated: this deque's owner is about to steal from the
  // others. Enters the gate unless it is already inside; true if it just
  // entered (its marks must then be taken again). It stays inside while it
  // steals, and leaves after kOwnTakesToLeave takes of its own work or at
  // stop_stealing: each entry makes the owners fence for a while.
  bool start_stealing() noexcept {
    if (inside_gate_) return false;
    gate_->enter();
    inside_gate_ = true;
    own_takes_ = 0;
    return true;
  }
  // Owner only: leaves the gate if inside (before parking, say).
  void stop_stealing() noexcept {
    if (!inside_gate_) return;
    inside_gate_ = false;
    gate_->leave();
  }
  // Owner only: whether the deque is gated (its owner must start_stealing
  // before stealing from other gated deques).
  bool gated() const noexcept { return gate_ != nullptr; }

  // The index the next push will use. Owner thread only.
  std::int64_t bottom_index() const noexcept {
    // relaxed: only the owner writes bottom_.
    return bottom_.load(std::memory_order_relaxed);
  }

  // Thread-safe; may be stale by the time it returns.
  std::size_t size_estimate() const noexcept {
    // relaxed: only an estimate. Clamped: bottom_ < top_ during a pop.
    const std::int64_t t = top_.load(std::memory_order_relaxed);
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

  // Thread-safe; may be stale by the time it returns.
  bool empty_estimate() const noexcept { return size_estimate() == 0; }

 private:
  // 128: Intel's spatial prefetcher pulls 64-byte lines in pairs, so two hot
  // atomics need 128 bytes between them to stay out of each other's way.
  static constexpr std::size_t kCacheLine = 128;
  static constexpr std::size_t kMaxInitial = std::size_t{1} << 40;
  static constexpr bool kTsanBuild = TROUPE_TSAN;

  const bool alone_;        // deque_thieves::none: see the contract above
  steal_gate* const gate_;  // deque_thieves::gated: see ordering 8; else null

  // A circular array: header, then `capacity` slots, in one allocation.
  struct buffer {
    std::int64_t capacity;
    std::int64_t mask;  // capacity - 1
    buffer* retired;    // the buffer this one replaced; freed with the deque

    std::atomic<T>* slots() noexcept { return reinterpret_cast<std::atomic<T>*>(this + 1); }
    // Slots are read and written relaxed ([LPCZ]): visibility comes from
    // bottom_ (owner -> thief) and top_ (thief -> owner), never the slots.
    T get(std::int64_t i) noexcept { return slots()[i & mask].load(std::memory_order_relaxed); }
    void put(std::int64_t i, T x) noexcept { slots()[i & mask].store(x, std::memory_order_relaxed); }

    static buffer* create(std::int64_t capacity, buffer* retired) {
      static_assert(sizeof(buffer) % alignof(std::atomic<T>) == 0);
      void* raw =
          ::operator new(sizeof(buffer) + static_cast<std::size_t>(capacity) * sizeof(std::atomic<T>));
      auto* b = ::new (raw) buffer{capacity, capacity - 1, retired};
      for (std::int64_t i = 0; i < capacity; ++i)
        ::new (static_cast<void*>(b->slots() + i)) std::atomic<T>(nullptr);
      return b;
    }
    static void destroy(buffer* b) noexcept {
      static_assert(std::is_trivially_destructible_v<std::atomic<T>>);
      b->~buffer();
      ::operator delete(static_cast<void*>(b));
    }
  };

  // pop and pop_above after their own checks; b = bottom_ (> the index taken).
  T pop_bottom(std::int64_t b) noexcept {
    // relaxed: a stale value is a lower bound of top_ (departure 5).
    std::int64_t t = top_.load(std::memory_order_relaxed);
    if (t >= b) return nullptr;  // empty: only this thread raises bottom_
    if (alone_) {
      // No thief can hold index b - 1 or move top_: take it without the
      // StoreLoad or the last-item CAS. relaxed: nobody else reads bottom_
      // (the estimates are relaxed guesses).
      bottom_.store(b - 1, std::memory_order_relaxed);
      return array_.load(std::memory_order_relaxed)->get(b - 1);
    }
    if (t == b - 1) {
      // At most one item, at index t: take it from the top with a CAS, as
      // steal_oldest does (departure 5). The slot is ours; read it first.
      buffer* a = array_.load(std::memory_order_relaxed);
      const T x = a->get(t);
      // seq_cst: as in steal_oldest. On failure top_ > t = b - 1, i.e. the
      // deque is empty now (a thief took the item); relaxed, nothing to read.
      if (top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        top_cache_ = t + 1;
        return x;
      }
      return nullptr;
    }
    return take(b - 1);
  }

  // [LPCZ] Fig. 1 take: claim index b by lowering bottom_, then look at top_.
  T take(std::int64_t b) noexcept {
    // relaxed: only the owner writes array_.
    buffer* a = array_.load(std::memory_order_relaxed);
    // The StoreLoad of [LPCZ] take: a thief that still reads the old
    // bottom_ reads a top_ at least as new as ours (departure 1).
    std::int64_t t;
    if constexpr (kTsanBuild) {
      // TSan form: seq_cst store and load, which TSan models.
      bottom_.store(b, std::memory_order_seq_cst);
      t = top_.load(std::memory_order_seq_cst);
      if (gate_) passed_checkpoint(gate_->open());
    } else {
      // release (departure 4); the fence below orders it before the load.
      bottom_.store(b, std::memory_order_release);
      if (gate_ == nullptr) {
        // seq_cst fence ([LPCZ] take): orders the store above before the
        // load below against the thieves' seq_cst loads (departure 2).
        seq_cst_fence();
      } else if (const bool open = gate_->open(); open || --until_checkpoint_ == 0) {
        seq_cst_fence();  // as above; and a checkpoint's F (departure 8)
        passed_checkpoint(open);
      }
      // relaxed ([LPCZ]): the fence orders it (or, gated, no thief steals
      // until a later checkpoint); the item is ours, nothing to acquire.
      t = top_.load(std::memory_order_relaxed);
    }
    if (t < b) {
      // Two or more items: no thief can reach index b ([LPCZ] Theorem).
      return a->get(b);
    }
    T x = nullptr;
    if (t == b) {
      // The last item: race the thieves for it with their own CAS.
      x = a->get(b);
      // seq_cst ([LPCZ]). Failure relaxed ([LPCZ]): nothing is read, and
      // the release restore below orders the race (departure 4).
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        x = nullptr;
      }
    }
    // Empty (t > b: a thief took the last item first) or the last item is
    // settled: bottom_ = top_ again. release: departure 4.
    bottom_.store(b + 1, std::memory_order_release);
    return x;
  }

  // Gated take, after its fence: publishes the checkpoint; an owner that is
  // itself inside the gate counts the take as its own work (and leaves the
  // gate after kOwnTakesToLeave of them).
  void passed_checkpoint(bool gate_open) noexcept {
    until_checkpoint_ = kCheckpointEvery;
    // relaxed load: only the owner writes it. release: ordering 8 (the
    // thief that reads the new value acquires every take before it).
    checkpoints_.store(checkpoints_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (gate_open && inside_gate_ && ++own_takes_ == kOwnTakesToLeave) stop_stealing();
  }

  // push found b - top_cache_ >= capacity. Cold path.
  [[gnu::noinline]] buffer* make_room(buffer* a, std::int64_t b) {
    // acquire ([LPCZ] push): synchronises with the CASes that moved top_,
    // so every thief's read of a slot below the new top_ happens before we
    // overwrite that slot (departure 6).
    top_cache_ = top_.load(std::memory_order_acquire);
    if (b - top_cache_ < a->capacity) return a;
    grow(a, top_cache_, b);
    // relaxed: our own store just above, re-read as in [LPCZ] Fig. 1 push.
    return array_.load(std::memory_order_relaxed);
  }

  // [LPCZ] resize: a buffer twice as large holding indices [t, b). Slots
  // below top_ may be copied too (t may be stale); no one can claim them.
  void grow(buffer* old, std::int64_t t, std::int64_t b) {
    buffer* fresh = buffer::create(old->capacity * 2, old);
    for (std::int64_t i = t; i < b; ++i) fresh->put(i, old->get(i));
    // release: a thief that acquires this pointer sees the header and the
    // copied slots. `old` stays alive in fresh->retired (see Buffers above).
    array_.store(fresh, std::memory_order_release);
  }

  // Written by thieves (CAS), read by everyone: its own line.
  alignas(kCacheLine) std::atomic<std::int64_t> top_{0};
  // Written by the owner only, read by thieves; array_ is read right after
  // bottom_ by a thief, so it shares bottom_'s line. top_cache_ is
  // owner-only.
  alignas(kCacheLine) std::atomic<std::int64_t> bottom_{0};
  std::atomic<buffer*> array_;
  std::int64_t top_cache_ = 0;
  // Gated. checkpoints_ is written by the owner, read by entering thieves
  // (ordering 8); the rest is owner-only.
  std::atomic<std::uint64_t> checkpoints_{0};
  std::uint32_t until_checkpoint_ = kCheckpointEvery;
  std::uint32_t own_takes_ = 0;
  bool inside_gate_ = false;
};

}  // namespace troupe::detail
