// histogram_recorder: per-writer cumulative counters and the reporter that
// turns their growth into interval histograms (histogram_recorder.hpp).

#include "troupe/runtime/histogram_recorder.hpp"

#include <mutex>
#include <utility>
#include <vector>

#include "histogram_access.hpp"

#include "troupe/runtime/error.hpp"

namespace troupe {
namespace detail {

// One writer's counters. The writer stores to `counts` and `clamped`; the
// reporter reads them and owns `reported`, `next` and the slot's memory
// (under recorder_state::mutex).
struct recorder_slot {
  explicit recorder_slot(std::size_t n)
      : counts(std::make_unique<std::atomic<std::uint64_t>[]>(n)), reported(n, 0) {}

  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;  // value-initialised: zero
  std::atomic<std::uint64_t> clamped{0};
  // Set (release) by the writer's destructor after its last store; read
  // (acquire) by the reporter before it reads the counters, so a reporter
  // that sees it set also sees every store the writer made, takes the final
  // delta and may free the slot.
  std::atomic<bool> retired{false};
  std::vector<std::uint64_t> reported;  // counter values already handed out
  std::uint64_t reported_clamped = 0;
  recorder_slot* next = nullptr;
};

struct recorder_state {
  explicit recorder_state(const histogram_layout& l) : layout(l) {}
  ~recorder_state() {
    // Last owner: no writer is left (each holds a reference), so no slot is
    // being written.
    while (slots) delete std::exchange(slots, slots->next);
  }
  recorder_state(const recorder_state&) = delete;
  recorder_state& operator=(const recorder_state&) = delete;

  const histogram_layout layout;
  std::mutex mutex;  // guards `slots` and every slot's reporter-side fields
  recorder_slot* slots = nullptr;
};

}  // namespace detail

histogram_recorder::histogram_recorder(std::uint64_t lowest, std::uint64_t highest, int digits)
    : histogram_recorder(histogram_layout(lowest, highest, digits)) {}

histogram_recorder::histogram_recorder(const histogram_layout& layout)
    : state_(std::make_shared<detail::recorder_state>(layout)) {}

histogram_recorder::~histogram_recorder() = default;

const histogram_layout& histogram_recorder::layout() const noexcept { return state_->layout; }

histogram_recorder::writer histogram_recorder::make_writer() {
  auto slot = std::make_unique<detail::recorder_slot>(state_->layout.counts_length());
  std::lock_guard lock(state_->mutex);
  slot->next = state_->slots;
  state_->slots = slot.get();
  return writer(slot.release(), state_);
}

histogram histogram_recorder::take_interval() {
  histogram h(state_->layout);
  take_interval(h);
  return h;
}

void histogram_recorder::take_interval(histogram& into) {
  if (!(into.layout() == state_->layout))
    throw error(errc::invalid_argument, "histogram_recorder::take_interval: histogram has another layout");
  into.reset();
  std::uint64_t* out = detail::histogram_access::counts(into);
  const std::size_t n = state_->layout.counts_length();
  std::uint64_t clamped = 0;

  std::lock_guard lock(state_->mutex);
  detail::recorder_slot** link = &state_->slots;
  while (detail::recorder_slot* s = *link) {
    // Acquire, and before the counters: see recorder_slot::retired.
    const bool retired = s->retired.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
      // Relaxed: each counter only grows, and coherence keeps this read no
      // older than our previous one, so the delta is never negative and the
      // deltas over all intervals add up to the counter's final value.
      const std::uint64_t now = s->counts[i].load(std::memory_order_relaxed);
      if (now != s->reported[i]) {
        out[i] += now - s->reported[i];
        s->reported[i] = now;
      }
    }
    const std::uint64_t c = s->clamped.load(std::memory_order_relaxed);  // as the counters
    clamped += c - s->reported_clamped;
    s->reported_clamped = c;
    if (retired) {
      *link = s->next;
      delete s;
    } else {
      link = &s->next;
    }
  }
  detail::histogram_access::establish_totals(into);
  detail::histogram_access::add_clamped(into, clamped);
}

histogram_recorder::writer::writer(detail::recorder_slot* slot,
                                   std::shared_ptr<detail::recorder_state> state) noexcept
    : counts_(slot->counts.get()),
      clamped_(&slot->clamped),
      layout_(&state->layout),
      highest_(state->layout.highest_trackable_value()),
      slot_(slot),
      state_(std::move(state)) {}

histogram_recorder::writer::writer(writer&& other) noexcept
    : counts_(std::exchange(other.counts_, nullptr)),
      clamped_(std::exchange(other.clamped_, nullptr)),
      layout_(std::exchange(other.layout_, nullptr)),
      highest_(other.highest_),
      slot_(std::exchange(other.slot_, nullptr)),
      state_(std::move(other.state_)) {}

histogram_recorder::writer& histogram_recorder::writer::operator=(writer&& other) noexcept {
  if (this != &other) {
    writer old(std::move(*this));  // retires this writer's slot, if any
    counts_ = std::exchange(other.counts_, nullptr);
    clamped_ = std::exchange(other.clamped_, nullptr);
    layout_ = std::exchange(other.layout_, nullptr);
    highest_ = other.highest_;
    slot_ = std::exchange(other.slot_, nullptr);
    state_ = std::move(other.state_);
  }
  return *this;
}

histogram_recorder::writer::~writer() {
  // Release: orders every store this writer made before the flag (see
  // recorder_slot::retired). After it this writer never touches the slot.
  if (slot_) slot_->retired.store(true, std::memory_order_release);
}

}  // namespace troupe
