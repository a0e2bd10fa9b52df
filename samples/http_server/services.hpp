#pragma once
// The troupe side of the http_server sample: three actors that the HTTP
// handlers ask. Nothing here knows about HTTP; main.cpp turns each reply, or
// the reason there was none, into a response.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <troupe/troupe.hpp>
#include <unordered_map>

// GET and PUT /value/<key>. The map is touched only by this actor's turns,
// one message at a time, so it needs no lock.
struct get_value {
  std::string key;
};
struct put_value {
  std::string key;
  std::string value;
};

struct kv_store : troupe::actor<kv_store> {
  std::unordered_map<std::string, std::string> values{{"answer", "42"}, {"greeting", "hello"}};

  std::optional<std::string> on(get_value m) {  // the return value is the reply
    auto it = values.find(m.key);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  void on(put_value m) { values.insert_or_assign(std::move(m.key), std::move(m.value)); }
};

// GET /slow?ms=N: a dependency that takes N ms, to show the per-request
// deadline. While it waits the coroutine holds no stack and no worker, and
// `reentrant` lets many calls wait at once instead of queueing behind each
// other. A call that outlives its deadline still finishes; its late reply is
// counted as an `unanswered` dead letter.
struct sleep_for {
  std::chrono::milliseconds duration;
};

struct slow_backend : troupe::actor<slow_backend> {
  static constexpr bool reentrant = true;

  troupe::task<std::string> on(sleep_for m) {
    co_await troupe::delay(m.duration);
    co_return "slept " + std::to_string(m.duration.count()) + " ms\n";
  }
};

// GET /work?ms=N: a resource that does one job at a time (a coroutine
// handler that is not reentrant holds its actor until it finishes). main.cpp
// spawns it with a small mailbox that refuses at once when full, so a burst
// is turned away (503) instead of queueing until every request times out.
struct job {
  std::chrono::milliseconds duration;
};

struct worker : troupe::actor<worker> {
  std::uint64_t done = 0;

  troupe::task<std::string> on(job m) {
    co_await troupe::delay(m.duration);
    co_return "job " + std::to_string(++done) + " done\n";
  }
};
