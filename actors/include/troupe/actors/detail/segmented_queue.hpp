#pragma once
// Multi-producer single-consumer queue of pointers to Node, kept in segments
// of 16 slots: the queue of an actor's user messages (decision 0027). The
// nodes need no link field.
//
// Why not the intrusive list (mpsc_queue.hpp): a consumer walking a list
// learns each node's address from the node before it, so when the nodes were
// written on another core every pop waits one full cache-line transfer, one
// after another. Here the addresses sit side by side in a segment, so the
// consumer prefetches the nodes it will pop next and their transfers overlap.
//
// A producer takes an index with one fetch_add, finds its segment from
// tail_seg_ (linking a new one if it is the first to need it), and stores
// its node into its slot; that store is its last access to the queue. The
// consumer pops slots in index order; a null slot is one whose producer has
// not stored yet ("nothing yet", as with mpsc_queue: callers that know a
// node is coming retry later).
//
// Reclaiming a segment the consumer has passed: producers that loaded
// tail_seg_ before it moved on may still be walking through the segment.
// Whoever moves tail_seg_ past a segment records `observed`, the producers'
// index right after the move; every producer that could still hold the
// segment took an index below it (see advance_tail). The consumer frees the
// segment once it has popped every index below `observed`: each of those
// producers has then stored its node, its last access.
//
// FIFO: indices are one modification order (fetch_add on tail_); a
// producer's own pushes take increasing indices.
//
// A segment is allocated at the first push that needs it and the last one is
// kept while the queue lives: an actor that was only ever woken by single
// messages (handed past the queue, mailbox.cpp) holds none. Out of memory
// while linking a segment terminates (push is noexcept; it happens once
// every 16 pushes).

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/actors/detail/alloc.hpp"

namespace troupe::detail {

template <class Node>
class segmented_queue {
 public:
  static constexpr std::uint64_t slots = 16;  // per segment; a power of two
  // How far ahead of its position the consumer prefetches nodes.
  static constexpr std::uint64_t prefetch_distance = 8;
  static_assert(prefetch_distance < slots);

  segmented_queue() noexcept = default;
  segmented_queue(const segmented_queue&) = delete;
  segmented_queue& operator=(const segmented_queue&) = delete;
  // Frees the segments; the nodes still queued belong to the caller. Only
  // once no producer can push any more.
  ~segmented_queue() {
    segment* s = oldest_.load(std::memory_order_acquire);
    while (s) {
      segment* next = s->next.load(std::memory_order_acquire);
      free_segment(s);
      s = next;
    }
  }

  // Any thread.
  void push(Node* n) noexcept {
    // seq_cst, with the load below: see advance_tail.
    const std::uint64_t index = tail_.fetch_add(1, std::memory_order_seq_cst);
    segment* s = tail_seg_.load(std::memory_order_seq_cst);
    if (!s || s->start != (index & ~(slots - 1))) [[unlikely]]
      s = find_segment(index, s);
    // release: the consumer's acquire load of the slot then sees the node's
    // payload. The producer's last access to the queue.
    s->slot[index & (slots - 1)].store(n, std::memory_order_release);
  }

  // Consumer only (or callers serialised by one lock). The oldest node, or
  // nullptr if the queue is empty or its oldest node is still being stored
  // by its producer. A node returned is never touched by the queue again.
  Node* pop() noexcept {
    segment* s = head_seg_;
    if (!s || head_ == s->start + slots) [[unlikely]] {
      s = enter_next_segment();
      if (!s) return nullptr;
    }
    const std::uint64_t offset = head_ - s->start;
    // acquire: pairs with the producer's release store of the slot.
    Node* n = s->slot[offset].load(std::memory_order_acquire);
    if (!n) {
      // Nothing yet: free what the producers have let go of meanwhile.
      if (oldest() != s) reclaim();
      return nullptr;
    }
    ++head_;
    if (offset + prefetch_distance < slots) prefetch_slot(s, offset + prefetch_distance);
    return n;
  }

  // Segments the queue holds, counting those passed but not yet freed.
  // Consumer only; for tests and diagnostics.
  std::size_t held_segments() const noexcept {
    std::size_t n = 0;
    for (const segment* s = oldest_.load(std::memory_order_acquire); s;
         s = s->next.load(std::memory_order_acquire))
      ++n;
    return n;
  }

 private:
  struct segment {
    explicit segment(std::uint64_t first_index) noexcept : start(first_index) {}
    const std::uint64_t start;  // index of slot[0]
    std::atomic<segment*> next{nullptr};
    // Set by whoever moved tail_seg_ past this segment (advance_tail).
    std::atomic<bool> released{false};
    std::uint64_t observed = 0;  // written before `released`, read after it
    std::atomic<Node*> slot[slots] = {};
  };

  static segment* new_segment(std::uint64_t start) {
    return new (actor_alloc(sizeof(segment))) segment(start);
  }
  static void free_segment(segment* s) noexcept {
    s->~segment();
    actor_free(s, sizeof(segment));
  }

  // Prefetches the node in slot i, if it is already stored.
  static void prefetch_slot(segment* s, std::uint64_t i) noexcept {
    // relaxed: only an address to prefetch; the pop that takes the node
    // loads the slot again with acquire.
    if (Node* n = s->slot[i].load(std::memory_order_relaxed)) __builtin_prefetch(n);
  }

