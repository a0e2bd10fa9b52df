#pragma once
// troupe: the runtime (fibers, work-stealing scheduler, fiber-aware sync),
// the actors built on it, and the patterns (breakers, retries, routers,
// limits) built on those.

#include "troupe/actors.hpp"
#include "troupe/patterns.hpp"
#include "troupe/runtime.hpp"
