// troupe-load: the open-loop load generator from the command line, against
// a built-in service (docs/design/load.md). Programs that drive their own
// services link troupe::load and call troupe::load::run themselves; this
// file is also an example of that.
//
//   troupe-load --rate 1000 --duration 10s --target stall --stall-at 3s --stall-length 2s
//   troupe-load --plan spike --rate 100 --spike-rate 100000 --spike-at 2s --spike-length 1s --duration 5s
//   troupe-load --plan step --stages 100:2s,1000:2s,10000:2s --json run.json --hdr-log run.hlog
//   troupe-load --closed-loop 8 --rate 1000 --duration 10s --target stall ...   (for comparison)

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

#include "troupe/load/generator.hpp"
#include "troupe/runtime/version.hpp"
#include "troupe/load/report.hpp"
#include "troupe/load/services.hpp"
#include "troupe/load/sync_target.hpp"

namespace load = troupe::load;

namespace {

// Durations: a number with an optional unit (seconds if none).
const std::map<std::string, double> duration_units = {{"ns", 1e-9}, {"us", 1e-6},  {"ms", 1e-3}, {"s", 1.0},
                                                      {"m", 60.0},  {"min", 60.0}, {"h", 3600.0}};

CLI::AsNumberWithUnit duration_validator() {
  return CLI::AsNumberWithUnit(duration_units, CLI::AsNumberWithUnit::CASE_SENSITIVE, "UNIT");
}

load::duration seconds(double s) {
  return std::chrono::duration_cast<load::duration>(std::chrono::duration<double>(s));
}

// "RATE:DURATION,RATE:DURATION,..." for --stages, durations as above.
std::vector<load::stage> parse_stages(const std::vector<std::string>& items) {
  std::vector<load::stage> stages;
  for (const auto& item : items) {
    const auto colon = item.find(':');
    if (colon == std::string::npos)
      throw CLI::ValidationError("--stages", "'" + item + "' is not RATE:DURATION");
    double rate = 0;
    if (!CLI::detail::lexical_cast(item.substr(0, colon), rate))
      throw CLI::ValidationError("--stages", "'" + item + "': the rate is not a number");
    std::string length = item.substr(colon + 1);
    if (std::string err = duration_validator()(length); !err.empty())
      throw CLI::ValidationError("--stages", err);
    double secs = 0;
    if (!CLI::detail::lexical_cast(length, secs))
      throw CLI::ValidationError("--stages", "'" + item + "': the duration is not a number");
    stages.push_back({rate, seconds(secs)});
  }
  return stages;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "troupe-load: open-loop load generator. Latency is measured from each request's intended start, so a "
      "stall is counted for every request it delays (docs/design/load.md)."};

  std::string plan_kind = "constant";
  double rate = 1000, spike_rate = 10000;
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

  app.set_version_flag("--version", std::string("troupe-load ") + troupe::version());
  app.add_option("--plan", plan_kind, "constant | step | spike | poisson")
      ->check(CLI::IsMember({"constant", "step", "spike", "poisson"}))
      ->capture_default_str();
  auto* rate_opt =
      app.add_option("--rate", rate,
                     "requests/s: constant and poisson; spike's base rate; closed loop: its pacing "
                     "(without --rate a closed loop is not paced)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
  app.add_option("--duration", duration_s, "length of the run (constant, poisson, spike; closed loop)")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--stages", stage_items, "step: RATE:DURATION,... e.g. 100:5s,1000:5s")->delimiter(',');
  app.add_option("--spike-rate", spike_rate, "spike: the peak rate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--spike-at", spike_at_s, "spike: when the peak starts")->transform(duration_validator());
  app.add_option("--spike-length", spike_length_s, "spike: how long the peak lasts")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--seed", seed, "poisson: the random seed")->capture_default_str();
  app.add_option("--timeout", timeout_s,
                 "per request: given up (counted as timed out) this long after its send")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option("--interval", interval_s, "report interval")
      ->transform(duration_validator())
      ->capture_default_str();
  app.add_option(
         "--closed-loop", closed_workers,
         "run CLOSED-LOOP with N workers instead (each sends when its previous request ended; latency "
         "from the actual send: for comparison, it hides stalls)")
      ->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "write the result (plan, every interval, totals) as JSON");
  app.add_option("--hdr-log", hdr_path, "write the latency histograms as an HdrHistogram interval log");
  app.add_option("--target", target_kind, "noop (completes inline) | stall (a service that stalls)")
      ->check(CLI::IsMember({"noop", "stall"}))
      ->capture_default_str();
  app.add_option("--service-time", service_s, "stall: time per call outside the stall")
      ->transform(duration_validator());
  app.add_flag("--spin", spin, "stall: compute (spin) for the service time instead of sleeping");
  app.add_option("--stall-at", stall_at_s, "stall: when the stall starts")->transform(duration_validator());
  app.add_option("--stall-length", stall_length_s, "stall: how long it lasts")
      ->transform(duration_validator());
  app.add_option("--threads", threads, "stall: threads calling the service (a stalled call holds one)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--no-progress", no_progress, "no progress line on stderr");
  CLI11_PARSE(app, argc, argv);

