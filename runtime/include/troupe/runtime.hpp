#pragma once
// Everything of the runtime layer an application may use.

#include "troupe/runtime/condition_variable.hpp"
#include "troupe/runtime/error.hpp"
#include "troupe/runtime/future.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/histogram_codec.hpp"
#include "troupe/runtime/histogram_json.hpp"
#include "troupe/runtime/histogram_log.hpp"
#include "troupe/runtime/histogram_recorder.hpp"
#include "troupe/runtime/metrics.hpp"
#include "troupe/runtime/mutex.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/semaphore.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/this_fiber.hpp"
#include "troupe/runtime/version.hpp"
