#pragma once
// An immutable snapshot that many threads read while a rare writer replaces
// it: the routers' routee sets. Readers never block, never allocate and write
// only to a counter on their own cache line; the writer waits, after
// publishing the new snapshot, until no reader can still hold the old one,
// then deletes it.
//
// The scheme is sleepable-RCU-like (Linux SRCU; McKenney, "Sleepable RCU",
// 2006): readers announce themselves on a striped pair of counters indexed by
// the parity of an epoch; the writer swaps the pointer, then flips the epoch
// twice, each time waiting for the counters of the parity readers have left.
//
// Why not the alternatives: std::atomic<std::shared_ptr> takes a lock in
// libstdc++ 12 and every copy is an RMW on one shared reference count, so
// picks on many cores would all bounce one cache line; hazard pointers and
// epoch reclamation need per-thread registration; liburcu (Debian
// liburcu-dev) needs thread registration too and synchronises through
// membarrier or signals, which ThreadSanitizer cannot see.
//
// Correctness (C++ memory model). A reader R does
//   (1) stripe[e].fetch_add(1, seq_cst)  (2) p = current.load(seq_cst)
//   ... reads *p ...                      (3) stripe[e].fetch_sub(1, release)
// The writer W does (a) current.exchange(new, seq_cst), then for both
// parities (b) loads every stripe's counter (seq_cst) until it reads 0, and
// finally deletes the old snapshot. If R read the old pointer, (2) precedes
// (a) in the single total order S of seq_cst operations, so (1) precedes
// every (b); a seq_cst load that follows a seq_cst RMW in S reads that RMW's
// value or a later one, so W reads R's increment or something after it. The
// counter only returns to 0 once every increment before it in the
// modification order has its decrement there too, so W's zero comes after
// (3); all operations on a counter are RMWs, so (3)'s release sequence
// reaches that value and W's acquiring load synchronises with it: R's reads
// of *p happen before the delete. The epoch flips only keep the writer from
// waiting forever behind a stream of new readers: a reader that loads the
// new epoch counts on the other parity. Two flips cover both parities.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "troupe/runtime/detail/spinlock.hpp"  // backoff

namespace troupe::patterns::detail {

// The calling thread's stripe: threads take stripes round-robin on first
// use. Any thread.
inline std::size_t reader_stripe() noexcept {
  // relaxed: only spreads threads over stripes; any value is correct.
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

template <class T>
class snapshot_cell {
 public:
  static constexpr std::size_t kStripes = 16;

  explicit snapshot_cell(std::unique_ptr<const T> initial) : current_(initial.release()) {}
  snapshot_cell(const snapshot_cell&) = delete;
  snapshot_cell& operator=(const snapshot_cell&) = delete;
  // No reader or writer may be running (so relaxed suffices: the caller
  // already synchronised with every user of the cell).
  ~snapshot_cell() { delete current_.load(std::memory_order_relaxed); }

  // Calls f(const T&) with the current snapshot, which stays alive until f
  // returns. f must not block, suspend, or call update() on this cell. Any
  // thread; wait-free; no allocation.
  template <class F>
  decltype(auto) read(F&& f) const {
    // relaxed: the parity only picks which counter to use (liveness, see
    // the header comment); any value is correct.
    const std::uint32_t parity = epoch_.load(std::memory_order_relaxed) & 1;
    std::atomic<std::uint64_t>& readers = stripes_[reader_stripe() % kStripes].readers[parity];
    // seq_cst: must precede the load of current_ in the total order (1)-(2).
    readers.fetch_add(1, std::memory_order_seq_cst);
    struct leave {
      std::atomic<std::uint64_t>& r;
      // release: our reads of the snapshot happen before the writer's delete (3).
      ~leave() { r.fetch_sub(1, std::memory_order_release); }
    } guard{readers};
    return std::forward<F>(f)(*current_.load(std::memory_order_seq_cst));
  }

  // Replaces the snapshot with make(current) (a std::unique_ptr<const T>),
  // and waits until no reader can see the old one before deleting it.
  // Writers are serialised. Readers never block, so the wait lasts as long
  // as the longest read that was already running (a reader thread that the
  // OS descheduled mid-read makes it longer). Any thread, not from inside
  // read(). May allocate (in make).
  template <class Make>
  void update(Make&& make) {
    std::lock_guard lk(writer_);
    // relaxed: only writers store current_, and writer_ orders them.
    std::unique_ptr<const T> next = std::forward<Make>(make)(*current_.load(std::memory_order_relaxed));
    // seq_cst: (a) in the header comment.
    std::unique_ptr<const T> old(current_.exchange(next.release(), std::memory_order_seq_cst));
    for (int flip = 0; flip < 2; ++flip) {
      // relaxed load: only the writer (serialised by writer_) changes epoch_.
      const std::uint32_t e = epoch_.load(std::memory_order_relaxed);
      // seq_cst: new readers should move to the other parity promptly; the
      // correctness argument does not depend on it.
      epoch_.store(e + 1, std::memory_order_seq_cst);
      for (auto& s : stripes_) {
        // seq_cst (hence acquire): (b) in the header comment.
        for (unsigned spins = 0; s.readers[e & 1].load(std::memory_order_seq_cst) != 0;) {
          troupe::detail::backoff(spins);
        }
      }
    }
    // `old` is deleted here: no reader holds it.
  }

 private:
  struct alignas(64) stripe {
    std::array<std::atomic<std::uint64_t>, 2> readers{};
  };
  mutable std::array<stripe, kStripes> stripes_{};
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<const T*> current_;
  std::mutex writer_;
};

}  // namespace troupe::patterns::detail
