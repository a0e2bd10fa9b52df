#pragma once
// troupe::load, everything but the actor adapter (actor_target.hpp, which
// needs the actors layer): the open-loop load generator. Design and how to
// read its reports: docs/design/load.md.

#include "troupe/load/generator.hpp"    // run, generator, open_loop, closed_loop, run_options
#include "troupe/load/outcome.hpp"      // outcome
#include "troupe/load/plan.hpp"         // plan, stage
#include "troupe/load/report.hpp"       // result, interval_report, JSON, text
#include "troupe/load/request.hpp"      // request, completion, target
#include "troupe/load/services.hpp"     // noop_target, stall_service
#include "troupe/load/sync_target.hpp"  // sync_target