  // The segment holding `index`, walking from `s` (what the push loaded from
  // tail_seg_) and linking new segments as needed. Out of line: once every
  // 16 pushes, unless producers race.
  [[gnu::noinline]] segment* find_segment(std::uint64_t index, segment* s) noexcept {
    const std::uint64_t start = index & ~(slots - 1);
    if (!s) s = first_segment();
    while (s->start != start) {
      // acquire: pairs with the release of the CAS that linked it.
      segment* next = s->next.load(std::memory_order_acquire);
      if (!next) next = link_after(s);
      if (all_stored(s)) advance_tail(s, next);
      s = next;
    }
    return s;
  }

  // The first push of the queue's life makes its first segment.
  segment* first_segment() noexcept {
    segment* fresh = new_segment(0);
    segment* expected = nullptr;
    // seq_cst: as every update of tail_seg_ (advance_tail). acquire on
    // failure: the winner's segment is initialised.
    if (tail_seg_.compare_exchange_strong(expected, fresh, std::memory_order_seq_cst,
                                          std::memory_order_acquire)) {
      // release: the consumer's acquire load of oldest_ sees it
      // initialised. The only store to oldest_ not made by the consumer,
      // which writes it only once it has seen this one.
      oldest_.store(fresh, std::memory_order_release);
      return fresh;
    }
    free_segment(fresh);
    return expected;
  }

  // Links a new segment after `s`, or returns the one another producer
  // linked first.
  static segment* link_after(segment* s) noexcept {
    segment* fresh = new_segment(s->start + slots);
    segment* expected = nullptr;
    // release: publishes the new segment's initialisation to whoever loads
    // the link. acquire on failure: the same for the winner's segment.
    if (s->next.compare_exchange_strong(expected, fresh, std::memory_order_release,
                                        std::memory_order_acquire))
      return fresh;
    free_segment(fresh);
    return expected;
  }

  // Whether every slot of `s` is stored: then no producer of `s` still needs
  // to find it through tail_seg_. Called only when passing `s` to a later one.
  static bool all_stored(const segment* s) noexcept {
    for (const auto& slot : s->slot) {
      // relaxed: the consumer frees `s` only after its own acquire loads of
      // these slots, which order each producer's accesses before the free.
      if (!slot.load(std::memory_order_relaxed)) return false;
    }
    return true;
  }

  // Moves tail_seg_ from `s` (complete) to `next`, and records the index
  // after which no producer can hold `s`. The argument: a producer takes its
  // index (fetch_add, A) and then loads tail_seg_ (B); the mover CASes
  // tail_seg_ (C) and then loads tail_ (D). All four are seq_cst, so they
  // fall in one total order: a producer whose B read `s` (B before C) has A
  // before D, so its index is below `observed`. Producers whose B came after
  // C start from `next` or later and never walk back to `s`.
  void advance_tail(segment* s, segment* next) noexcept {
    segment* expected = s;
    if (!tail_seg_.compare_exchange_strong(expected, next, std::memory_order_seq_cst,
                                           std::memory_order_relaxed))
      return;  // another producer moved it
    s->observed = tail_.load(std::memory_order_seq_cst);
    // release: the consumer's acquire load of `released` sees `observed`.
    s->released.store(true, std::memory_order_release);
  }

  // The consumer moves to the queue's first segment, or past a finished
  // one; null if it is not linked yet. Out of line: once every 16 pops.
  [[gnu::noinline]] segment* enter_next_segment() noexcept {
    segment* s = head_seg_;
    if (!s) {
      // acquire: pairs with first_segment's release store; the segment's
      // initialisation is visible.
      s = oldest_.load(std::memory_order_acquire);
      if (!s) return nullptr;
    } else {
      // acquire: pairs with the release of the CAS that linked it.
      s = s->next.load(std::memory_order_acquire);
      if (!s) {  // empty, or the next one not linked yet
        reclaim();
        return nullptr;
      }
    }
    head_seg_ = s;
    for (std::uint64_t i = 0; i < prefetch_distance; ++i) prefetch_slot(s, i);
    reclaim();
    return s;
  }

  // Frees the segments the consumer has passed, oldest first, once no
  // producer can hold them. Consumer only.
  void reclaim() noexcept {
    segment* s = oldest();
    while (s != head_seg_) {
      // acquire: pairs with advance_tail's release; `observed` is visible.
      if (!s->released.load(std::memory_order_acquire) || s->observed > head_) break;
      segment* next = s->next.load(std::memory_order_relaxed);  // linked: head_seg_ lies beyond
      free_segment(s);
      s = next;
    }
    oldest_.store(s, std::memory_order_relaxed);
  }
  // The oldest segment not freed. Consumer only, once head_seg_ is set.
  segment* oldest() const noexcept {
    // relaxed: after first_segment's store, only the consumer writes it.
    return oldest_.load(std::memory_order_relaxed);
  }

  // Producers' end: the next index, and the segment at or before it.
  std::atomic<std::uint64_t> tail_{0};
  std::atomic<segment*> tail_seg_{nullptr};
  // Consumer's end: the next index to pop, its segment, and the oldest
  // segment not yet freed (set by the producer that makes the first one).
  std::uint64_t head_ = 0;
  segment* head_seg_ = nullptr;
  std::atomic<segment*> oldest_{nullptr};
};

}  // namespace troupe::detail
