#pragma once
// Priority classes of messages, and the opt-in hook through which an actor
// refuses a message at dequeue instead of handling it late.
//
// Priority: every user message carries one of three classes. A message type
// declares its class with
//   struct audit { static constexpr troupe::message_priority priority =
//                      troupe::message_priority::best_effort; ... };
// or by specialising troupe::priority_of<M>; otherwise it is `normal`. A
// call may override it (actor_ref::send / ask take an optional
// message_priority). The actors layer only carries the class; the callee's
// dequeue_policy and the patterns layer's limiters act on it (critical
// requests are shed last).
//
// Dequeue policy (spawn_options::dequeue): an actor that has one gets every
// message stamped with the time it was sent (one clock read on the send path,
// only for such actors), and its turn asks the policy about each user
// message just before the handler would run (after the deadline check: a
// message past its deadline is `expired`, never shed). A message the policy
// sheds is not handled: it is counted as a dead letter `shed`, and an asker
// gets actor_errc::overloaded at once, so it can tell "the callee is
// overloaded" from "the callee failed". Actors without a policy pay one
// predictable branch on the send path and one in the turn.
//
// The actors layer knows no shedding algorithm: the patterns layer provides
// CoDel-style shedding by queueing delay (troupe::patterns::shed_by_queue_delay).

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "troupe/runtime/clock.hpp"

namespace troupe {

enum class message_priority : std::uint8_t {
  critical,     // shed last
  normal,       // the default
  best_effort,  // shed first
};
inline constexpr std::size_t message_priority_count = 3;
const char* to_string(message_priority p) noexcept;

// True when M declares `static constexpr troupe::message_priority priority`
// (a non-static data member of that name does not count).
template <class M>
concept declares_priority = requires {
  typename std::integral_constant<message_priority, M::priority>;
};

template <class M>
struct priority_of : std::integral_constant<message_priority, message_priority::normal> {};
template <declares_priority M>
struct priority_of<M> : std::integral_constant<message_priority, M::priority> {};

template <class M>
inline constexpr message_priority priority_of_v = priority_of<std::remove_cvref_t<M>>::value;

// A user message about to be handled, as a dequeue policy sees it.
struct dequeued_message {
  clock::time_point sent_at;  // when the send or ask was made (before any wait for room)
  clock::time_point now;      // the runtime clock, read by the turn for this message
  message_priority priority;
};

class dequeue_policy {
 public:
  virtual ~dequeue_policy() = default;
  // true: shed the message (not handled; dead letter `shed`; the asker gets
  // actor_errc::overloaded). Called in the actor's turn, once per user
  // message; the turns of one actor never overlap, but a policy shared by
  // several actors is called from several threads at once. Must not block,
  // send to actors with `block` mailboxes, or throw.
  virtual bool should_shed(const dequeued_message& m) noexcept = 0;
};

}  // namespace troupe
