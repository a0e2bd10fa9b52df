#pragma once
// histogram_recorder: many writers record at once, one reporter takes
// interval histograms (docs/design/histogram.md, "Recorder protocol").
//
//   troupe::histogram_recorder rec(1, 3'600'000'000'000, 3);
//   auto w = rec.make_writer();        // one per thread, worker or actor
//   w.record(latency_ns);              // wait-free, no RMW, no sharing
//   troupe::histogram iv = rec.take_interval();   // reporter, e.g. every 1 s
//
// Design: per-writer cumulative counters, merged by the reporter. Each
// writer owns a counts array (HdrHistogram's layout) that only it writes,
// with a relaxed load and a relaxed store per record — no read-modify-write,
// no cache line shared with another writer, no phaser. The reporter reads
// every writer's counters and hands out the growth since its last read: an
// interval is the sum of those deltas. Because each counter has one writer,
// its values only grow and the reporter's successive reads of it can never
// go back (read-read coherence), so the deltas telescope: every recorded
// value appears in exactly one interval — the first whose read of its
// counter comes after the record — never twice, never lost. An interval is
// not a snapshot of one instant across counters (HdrHistogram's Recorder
// gives that by swapping histograms behind a writer-reader phaser), but no
// consumer of interval logs can tell the difference, and the price of the
// phaser — two shared read-modify-writes per record, on one cache line every
// writer hits — is what this design exists to avoid. Why not the phaser:
// docs/design/histogram.md.
//
// Single writer: a writer belongs to one thread, fiber or actor at a time
// (like an actor's state, only its current turn may touch it). Handing it
// to another thread needs a happens-before edge (a mailbox, a join, a
// scheduler hand-off), which every troupe hand-off provides.
//
// Lifetime: writers and the recorder share the recorder's state, so they
// may be destroyed in any order. A destroyed writer's last counts reach the
// next interval; then its memory is freed by the reporter.
//
// Memory: 16 bytes per slot per writer (its counters and the reporter's
// last reading of them).

#include <atomic>
#include <cstdint>
#include <memory>

#include "troupe/runtime/histogram.hpp"

namespace troupe {

namespace detail {
struct recorder_slot;
struct recorder_state;
}  // namespace detail

class histogram_recorder {
 public:
  class writer;

  // Same parameters as histogram; throws troupe::error (invalid_argument).
  histogram_recorder(std::uint64_t lowest_discernible_value, std::uint64_t highest_trackable_value,
                     int significant_digits);
  explicit histogram_recorder(const histogram_layout& layout);
  ~histogram_recorder();
  histogram_recorder(const histogram_recorder&) = delete;
  histogram_recorder& operator=(const histogram_recorder&) = delete;

  // A new writer. Thread-safe. Allocates its counters (takes the reporter's
  // mutex briefly to register it).
  writer make_writer();

  // The values recorded since the previous call (since construction, the
  // first time), by every writer, including writers destroyed since.
  // Thread-safe: concurrent reporters are serialised by a mutex, and each
  // value goes to exactly one of them. Writers are never blocked.
  // O(writers x counts_length()).
  histogram take_interval();
  // The same into `into` (reset first), which must have this recorder's
  // layout (else troupe::error, invalid_argument); no allocation.
  void take_interval(histogram& into);

  const histogram_layout& layout() const noexcept;

 private:
  std::shared_ptr<detail::recorder_state> state_;
};

class histogram_recorder::writer {
 public:
  writer() noexcept = default;  // empty: record() must not be called
  writer(writer&& other) noexcept;
  writer& operator=(writer&& other) noexcept;
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;
  // Retires the writer: what it recorded still reaches the next interval.
  ~writer();

  explicit operator bool() const noexcept { return counts_ != nullptr; }

  // Owner only (one thread, fiber or actor at a time). Wait-free, O(1), no
  // allocation. A value above highest_trackable_value() is recorded as it
  // and counted in the interval's clamped().
  void record(std::uint64_t value) noexcept { record(value, 1); }
  void record(std::uint64_t value, std::uint64_t count) noexcept {
    if (value > highest_) [[unlikely]] {
      value = highest_;
      bump(*clamped_, count);
    }
    bump(counts_[layout_->index_of(value)], count);
  }

 private:
  friend class histogram_recorder;
  writer(detail::recorder_slot* slot, std::shared_ptr<detail::recorder_state> state) noexcept;

  // This writer is the only one that stores to `c`, so a plain load-add-
  // store is an exact increment (no RMW needed), and relaxed is enough: the
  // reporter only needs each counter's own value, which coherence orders;
  // no other data is published through it. A reporter that reads it
  // concurrently sees the old or the new total, never a torn one (atomic).
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t>* counts_ = nullptr;
  std::atomic<std::uint64_t>* clamped_ = nullptr;
  const histogram_layout* layout_ = nullptr;
  std::uint64_t highest_ = 0;
  detail::recorder_slot* slot_ = nullptr;
  std::shared_ptr<detail::recorder_state> state_;
};

}  // namespace troupe
