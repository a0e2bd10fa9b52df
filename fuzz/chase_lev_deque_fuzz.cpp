// The Chase-Lev deque (runtime/include/troupe/runtime/detail/chase_lev_deque.hpp)
// against a std::deque model: owner operations (push in bursts that force
// growth, pop, pop_above, steal_oldest) and thief operations (steal)
// interleaved on one thread as the input dictates.
//
// Checked after every operation: each returned item is the one the model
// says (owner LIFO at the bottom, thieves FIFO at the top), or nothing when
// the model is empty; a thief never loses a race (nothing else runs); the
// indices (bottom_index) and size_estimate match the model's. Items are heap
// objects freed when returned, so ASan turns an item returned twice into a
// double free and one never returned into a leak.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "fuzz_input.hpp"

#include "troupe/runtime/detail/chase_lev_deque.hpp"

namespace {

using troupe::detail::chase_lev_deque;
using troupe::detail::steal_status;
using item = std::int64_t;

struct model {
  struct entry {
    std::int64_t index;
    item* p;
  };
  std::deque<entry> items;  // front: top (oldest), back: bottom (newest)
  std::int64_t top = 0, bottom = 0;
};

// An item handed back by the deque: the one the model expected, freed.
void take(item* got, const model::entry& want, const char* by) {
  FUZZ_CHECK(got == want.p,
             std::string(by) + " returned the wrong item (index " + std::to_string(want.index) + ")");
  FUZZ_CHECK(*got == want.index, std::string(by) + ": item's payload changed");
  delete got;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  const std::size_t initial_capacity = std::size_t{1} << in.range(0, 6);  // 1..64: rounds up to >= 2
  model m;
  {
    chase_lev_deque<item*> dq(initial_capacity);
    auto push = [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        auto* p = new item(m.bottom);
        dq.push(p);
        m.items.push_back({m.bottom, p});
        ++m.bottom;
      }
    };
    // pop and pop_above after the mark check: one item is taken from the top
    // with a CAS (top moves), two or more from the bottom (bottom moves).
    auto owner_take = [&](item* got, const char* by) {
      if (m.items.empty()) {
        FUZZ_CHECK(got == nullptr, std::string(by) + " returned an item from an empty deque");
        return;
      }
      FUZZ_CHECK(got != nullptr, std::string(by) + " returned nothing from a non-empty deque");
      take(got, m.items.back(), by);
      if (m.items.size() == 1)
        ++m.top;
      else
        --m.bottom;
      m.items.pop_back();
    };
    auto thief_take = [&](item* got, const char* by) {
      if (m.items.empty()) {
        FUZZ_CHECK(got == nullptr, std::string(by) + " returned an item from an empty deque");
        return;
      }
      FUZZ_CHECK(got != nullptr, std::string(by) + " returned nothing from a non-empty deque");
      take(got, m.items.front(), by);
      m.items.pop_front();
      ++m.top;
    };

    while (!in.empty()) {
      switch (in.byte() % 8) {
        case 0:
        case 1:
          push(in.range(1, 16));
          break;
        case 2:
          push(in.range(1, 600));  // several doublings at once
          break;
        case 3:
          owner_take(dq.pop(), "pop");
          break;
        case 4: {
          // A mark around the bottom: below, at and above it.
          const std::int64_t mark = m.bottom - static_cast<std::int64_t>(in.range(0, 7)) + 2;
          item* got = dq.pop_above(mark);
          if (m.bottom - 1 < mark) {
            FUZZ_CHECK(got == nullptr, "pop_above returned an item pushed before its mark");
          } else {
            owner_take(got, "pop_above");
          }
          break;
        }
        case 5:
          thief_take(dq.steal_oldest(), "steal_oldest");
          break;
        case 6:
        case 7: {
          item* out = nullptr;
          const steal_status s = dq.steal(out);
          FUZZ_CHECK(s != steal_status::lost_race, "steal lost a race with nobody");
          FUZZ_CHECK((s == steal_status::empty) == m.items.empty(), "steal's empty disagrees with the model");
          thief_take(s == steal_status::success ? out : nullptr, "steal");
          break;
        }
      }
      FUZZ_CHECK(dq.bottom_index() == m.bottom,
                 "bottom_index " + std::to_string(dq.bottom_index()) + ", model " + std::to_string(m.bottom));
      FUZZ_CHECK(dq.size_estimate() == m.items.size(), "size_estimate " + std::to_string(dq.size_estimate()) +
                                                           ", model " + std::to_string(m.items.size()));
      FUZZ_CHECK(dq.empty_estimate() == m.items.empty(), "empty_estimate disagrees with the model");
    }
    // Half the inputs drain the deque; the others destroy it holding items
    // (it drops the pointers; the model frees them below).
    if (m.bottom % 2 == 0) {
      while (!m.items.empty()) owner_take(dq.pop(), "pop (drain)");
      FUZZ_CHECK(dq.pop() == nullptr, "pop after the drain returned an item");
    }
  }
  for (const auto& e : m.items) delete e.p;
  return 0;
}
