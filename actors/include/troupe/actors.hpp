#pragma once
// Everything of the actors layer an application may use.

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/ask.hpp"
#include "troupe/actors/dequeue_policy.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/lifecycle.hpp"
#include "troupe/actors/mailbox.hpp"
#include "troupe/actors/metrics.hpp"
#include "troupe/actors/result.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/actors/system.hpp"
#include "troupe/actors/task.hpp"
#include "troupe/actors/timer.hpp"
