#pragma once
// A synchronous callable as a target: each request runs the callable on a
// pool of issuing threads (Boost.Asio's thread_pool), and its return value
// completes the request.
//
//   auto t = troupe::load::sync_target(
//       [&db](const troupe::load::request&) { return db.get("k") ? outcome::ok : outcome::error; },
//       64);
//
// Threads: a call holds a pool thread for as long as it runs. With T threads
// and calls that take s seconds, the pool serves at most T / s requests per
// second; past that, requests wait in the pool's queue, and since each was
// due at its intended start the wait is counted in its latency -- it is real
// delay, but the generator's, not the service's. Give a blocking target
// enough threads: at least rate x the longest call you want measured
// faithfully (Little's law), e.g. 1,000 req/s against calls that may block
// for 100 ms needs 100.
//
// The callable must be thread-safe (T threads call it at once). An
// exception it throws ends the request as outcome::error.

#include <cstddef>
#include <functional>

#include "troupe/load/outcome.hpp"
#include "troupe/load/request.hpp"

namespace troupe::load {

// Thread-safe. The returned target, like every target, is called by the
// generator's driving thread. The pool starts here and is shared by every
// copy of the returned target;
// the last copy's destructor stops it and joins its threads (requests still
// queued are dropped, which ends them as abandoned). Destroy it on a thread
// that is not one of the pool's. Throws troupe::error (invalid_argument) on
// an empty callable or zero threads.
target sync_target(std::function<outcome(const request&)> call, std::size_t threads);

}  // namespace troupe::load
