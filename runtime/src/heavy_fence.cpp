// heavy_fence (lifo_slot.hpp): Linux membarrier, registered once.

#include <cstdlib>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lifo_slot.hpp"

namespace troupe::detail {
namespace {

long membarrier(int cmd) noexcept { return syscall(__NR_membarrier, cmd, 0U, 0); }

bool register_heavy_fence() noexcept {
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || !(supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

}  // namespace

bool heavy_fence_available() noexcept {
  static const bool available = register_heavy_fence();
  return available;
}

void heavy_fence() noexcept {
  // Cannot fail once registered (heavy_fence_available); a failure would
  // leave the owners' plain takes unordered, so it must not pass silently.
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) std::abort();
}

}  // namespace troupe::detail
