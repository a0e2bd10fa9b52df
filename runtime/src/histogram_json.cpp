// to_json (histogram_json.hpp). nlohmann-json is used here only; the
// installed package does not depend on it.

#include "troupe/runtime/histogram_json.hpp"

#include <nlohmann/json.hpp>

namespace troupe {

std::string to_json(const histogram& h, std::span<const double> percentiles, int indent) {
  nlohmann::ordered_json j;
  j["count"] = h.count();
  j["min"] = h.min();
  j["max"] = h.max();
  j["mean"] = h.mean();
  j["stddev"] = h.stddev();
  j["clamped"] = h.clamped();
  j["lowest_discernible_value"] = h.lowest_discernible_value();
  j["highest_trackable_value"] = h.highest_trackable_value();
  j["significant_digits"] = h.significant_digits();
  auto table = nlohmann::ordered_json::array();
  for (double p : percentiles) table.push_back({{"percentile", p}, {"value", h.value_at_percentile(p)}});
  j["percentiles"] = std::move(table);
  return j.dump(indent);
}

}  // namespace troupe
