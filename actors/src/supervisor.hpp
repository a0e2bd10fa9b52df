#pragma once
// Supervision (supervisor.cpp): restart decisions, intensity, backoff,
// escalation, stopping children first. Everything here runs in the
// supervisor's turn except supervisor_adopt and supervisor_children (any
// thread, under the supervisor's children lock).

#include <vector>

#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/lifecycle.hpp"

namespace troupe::detail {

void supervisor_child_failed(actor_cell* sup, actor_cell* child, const exit_reason& reason);
void supervisor_child_exit(actor_cell* sup, actor_cell* child);
void supervisor_stop(actor_cell* sup, stop_mode mode, exit_kind why);
void supervisor_restart(actor_cell* sup);
// Adds a freshly built child; false if the supervisor no longer accepts children.
bool supervisor_adopt(actor_cell* sup, actor_cell* child);
// The children now, one reference each (the caller releases them). Any
// thread holding a reference to `sup`, under the children lock (metrics).
std::vector<actor_cell*> supervisor_children(actor_cell* sup);

}  // namespace troupe::detail
