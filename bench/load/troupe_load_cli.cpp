#include "troupe_load_cli.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

namespace troupe::load::cli {

namespace {

// Durations: a number with an optional unit (seconds if none).
const std::map<std::string, double> duration_units = {{"ns", 1e-9}, {"us", 1e-6},  {"ms", 1e-3}, {"s", 1.0},
                                                      {"m", 60.0},  {"min", 60.0}, {"h", 3600.0}};

CLI::AsNumberWithUnit duration_validator() {
  return CLI::AsNumberWithUnit(duration_units, CLI::AsNumberWithUnit::CASE_SENSITIVE, "UNIT");
}

// "RATE:DURATION" items of --stages, durations as above.
std::vector<load::stage> parse_stages(const std::vector<std::string>& items) {
  std::vector<load::stage> stages;
  for (const auto& item : items) {
    const auto colon = item.find(':');
    if (colon == std::string::npos) throw usage_error("--stages: '" + item + "' is not RATE:DURATION");
    double rate = 0;
    if (!CLI::detail::lexical_cast(item.substr(0, colon), rate))
      throw usage_error("--stages: '" + item + "': the rate is not a number");
    std::string length = item.substr(colon + 1);
    // The validator reports some bad units by returning a message and others
    // by throwing (found by fuzz/load_cli_fuzz.cpp: troupe-load died of the
    // uncaught CLI::ValidationError): both are usage errors here.
    std::string err;
    try {
      err = duration_validator()(length);
    } catch (const CLI::ValidationError& e) {
      err = e.what();
    }
    if (!err.empty()) throw usage_error("--stages: " + err);
    double secs = 0;
    if (!CLI::detail::lexical_cast(length, secs))
      throw usage_error("--stages: '" + item + "': the duration is not a number");
    stages.push_back({rate, to_duration(secs, "--stages")});
  }
  return stages;
}

}  // namespace

load::duration to_duration(double seconds, const char* what) {
  // The nanosecond count must fit its 64 bits: converting a double beyond
  // them (or inf, NaN) is undefined behaviour, not an error (UBSan in the
  // load_cli fuzz target, on --duration 1e300).
  constexpr double limit = 9.2e9;  // s; 2^63 ns is about 9.22e9 s
  if (!(std::fabs(seconds) <= limit)) {
    char given[32];
    std::snprintf(given, sizeof given, "%g", seconds);
    throw usage_error(std::string(what) + ": " + given + " s is out of range (at most 9.2e9 s)");
  }
  return std::chrono::duration_cast<load::duration>(std::chrono::duration<double>(seconds));
}

void declare(CLI::App& app, options& o) {
  app.add_option("--plan", o.plan_kind, "constant | step | spike | poisson")
      ->check(CLI::IsMember({"constant", "step", "spike", "poisson"}))
      ->capture_default_str();
  app.add_option("--rate", o.rate,
                 "requests/s: constant and poisson; spike's base rate; closed loop: its pacing "
                 "(without --rate a closed loop is not paced)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->each([&o](const std::string&) { o.rate_given = true; });
  app.add_option("--duration", o.duration_s, "length of the run (constant, poisson, spike; closed loop)")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--stages", o.stage_items, "step: RATE:DURATION,... e.g. 100:5s,1000:5s")->delimiter(',');
  app.add_option("--spike-rate", o.spike_rate, "spike: the peak rate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--spike-at", o.spike_at_s, "spike: when the peak starts")->transform(duration_validator());
  app.add_option("--spike-length", o.spike_length_s, "spike: how long the peak lasts")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--seed", o.seed, "poisson: the random seed")->capture_default_str();
  app.add_option("--timeout", o.timeout_s,
                 "per request: given up (counted as timed out) this long after its send")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--interval", o.interval_s, "report interval")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option(
         "--closed-loop", o.closed_workers,
         "run CLOSED-LOOP with N workers instead (each sends when its previous request ended; latency "
         "from the actual send: for comparison, it hides stalls)")
      ->check(CLI::PositiveNumber);
  app.add_option("--json", o.json_path, "write the result (plan, every interval, totals) as JSON");
  app.add_option("--hdr-log", o.hdr_path, "write the latency histograms as an HdrHistogram interval log");
  app.add_option("--target", o.target_kind, "noop (completes inline) | stall (a service that stalls)")
      ->check(CLI::IsMember({"noop", "stall"}))
      ->capture_default_str();
  app.add_option("--service-time", o.service_s, "stall: time per call outside the stall")
      ->transform(duration_validator());
  app.add_flag("--spin", o.spin, "stall: compute (spin) for the service time instead of sleeping");
  app.add_option("--stall-at", o.stall_at_s, "stall: when the stall starts")->transform(duration_validator());
  app.add_option("--stall-length", o.stall_length_s, "stall: how long it lasts")
      ->transform(duration_validator());
  app.add_option("--threads", o.threads, "stall: threads calling the service (a stalled call holds one)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--no-progress", o.no_progress, "no progress line on stderr");
}

run_request make_request(const options& o) {
  const auto length = to_duration(o.duration_s, "--duration");
  run_request r;
  if (o.closed_workers > 0) {
    if (o.plan_kind != "constant")
      throw usage_error("--closed-loop takes --duration (and --rate for pacing), not --plan " + o.plan_kind);
    r.closed = load::closed_loop{o.closed_workers, length, o.rate_given ? o.rate : 0};
    return r;
  }
  if (o.plan_kind == "constant") {
    r.open = load::plan::constant(o.rate, length);
  } else if (o.plan_kind == "poisson") {
    r.open = load::plan::poisson(o.rate, length, o.seed);
  } else if (o.plan_kind == "spike") {
    const auto at = to_duration(o.spike_at_s, "--spike-at");
    const auto peak = to_duration(o.spike_length_s, "--spike-length");
    if (at + peak > length) throw usage_error("--spike-at + --spike-length is past --duration");
    r.open = load::plan::spike(o.rate, o.spike_rate, at, peak, length - at - peak);
  } else {
    if (o.stage_items.empty()) throw usage_error("--plan step needs --stages RATE:DURATION,...");
    r.open = load::plan::steps(parse_stages(o.stage_items));
  }
  return r;
}

}  // namespace troupe::load::cli
