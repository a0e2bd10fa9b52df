// sample_headline_check FILE [--min-ratio R] [--troupe-near V --tolerance T]
//
// Reads a sample's JSON (samples/common/sample.hpp) and fails unless its
// headline says the troupe way beats the naive way in the stated direction:
//   better = lower:  troupe < naive, and naive / troupe >= R if given
//   better = higher: troupe > naive, and troupe / naive >= R if given
// --troupe-near V --tolerance T also requires |troupe - V| <= T (a figure
// theory predicts, such as the 1/(n+1) keys a consistent-hash ring moves).
// Asserts a direction, never a timing. Exit 0 and one line on success; exit 1
// and the reason on stderr otherwise.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

int fail(const std::string& file, const std::string& why) {
  std::cerr << "sample_headline_check: " << file << ": " << why << '\n';
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Fails unless a sample's JSON headline says troupe beats naive", "sample_headline_check");
  std::string file;
  std::optional<double> min_ratio, near, tolerance;
  app.add_option("file", file, "the sample's --json output")->required();
  app.add_option("--min-ratio", min_ratio, "troupe must beat naive by at least this factor")
      ->check(CLI::PositiveNumber);
  auto* near_opt =
      app.add_option("--troupe-near", near, "the troupe figure must be within --tolerance of this");
  app.add_option("--tolerance", tolerance, "allowed distance from --troupe-near")
      ->check(CLI::NonNegativeNumber)
      ->needs(near_opt);
  near_opt->needs("--tolerance");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(file);
  if (!in) return fail(file, "cannot open");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    return fail(file, std::string("not JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("headline") || !j["headline"].is_object())
    return fail(file, "no headline object");
  const auto& h = j["headline"];
  for (const char* key : {"metric", "unit", "better"})
    if (!h.contains(key) || !h[key].is_string())
      return fail(file, std::string("headline.") + key + " is not a string");
  for (const char* key : {"naive", "troupe"})
    if (!h.contains(key) || !h[key].is_number() || !std::isfinite(h[key].get<double>()))
      return fail(file, std::string("headline.") + key + " is not a finite number");
  const std::string metric = h["metric"], unit = h["unit"], better = h["better"];
  const double naive = h["naive"], troupe = h["troupe"];
  if (better != "lower" && better != "higher")
    return fail(file, "headline.better is neither \"lower\" nor \"higher\"");

  const bool lower = better == "lower";
  const bool beats = lower ? troupe < naive : troupe > naive;
  // The factor by which troupe is better; infinite when the denominator is 0.
  const double numerator = lower ? naive : troupe, denominator = lower ? troupe : naive;
  const double ratio = denominator > 0 ? numerator / denominator
                                       : (numerator > 0 ? std::numeric_limits<double>::infinity() : 1.0);
  const std::string said =
      metric + " (" + unit + ", " + better + " is better): naive " + num(naive) + ", troupe " + num(troupe);
  if (!beats) return fail(file, "troupe does not beat naive: " + said);
  if (min_ratio && !(ratio >= *min_ratio))
    return fail(file, "troupe beats naive by " + num(ratio) + "x, less than the required " + num(*min_ratio) +
                          "x: " + said);
  if (near && !(std::abs(troupe - *near) <= *tolerance))
    return fail(file, "troupe figure " + num(troupe) + " is not within " + num(*tolerance) + " of " +
                          num(*near) + ": " + said);
  std::cout << "ok: " << said << " (" << num(ratio) << "x better)\n";
  return 0;
}
