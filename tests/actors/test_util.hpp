#pragma once
// Helpers shared by the actors tests.

#include <chrono>
#include <cstddef>
#include <fstream>
#include <gtest/gtest.h>
#include <thread>
#include <unistd.h>

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"

namespace troupe::test {

using namespace std::chrono_literals;

// Sanitizer builds bypass the small-object cache and ASan adds redzones and a
// quarantine: byte counts are meaningless there, so memory assertions are
// skipped (the behaviour under test still runs).
#ifdef TROUPE_SMALL_ALLOC_BYPASS
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Polls `pred` until true or the timeout (tests check results, never speed).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

inline runtime_options workers(std::size_t n) {
  runtime_options o;
  o.workers = n;
  return o;
}

// A runtime and an actor system, parameterised over the worker count. The
// system is declared second so it shuts down before the runtime.
class WorkersTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  runtime rt{workers(GetParam())};
  actor_system sys{rt};
};

// The same with virtual time: a manual clock only the test moves, so timers
// and deadlines are due exactly when the test says.
class VirtualTimeTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  std::shared_ptr<manual_clock> clk = std::make_shared<manual_clock>();
  runtime rt{runtime_options{.workers = GetParam(), .clock = clk}};
  actor_system sys{rt};
  std::uint64_t timers_fired() const { return rt.metrics().total().timers_fired; }
};

inline std::string worker_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return "w" + std::to_string(info.param);
}

// A gate an actor's handler can wait on (its fiber suspends) until the test
// opens it.
struct gate {
  counting_semaphore sem{0};
  std::atomic<bool> entered{false};
  void wait() {
    entered.store(true);
    sem.acquire();
  }
  void open(std::ptrdiff_t n = 1) { sem.release(n); }
  bool wait_entered() {
    return eventually([&] { return entered.load(); });
  }
};

}  // namespace troupe::test
