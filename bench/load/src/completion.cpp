#include <utility>

#include "request_state.hpp"

#include "troupe/load/request.hpp"

namespace troupe::load {

namespace detail {

void completion_sink::push(request_state* s) noexcept {
  request_state* old = head_.load(std::memory_order_relaxed);
  do {
    s->next_done = old;
    // seq_cst: release publishes the stamped fields (and next_done) to
    // take_all's acquire; and together with the load of waiting_ below it
    // is one side of a Dekker handshake with wait_for_push (store waiting_,
    // then load head_): in the single total order of seq_cst operations,
    // either the driver's load sees this push, or this load sees its store
    // of waiting_ and we notify. A wake-up cannot be lost.
  } while (!head_.compare_exchange_weak(old, s, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (waiting_.load(std::memory_order_seq_cst)) {
    // Under the mutex: the driver checks the list and blocks while holding
    // it, so this notify cannot fall between its check and its wait.
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_one();
  }
}

void completion_sink::wait_for_push(troupe::clock::time_point until) {
  // seq_cst: the driver's half of the handshake in push().
  waiting_.store(true, std::memory_order_seq_cst);
  if (head_.load(std::memory_order_seq_cst) == nullptr) {
    std::unique_lock<std::mutex> lock(mutex_);
    // acquire: only a condition; take_all does the synchronising.
    auto pushed = [this] { return head_.load(std::memory_order_acquire) != nullptr; };
    if (until == troupe::clock::time_point::max()) {
      cv_.wait(lock, pushed);
    } else {
      cv_.wait_until(lock, until, pushed);
    }
  }
  // relaxed: clearing only makes later pushes skip the notify; a push that
  // still sees true takes the mutex and notifies nobody, harmlessly.
  waiting_.store(false, std::memory_order_relaxed);
}

}  // namespace detail

completion::completion(completion&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}

completion& completion::operator=(completion&& other) noexcept {
  if (this != &other) {
    if (state_) finish(outcome::error, true);
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

completion::~completion() {
  if (state_) finish(outcome::error, true);
}

void completion::operator()(outcome o) noexcept { finish(o, false); }

void completion::finish(outcome o, bool abandoned) noexcept {
  detail::request_state* s = std::exchange(state_, nullptr);
  if (!s) return;
  std::uint8_t expected = detail::pending;
  // relaxed: the CAS only decides who ends the request, which RMW atomicity
  // settles whatever the ordering; what this side writes next is published
  // by push(), and the engine's give-up writes nothing this side reads.
  if (s->ended.compare_exchange_strong(expected, detail::ended_by_completion, std::memory_order_relaxed)) {
    s->result = o;
    s->abandoned = abandoned;
    s->finished = s->sink->clock().now();
    s->sink->push(s);  // our reference keeps *s (and its sink) alive past this
  } else if (!abandoned) {
    s->sink->count_late();
  }
  detail::release(s);
}

}  // namespace troupe::load
