#pragma once
// The unit the scheduler queues: an intrusive header with one function
// pointer. Tasks, resumable fibers and actors all embed one, so scheduling
// never allocates. Internal: used by the actors layer, not by applications.

#include <cstdint>

namespace troupe::detail {

struct task_header {
  // Runs the item on the calling worker. Called exactly once per time the
  // header is scheduled. A null pointer marks a suspended fiber to resume.
  void (*invoke)(task_header*) = nullptr;
  // Link for intrusive queues (the global injection queue).
  task_header* next = nullptr;
};

}  // namespace troupe::detail
