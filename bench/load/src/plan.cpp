#include "troupe/load/plan.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "troupe/runtime/error.hpp"

namespace troupe::load {

void plan::check(const std::vector<stage>& stages, const char* who) {
  if (stages.empty())
    throw troupe::error(errc::invalid_argument, std::string(who) + ": a plan needs a stage");
  for (const auto& s : stages) {
    if (!std::isfinite(s.rate) || s.rate < 0)
      throw troupe::error(errc::invalid_argument, std::string(who) + ": a rate must be finite and >= 0");
    if (s.length <= duration::zero())
      throw troupe::error(errc::invalid_argument, std::string(who) + ": a stage's length must be > 0");
  }
}

plan plan::constant(double rate, duration length) {
  plan p;
  p.stages_ = {{rate, length}};
  check(p.stages_, "load::plan::constant");
  p.kind_ = "constant";
  return p;
}

plan plan::steps(std::vector<stage> stages) {
  check(stages, "load::plan::steps");
  plan p;
  p.stages_ = std::move(stages);
  p.kind_ = "step";
  return p;
}

plan plan::spike(double base, double peak, duration before, duration length, duration after) {
  if (before < duration::zero() || after < duration::zero())
    throw troupe::error(errc::invalid_argument, "load::plan::spike: before and after must be >= 0");
  plan p;
  if (before > duration::zero()) p.stages_.push_back({base, before});
  p.stages_.push_back({peak, length});
  if (after > duration::zero()) p.stages_.push_back({base, after});
  check(p.stages_, "load::plan::spike");
  p.kind_ = "spike";
  return p;
}

plan plan::poisson(double rate, duration length, std::uint64_t seed) {
  plan p = constant(rate, length).with_poisson_arrivals(seed);
  p.kind_ = "poisson";
  return p;
}

plan plan::with_poisson_arrivals(std::uint64_t seed) const {
  plan p = *this;
  p.arrivals_ = arrivals::poisson;
  p.seed_ = seed;
  return p;
}

duration plan::length() const noexcept {
  duration d{};
  for (const auto& s : stages_) d += s.length;
  return d;
}

double plan::rate_at(duration offset) const noexcept {
  if (offset < duration::zero()) return 0;
  duration begin{};
  for (const auto& s : stages_) {
    if (offset < begin + s.length) return s.rate;
    begin += s.length;
  }
  return 0;
}

double plan::expected_requests() const noexcept {
  if (arrivals_ == arrivals::uniform) {
    // Count exactly what the cursor yields: k with round(k * 1e9 / r) < L.
    double n = 0;
    for (const auto& s : stages_) {
      if (s.rate <= 0) continue;
      const long double period = 1e9L / s.rate;
      auto k = static_cast<std::uint64_t>(std::ceil(static_cast<long double>(s.length.count()) / period));
      // Rounding may move the k-th offset across the end either way: settle it.
      while (k > 0 && std::llround((k - 1) * period) >= s.length.count()) --k;
      while (std::llround(k * period) < s.length.count()) ++k;
      n += static_cast<double>(k);
    }
    return n;
  }
  double n = 0;
  for (const auto& s : stages_) n += s.rate * std::chrono::duration<double>(s.length).count();
  return n;
}

plan::cursor::cursor(const plan& p) : plan_(&p), rng_(p.seed_) { enter_stage(0); }

void plan::cursor::enter_stage(std::size_t i) {
  if (i > 0) stage_begin_ = stage_end_;
  stage_ = i;
  k_ = 0;
  if (i < plan_->stages_.size()) stage_end_ = stage_begin_ + plan_->stages_[i].length;
  poisson_at_ = static_cast<long double>(stage_begin_.count());
}

std::optional<duration> plan::cursor::next() {
  while (stage_ < plan_->stages_.size()) {
    const stage& s = plan_->stages_[stage_];
    if (s.rate > 0) {
      if (plan_->arrivals_ == arrivals::uniform) {
        // From k, not by accumulation: no drift over millions of requests.
        const auto off = std::llround(static_cast<long double>(k_) * 1e9L / s.rate);
        if (off < s.length.count()) {
          ++k_;
          return stage_begin_ + duration(off);
        }
      } else {
        // Inversion from the top 53 bits of one 64-bit draw: u in [0, 1), so
        // 1 - u is in (0, 1] and the log is finite. mt19937_64's output is
        // fixed by the standard; std::exponential_distribution's is not.
        const long double u = static_cast<long double>(rng_() >> 11) * 0x1.0p-53L;
        poisson_at_ += -std::log1p(-u) * 1e9L / s.rate;
        if (poisson_at_ < static_cast<long double>(stage_end_.count())) {
          return duration(static_cast<duration::rep>(poisson_at_));
        }
        // Crossed into the next stage: by memorylessness, start afresh there.
      }
    }
    enter_stage(stage_ + 1);
  }
  return std::nullopt;
}

}  // namespace troupe::load
