#pragma once
// Private state of the actor system and of cells (not installed).

#include <tbb/concurrent_hash_map.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/detail/unique_function.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/runtime/detail/schedule.hpp"
#include "troupe/runtime/detail/spinlock.hpp"

namespace troupe {

struct timer_handle::state {
  std::atomic<bool> cancelled{false};
  std::atomic<bool> finished{false};
};

namespace detail {

// What an idle actor does not need, allocated on first use.
struct cell_ext {
  spinlock lock;
  bool dead = false;                          // finalised (guarded by lock)
  bool has_reason = false;                    // final_reason holds details
  exit_reason final_reason;                   // guarded by lock
  std::vector<actor_cell*> watchers;          // monitoring actors, one reference each
  std::vector<reply_state_base*> watches;     // watch() futures, one reference each
  std::vector<actor_cell*> links;             // one reference each
  std::vector<std::string> names;
  unique_function<void(void*)> factory;       // supervised children
  std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> dead_letters{};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> restarts{0};
};

cell_ext* ensure_ext(actor_cell* c);

// A thread that fires timers: one per actor system, started on first use.
class timer_service {
 public:
  explicit timer_service(system_impl* s) : sys_(s) {}
  ~timer_service() { stop(); }
  // user: refused (inactive handle) once cancel_user() ran; cancelled by it.
  timer_handle add(clock::time_point first, clock::duration period, unique_function<bool()> action, bool user);
  void cancel_user();
  void stop();

 private:
  struct item {
    clock::time_point when;
    std::uint64_t seq;
    clock::duration period;
    bool user;
    std::shared_ptr<timer_handle::state> st;
    unique_function<bool()> action;
  };
  struct later {
    bool operator()(const std::unique_ptr<item>& a, const std::unique_ptr<item>& b) const {
      return a->when != b->when ? a->when > b->when : a->seq > b->seq;
    }
  };
  void run();

  system_impl* sys_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<item>> heap_;  // min-heap by (when, seq)
  std::uint64_t seq_ = 0;
  bool stop_ = false;
  bool users_closed_ = false;
  std::thread thread_;
};

// The registry's map: oneTBB's concurrent hash map. Lookups by name are not
// a hot path, so it uses std::allocator rather than oneTBB's default
// tbb_allocator, whose block reuse ThreadSanitizer cannot see.
using registry_map = tbb::concurrent_hash_map<std::string, actor_addr, tbb::tbb_hash_compare<std::string>,
                                              std::allocator<std::pair<const std::string, actor_addr>>>;

struct alignas(64) shard {
  spinlock lock;
  actor_cell* head = nullptr;           // top-level actors (intrusive, via prev/next_sib)
  std::atomic<std::int64_t> live{0};    // written under lock, read without
  std::atomic<std::uint64_t> spawned{0};
};

struct system_impl {
  system_impl(runtime& r, actor_system* o, system_options opts)
      : rt(&r), sched(&scheduler_of(r)), owner(o), hook(std::move(opts.dead_letter_hook)), timers(this) {}

  runtime* rt;
  scheduler* sched;
  actor_system* owner;
  std::function<void(const dead_letter&)> hook;
  std::atomic<bool> stopping{false};
  alignas(64) std::array<std::atomic<std::uint64_t>, dead_letter_reason_count> dead{};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> escalations{0};
  std::atomic<std::uint64_t> children_spawned{0};
  std::array<shard, 16> shards;
  registry_map names;
  timer_service timers;

  shard& shard_of(const actor_cell* c) noexcept {
    return shards[(reinterpret_cast<std::uintptr_t>(c) >> 6) % shards.size()];
  }
};

// --- actor.cpp -------------------------------------------------------------
// The running turn's side of the lifecycle.
void handle_failure(actor_cell* c, exit_reason reason);
void kill_and_finalize(actor_cell* c);
bool try_finalize(actor_cell* c, std::uint64_t w);
void close_cell(actor_cell* c, stop_mode mode, exit_kind why) noexcept;
void run_sys(actor_cell* c, sys_message* m);
exit_kind pending_kind(const actor_cell* c) noexcept;
void set_pending_kind(actor_cell* c, exit_kind k) noexcept;
exit_reason describe(std::exception_ptr e, exit_kind kind);
void wake_all_senders(actor_cell* c) noexcept;
void restart_in_place(actor_cell* c);

// --- supervisor.cpp ----------------------------------------------------------
void supervisor_child_failed(actor_cell* sup, actor_cell* child, exit_reason reason);
void supervisor_child_exit(actor_cell* sup, actor_cell* child);
void supervisor_stop(actor_cell* sup, stop_mode mode, exit_kind why);
void supervisor_restart(actor_cell* sup);
// Adds a freshly built child; false if the supervisor no longer accepts children.
bool supervisor_adopt(actor_cell* sup, actor_cell* child);
void post_restart(actor_cell* child);

// --- registry.cpp ------------------------------------------------------------
void unregister_names(actor_cell* c, std::vector<std::string> names);

// Consumer-owned flag bits beyond those in cell.hpp.
inline constexpr std::uint8_t flag_suspended = 8;
inline constexpr std::uint8_t flag_kind_set = 128;
inline constexpr unsigned flag_kind_shift = 4;  // bits 4-6: the pending exit_kind

}  // namespace detail
}  // namespace troupe
