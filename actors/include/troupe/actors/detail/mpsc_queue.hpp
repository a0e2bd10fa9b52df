#pragma once
// Intrusive multi-producer single-consumer queue: Dmitry Vyukov's
// "intrusive MPSC node-based queue" (1024cores.net), with a stub node so the
// queue is never physically empty. push() is wait-free (one exchange and one
// store); pop() is consumer-only and may report "nothing yet" while a
// producer sits between its exchange and its link store: callers that know
// an item is coming (the mailbox counts them) retry later instead of
// spinning.
//
// FIFO: pushes are ordered by their exchange on head_, which is one
// modification order; a producer's own pushes follow its program order, so
// each producer's items come out in the order it pushed them.

#include <atomic>

namespace troupe::detail {

struct mpsc_node {
  std::atomic<mpsc_node*> next{nullptr};
};

class mpsc_queue {
 public:
  mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) {}
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  // Any thread.
  void push(mpsc_node* n) noexcept {
    // relaxed: published by the release half of the exchange below.
    n->next.store(nullptr, std::memory_order_relaxed);
    // acq_rel: release publishes n (payload and null link) to the producer
    // that next exchanges head_ and writes n->next, so its link store cannot
    // be overwritten by our null; acquire makes prev's own null-link store
    // happen before our link store into it.
    mpsc_node* prev = head_.exchange(n, std::memory_order_acq_rel);
    // release: the consumer reaches n through this link (acquire load) and
    // must then see n's payload.
    prev->next.store(n, std::memory_order_release);
  }

  // Consumer only (or callers serialised by one lock). Returns the oldest
  // item, or nullptr if the queue is empty or its oldest item is still being
  // linked by its producer. A returned node is never touched by the queue again.
  mpsc_node* pop() noexcept {
    mpsc_node* tail = tail_;
    // acquire (every load of a link): pairs with the producer's release link
    // store, so the payload of the node reached is visible.
    mpsc_node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (!next) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next) {
      tail_ = next;
      return tail;
    }
    // tail is the last linked node. acquire: pairs with the exchange.
    mpsc_node* head = head_.load(std::memory_order_acquire);
    if (tail != head) return nullptr;  // a producer is between exchange and link
    push(&stub_);                      // re-insert the stub so tail can be handed out
    next = tail->next.load(std::memory_order_acquire);
    if (next) {
      tail_ = next;
      return tail;
    }
    return nullptr;  // another push slipped in before the stub: not linked yet
  }

 private:
  std::atomic<mpsc_node*> head_;  // producers' end
  mpsc_node* tail_;               // consumer's end
  mpsc_node stub_;
};

}  // namespace troupe::detail
