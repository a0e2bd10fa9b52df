#pragma once
// troupe::testing: deterministic tests of actor code, on virtual time, with
// seeded interleavings (harness.hpp).

#include "troupe/testing/harness.hpp"
