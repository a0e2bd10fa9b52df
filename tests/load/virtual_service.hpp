#pragma once
// A service in virtual time, for deterministic tests of the generator: for
// each request a test-given function decides when (after how long) and how
// it ends, or that it never does; the service holds the completion and calls
// it when the test's manual clock reaches that time. drive() runs a
// generator and such a service together on one thread: a discrete-event
// simulation in which nothing depends on how fast the machine is.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "troupe/load/generator.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::load::testing {

struct reply {
  duration after{};  // from when the service receives the request
  outcome result = outcome::ok;
};

class virtual_service {
 public:
  using time_point = troupe::clock::time_point;
  // nullopt: the service never answers (it keeps the completion until it is
  // destroyed, which then ends the request as abandoned, if the generator
  // has not given up on it by then).
  using decide_fn = std::function<std::optional<reply>(const request&, time_point now)>;

  virtual_service(std::shared_ptr<troupe::manual_clock> clock, decide_fn decide)
      : clock_(std::move(clock)), decide_(std::move(decide)) {}

  // The target the generator drives. Keeps a pointer to this service.
  target as_target() {
    return [this](request r) {
      const time_point now = clock_->now();
      ++received_;
      std::optional<reply> d = decide_(r, now);
      if (!d) {
        held_.push_back(std::move(r.done));
      } else if (d->after == duration::zero() && complete_inline_) {
        r.done(d->result);
      } else {
        due_.emplace(std::pair{now + d->after, seq_++}, std::pair{std::move(r.done), d->result});
      }
    };
  }

  // Completions due now are called by a new thread (joined before returning)
  // instead of the calling one: the generator's cross-thread path.
  void complete_from_another_thread(bool yes) { other_thread_ = yes; }
  // Zero-delay replies are given at once, inside the target call.
  void complete_inline(bool yes) { complete_inline_ = yes; }

  time_point next_due() const { return due_.empty() ? time_point::max() : due_.begin()->first.first; }

  // Calls every completion due at or before `now`, in time order.
  void complete_due(time_point now) {
    std::vector<std::pair<completion, outcome>> batch;
    while (!due_.empty() && due_.begin()->first.first <= now) {
      batch.push_back(std::move(due_.begin()->second));
      due_.erase(due_.begin());
    }
    if (batch.empty()) return;
    auto run = [&batch] {
      for (auto& [done, o] : batch) done(o);
    };
    if (other_thread_) {
      std::thread(run).join();
    } else {
      run();
    }
  }

  std::uint64_t received() const { return received_; }
  std::vector<completion>& held() { return held_; }

 private:
  std::shared_ptr<troupe::manual_clock> clock_;
  decide_fn decide_;
  std::map<std::pair<time_point, std::uint64_t>, std::pair<completion, outcome>> due_;
  std::vector<completion> held_;
  std::uint64_t seq_ = 0, received_ = 0;
  bool other_thread_ = false;
  bool complete_inline_ = true;
};

// Runs `g` against `svc` to the end, moving `clock` from one due time to
// the next (the generator's or the service's, whichever comes first).
// Returns false if nothing could ever happen again (a bug in a test).
inline bool drive(generator& g, troupe::manual_clock& clock, virtual_service& svc) {
  g.start();
  for (;;) {
    const auto next = g.poll();
    if (g.done()) return true;
    const auto t = std::min(next, svc.next_due());
    if (t == troupe::clock::time_point::max()) return false;
    clock.set(t);
    svc.complete_due(clock.now());
  }
}

inline std::shared_ptr<troupe::manual_clock> make_clock() { return std::make_shared<troupe::manual_clock>(); }

}  // namespace troupe::load::testing
