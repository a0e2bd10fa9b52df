#include "troupe/load/services.hpp"

#include <thread>

#include "troupe/runtime/detail/spinlock.hpp"  // cpu_relax
#include "troupe/runtime/error.hpp"

namespace troupe::load {

target noop_target() {
  return [](request r) { r.done(outcome::ok); };
}

stall_service::stall_service(std::shared_ptr<troupe::clock> clock, stall_config cfg)
    : clock_(clock ? std::move(clock) : troupe::default_clock()), cfg_(cfg) {
  if (clock_->is_virtual())
    throw troupe::error(errc::invalid_argument, "load::stall_service: needs a real clock (it sleeps)");
  if (cfg_.service_time < duration::zero())
    throw troupe::error(errc::invalid_argument, "load::stall_service: service_time must be >= 0");
}

stall_service stall_service::starting_now(std::shared_ptr<troupe::clock> clock, duration service_time,
                                          duration stall_at, duration stall_length, bool spin) {
  if (!clock) clock = troupe::default_clock();
  const auto now = clock->now();
  return stall_service(clock, {service_time, spin, now + stall_at, now + stall_at + stall_length});
}

outcome stall_service::operator()(const request&) const {
  auto now = clock_->now();
  if (now >= cfg_.stall_begin && now < cfg_.stall_end) {
    std::this_thread::sleep_until(cfg_.stall_end);
    now = clock_->now();
  }
  if (cfg_.service_time > duration::zero()) {
    const auto until = now + cfg_.service_time;
    if (cfg_.spin) {
      while (clock_->now() < until) troupe::detail::cpu_relax();
    } else {
      std::this_thread::sleep_until(until);
    }
  }
  return outcome::ok;
}

}  // namespace troupe::load
