#pragma once
// The actors layer's metrics (metrics.cpp): per-class counters and
// histograms, the table that finds a class's entry from its vtable without
// a lock, the registry of metric sources, and the hooks the send path, the
// turn and the lifecycle call. docs/design/metrics.md.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/metrics.hpp"
#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/histogram_recorder.hpp"

namespace troupe::detail {

// What one worker counts for one class: only that worker writes here (a
// relaxed load and store per update, no read-modify-write), the snapshot
// reads. Its histogram writers are made by that worker on first use.
struct alignas(64) class_worker_slot {
  std::atomic<std::uint64_t> processed{0};
  std::atomic<std::uint64_t> handler_sum_ns{0};
  std::atomic<std::uint64_t> sojourn_sum_ns{0};
  bool has_writers = false;  // worker-owned
  histogram_recorder::writer handler;
  histogram_recorder::writer sojourn;
};

// The numbers of one actor class in one system. Made on the class's first
// spawn, never freed before the system state.
struct class_stats {
  class_stats(const cell_vtable* v, std::size_t workers);

  // Read on every lookup: alone on the first cache line.
  const cell_vtable* const vt;
  const std::size_t worker_count;
  const std::unique_ptr<class_worker_slot[]> slots;  // one per worker

  // Counted where the event happens (rare events: dead letters, failures,
  // restarts), shared by every actor of the class: relaxed RMWs, statistics.
  alignas(64) std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> dead{};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> restarts{0};

  histogram_recorder handler_rec;
  histogram_recorder sojourn_rec;
  // The snapshot's side: the histograms so far (intervals taken from the
  // recorders added up), under merge_lock, made on first use.
  std::mutex merge_lock;
  std::optional<histogram> handler_total;
  std::optional<histogram> sojourn_total;
};

// The class entries of one system, found by vtable address. Lookups are
// lock-free (a probe of an open-addressing table of atomic pointers); a new
// class is added under a mutex, by spawn. A table that fills up to half is
// replaced by one twice its size, and the old one is kept (a reader may be
// probing it; it still holds every class it ever held). Entries are never
// removed.
class class_table {
 public:
  explicit class_table(std::size_t workers);
  ~class_table();
  class_table(const class_table&) = delete;
  class_table& operator=(const class_table&) = delete;

  // The entry of vt, or null if no actor of it was ever spawned. Any thread.
  class_stats* find(const cell_vtable* vt) const noexcept {
    // acquire: pairs with the release publication of a table and its slots.
    const table* t = current_.load(std::memory_order_acquire);
    for (std::size_t i = t->home(vt);; i = (i + 1) & t->mask) {
      class_stats* e = t->slots[i].load(std::memory_order_acquire);
      if (!e || e->vt == vt) return e;
    }
  }
  // The entry of vt, made if it is the first. Any thread; may throw bad_alloc.
  class_stats& of(const cell_vtable* vt);
  // Every entry (a copy of the list, under the mutex). Any thread.
  std::vector<class_stats*> all() const;

 private:
  struct table {
    explicit table(int bits);
    std::size_t home(const cell_vtable* vt) const noexcept {
      // Fibonacci hashing of the address: the top `bits` bits of its product.
      return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(vt) * 0x9E3779B97F4A7C15ull) >>
                                      shift);
    }
    void insert(class_stats* e) noexcept;
    const int shift;
    const std::size_t mask;
    const std::unique_ptr<std::atomic<class_stats*>[]> slots;
  };

  const std::size_t workers_;
  std::atomic<table*> current_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<table>> tables_;         // every table made; the last is current_
  std::vector<std::unique_ptr<class_stats>> entries_;  // guarded by mutex_
};

// The registry behind actor_system::add_metric_source.
struct metric_sources {
  std::mutex mutex;  // held while sources are called, so that remove() waits for them
  std::uint64_t next_id = 1;
  struct entry {
    std::string name;
    metric_source::collect_fn collect;
  };
  std::map<std::uint64_t, entry> by_id;

  // Appends every source's families that are valid, outside troupe's own
  // names and not clashing with another source's; returns how many
  // families (or throwing sources) were left out.
  std::uint64_t collect(std::vector<metric_family>& out);
};

// Names of troupe's own families (metrics_render.cpp): the prefixes
// troupe_worker_, troupe_runtime_, troupe_system_, troupe_class_ and
// troupe_actor_ are reserved, so no source can clash with them.
bool reserved_metric_name(const std::string& name) noexcept;

// --- hooks ---------------------------------------------------------------------
// The send path and the turn check histograms_on(system) (system.hpp) inline
// and call these only while histograms are on.

// Runs the handler of `e` (envelope_op::deliver) like deliver_user does,
// recording its mailbox sojourn and handler time. Turn only.
void deliver_timed(actor_cell* c, envelope* e);
// The turn handled `n` messages of c, an actor of s. Turn only (per worker:
// a relaxed load and store, no RMW). Inline: it runs at every turn's end.
inline void count_processed(actor_cell* c, const scheduler& s, std::uint32_t n) noexcept {
  class_stats* k = c->klass;
  if (n == 0 || !k) return;
  const std::size_t w = worker_index(s);
  if (w >= k->worker_count) return;
  std::atomic<std::uint64_t>& processed = k->slots[w].processed;
  processed.store(processed.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
// Events of c's class, counted where they happen. Any thread.
void count_dead_letter(actor_cell* c, dead_letter_reason why) noexcept;
void count_failure(actor_cell* c) noexcept;
void count_restart(actor_cell* c) noexcept;

}  // namespace troupe::detail
