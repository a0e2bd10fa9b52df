#pragma once
// troupe-load's command line (troupe_load_main.cpp), apart from running it,
// so that the parsing can be fuzzed (fuzz/load_cli_fuzz.cpp): the options,
// how they are declared to CLI11, and the run they ask for, checked.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/load/generator.hpp"
#include "troupe/load/plan.hpp"

namespace troupe::load::cli {

// Durations in seconds, as given on the command line (a number with an
// optional unit: ns, us, ms, s, m, min, h).
struct options {
  std::string plan_kind = "constant";
  double rate = 1000, spike_rate = 10000;
  bool rate_given = false;  // --rate was on the command line (closed-loop pacing)
  double duration_s = 10, spike_at_s = 0, spike_length_s = 1;
  std::vector<std::string> stage_items;
  std::uint64_t seed = 1;
  double timeout_s = 1, interval_s = 1;
  std::uint32_t closed_workers = 0;
  std::string json_path, hdr_path;
  std::string target_kind = "noop";
  double service_s = 0, stall_at_s = 0, stall_length_s = 0;
  bool spin = false;
  std::size_t threads = 64;
  bool no_progress = false;
};

// Declares every option on `app`, bound to `o` (which must outlive app's
// parse). Values CLI11 can check alone (ranges, units, members) are checked
// there: a bad one makes app.parse throw CLI::ValidationError.
void declare(CLI::App& app, options& o);

// Options that contradict each other, or a --stages item that is not
// RATE:DURATION: troupe-load exits with 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a parsed command line asks for: exactly one of the two is set.
struct run_request {
  std::optional<load::plan> open;
  std::optional<load::closed_loop> closed;
};

// Throws usage_error as above (also for a duration to_duration refuses),
// and troupe::error (invalid_argument) for a plan troupe::load::plan
// refuses.
run_request make_request(const options& o);

// A duration given in seconds, as the generator's nanoseconds. Throws
// usage_error, naming the option `what`, if it does not fit them (beyond
// 9.2e9 s, or not a number).
load::duration to_duration(double seconds, const char* what);

}  // namespace troupe::load::cli
