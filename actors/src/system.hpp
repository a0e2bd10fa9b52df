#pragma once
// The private state of an actor system (system.cpp): counters, the sharded
// lists of top-level actors, the registry's map, the live actor timers, the
// per-class metrics and metric sources (metrics.hpp).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tbb/concurrent_hash_map.h>

#include "metrics.hpp"

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe::detail {

// The registry's map: oneTBB's concurrent hash map. Lookups by name are not
// a hot path, so it uses std::allocator rather than oneTBB's default
// tbb_allocator, whose block reuse ThreadSanitizer cannot see.
using registry_map = tbb::concurrent_hash_map<std::string, actor_addr, tbb::tbb_hash_compare<std::string>,
                                              std::allocator<std::pair<const std::string, actor_addr>>>;

struct alignas(64) shard {
  spinlock lock;
  actor_cell* head = nullptr;         // top-level actors (intrusive, via prev/next_sib)
  std::atomic<std::int64_t> live{0};  // written under lock, read without
  std::atomic<std::uint64_t> spawned{0};
};

struct system_impl {
  system_impl(runtime& r, actor_system* o, system_options opts);

  runtime* rt;
  scheduler* sched;
  // The runtime's "accepting external work" flag (see schedule.hpp): sends
  // and spawns from outside are refused once it falls.
  const std::atomic<bool>* runtime_accepting;
  // Null once the actor_system object is gone; an actor it abandoned may
  // still run and ask for it (this_actor::system), on any thread.
  std::atomic<actor_system*> owner;
  std::function<void(const dead_letter&)> hook;
  std::chrono::milliseconds shutdown_timeout;
  std::atomic<bool> stopping{false};
  // actor_system::enable_histograms; read on every send and handled message
  // (beside `stopping`, on a line that is rarely written).
  std::atomic<bool> histograms{false};
  std::atomic<bool> histograms_ever{false};  // enabled at least once: snapshots carry histograms
  alignas(64) std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> dead{};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> escalations{0};
  std::atomic<std::uint64_t> children_spawned{0};
  std::array<shard, 16> shards;
  registry_map names;
  spinlock timers_lock;  // guards the list of live actor timers
  actor_timer* timers = nullptr;
  class_table classes;  // per-class metrics, by vtable
  std::shared_ptr<metric_sources> sources = std::make_shared<metric_sources>();

  shard& shard_of(const actor_cell* c) noexcept {
    return shards[(reinterpret_cast<std::uintptr_t>(c) >> 6) % shards.size()];
  }
  // Adds a top-level actor; false once shutdown began (checked under the
  // shard lock, so shutdown's collection either finds it or it is refused).
  bool add_top_level(actor_cell* c);
  void remove_top_level(actor_cell* c) noexcept;
  // Actor timers (timers.cpp).
  bool add_timer(actor_timer* t) noexcept;
  void remove_timer(actor_timer* t) noexcept;
  void cancel_timers() noexcept;
};

// Whether messages are timed now (actor_system::enable_histograms). relaxed:
// a switch that takes effect soon after it is thrown; a message stamped or
// not, timed or not, is right either way.
inline bool histograms_on(const system_impl* s) noexcept {
  return s->histograms.load(std::memory_order_relaxed);
}

// The send path, as it pushes an accepted message: stamps when it entered
// the mailbox, for the mailbox sojourn histogram; only while histograms are
// on (off, this is one predictable branch).
inline void stamp_enqueued(actor_cell* c, envelope* e) noexcept {
  if (histograms_on(c->sys)) [[unlikely]]
    e->enqueued = c->sys->rt->now();
}

}  // namespace troupe::detail
