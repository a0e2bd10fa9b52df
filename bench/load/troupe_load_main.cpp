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
#include <fstream>
#include <iostream>
#include <string>
#include <sys/prctl.h>
#include <unistd.h>

#include "troupe_load_cli.hpp"

#include "troupe/load/generator.hpp"
#include "troupe/load/report.hpp"
#include "troupe/load/services.hpp"
#include "troupe/load/sync_target.hpp"
#include "troupe/runtime/version.hpp"

namespace load = troupe::load;

int main(int argc, char** argv) {
  CLI::App app{
      "troupe-load: open-loop load generator. Latency is measured from each request's intended start, so a "
      "stall is counted for every request it delays (docs/design/load.md)."};
  load::cli::options o;
  load::cli::declare(app, o);
  app.set_version_flag("--version", std::string("troupe-load ") + troupe::version());
  CLI11_PARSE(app, argc, argv);

  try {
    const load::cli::run_request request = load::cli::make_request(o);
    auto seconds = [](double s, const char* what) { return load::cli::to_duration(s, what); };

    // Sleeps of the driving thread (between intended start times) and of
    // the service end within the kernel's timer slack, 50 µs by default;
    // every microsecond of it would be latency. Ask for the least.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    auto clock = troupe::default_clock();

    load::target target;
    if (o.target_kind == "noop") {
      target = load::noop_target();
    } else {
      target = load::sync_target(
          load::stall_service::starting_now(clock, seconds(o.service_s, "--service-time"),
                                            seconds(o.stall_at_s, "--stall-at"),
                                            seconds(o.stall_length_s, "--stall-length"), o.spin),
          o.threads);
    }

    std::ofstream hdr_file;
    load::run_options opts;
    opts.timeout = seconds(o.timeout_s, "--timeout");
    opts.interval = seconds(o.interval_s, "--interval");
    opts.clock = clock;
    if (!o.no_progress && ::isatty(STDERR_FILENO)) opts.progress = &std::cerr;
    if (!o.hdr_path.empty()) {
      hdr_file.open(o.hdr_path);
      if (!hdr_file) {
        std::cerr << "troupe-load: cannot write " << o.hdr_path << '\n';
        return 1;
      }
      opts.hdr_log = &hdr_file;
    }
    opts.on_interval = [](const load::interval_report& r) {
      std::cout << load::format_interval(r) << std::endl;
    };

    load::result result;
    if (request.closed) {
      std::cout << load::format_interval_header(load::mode::closed_loop) << std::endl;
      result = load::run(*request.closed, target, opts);
    } else {
      std::cout << load::format_interval_header(load::mode::open_loop) << std::endl;
      result = load::run(load::open_loop{*request.open}, target, opts);
    }

    std::cout << load::format_summary(result) << std::endl;
    if (!o.json_path.empty()) {
      std::ofstream out(o.json_path);
      if (!out) {
        std::cerr << "troupe-load: cannot write " << o.json_path << '\n';
        return 1;
      }
      load::write_json(result, out);
      std::cerr << "troupe-load: wrote " << o.json_path << '\n';
    }
    if (hdr_file.is_open()) std::cerr << "troupe-load: wrote " << o.hdr_path << '\n';
    return 0;
  } catch (const load::cli::usage_error& e) {
    std::cerr << "troupe-load: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "troupe-load: " << e.what() << '\n';
    return 1;
  }
}
