#pragma once
// Shedding at the callee, by queueing delay: the CoDel shedder of
// queue_delay.hpp behind the actors layer's dequeue_policy hook.
//
//   auto svc = sys.spawn<payment>(troupe::spawn_options{
//       .dequeue = troupe::patterns::shed_by_queue_delay({.target = 5ms})});
//
// Every message sent to `svc` is stamped with its send time; just before its
// handler would run, the turn asks the shedder, and a request that waited
// longer than the target while the queue is overloaded is refused instead of
// handled late: a dead letter `shed`, and its asker gets
// actor_errc::overloaded (which protected_ref's breaker ignores and p2c
// counts against the routee). The message's priority class scales the
// target (critical 4x, best effort 0.5x by default), so critical requests
// are shed last.

#include <memory>

#include "troupe/actors/dequeue_policy.hpp"
#include "troupe/patterns/queue_delay.hpp"

namespace troupe::patterns {

static_assert(static_cast<int>(priority::critical) == static_cast<int>(message_priority::critical) &&
                  static_cast<int>(priority::best_effort) == static_cast<int>(message_priority::best_effort),
              "patterns::priority and message_priority must list the classes in the same order");

// Thread-safe (the shedder takes a short lock per decision), so one policy
// may serve several actors; give each actor its own for per-queue CoDel.
class queue_delay_policy final : public dequeue_policy {
 public:
  explicit queue_delay_policy(const queue_delay_config& cfg = {}) : shedder_(cfg) {}
  bool should_shed(const dequeued_message& m) noexcept override {
    return shedder_.should_shed(m.sent_at, m.now, static_cast<priority>(m.priority));
  }
  queue_delay_counters counters() const noexcept { return shedder_.counters(); }
  bool overloaded() const noexcept { return shedder_.overloaded(); }

 private:
  queue_delay_shedder shedder_;
};

// A policy for spawn_options::dequeue.
inline std::shared_ptr<queue_delay_policy> shed_by_queue_delay(const queue_delay_config& cfg = {}) {
  return std::make_shared<queue_delay_policy>(cfg);
}

}  // namespace troupe::patterns
