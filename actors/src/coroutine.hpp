#pragma once
// Coroutine handlers inside the turn (coroutine.cpp): starting, resuming and
// finishing them, the hold a non-reentrant one keeps on its actor, and the
// records that resume them through the mailbox. docs/design/coroutines.md.

#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/detail/cell.hpp"
#include "troupe/actors/task.hpp"

namespace troupe::detail {

// Destroys every suspended coroutine handler of c (its actor stops or is
// restarted): their askers get `code`, their own asks are abandoned. Turn only.
void destroy_coroutines(actor_cell* c, actor_errc code) noexcept;
// True while c has suspended coroutine handlers. Turn only.
bool has_coroutines(const actor_cell* c) noexcept;

}  // namespace troupe::detail
