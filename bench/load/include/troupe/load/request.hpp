#pragma once
// What the generator hands a target: one request, with the time it was
// meant to start and a completion the target calls exactly once.
//
//   troupe::load::target t = [&svc](troupe::load::request r) {
//     svc.call_async(r.id, [done = std::move(r.done)](bool good) mutable {
//       done(good ? troupe::load::outcome::ok : troupe::load::outcome::error);
//     });
//   };
//
// A target is any callable void(request). It is called on the generator's
// driving thread and should return quickly: an asynchronous target starts
// the work and returns; a synchronous one goes through sync_target
// (sync_target.hpp), which runs it on a pool of threads. A target that
// blocks the driving thread makes the generator fall behind its schedule;
// the report then says by how much (the "behind" column), and the requests
// it issues late still have their intended start time, so the delay shows
// up as latency instead of vanishing.
//
// Completion rules (docs/design/load.md, "Accounting"):
//   - call `done(outcome)` once, from any thread, at any time;
//   - a completion that comes after the request's deadline (or never) is
//     counted as timed out at the deadline: the generator gave up then.
//     A late call is still safe, and counted as "late";
//   - a completion destroyed without being called (the target dropped the
//     request) ends the request at once as `error`, counted as "abandoned";
//   - calling it again, or calling an empty one, does nothing.

#include <cstdint>
#include <functional>

#include "troupe/load/outcome.hpp"
#include "troupe/runtime/clock.hpp"

namespace troupe::load {

using duration = troupe::clock::duration;  // nanoseconds (also in plan.hpp)

namespace detail {
struct request_state;
class engine;
}  // namespace detail

// The completion of one request. Move-only; 8 bytes.
class completion {
 public:
  completion() noexcept = default;
  completion(completion&& other) noexcept;
  completion& operator=(completion&& other) noexcept;
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  // If it was never called: the request ends now as outcome::error and is
  // counted as abandoned.
  ~completion();

  // Ends the request with `o`, at the current time of the generator's clock.
  // Thread-safe: any thread, concurrently with the generator. Wait-free
  // apart from one compare-and-swap loop on the generator's completion list.
  // Never throws. After the call the completion is empty.
  void operator()(outcome o) noexcept;

  // True until it is called (or moved from).
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class detail::engine;
  explicit completion(detail::request_state* s) noexcept : state_(s) {}
  void finish(outcome o, bool abandoned) noexcept;

  detail::request_state* state_ = nullptr;
};

struct request {
  // 0, 1, 2, ... in the order the generator issues requests.
  std::uint64_t id = 0;
  // When the plan says this request starts; latency is measured from it.
  // Open loop: from the schedule, never from when an earlier request ended.
  // Closed loop: the actual send time (what naive tools measure).
  troupe::clock::time_point intended_start;
  // When the generator issued it: intended_start, or later if it fell behind.
  troupe::clock::time_point sent;
  // When the generator gives up on it (sent + the run's timeout): a target
  // with its own deadline (an ask) may use it.
  troupe::clock::time_point deadline;
  completion done;
};

// What the generator drives: anything callable as void(request). Called on
// the generator's driving thread only, one request at a time.
using target = std::function<void(request)>;

}  // namespace troupe::load
