#include "troupe/runtime/this_fiber.hpp"

#include "scheduler.hpp"

#include "troupe/runtime/detail/wait_list.hpp"
#include "troupe/runtime/error.hpp"

namespace troupe::this_fiber {

namespace {
[[noreturn, gnu::cold, gnu::noinline]] void throw_not_in_fiber(const char* what) {
  throw error(errc::not_in_fiber,
              std::string(what) + ": fiber context only (called from a thread outside the runtime)");
}
detail::worker& worker_or_throw(const char* what) {
  detail::worker* w = detail::this_worker();
  if (!w) [[unlikely]]
    throw_not_in_fiber(what);
  return *w;
}
}  // namespace

bool in_fiber() noexcept { return detail::this_worker() != nullptr; }

std::size_t worker_index() { return worker_or_throw("this_fiber::worker_index").index; }

std::uint64_t id() { return worker_or_throw("this_fiber::id").current->id; }

void yield() {
  detail::worker& w = worker_or_throw("this_fiber::yield");
  w.sched.yield(w);
}

void sleep_until(clock::time_point deadline) {
  // A wait on a private list that nobody notifies: only the deadline ends
  // it (a fiber's timer, or a foreign thread's timed park). Shutdown lets
  // sleepers with a deadline finish; a sleep without one could never end,
  // so shutdown cancels it like a wait nobody can signal (else its stack
  // would be freed without unwinding it).
  const bool forever = deadline == clock::time_point::max();
  detail::spinlock lock;
  detail::wait_list list;
  lock.lock();
  if (list.wait(lock, deadline, /*cancellable=*/forever) == detail::wake_reason::cancelled)
    throw error(errc::cancelled,
                "this_fiber::sleep_until: a sleep without end, cancelled by runtime shutdown");
}

}  // namespace troupe::this_fiber
