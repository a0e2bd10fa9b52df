#pragma once
// troupe::prometheus, the optional component: troupe's metrics in
// prometheus-cpp (find_package(troupe COMPONENTS prometheus)).

#include "troupe/prometheus/metrics.hpp"
