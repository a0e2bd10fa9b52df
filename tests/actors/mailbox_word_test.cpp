// The mailbox word on its own: every transition driven from one thread
// against a plain model of what it stands for (counts and flags), over long
// random sequences of sender and turn operations.

#include "mailbox_word.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <random>

namespace {

using troupe::detail::mailbox_word;

// What the word encodes, in plain fields.
struct model {
  std::uint32_t depth = 0, sys = 0;
  bool sched = false, closed = false, killed = false, final = false, paused = false, admitting = false;

  void check(mailbox_word w) const {
    ASSERT_EQ(w.depth(), depth);
    ASSERT_EQ(w.sys_count(), sys);
    ASSERT_EQ(w.scheduled(), sched);
    ASSERT_EQ(w.closed(), closed || final);
    ASSERT_EQ(w.killed(), killed);
    ASSERT_EQ(w.final(), final);
    ASSERT_EQ(w.paused(), paused);
    ASSERT_EQ(w.admitting(), admitting);
  }
};

TEST(MailboxWordTest, TransitionsMatchAModelOverRandomSequences) {
  constexpr std::uint32_t capacity = 5;
  std::mt19937 rng(12345);
  for (int run = 0; run < 200; ++run) {
    mailbox_word w;
    model m;
    for (int step = 0; step < 2000 && !m.final; ++step) {
      switch (rng() % 8) {
        case 0:
        case 1: {  // a user send
          const auto r = w.try_reserve(capacity);
          using R = mailbox_word::reserve;
          if (m.closed) {
            ASSERT_EQ(r.outcome, R::closed);
          } else if (m.admitting) {
            ASSERT_EQ(r.outcome, R::behind);
          } else if (m.depth >= capacity) {
            ASSERT_EQ(r.outcome, R::full);
          } else {
            const bool wakes = !m.sched && !m.paused;
            ASSERT_EQ(r.outcome, wakes ? R::scheduled : R::queued);
            ++m.depth;
            m.sched = m.sched || wakes;
            w = mailbox_word(r.next);
          }
          break;
        }
        case 2: {  // a sender that may wait finds it full and queues for room
          const auto next = w.start_admitting(capacity);
          const bool expect = !m.closed && (m.admitting || m.depth >= capacity);
          ASSERT_EQ(next.has_value(), expect);
          if (next) {
            m.admitting = true;
            w = *next;
          }
          break;
        }
        case 3: {  // a system message
          const auto r = w.post_sys();
          ASSERT_EQ(r.has_value(), !m.final);
          if (r) {
            ASSERT_EQ(r->sets_sched, !m.sched);
            ++m.sys;
            m.sched = true;
            w = mailbox_word(r->next);
          }
          break;
        }
        case 4: {  // a stop
          const bool immediate = rng() % 3 == 0;
          const auto r = w.close(immediate);
          const bool nothing = m.final || (m.closed && (!immediate || m.killed));
          ASSERT_EQ(r.has_value(), !nothing);
          if (r) {
            ASSERT_EQ(r->sets_sched, !m.sched);
            m.closed = true;
            m.killed = m.killed || immediate;
            ++m.sys;
            m.sched = true;
            w = mailbox_word(r->next);
          }
          break;
        }
        case 5: {  // a turn consumes some of what is counted
          if (!m.sched) break;
          const std::uint32_t s = m.sys ? static_cast<std::uint32_t>(rng() % (m.sys + 1)) : 0;
          const std::uint32_t u = m.depth ? static_cast<std::uint32_t>(rng() % (m.depth + 1)) : 0;
          w = mailbox_word(w.bits() - mailbox_word::consumed(s, u));
          m.sys -= s;
          m.depth -= u;
          break;
        }
        case 6: {  // the turn pauses or resumes the user lane, or admits
          if (!m.sched) break;
          if (rng() % 2) {
            m.paused = !m.paused;
            w = w.with_pause(m.paused);
          } else if (m.admitting) {
            const auto r = w.admit_one();
            ++m.depth;
            w = mailbox_word(r.next);
            if (rng() % 2) {
              m.admitting = false;
              w = w.without_admit();
            }
          }
          break;
        }
        case 7: {  // the turn tries to go idle, or to finalise
          if (!m.sched) break;
          const bool work = m.sys != 0 || (!m.paused && m.depth != 0);
          ASSERT_EQ(w.has_work(), work);
          if (const auto idle = w.try_go_idle()) {
            ASSERT_FALSE(work);
            m.sched = false;
            w = *idle;
          } else {
            ASSERT_TRUE(work);
          }
          if (m.sched && w.may_finalize()) {
            ASSERT_TRUE(m.closed && m.sys == 0 && m.depth == 0);
            m.final = true;
            w = w.finalized();
          }
          break;
        }
      }
      m.check(w);
    }
  }
}

TEST(MailboxWordTest, CapacityEdgesAndTheLargestCounts) {
  mailbox_word w;
  // Capacity 1: one accepted, the next full.
  auto r = w.try_reserve(1);
  ASSERT_EQ(r.outcome, mailbox_word::reserve::scheduled);
  w = mailbox_word(r.next);
  EXPECT_EQ(w.try_reserve(1).outcome, mailbox_word::reserve::full);
  // The largest capacity fills without touching the system count.
  mailbox_word big(mailbox_word::max_capacity - 1);
  r = big.try_reserve(mailbox_word::max_capacity);
  ASSERT_NE(r.outcome, mailbox_word::reserve::full);
  big = mailbox_word(r.next);
  EXPECT_EQ(big.depth(), mailbox_word::max_capacity);
  EXPECT_EQ(big.sys_count(), 0u);
  EXPECT_EQ(big.try_reserve(mailbox_word::max_capacity).outcome, mailbox_word::reserve::full);
}

}  // namespace
