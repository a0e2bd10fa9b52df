#pragma once
// Traces you can look at: Chrome trace event JSON that Perfetto
// (ui.perfetto.dev, "Open trace file") and chrome://tracing open. Opt-in at
// run time:
//
//   TROUPE_TRACE=/tmp/run.json ./server       every runtime of the process
//                                             traces from its start and writes
//                                             the file when it shuts down
//   troupe::start_tracing(rt);  ...  troupe::stop_tracing(rt, "run.json");
//
// What a trace shows, per worker thread: one complete event per run slice
// (a task, a fiber's run between two suspensions, an actor's turn named
// after the actor's class), steals and parks as instant events; asks as flow
// arrows from the request to the reply; circuit-breaker transitions as
// instant events (on the worker that made the change, or on the "outside the
// runtime" track). Each worker records into its own bounded buffer (events beyond it
// are counted, not recorded); when tracing is off the cost at every point is
// one predictable branch on one process-wide flag. docs/design/tracing.md.

#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe {

class runtime;

struct trace_options {
  // Events kept per worker (and for threads outside the runtime); later
  // ones are counted as dropped.
  std::size_t events_per_worker = 1 << 18;
};

// False in a build of troupe configured with TROUPE_TRACE_HOOKS=OFF: the
// hooks are compiled out, start_tracing throws and TROUPE_TRACE is ignored
// (with a line on stderr). Thread-safe.
bool tracing_available() noexcept;

// Starts recording, replacing what an earlier tracing recorded. Throws
// troupe::error (invalid_argument) if !tracing_available(). Thread-safe.
void start_tracing(runtime& rt, const trace_options& options = {});
// Stops recording and writes the trace to `path` (Chrome trace event JSON).
// Returns the number of events written; throws troupe::error
// (invalid_argument) if it cannot write the file or tracing was not started.
// Thread-safe.
std::size_t stop_tracing(runtime& rt, const std::string& path);
// Events dropped because a buffer was full, since start_tracing.
std::size_t trace_dropped(const runtime& rt) noexcept;

}  // namespace troupe
