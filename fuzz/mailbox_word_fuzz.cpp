// The mailbox state word (actors/src/mailbox_word.hpp) against a model: a
// struct of plain fields (depth, system count, the six flags, senders
// waiting for room) that applies the protocol of docs/design/actors.md the
// way mailbox.cpp does, one transition at a time, for the overflow policy
// and capacity the input picks. The starting state comes from the input
// too, so counts start near their field's top (a carry into the next field
// would show).
//
// Checked after every step: the word decodes to exactly the model's state
// (no bit outside the known fields), each transition's outcome is the one
// the protocol says (scheduled / queued / closed / full / behind; who sets
// SCHED; when a stop or a system message is refused; when the actor may go
// idle or finalise), and the protocol's invariants: depth never exceeds the
// capacity, a waiting sender implies ADMIT, runnable work implies SCHED,
// nothing is accepted after FINAL.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_input.hpp"
#include "mailbox_word.hpp"

namespace {

using troupe::detail::mailbox_word;
using reserve = mailbox_word::reserve;

enum class policy : std::uint8_t { block, fail, drop_newest, drop_oldest };

struct model {
  std::uint32_t depth = 0;
  std::uint32_t sys = 0;
  bool sched = false, closed = false, kill = false, final = false, pause = false, admit = false;
  std::uint32_t waiting = 0;  // block senders queued for room (admission records)

