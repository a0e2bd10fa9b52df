#pragma once
// Helpers for the patterns' tests through real actors: a runtime on a
// manual clock, waiting for counts, and a service actor that answers in
// virtual time (a discrete-event simulation inside an actor, driven by the
// test), so latencies, queueing and overload are exact and repeatable.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"

namespace troupe::test {

using namespace std::chrono_literals;

// Polls `pred` until true or the (real-time) timeout: tests check results,
// never speed.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// A runtime on virtual time and an actor system on it (declared second, so
// it shuts down first).
struct virtual_time {
  explicit virtual_time(std::size_t workers = 2)
      : clk(std::make_shared<manual_clock>()),
        rt(runtime_options{.workers = workers, .clock = clk}),
        sys(rt) {}
  std::shared_ptr<manual_clock> clk;
  runtime rt;
  actor_system sys;
  clock::time_point now() const { return clk->now(); }
};

// ---------------------------------------------------------------------------
// A service answering in virtual time.
//
// `servers` requests are in service at once, each for `service_time`; the
// rest wait in a FIFO. Requests are answered only when the test says what
// time it is (tick{}): every request whose service has ended by then gets its
// answer, inside that turn, so by the time the test's ask of tick{} returns,
// every completion due has run its hooks (the protected_ref's and routers'
// bookkeeping, the test's callbacks). A request is served even if its asker
// gave up meanwhile (its late answer is then an `unanswered` dead letter).

struct work {
  int id = 0;
  // When it was sent, in virtual time: the service counts its arrival from
  // then, not from when its turn happens to read the clock (the test may
  // have moved the clock meanwhile).
  clock::time_point sent{};
};
struct tick {};
struct set_service_time {
  clock::duration d;
};
struct service_stats {
  std::uint64_t received = 0;
  std::uint64_t answered = 0;
};
struct get_stats {};

struct sim_service : actor<sim_service> {
  static constexpr bool reentrant = false;
  struct waiting {
    reply_promise<int> reply;
    int id;
  };
  struct busy {
    clock::time_point until;
    reply_promise<int> reply;
    int id;
  };
  std::size_t servers;
  clock::duration service_time;
  std::deque<waiting> queue;
  std::vector<busy> in_service;
  service_stats st;

  sim_service(std::size_t s, clock::duration t) : servers(s), service_time(t) {}

  reply_promise<int> on(work w) {
    ++st.received;
    auto r = this_actor::reply_later<int>();
    if (in_service.size() < servers)
      in_service.push_back({w.sent + service_time, r, w.id});
    else
      queue.push_back({r, w.id});
    return r;
  }
  // Answers everything due by now, in order of completion time.
  int on(tick) {
    const clock::time_point now = this_actor::now();
    for (;;) {
      auto it = in_service.end();
      for (auto i = in_service.begin(); i != in_service.end(); ++i)
        if (i->until <= now && (it == in_service.end() || i->until < it->until)) it = i;
      if (it == in_service.end()) break;
      const clock::time_point freed = it->until;
      it->reply.deliver(it->id);
      ++st.answered;
      in_service.erase(it);
      if (!queue.empty()) {
        waiting w = std::move(queue.front());
        queue.pop_front();
        in_service.push_back({freed + service_time, std::move(w.reply), w.id});
      }
    }
    return static_cast<int>(in_service.size() + queue.size());
  }
  void on(set_service_time s) { service_time = s.d; }
  service_stats on(get_stats) { return st; }
};

}  // namespace troupe::test
