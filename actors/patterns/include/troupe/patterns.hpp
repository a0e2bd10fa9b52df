#pragma once
// troupe::patterns: the algorithmic cores of the resilience patterns
// (circuit breaker, retries with a budget, hedging, routers, consistent
// hashing, adaptive concurrency limits, queue-delay shedding, bulkheads).
// Each is usable alone, thread-safe, takes time as explicit troupe::clock
// time points and randomness from a seeded random source.
//
// Around actors: troupe::protect(ref) (protect.hpp) stacks them in front of
// an actor with the actor_ref surface; troupe::router<A, Policy>
// (actor_router.hpp) routes over a changing set of actors; shedding.hpp puts
// the queue-delay shedder behind an actor's dequeue policy.

#include "troupe/patterns/actor_router.hpp"
#include "troupe/patterns/bulkhead.hpp"
#include "troupe/patterns/circuit_breaker.hpp"
#include "troupe/patterns/consistent_hash.hpp"
#include "troupe/patterns/error.hpp"
#include "troupe/patterns/hedging.hpp"
#include "troupe/patterns/limits.hpp"
#include "troupe/patterns/outcome.hpp"
#include "troupe/patterns/p2c_router.hpp"
#include "troupe/patterns/protect.hpp"
#include "troupe/patterns/queue_delay.hpp"
#include "troupe/patterns/random.hpp"
#include "troupe/patterns/retry.hpp"
#include "troupe/patterns/retry_budget.hpp"
#include "troupe/patterns/router.hpp"
#include "troupe/patterns/shedding.hpp"