  try {
    // Sleeps of the driving thread (between intended start times) and of
    // the service end within the kernel's timer slack, 50 µs by default;
    // every microsecond of it would be latency. Ask for the least.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    auto clock = troupe::default_clock();
    const auto length = seconds(duration_s);

    load::target target;
    if (target_kind == "noop") {
      target = load::noop_target();
    } else {
      target =
          load::sync_target(load::stall_service::starting_now(clock, seconds(service_s), seconds(stall_at_s),
                                                              seconds(stall_length_s), spin),
                            threads);
    }

    std::ofstream hdr_file;
    load::run_options opts;
    opts.timeout = seconds(timeout_s);
    opts.interval = seconds(interval_s);
    opts.clock = clock;
    if (!no_progress && ::isatty(STDERR_FILENO)) opts.progress = &std::cerr;
    if (!hdr_path.empty()) {
      hdr_file.open(hdr_path);
      if (!hdr_file) {
        std::cerr << "troupe-load: cannot write " << hdr_path << '\n';
        return 1;
      }
      opts.hdr_log = &hdr_file;
    }
    opts.on_interval = [](const load::interval_report& r) {
      std::cout << load::format_interval(r) << std::endl;
    };

    load::result result;
    if (closed_workers > 0) {
      if (plan_kind != "constant") {
        std::cerr << "troupe-load: --closed-loop takes --duration (and --rate for pacing), not --plan "
                  << plan_kind << '\n';
        return 2;
      }
      const double pacing = rate_opt->count() > 0 ? rate : 0;
      std::cout << load::format_interval_header(load::mode::closed_loop) << std::endl;
      result = load::run(load::closed_loop{closed_workers, length, pacing}, target, opts);
    } else {
      std::optional<load::plan> plan;
      if (plan_kind == "constant") {
        plan = load::plan::constant(rate, length);
      } else if (plan_kind == "poisson") {
        plan = load::plan::poisson(rate, length, seed);
      } else if (plan_kind == "spike") {
        const auto at = seconds(spike_at_s), peak = seconds(spike_length_s);
        if (at + peak > length) {
          std::cerr << "troupe-load: --spike-at + --spike-length is past --duration\n";
          return 2;
        }
        plan = load::plan::spike(rate, spike_rate, at, peak, length - at - peak);
      } else {
        if (stage_items.empty()) {
          std::cerr << "troupe-load: --plan step needs --stages RATE:DURATION,...\n";
          return 2;
        }
        plan = load::plan::steps(parse_stages(stage_items));
      }
      std::cout << load::format_interval_header(load::mode::open_loop) << std::endl;
      result = load::run(load::open_loop{*plan}, target, opts);
    }

    std::cout << load::format_summary(result) << std::endl;
    if (!json_path.empty()) {
      std::ofstream out(json_path);
      if (!out) {
        std::cerr << "troupe-load: cannot write " << json_path << '\n';
        return 1;
      }
      load::write_json(result, out);
      std::cerr << "troupe-load: wrote " << json_path << '\n';
    }
    if (hdr_file.is_open()) std::cerr << "troupe-load: wrote " << hdr_path << '\n';
    return 0;
  } catch (const CLI::ValidationError& e) {
    std::cerr << "troupe-load: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "troupe-load: " << e.what() << '\n';
    return 1;
  }
}
