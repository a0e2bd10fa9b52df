// troupe-load's command line (bench/load/troupe_load_cli.hpp): arbitrary
// argument lists (the input split at newlines) parsed by CLI11 with the
// tool's options, then turned into the run they ask for, as
// troupe_load_main.cpp does.
//
// Checked: a command line is either refused with one of the documented
// errors (CLI::ParseError from the parse, usage_error for options that
// contradict each other or a bad --stages item, troupe::error for a plan
// the generator refuses) or yields exactly one run, closed loop exactly
// when --closed-loop was given; every duration the tool converts comes out
// as the seconds it was given, to the nanosecond. Anything else (another
// exception, undefined behaviour such as converting an out-of-range double,
// a crash) is a finding.

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "troupe_load_cli.hpp"

#include "troupe/runtime/error.hpp"

namespace cli = troupe::load::cli;

namespace {

// A duration the tool converts: refused as a usage error, or exact.
void check_duration(double seconds, const char* what) {
  try {
    const auto d = cli::to_duration(seconds, what);
    const double back = static_cast<double>(d.count()) / 1e9;
    FUZZ_CHECK(std::fabs(back - seconds) <= 1e-9 + std::fabs(seconds) * 1e-12,
               std::string(what) + ": " + std::to_string(seconds) + " s became " + std::to_string(d.count()) +
                   " ns");
  } catch (const cli::usage_error&) {}
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args{"troupe-load"};
  for (std::size_t start = 0; start <= text.size() && args.size() < 32;) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    args.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());

  CLI::App app{"troupe-load"};
  cli::options o;
  cli::declare(app, o);
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
    return 0;  // the tool prints CLI11's message and exits (CLI11_PARSE)
  }
  try {
    const cli::run_request r = cli::make_request(o);
    FUZZ_CHECK(r.open.has_value() != r.closed.has_value(), "a request must be open or closed loop, not both");
    FUZZ_CHECK(r.closed.has_value() == (o.closed_workers > 0),
               "closed loop exactly when --closed-loop is given");
    check_duration(o.duration_s, "--duration");
  } catch (const cli::usage_error&) {
  } catch (const troupe::error&) {}
  check_duration(o.timeout_s, "--timeout");
  check_duration(o.interval_s, "--interval");
  check_duration(o.service_s, "--service-time");
  check_duration(o.stall_at_s, "--stall-at");
  check_duration(o.stall_length_s, "--stall-length");
  return 0;
}
