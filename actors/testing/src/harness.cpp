#include "troupe/testing/harness.hpp"

#include <algorithm>
#include <exception>
#include <utility>

namespace troupe::testing {

namespace {

runtime_options driven_options(const harness_options& o, std::shared_ptr<troupe::manual_clock> clk) {
  runtime_options r;
  r.driven = true;
  r.shuffle_seed = o.seed;
  r.log_steps = o.trace;
  r.clock = std::move(clk);
  return r;
}

}  // namespace

harness::harness(const harness_options& options)
    : seed_(options.seed),
      clock_(std::make_shared<troupe::manual_clock>()),
      runtime_(std::make_unique<troupe::runtime>(driven_options(options, clock_))),
      system_(std::make_unique<troupe::actor_system>(*runtime_, options.system)) {}

harness::~harness() {
  system_.reset();   // its shutdown drives the runtime until the actors stop
  runtime_.reset();  // runs what is left, cancels waits nobody can end
}

std::size_t harness::run_until_idle() { return runtime_->run_until_idle(); }

bool harness::step() { return runtime_->step(); }

void harness::advance(clock::duration d) {
  const clock::time_point target = clock::after(now(), d);
  run_until_idle();
  // Stop at each timer on the way: what it starts may arm an earlier one
  // than the next we knew of.
  for (auto next = runtime_->next_timer(); next && *next <= target; next = runtime_->next_timer()) {
    // A slot start at or before now (a cancelled entry left the hint low):
    // move on by the smallest step so the loop always progresses.
    clock_->set(std::max(*next, now() + clock::duration(1)));
    run_until_idle();
  }
  clock_->set(target);
  run_until_idle();
}

bool harness::run_until(const std::function<bool()>& done, clock::duration limit) {
  const clock::time_point give_up = clock::after(now(), limit);
  for (;;) {
    if (done()) return true;
    if (step()) continue;  // one step at a time: stop as soon as done() holds
    auto next = runtime_->next_timer();
    if (!next || *next > give_up) return done();
    clock_->set(std::max(*next, now() + clock::duration(1)));
  }
}

std::string harness::trace() const { return runtime_->step_log(); }

exploration explore(std::uint64_t first, std::size_t count, const std::function<void(harness&)>& body,
                    const harness_options& base) {
  exploration ex;
  for (std::size_t i = 0; i < count; ++i) {
    harness_options o = base;
    o.seed = first + i;
    if (o.seed == 0) continue;  // seed 0 means "no shuffling"
    ++ex.runs;
    harness h(o);
    try {
      body(h);
    } catch (const std::exception& e) {
      ex.failing_seed = o.seed;
      ex.failure = e.what();
    } catch (...) {
      ex.failing_seed = o.seed;
      ex.failure = "a non-standard exception";
    }
    if (ex.failing_seed) {
      ex.trace = h.trace();
      return ex;
    }
  }
  return ex;
}

}  // namespace troupe::testing
