#pragma once
// A small workload whose metrics are known exactly, shared by the programs
// that expose them (tests/metrics/exposition_main.cpp writes the text
// rendering, tests/prometheus/exposer_main.cpp serves it through
// prometheus-cpp). tests/metrics/workload_expect.json lists what a parser
// must read back; check_exposition.py reads both.
//
// Three `inbox` actors handle 10 items and one ask each (33 messages, all
// timed: histograms are on from the start), one registered as "front"; a
// `holder` of capacity 1 is held by a gate and refuses one message
// (mailbox_full); a stopped `inbox` is sent two (actor_stopped); a metric
// source adds a counter, a gauge and a histogram.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"

namespace troupe::metrics_workload {

using namespace std::chrono_literals;

struct item {};
struct sync {};
struct hold {
  counting_semaphore* gate;
  std::atomic<bool>* started;
};

struct inbox : actor<inbox> {
  void on(item) {}
  int on(sync) { return 1; }
};
struct holder : actor<holder> {
  void on(hold h) {
    h.started->store(true);  // its wait was recorded before this handler ran
    h.gate->acquire();
  }
  void on(item) {}
};

class workload {
 public:
  explicit workload(actor_system& sys) {
    sys.enable_histograms(true);
    for (int i = 0; i < 3; ++i) inboxes_.push_back(sys.spawn<inbox>());
    if (!sys.register_name("front", inboxes_[0])) throw std::runtime_error("workload: name taken");
    for (auto& a : inboxes_) {
      for (int i = 0; i < 10; ++i)
        if (!a.send(item{})) throw std::runtime_error("workload: send refused");
      if (a.ask(sync{}, 10s).get() != 1) throw std::runtime_error("workload: bad reply");
    }
    spawn_options one;
    one.capacity = 1;
    one.policy = overflow_policy::fail;
    held_ = sys.spawn<holder>(one);
    if (!held_.send(hold{&gate_, &hold_started_})) throw std::runtime_error("workload: hold refused");
    // The hold is being handled (it counts in the depth, and its sojourn is
    // recorded): the next is refused. Queued is not enough: the snapshot
    // below expects the hold's sojourn in the holder's histogram.
    while (!hold_started_.load()) std::this_thread::sleep_for(1ms);
    if (held_.send(item{}).code() != actor_errc::mailbox_full) throw std::runtime_error("workload: not full");
    auto gone = sys.spawn<inbox>();
    gone.stop();
    gone.watch(10s).get();
    for (int i = 0; i < 2; ++i)
      if (gone.send(item{}).code() != actor_errc::actor_stopped)
        throw std::runtime_error("workload: not stopped");
    source_ = sys.add_metric_source("test.widgets", [](std::vector<metric_family>& out) {
      out.push_back(
          metric_family::counter("troupe_test_widgets_total", "Widgets made.").add(7, {{"kind", "a"}}));
      out.push_back(metric_family::gauge("troupe_test_level_ratio", "A level.").add(0.25));
      metric_family h{"troupe_test_latency_seconds", "A latency.", metric_type::histogram, {}};
      metric_sample s;
      s.buckets = {{0.1, 1}, {0.5, 3}};
      s.count = 4;
      s.sum = 1.5;
      h.samples.push_back(std::move(s));
      out.push_back(std::move(h));
    });
    // Counted when each turn's pass ends, which can be just after the reply:
    // wait for the numbers to settle (they do, exactly).
    for (;;) {
      const auto m = sys.metrics();
      std::uint64_t processed = 0;
      for (const auto& c : m.classes)
        if (c.name.ends_with("::inbox")) processed = c.processed;
      if (processed == 33 + 1) break;  // and the stopped one's stop token
      std::this_thread::sleep_for(1ms);
    }
  }
  ~workload() { gate_.release(); }

  // The options a snapshot of this workload is taken with.
  static metrics_options options() { return {.actors = {"front"}}; }

 private:
  std::vector<actor_ref<inbox>> inboxes_;
  actor_ref<holder> held_;
  counting_semaphore gate_{0};
  std::atomic<bool> hold_started_{false};
  metric_source source_;
};

}  // namespace troupe::metrics_workload
