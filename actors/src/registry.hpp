#pragma once
// The registry of named actors (registry.cpp).

#include <string>
#include <vector>

#include "troupe/actors/detail/cell.hpp"

namespace troupe::detail {

// Drops the names an actor held (it has stopped).
void unregister_names(actor_cell* c, const std::vector<std::string>& names);

}  // namespace troupe::detail
