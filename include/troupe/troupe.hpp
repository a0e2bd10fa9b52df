#pragma once
// troupe: the runtime (fibers, work-stealing scheduler, fiber-aware sync) and
// the actors built on it.

#include "troupe/actors.hpp"
#include "troupe/runtime.hpp"