  std::uint64_t bits() const {
    return std::uint64_t{depth} | std::uint64_t{sys} << mailbox_word::sys_shift |
           (admit ? mailbox_word::admit_bit : 0) | (pause ? mailbox_word::pause_bit : 0) |
           (kill ? mailbox_word::kill_bit : 0) | (sched ? mailbox_word::sched_bit : 0) |
           (closed ? mailbox_word::closed_bit : 0) | (final ? mailbox_word::final_bit : 0);
  }
  bool has_work() const { return sys != 0 || (!pause && depth != 0); }
  std::string describe() const {
    return "depth " + std::to_string(depth) + " sys " + std::to_string(sys) + " sched " +
           std::to_string(sched) + " closed " + std::to_string(closed) + " kill " + std::to_string(kill) +
           " final " + std::to_string(final) + " pause " + std::to_string(pause) + " admit " +
           std::to_string(admit) + " waiting " + std::to_string(waiting);
  }
};

constexpr std::uint32_t sys_max = (1u << 25) - 1;

void check_same(mailbox_word w, const model& m, const char* after) {
  FUZZ_CHECK(w.bits() == m.bits(), std::string("after ") + after + ": word " + std::to_string(w.bits()) +
                                       ", model " + std::to_string(m.bits()) + " (" + m.describe() + ")");
  FUZZ_CHECK(w.depth() == m.depth && w.sys_count() == m.sys,
             std::string("after ") + after + ": decoded counts");
  FUZZ_CHECK(w.scheduled() == m.sched && w.closed() == (m.closed || m.final) && w.killed() == m.kill &&
                 w.final() == m.final && w.paused() == m.pause && w.admitting() == m.admit,
             std::string("after ") + after + ": decoded flags");
  FUZZ_CHECK(w.has_work() == m.has_work(), std::string("after ") + after + ": has_work");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  const auto pol = static_cast<policy>(in.byte() % 4);
  // Small capacities, and the largest the word can hold.
  const std::uint32_t capacity =
      in.flag() ? static_cast<std::uint32_t>(in.range(1, 8)) : mailbox_word::max_capacity;

  // A starting state an actor can be in: some messages queued (counts may
  // start at the top of their fields), a turn queued if there is work.
  model m;
  m.depth = static_cast<std::uint32_t>(
      in.flag() ? capacity - in.range(0, std::min<std::uint32_t>(capacity, 3)) : in.range(0, capacity));
  m.sys = static_cast<std::uint32_t>(in.flag() ? sys_max - in.range(0, 64) : in.range(0, 3));
  m.pause = in.flag();
  m.sched = m.has_work() || in.flag();
  mailbox_word w(m.bits());
  check_same(w, m, "start");

  while (!in.empty()) {
    const char* op = "";
    switch (in.byte() % 9) {
      case 0:
      case 1:
      case 2: {  // a user send, as post() makes it
        op = "send";
        const auto r = w.try_reserve(capacity);
        reserve want;
        if (m.closed || m.final)
          want = reserve::closed;
        else if (m.admit)
          want = reserve::behind;
        else if (m.depth >= capacity)
          want = reserve::full;
        else
          want = (!m.sched && !m.pause) ? reserve::scheduled : reserve::queued;
        FUZZ_CHECK(r.outcome == want, "try_reserve: outcome " + std::to_string(int(r.outcome)) + ", model " +
                                          std::to_string(int(want)) + " (" + m.describe() + ")");
        if (want == reserve::scheduled || want == reserve::queued) {
          ++m.depth;
          if (want == reserve::scheduled) m.sched = true;
          w = mailbox_word(r.next);
          break;
        }
        if (want == reserve::closed) {
          FUZZ_CHECK(r.next == w.bits(), "a refused send changed the word");
          break;
        }
        // Full, or senders already wait: the policy decides.
        if (pol == policy::drop_oldest && m.depth > 0) {
          // The oldest queued message makes room: depth unchanged (the swap
          // happens under the cell's lock, not in the word).
        } else if (pol == policy::block) {
          const auto next = w.start_admitting(capacity);
          FUZZ_CHECK(next.has_value(), "start_admitting refused a full, open mailbox (" + m.describe() + ")");
          m.admit = true;
          ++m.waiting;
          w = *next;
        }
        // fail, drop_newest: refused, the word is unchanged.
        break;
      }
      case 3: {  // a system message (watch, link, failure of a child...)
        op = "post_sys";
        if (m.sys == sys_max) break;  // the system lane is bounded by what exists to send
        const auto r = w.post_sys();
        FUZZ_CHECK(r.has_value() == !m.final,
                   "post_sys: accepted " + std::to_string(r.has_value()) + " (" + m.describe() + ")");
        if (!r) break;
        FUZZ_CHECK(r->sets_sched == !m.sched, "post_sys: sets_sched disagrees (" + m.describe() + ")");
        ++m.sys;
        m.sched = true;
        w = mailbox_word(r->next);
        break;
      }
      case 4: {  // a stop, graceful or immediate
        op = "close";
        if (m.sys == sys_max) break;
        const bool immediate = in.flag();
        const auto r = w.close(immediate);
        const bool want = !m.final && (!m.closed || (immediate && !m.kill));
        FUZZ_CHECK(r.has_value() == want, "close(" + std::to_string(immediate) + "): did something " +
                                              std::to_string(r.has_value()) + " (" + m.describe() + ")");
        if (!r) break;
        FUZZ_CHECK(r->sets_sched == !m.sched, "close: sets_sched disagrees (" + m.describe() + ")");
        m.closed = true;
        m.kill = m.kill || immediate;
        ++m.sys;
        m.sched = true;
        w = mailbox_word(r->next);
        break;
      }
      case 5:
      case 6: {  // a turn: handles what the input says of the runnable work
        op = "turn";
        if (!m.sched || m.final) break;
        const auto sys = static_cast<std::uint32_t>(in.range(0, m.sys));
        // A killed actor dead-letters every queued user message in its turn.
        const std::uint32_t user =
            m.kill ? m.depth : (m.pause ? 0 : static_cast<std::uint32_t>(in.range(0, m.depth)));
        // drop_oldest pops under the lock and takes its depth off at once;
        // the turn's fetch_sub then leaves the user count alone.
        w = mailbox_word(w.bits() - mailbox_word::consumed(sys, user));
        m.sys -= sys;
        m.depth -= user;
        check_same(w, m, "turn's fetch_sub");
        // Admission: the turn admits waiting senders into the slots it freed
        // (a stopping actor refuses them instead), then clears ADMIT when
        // nobody waits any more.
        if (m.admit) {
          if (m.closed || m.final) {
            m.waiting = 0;
          } else {
            while (m.waiting > 0 && m.depth < capacity) {
              const auto r = w.admit_one();
              const reserve want = (!m.sched && !m.pause) ? reserve::scheduled : reserve::queued;
              FUZZ_CHECK(r.outcome == want, "admit_one: outcome disagrees (" + m.describe() + ")");
              ++m.depth;
              --m.waiting;
              w = mailbox_word(r.next);
            }
          }
          if (m.waiting == 0) {
            w = w.without_admit();
            m.admit = false;
          }
        }
        const auto idle = w.try_go_idle();
        FUZZ_CHECK(idle.has_value() == !m.has_work(), "try_go_idle disagrees (" + m.describe() + ")");
        if (idle) {
          m.sched = false;
          w = *idle;
        }
        const bool may_finalize = m.closed && m.sys == 0 && m.depth == 0;
        FUZZ_CHECK(w.may_finalize() == may_finalize, "may_finalize disagrees (" + m.describe() + ")");
        if (may_finalize && !m.final) {
          w = w.finalized();
          m.final = true;
        }
        break;
      }
      case 7: {  // a turn pauses or resumes its user lane (supervision, a coroutine handler)
        op = "pause";
        if (!m.sched || m.final) break;
        const bool on = in.flag();
        w = w.with_pause(on);
        m.pause = on;
        break;
      }
      case 8: {  // a block sender's deadline passes while it waits
        op = "admission expires";
        if (m.waiting == 0) break;
        if (--m.waiting == 0) {
          w = w.without_admit();
          m.admit = false;
        }
        break;
      }
    }
    check_same(w, m, op);
    FUZZ_CHECK(m.depth <= capacity,
               std::string("after ") + op + ": depth above capacity (" + m.describe() + ")");
    FUZZ_CHECK(m.waiting == 0 || m.admit, std::string("after ") + op + ": a waiting sender without ADMIT");
    FUZZ_CHECK(!m.has_work() || m.sched || m.final,
               std::string("after ") + op + ": runnable work and no turn queued (" + m.describe() + ")");
  }
  return 0;
}
