#pragma once
// The observer seam: the only hooks tracing uses, for the layers above the
// runtime (the scheduler's own hooks are in runtime/src). Each is one
// predictable branch on `tracing_on` while no runtime traces; only then do
// they call into the runtime, which records into the calling worker's buffer
// (or the foreign threads' buffer). Internal.
//
// Built with TROUPE_TRACE_HOOKS=0 (CMake option TROUPE_TRACE_HOOKS=OFF),
// tracing() is a constant false: every hook compiles to nothing, here and in
// the scheduler, and start_tracing() throws (troupe/runtime/trace.hpp).

#include <atomic>
#include <cstdint>
#include <string_view>

#ifndef TROUPE_TRACE_HOOKS
#define TROUPE_TRACE_HOOKS 1
#endif

namespace troupe::detail {

class scheduler;

// How many runtimes of the process trace now. relaxed: a hint read on hot
// paths; starting or stopping a trace is ordered by the tracer's own lock.
inline std::atomic<int> tracing_on{0};

#if TROUPE_TRACE_HOOKS
inline bool tracing() noexcept { return tracing_on.load(std::memory_order_relaxed) != 0; }
#else
constexpr bool tracing() noexcept { return false; }
#endif

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

// A point event on `s`'s trace.
void trace_instant_slow(scheduler& s, const char* name) noexcept;
inline void trace_instant(scheduler& s, const char* name) noexcept {
  if (tracing()) [[unlikely]]
    trace_instant_slow(s, name);
}

// A point event from a layer with no scheduler at hand (a circuit breaker's
// transition), from any thread: on a worker of a runtime that traces, into
// that worker's buffer; otherwise into the "outside the runtime" track of
// every runtime tracing now. `name` is copied, once per distinct name for
// the life of the process: keep the set of names small. Call it behind
// `if (tracing())`, so that building the name costs nothing while off.
void trace_instant_anywhere_slow(std::string_view name) noexcept;

}  // namespace troupe::detail
