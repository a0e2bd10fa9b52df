#pragma once
// The observer seam: the only hooks tracing uses, for the layers above the
// runtime (the scheduler's own hooks are in runtime/src). Each is one
// predictable branch on `tracing_on` while no runtime traces; only then do
// they call into the runtime, which records into the calling worker's buffer
// (or the foreign threads' buffer). Internal.

#include <atomic>
#include <cstdint>

namespace troupe::detail {

class scheduler;

// How many runtimes of the process trace now. relaxed: a hint read on hot
// paths; starting or stopping a trace is ordered by the tracer's own lock.
inline std::atomic<int> tracing_on{0};

inline bool tracing() noexcept { return tracing_on.load(std::memory_order_relaxed) != 0; }

// Names the run slice of the calling worker (an actor's turn: its class).
void trace_label_slow(const char* name) noexcept;
inline void trace_label(const char* name) noexcept {
  if (tracing()) [[unlikely]]
    trace_label_slow(name);
}

// A flow arrow (an ask): begins where the request is made, ends where the
// reply completes it, matched by `id`.
void trace_flow_slow(scheduler& s, bool begin, std::uint64_t id, const char* name) noexcept;
inline void trace_flow(scheduler& s, bool begin, std::uint64_t id, const char* name) noexcept {
  if (tracing()) [[unlikely]]
    trace_flow_slow(s, begin, id, name);
}

// A point event (a breaker's transition).
void trace_instant_slow(scheduler& s, const char* name) noexcept;
inline void trace_instant(scheduler& s, const char* name) noexcept {
  if (tracing()) [[unlikely]]
    trace_instant_slow(s, name);
}

}  // namespace troupe::detail
