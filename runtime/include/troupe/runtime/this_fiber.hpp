#pragma once
// Calls about the calling fiber. Each says whether a thread outside the
// runtime may call it.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "troupe/runtime/clock.hpp"
#include "troupe/runtime/detail/time.hpp"

namespace troupe::this_fiber {

// True on a worker of some runtime (inside a task or fiber).
bool in_fiber() noexcept;

// Index of the worker running the caller. Fiber context only: throws
// error(not_in_fiber) from a foreign thread. A fiber may migrate between
// workers whenever it suspends, so re-read after any blocking call.
std::size_t worker_index();

// The calling fiber's id, as runtime::fibers() reports it (1, 2, ... in
// creation order per runtime). A runner fiber runs many tasks one after
// another, so tasks may share an id. Fiber context only (error(not_in_fiber)
// otherwise).
std::uint64_t id();

// Lets the other ready work of this worker run first; returns at once if
// there is none. Fiber context only (error(not_in_fiber) otherwise).
void yield();

// Suspends the fiber until the deadline, on its runtime's clock; a foreign
// thread blocks instead (on the steady clock). A deadline in the past returns
// at once. A fiber sleeping until time_point::max() (which nothing ends) is
// cancelled by runtime shutdown: it throws error(cancelled), so its
// destructors run.
void sleep_until(clock::time_point deadline);
// sleep_until(now + d), saturated: a huge d sleeps "forever".
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  sleep_until(detail::deadline_after(d));
}

}  // namespace troupe::this_fiber
