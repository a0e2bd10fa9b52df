// The hierarchical timing wheel (runtime/src/timer_wheel.hpp) against a
// sorted model: a pool of entries armed (deadlines from sub-tick to
// centuries ahead, or already past), cancelled and re-armed, and the clock
// advanced by steps the input picks, each followed by take_due as a worker
// polls.
//
// Checked: take_due returns exactly the pending entries whose deadline is
// at or before now (none early, none lost, none twice, none cancelled),
// each marked fired; those armed in time (deadline not before the previous
// poll) come out in deadline-tick order and in arming order within a tick;
// cancel_timer is true exactly for a pending entry; size() and keepalive()
// count the pending entries; hint() is never later than the earliest
// pending deadline, and after a poll it is later than now, as documented.

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "timer_wheel.hpp"

#include "troupe/runtime/detail/timer.hpp"

namespace {

using troupe::detail::timer_entry;
using troupe::detail::timer_state;
using troupe::detail::timer_wheel;

// More than a level-0 slot's scan limit (64), so that the hint's fallback
// to the slot's start is reached.
constexpr std::size_t pool_size = 80;

struct model_entry {
  bool pending = false;
  bool in_time = false;  // armed with a deadline not before the previous poll
  std::uint64_t when = 0;
  std::uint64_t seq = 0;  // arming order
};

std::string describe(std::size_t i, const model_entry& m) {
  return "entry " + std::to_string(i) + " (when " + std::to_string(m.when) + ", armed #" +
         std::to_string(m.seq) + ")";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  timer_wheel wheel;
  std::array<timer_entry, pool_size> entries;
  std::array<model_entry, pool_size> model{};
  // Any clock reading to start from, polled once as a worker would.
  std::uint64_t now = in.integral<std::uint64_t>() >> in.range(1, 63);
  std::uint64_t last_poll = now;
  FUZZ_CHECK(wheel.take_due(now) == nullptr, "an empty wheel returned entries");
  std::uint64_t seq = 0;

  // A distance in ns: any power-of-two scale, from within one tick to
  // about 146 years.
  auto distance = [&] { return in.range(0, std::uint64_t{1} << in.range(0, 62)); };

  auto check_counts = [&](const char* after) {
    std::size_t pending = 0, keepalive = 0;
    std::uint64_t earliest = timer_wheel::never;
    for (std::size_t i = 0; i < pool_size; ++i) {
      if (!model[i].pending) continue;
      ++pending;
      if (entries[i].keeps_alive) ++keepalive;
      earliest = std::min(earliest, model[i].when);
    }
    FUZZ_CHECK(wheel.size() == pending, std::string("after ") + after + ": size " +
                                            std::to_string(wheel.size()) + ", model " +
                                            std::to_string(pending));
    FUZZ_CHECK(wheel.keepalive() == keepalive, std::string("after ") + after + ": keepalive disagrees");
    FUZZ_CHECK(wheel.hint() <= earliest,
               std::string("after ") + after + ": hint " + std::to_string(wheel.hint()) +
                   " is later than the earliest deadline " + std::to_string(earliest));
  };

  // Arm entry i: the deadline as the input says, or within `tick_of`'s
  // tick when a burst fills one slot.
  auto arm = [&](std::size_t i, std::uint64_t tick_of) {
    std::uint64_t when;
    switch (tick_of != timer_wheel::never ? 4 : in.byte() % 4) {
      case 4:  // the burst's tick
        when = (tick_of & ~((std::uint64_t{1} << timer_wheel::tick_shift) - 1)) +
               in.range(0, (std::uint64_t{1} << timer_wheel::tick_shift) - 1);
        break;
      case 0:  // already due
        when = now > 0 ? now - std::min(now, distance()) : 0;
        break;
      case 1:  // anywhere
        when = in.integral<std::uint64_t>();
        break;
      default:  // ahead of now
        when = now + std::min(distance(), timer_wheel::never - 1 - now);
        break;
    }
    if (when == timer_wheel::never) --when;
    timer_entry& e = entries[i];
    e.keeps_alive = in.flag();
    e.when = when;
    e.wheel = &wheel;  // as arm_timer does, minus the scheduler
    const std::uint64_t hint_before = wheel.hint();
    const bool lowered = wheel.insert(&e);
    FUZZ_CHECK(lowered == (when < hint_before),
               "insert: lowered the hint " + std::to_string(lowered) + " disagrees with the hint before");
    FUZZ_CHECK(e.current_state() == timer_state::pending, "insert: the entry is not pending");
    model[i] = {true, when >= last_poll, when, seq++};
  };

  while (!in.empty()) {
    const char* op = "";
    switch (in.byte() % 7) {
      case 0:
      case 1: {  // arm an entry that is not pending
        op = "arm";
        const std::size_t i = in.range(0, pool_size - 1);
        if (!model[i].pending) arm(i, timer_wheel::never);
        break;
      }
      case 6: {  // a burst: every idle entry armed within one tick
        op = "burst";
        const std::uint64_t at = now + std::min(distance(), timer_wheel::never - 1 - now);
        for (std::size_t i = 0; i < pool_size; ++i)
          if (!model[i].pending) arm(i, at);
        break;
      }
      case 2: {  // cancel any entry, pending or not
        op = "cancel";
        const std::size_t i = in.range(0, pool_size - 1);
        const bool cancelled = troupe::detail::cancel_timer(&entries[i]);
        FUZZ_CHECK(cancelled == model[i].pending, "cancel_timer returned " + std::to_string(cancelled) +
                                                      " for " + describe(i, model[i]) + ", pending " +
                                                      std::to_string(model[i].pending));
        model[i].pending = false;
        break;
      }
      default: {  // time passes; a worker polls
        op = "take_due";
        now += std::min(distance(), timer_wheel::never - 1 - now);
        std::vector<std::size_t> want;
        for (std::size_t i = 0; i < pool_size; ++i)
          if (model[i].pending && model[i].when <= now) want.push_back(i);
        std::vector<std::size_t> got;
        for (timer_entry* e = wheel.take_due(now); e; e = e->next) {
          const auto i = static_cast<std::size_t>(e - entries.data());
          FUZZ_CHECK(i < pool_size, "take_due returned an entry that was never armed");
          FUZZ_CHECK(model[i].pending, "take_due returned " + describe(i, model[i]) + ", not pending");
          FUZZ_CHECK(model[i].when <= now,
                     "take_due returned " + describe(i, model[i]) + " early, at " + std::to_string(now));
          FUZZ_CHECK(e->current_state() == timer_state::fired, "a returned entry is not marked fired");
          model[i].pending = false;
          got.push_back(i);
        }
        FUZZ_CHECK(got.size() == want.size(), "take_due(" + std::to_string(now) + ") returned " +
                                                  std::to_string(got.size()) + " entries, " +
                                                  std::to_string(want.size()) + " were due");
        // Order: among the entries armed in time, by deadline tick, then by
        // arming order.
        const std::size_t* prev = nullptr;
        for (const std::size_t& i : got) {
          if (!model[i].in_time) continue;
          if (prev) {
            const auto& a = model[*prev];
            const auto& b = model[i];
            const auto ta = a.when >> timer_wheel::tick_shift, tb = b.when >> timer_wheel::tick_shift;
            FUZZ_CHECK(ta < tb || (ta == tb && a.seq < b.seq),
                       "take_due order: " + describe(*prev, a) + " before " + describe(i, b));
          }
          prev = &i;
        }
        last_poll = now;
        if (wheel.size() > 0)
          FUZZ_CHECK(wheel.hint() > now, "after take_due(" + std::to_string(now) + "): hint " +
                                             std::to_string(wheel.hint()) + " is not later than now");
        else
          FUZZ_CHECK(wheel.hint() == timer_wheel::never,
                     "after take_due: an empty wheel's hint is not never");
        break;
      }
    }
    check_counts(op);
  }
  // Leave nothing linked to the wheel about to go away.
  for (auto& e : entries) troupe::detail::cancel_timer(&e);
  FUZZ_CHECK(wheel.size() == 0, "entries left after cancelling every one");
  return 0;
}
