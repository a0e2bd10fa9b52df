// troupe-bench: the headline benchmark runner (docs/benchmarks.md).
//
// Calls every registration of bench_registry.hpp with the configuration of
// the command line, runs them under Google Benchmark (real time, repetitions,
// median), shows progress on stderr, then prints one table (workload x
// threads, one column per system, troupe against its best peer) and the
// physical limits of the machine, and writes the JSON of docs/benchmarks.md.
//
// Every figure comes from the table `figures` below: a workload id (with a
// suffix for an extra figure), its unit, which direction wins (or why it is
// not compared against a peer), and how the value is derived from Google
// Benchmark's median run. A benchmark whose name or counter has no entry
// there is reported as a warning, never dropped silently.
//
// Physical limits (systems hw and boost_context) are floors, not peers: each
// is measured in many short repetitions and the minimum is reported, because
// on a shared machine a single run can be descheduled half-way (a cache-line
// round trip of 77 µs was once printed under load).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

#include "bench_registry.hpp"
#include "workload_sizes.hpp"

#include "troupe/runtime/version.hpp"

#ifndef TROUPE_BENCH_BUILD_TYPE
#define TROUPE_BENCH_BUILD_TYPE ""
#endif
#ifndef TROUPE_BENCH_CXX_FLAGS
#define TROUPE_BENCH_CXX_FLAGS ""
#endif

namespace {

// Which direction wins against a peer; `none`: the figure is shown for every
// system but not compared (figure::not_compared says why).
enum class better { lower, higher, none };

std::string_view better_name(better b) {
  switch (b) {
    case better::lower:
      return "lower";
    case better::higher:
      return "higher";
    case better::none:
      return "none";
  }
  return "none";
}

// How a figure's value is derived from the median run of Google Benchmark.
enum class source {
  ms_per_iteration,  // real time per iteration, in ms
  ns_per_item,       // real time per item: 1e9 / items_per_second, in ns
                     // (real time per iteration if no items were set)
  items_per_second,  // the items_per_second counter (SetItemsProcessed)
  counter,           // the user counter named by the suffix of the id
};

struct figure {
  std::string_view id;    // workload id of docs/benchmarks.md, with a suffix for an extra figure
  std::string_view unit;  // unit of the value in the table and the JSON
  better wins;
  source from;
  double scale = 1.0;  // applied to the derived value (ns -> µs: 1e-3)
  // For better::none: why a bigger or smaller value is not a win against a
  // peer. The table prints "n/c" (not compared) with this as its footnote;
  // the JSON says "better": "none" and gives it as "not_compared"; the plot
  // leaves the row out.
  std::string_view not_compared = {};
};

// Suffixed ids (source::counter) are user counters of the workload before the
// last dot: counter "idle_bytes" on actor.spawn is actor.spawn.idle_bytes.
// Counters are expected in the unit given here.
constexpr figure figures[] = {
    {"deque.push_pop", "ns/pair", better::lower, source::ns_per_item},
    {"deque.steal", "items/s", better::higher, source::items_per_second},
    {"fiber.switch", "ns/switch", better::lower, source::ns_per_item},
    {"spawn.join", "tasks/s", better::higher, source::items_per_second},
    {"fib", "ms", better::lower, source::ms_per_iteration},
    {"fib.cutoff16", "ms", better::lower, source::ms_per_iteration},
    {"skynet", "ms", better::lower, source::ms_per_iteration},
    {"actor.ping_pong", "msgs/s", better::higher, source::items_per_second},
    {"actor.ping_pong.traced_off", "msgs/s", better::higher, source::items_per_second},
    {"actor.spawn", "actors/s", better::higher, source::items_per_second},
    {"actor.spawn.idle_bytes", "bytes", better::lower, source::counter},
    {"actor.fan_out", "msgs/s", better::higher, source::items_per_second},
    {"actor.fan_out.peak_mib", "MiB", better::none, source::counter, 1.0,
     "peak resident growth during the run (VmHWM reset before it); memory a system kept from earlier "
     "runs in the same process is not counted, so read magnitudes, not a ratio"},
    {"actor.fan_out.msgs_per_task", "msgs", better::none, source::counter, 1.0,
     "messages per task the runtime ran (a counter's turn is one task): high when turns drain batches, "
     "near 1 when each message wakes its counter; explains fan-out's regimes, not a score"},
    {"actor.ring", "ns/hop", better::lower, source::ns_per_item},
    {"actor.overload.rss", "MiB", better::lower, source::counter},
    {"actor.overload.high_water", "messages", better::lower, source::counter},
    {"actor.overload.rate", "msgs/s", better::none, source::counter, 1.0,
     "the producer is meant to be held to its consumer's pace (a bounded mailbox pushes back); a faster "
     "producer only means a longer queue (see actor.overload.high_water and .rss)"},
    {"actor.ask", "ns", better::lower, source::ns_per_item},
    {"actor.ask.p50", "µs", better::lower, source::counter},
    {"actor.ask.p99", "µs", better::lower, source::counter},
    {"breaker.ask", "ns", better::lower, source::ns_per_item},
    {"breaker.ask.vs_actor_ask", "×", better::lower, source::counter},
    {"router.p2c.ask", "ns", better::lower, source::ns_per_item},
    {"router.p2c.ask.vs_actor_ask", "×", better::lower, source::counter},
    {"router.round_robin", "ns", better::lower, source::ns_per_item},
    {"router.consistent_hash", "ns", better::lower, source::ns_per_item},
    {"router.p2c", "ns", better::lower, source::ns_per_item},
    {"router.smallest_mailbox", "ns", better::lower, source::ns_per_item},
    {"router.smallest_mailbox.scan16", "ns", better::lower, source::ns_per_item},
    {"ring.lookup", "ns", better::lower, source::ns_per_item},
    {"histogram.record", "ns/record", better::lower, source::ns_per_item},
    {"histogram.record.writer", "ns/record", better::lower, source::ns_per_item},
    {"actor.ask.await", "ns", better::lower, source::ns_per_item},
    {"actor.ask.then", "ns", better::lower, source::ns_per_item},
    {"actor.fan_in", "rounds/s", better::higher, source::items_per_second},
    {"actor.ask_many", "asks/s", better::higher, source::items_per_second},
    {"actor.ask_many.waiter_bytes", "bytes", better::lower, source::counter},
    {"actor.ask_many.get", "asks/s", better::higher, source::items_per_second},
    {"actor.ask_many.get.waiter_bytes", "bytes", better::lower, source::counter},
    {"ask.foreign_callback", "asks/s", better::higher, source::items_per_second},
    {"ask.foreign_get", "asks/s", better::higher, source::items_per_second},
    {"timer.arm_cancel", "ns/pair", better::lower, source::ns_per_item},
    {"park.timed_wake.fiber", "µs/wait", better::lower, source::ns_per_item, 1e-3},
    {"park.timed_wake.fiber.p50", "µs late", better::lower, source::counter},
    {"park.timed_wake.fiber.p99", "µs late", better::lower, source::counter},
    {"park.timed_wake.thread", "µs/wait", better::lower, source::ns_per_item, 1e-3},
    {"park.timed_wake.thread.p50", "µs late", better::lower, source::counter},
    {"park.timed_wake.thread.p99", "µs late", better::lower, source::counter},
    {"load.overhead", "ns", better::lower, source::ns_per_item},
    {"load.overhead.lag_p99", "µs", better::lower, source::counter},
    // Physical limits (system "hw"), printed under the table.
    {"hw.cache_line_round_trip", "ns", better::lower, source::ns_per_item},
    {"hw.atomic_rmw", "ns", better::lower, source::ns_per_item},
    {"hw.malloc_free", "ns", better::lower, source::ns_per_item},
    {"hw.futex_wake", "µs", better::lower, source::ns_per_item, 1e-3},
};

// What each physical limit is, for the block under the table.
constexpr std::pair<std::string_view, std::string_view> limit_labels[] = {
    {"fiber.switch", "raw Boost.Context switch"},
    {"hw.cache_line_round_trip", "cache-line round trip, fastest batch of 100"},
    {"hw.atomic_rmw", "uncontended atomic fetch_add"},
    {"hw.malloc_free", "malloc+free of 64 bytes (glibc)"},
    {"hw.futex_wake", "futex wake-up round trip between two threads"},
};

// Column order; a system not listed here still gets a column (and a warning).
const std::vector<std::string> known_systems = {"troupe",        "caf", "tbb",      "boost_fiber",
                                                "boost_context", "hw",  "naive_md5"};
// Systems that are floors, not peers: never the "best peer" of a ratio, and
// reported as the minimum over their repetitions (bench_registry.hpp:
// as_physical_limit), not the median.
bool is_limit_system(std::string_view s) { return s == "hw" || s == "boost_context"; }

const figure* find_figure(std::string_view id) {
  for (const auto& f : figures)
    if (f.id == id) return &f;
  return nullptr;
}

bool is_per_second(std::string_view unit) { return unit.size() > 2 && unit.substr(unit.size() - 2) == "/s"; }

// ---------------------------------------------------------------------------
// Results

struct result_row {
  const figure* fig;
  std::string system;
  int threads;
  double value;
  std::string aggregate;  // "median", "min" or "single" (one repetition)
  int repetitions;        // how many repetitions the aggregate is over
};

// "<workload>/<system>" or "<workload>/<system>/threads:<N>".
struct parsed_name {
  std::string workload, system;
  int threads = 1;  // a name without a thread count runs on one thread
};

std::optional<parsed_name> parse_name(const std::string& name) {
  static const std::regex re(R"(^([^/]+)/([^/]+)(?:/threads:([0-9]+))?$)");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return std::nullopt;
  parsed_name p{m[1], m[2]};
  if (m[3].matched) p.threads = std::stoi(m[3]);
  return p;
}

double time_unit_to_ns(benchmark::TimeUnit u) {
  switch (u) {
    case benchmark::kNanosecond:
      return 1.0;
    case benchmark::kMicrosecond:
      return 1e3;
    case benchmark::kMillisecond:
      return 1e6;
    case benchmark::kSecond:
      return 1e9;
  }
  return 1.0;
}

std::string format_value(double v, std::string_view unit) {
  if (std::isnan(v)) return "-";
  if (is_per_second(unit)) {
    if (v >= 1e9) return fmt::format("{:.3g}G", v / 1e9);
    if (v >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
    if (v >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  }
  double a = std::fabs(v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

// Google Benchmark appends these to a name; the progress line drops them.
std::string strip_gbench_suffixes(std::string name) {
  static const std::regex suffix(
      R"(/(?:real_time|manual_time|process_time|(?:min_time|min_warmup_time|iterations|repeats):[^/]*)$)");
  for (std::smatch m; std::regex_search(name, m, suffix);)
    name.erase(static_cast<std::size_t>(m.position(0)));
  return name;
}

// ---------------------------------------------------------------------------
// The reporter: collects median runs in-process and shows progress.

class collecting_reporter final : public benchmark::BenchmarkReporter {
 public:
  explicit collecting_reporter(std::vector<std::string> expected) : expected_(std::move(expected)) {
    for (auto& e : expected_) e = strip_gbench_suffixes(e);
  }

  // The machine's context is printed by main() (print_header), before the run.
  bool ReportContext(const Context&) override {
    start_line();
    return true;
  }

  // Google Benchmark reports a benchmark in one call with its aggregates
  // (--benchmark_report_aggregates_only), or in two consecutive calls when
  // the benchmark asks for its individual repetitions too (the physical
  // limits do, see as_physical_limit): first the repetitions, then the
  // aggregates.
  void ReportRuns(const std::vector<Run>& runs) override {
    if (runs.empty()) return;
    const std::string name = runs.front().run_name.function_name;
    if (name == last_reported_) return;  // the aggregates after a limit's repetitions, already taken
    const auto parsed = parse_name(name);
    const bool limit = parsed && is_limit_system(parsed->system);
    const Run* chosen = nullptr;
    const Run* failed = nullptr;
    std::string aggregate;
    int repetitions = 0;
    bool only_repetitions = true;
    for (const auto& r : runs) {
      if (r.error_occurred && !failed) failed = &r;
      if (r.run_type != Run::RT_Iteration) only_repetitions = false;
    }
    if (only_repetitions && runs.size() > 1 && !limit && !failed) return;  // its median follows
    if (only_repetitions && limit) {
      // A floor: the best repetition, the one least disturbed by the machine.
      for (const auto& r : runs) {
        if (r.error_occurred) continue;
        if (!chosen || faster(r, *chosen)) chosen = &r;
        ++repetitions;
      }
      aggregate = repetitions > 1 ? "min" : "single";
    } else {
      for (const auto& r : runs)
        if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") chosen = &r;
      if (chosen) {
        aggregate = "median";
        repetitions = static_cast<int>(chosen->repetitions);
      } else if (!failed) {  // one repetition: no aggregates
        for (const auto& r : runs)
          if (r.run_type == Run::RT_Iteration) chosen = &r;
        aggregate = "single";
        repetitions = 1;
      }
    }
    last_reported_ = name;
    std::string shown;
    if (chosen) {
      shown = absorb(name, *chosen, aggregate, repetitions);
    } else {
      std::string msg = failed ? failed->error_message : "no result";
      errors_.push_back(fmt::format("{}: {}", name, msg));
      shown = "ERROR: " + msg;
    }
    finish_line(name, shown);
  }

  void Finalize() override {
    if (line_open_) GetErrorStream() << "(not run)\n";
    line_open_ = false;
  }

  const std::vector<result_row>& rows() const { return rows_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void warn(std::string w) {
    if (std::find(warnings_.begin(), warnings_.end(), w) == warnings_.end())
      warnings_.push_back(std::move(w));
  }

  // Per item (or per iteration) time of a run: which of two repetitions is the faster.
  static bool faster(const Run& a, const Run& b) {
    auto ips = [](const Run& r) -> double {
      auto it = r.counters.find("items_per_second");
      return it == r.counters.end() ? 0.0 : static_cast<double>(it->second);
    };
    if (ips(a) > 0 && ips(b) > 0) return ips(a) > ips(b);
    return a.GetAdjustedRealTime() * time_unit_to_ns(a.time_unit) <
           b.GetAdjustedRealTime() * time_unit_to_ns(b.time_unit);
  }

  // Turns one chosen run (a median, a minimum or a single repetition) into
  // result rows; returns the progress text.
  std::string absorb(const std::string& name, const Run& run, const std::string& aggregate, int repetitions) {
    const double ns_per_iter = run.GetAdjustedRealTime() * time_unit_to_ns(run.time_unit);
    auto parsed = parse_name(name);
    if (!parsed) {
      warn(
          fmt::format("'{}' does not follow '<workload>/<system>[/threads:N]' (bench_registry.hpp); "
                      "not in the table or JSON ({} ns per iteration)",
                      name, format_value(ns_per_iter, "ns")));
      return fmt::format("{} ns/iteration (unknown name!)", format_value(ns_per_iter, "ns"));
    }
    if (std::find(known_systems.begin(), known_systems.end(), parsed->system) == known_systems.end())
      warn(fmt::format("'{}': system '{}' is not one of docs/benchmarks.md", name, parsed->system));

    auto counter = [&](const std::string& c) -> std::optional<double> {
      auto it = run.counters.find(c);
      if (it == run.counters.end()) return std::nullopt;
      return static_cast<double>(it->second);
    };

    std::vector<std::string> shown;
    auto add = [&](const figure& f, double v) {
      v *= f.scale;
      rows_.push_back({&f, parsed->system, parsed->threads, v, aggregate, repetitions});
      std::string label =
          f.from == source::counter ? std::string(f.id.substr(parsed->workload.size() + 1)) + " " : "";
      shown.push_back(fmt::format("{}{} {}", label, format_value(v, f.unit), f.unit));
    };

    bool known = false;
    if (const figure* f = find_figure(parsed->workload); f && f->from != source::counter) {
      known = true;
      switch (f->from) {
        case source::ms_per_iteration:
          add(*f, ns_per_iter / 1e6);
          break;
        case source::ns_per_item:
          if (auto ips = counter("items_per_second"); ips && *ips > 0) {
            add(*f, 1e9 / *ips);
          } else {
            warn(fmt::format("'{}' sets no items processed; {} is taken per iteration", name, f->id));
            add(*f, ns_per_iter);
          }
          break;
        case source::items_per_second:
          if (auto ips = counter("items_per_second")) {
            add(*f, *ips);
          } else {
            warn(fmt::format("'{}' sets no items processed: no {} figure", name, f->id));
          }
          break;
        case source::counter:
          break;
      }
    }
    // Extra figures: counters named by their suffix.
    for (const auto& f : figures) {
      if (f.from != source::counter) continue;
      if (f.id.size() <= parsed->workload.size() + 1 ||
          f.id.substr(0, parsed->workload.size()) != parsed->workload || f.id[parsed->workload.size()] != '.')
        continue;
      const std::string suffix(f.id.substr(parsed->workload.size() + 1));
      if (suffix.find('.') != std::string::npos) continue;  // a longer workload's (actor.ask_many.get.x)
      known = true;
      if (auto v = counter(suffix)) {
        add(f, *v);
      } else {
        warn(fmt::format("'{}' has no counter '{}': no {} figure", name, suffix, f.id));
      }
    }
    for (const auto& [c, v] : run.counters) {
      if (c == "items_per_second" || c == "bytes_per_second") continue;
      const std::string id = parsed->workload + "." + c;
      const figure* f = find_figure(id);
      if (!f || f->from != source::counter)
        warn(fmt::format("'{}': counter '{}' ({}) is not a figure of the runner's table", name, c,
                         format_value(static_cast<double>(v), "")));
    }
    if (!known) {
      warn(
          fmt::format("'{}': workload '{}' is not in the runner's figure table; not in the table or JSON "
                      "({} ns per iteration)",
                      name, parsed->workload, format_value(ns_per_iter, "ns")));
      return fmt::format("{} ns/iteration (unknown workload!)", format_value(ns_per_iter, "ns"));
    }
    std::string out;
    for (const auto& s : shown) out += (out.empty() ? "" : ", ") + s;
    if (aggregate == "min") out += fmt::format(" (min of {})", repetitions);
    return out;
  }

  void start_line() {
    if (next_ >= expected_.size()) return;
    GetErrorStream() << fmt::format("[{}/{}] {} ... ", next_ + 1, expected_.size(), expected_[next_])
                     << std::flush;
    line_open_ = true;
    started_ = std::chrono::steady_clock::now();
  }

  void finish_line(const std::string& name, const std::string& shown) {
    auto& err = GetErrorStream();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (line_open_ && next_ < expected_.size() && expected_[next_].rfind(name, 0) == 0) {
      err << fmt::format("{}  ({:.1f} s)\n", shown, secs);
    } else {
      if (line_open_) err << '\n';
      err << fmt::format("[?/{}] {} ... {}\n", expected_.size(), name, shown);
    }
    line_open_ = false;
    ++next_;
    start_line();
  }

  std::vector<std::string> expected_;
  std::string last_reported_;
  std::size_t next_ = 0;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point started_;
  std::vector<result_row> rows_;
  std::vector<std::string> warnings_;
  std::vector<std::string> errors_;
};

// Only its output stream is used: --benchmark_list_tests prints there.
class listing_reporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

// ---------------------------------------------------------------------------
// Context for the JSON

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

// The compiler that built this binary, e.g. "g++ 12.2.0" or "clang++ 19.1.7"
// (JSON context.compiler), and its own version string (__VERSION__, e.g.
// "Debian Clang 19.1.7 (3~deb12u1)"; context.compiler_version).
std::string compiler() {
#if defined(__clang__)
  return fmt::format("clang++ {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string compiler_version() {
#if defined(__VERSION__)
  return __VERSION__;
#else
  return "unknown";
#endif
}

std::string build_type() {
  const std::string b = TROUPE_BENCH_BUILD_TYPE;
  return b.empty() ? "unspecified" : b;
}

std::string cxx_flags() {
  std::string f = TROUPE_BENCH_CXX_FLAGS;
  f.erase(0, f.find_first_not_of(' '));
  f.erase(f.find_last_not_of(' ') + 1);
  return f.empty() ? "(none)" : f;
}

// ---------------------------------------------------------------------------
// What this run measures: sizes, aggregation, the machine

// Each size of workload_sizes.hpp under the id of the workload it sizes
// (JSON context.sizes; docs/benchmarks.md says what each counts).
std::vector<std::pair<std::string, long long>> size_list(const troupe::bench::workload_sizes& z) {
  return {{"fiber.switch", z.switches},
          {"spawn.join", z.spawn_joins},
          {"fib", z.fib_n},
          {"skynet", static_cast<long long>(z.skynet_leaves)},
          {"actor.ping_pong", z.ping_pong_rounds},
          {"actor.spawn", z.spawn_actors},
          {"actor.spawn.idle_bytes", z.idle_actors},
          {"actor.fan_out", z.fan_out_messages},
          {"actor.ring", z.ring_hops},
          {"actor.overload", z.overload_messages},
          {"actor.ask", z.asks}};
}

std::string with_commas(long long v) {
  std::string d = std::to_string(v), out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return out;
}

// `indent` starts the second line.
std::string sizes_text(const troupe::bench::workload_sizes& z, std::string_view indent) {
  return fmt::format(
      "fib({}) (also fib.cutoff16), skynet {} leaves, fiber.switch {} switches, spawn.join {},\n{}"
      "actor.ping_pong {} round trips, actor.spawn {} actors ({} idle), actor.fan_out {} msgs,\n{}"
      "actor.ring {} hops, actor.overload {} msgs, actor.ask {} asks",
      z.fib_n, with_commas(static_cast<long long>(z.skynet_leaves)), with_commas(z.switches),
      with_commas(z.spawn_joins), indent, with_commas(z.ping_pong_rounds), with_commas(z.spawn_actors),
      with_commas(z.idle_actors), with_commas(z.fan_out_messages), indent, with_commas(z.ring_hops),
      with_commas(z.overload_messages), with_commas(z.asks));
}

// Google Benchmark's description of the machine (date, CPUs, caches, load),
// less its "Library was built as DEBUG" warning, which is explained instead:
// Debian builds libbenchmark without NDEBUG. `debug_library` says whether
// the warning was there.
std::string machine_context(bool& debug_library) {
  benchmark::BenchmarkReporter::Context context;
  std::ostringstream raw;
  benchmark::BenchmarkReporter::PrintBasicContext(&raw, context);
  std::istringstream in(raw.str());
  std::string out;
  debug_library = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("Library was built as DEBUG") != std::string::npos) {
      debug_library = true;
      continue;
    }
    out += "  " + line + '\n';
  }
  return out;
}

// ---------------------------------------------------------------------------
// Table

// How the figures of the table are aggregated over `repetitions`.
std::string aggregate_text(int repetitions) {
  return repetitions > 1 ? fmt::format("median of {} repetitions", repetitions)
                         : std::string("one repetition");
}

struct table_key {
  std::size_t figure_index;
  int threads;
  auto operator<=>(const table_key&) const = default;
};

std::size_t figure_index(const figure* f) { return static_cast<std::size_t>(f - figures); }
bool is_limit_figure(const figure* f) { return f->id.substr(0, 3) == "hw."; }

// troupe's figure against the best peer's, so that > 1 always means troupe
// wins; with the peer's name. Nothing if either is missing, or if the figure
// is not compared (better::none).
std::optional<std::pair<double, std::string>> ratio_vs_best_peer(
    const figure& f, const std::map<std::string, double>& by_system) {
  if (f.wins == better::none) return std::nullopt;
  auto troupe = by_system.find("troupe");
  const std::pair<const std::string, double>* best = nullptr;
  for (const auto& e : by_system) {
    if (e.first == "troupe" || is_limit_system(e.first)) continue;
    if (!best || (f.wins == better::lower ? e.second < best->second : e.second > best->second)) best = &e;
  }
  if (troupe == by_system.end() || !best || troupe->second <= 0 || best->second <= 0) return std::nullopt;
  double r = f.wins == better::lower ? best->second / troupe->second : troupe->second / best->second;
  return std::pair{r, best->first};
}

std::map<table_key, std::map<std::string, double>> tabulate(const std::vector<result_row>& rows) {
  std::map<table_key, std::map<std::string, double>> table;
  for (const auto& r : rows)
    if (!is_limit_figure(r.fig)) table[{figure_index(r.fig), r.threads}][r.system] = r.value;
  return table;
}

// Draws the ratio column as bars (log scale, 1 = parity) with gnuplot.
bool write_plot(const std::vector<result_row>& rows, const std::string& path) {
  std::string data;
  for (const auto& [k, by_system] : tabulate(rows)) {
    const figure& f = figures[k.figure_index];
    if (auto r = ratio_vs_best_peer(f, by_system))
      data += fmt::format("\"{} ({}w) vs {}\" {:.4f}\n", f.id, k.threads, r->second, r->first);
  }
  if (data.empty()) {
    std::cerr << "troupe-bench: no troupe-vs-peer ratio to draw\n";
    return true;
  }
  std::FILE* gp = ::popen("gnuplot", "w");
  if (!gp) return false;
  std::string script = fmt::format(
      "set terminal svg size 1100,600 dynamic font 'sans,11'\n"
      "set output '{}'\n"
      "set title 'troupe against the best peer in the same run (bar > 1: troupe better)'\n"
      "set logscale y 10\nset yrange [0.05:*]\nset grid ytics\n"
      "set style fill solid 0.6\nset boxwidth 0.7\nset xtics rotate by -45 font ',9'\n"
      "set ylabel 'ratio (log scale)'\nunset key\n"
      "$data << EOD\n{}EOD\n"
      "plot $data using 0:2:xtic(1) with boxes lc rgb '#3b7dd8', 1 with lines lc rgb '#cc0000' lw 2\n",
      path, data);
  std::fputs(script.c_str(), gp);
  return ::pclose(gp) == 0;
}

void print_table(const std::vector<result_row>& rows, int median_repetitions) {
  const auto table = tabulate(rows);
  std::vector<const figure*> not_compared;  // footnotes, in order of first appearance
  std::vector<std::string> systems;
  for (const auto& [_, by_system] : table)
    for (const auto& [system, _value] : by_system)
      if (std::find(systems.begin(), systems.end(), system) == systems.end()) systems.push_back(system);
  // Known systems in their order, then unknown ones by name. (std::sort with a
  // total order: libstdc++'s stable_sort uses get_temporary_buffer, which
  // clang reports as deprecated.)
  std::sort(systems.begin(), systems.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& s) {
      return std::find(known_systems.begin(), known_systems.end(), s) - known_systems.begin();
    };
    return std::pair(rank(a), std::string_view(a)) < std::pair(rank(b), std::string_view(b));
  });

  const std::string ratio_header = "troupe vs best peer (>1: troupe better)";
  std::size_t w_id = std::string_view("workload").size(), w_unit = std::string_view("unit").size();
  for (const auto& [k, _] : table) {
    w_id = std::max(w_id, figures[k.figure_index].id.size());
    w_unit = std::max(w_unit, std::string(figures[k.figure_index].unit).size());
  }
  std::vector<std::size_t> w_sys;
  for (const auto& s : systems) w_sys.push_back(std::max<std::size_t>(s.size(), 8));

  auto& out = std::cout;
  if (table.empty()) {
    out << "\n(no workload results)\n";
  } else {
    out << '\n' << fmt::format("{:<{}}  {:>7}  {:<{}}", "workload", w_id, "threads", "unit", w_unit);
    for (std::size_t i = 0; i < systems.size(); ++i) out << fmt::format("  {:>{}}", systems[i], w_sys[i]);
    out << "  " << ratio_header << '\n';
    for (const auto& [k, by_system] : table) {
      const figure& f = figures[k.figure_index];
      out << fmt::format("{:<{}}  {:>7}  {:<{}}", f.id, w_id, k.threads, f.unit, w_unit);
      for (std::size_t i = 0; i < systems.size(); ++i) {
        auto it = by_system.find(systems[i]);
        out << fmt::format("  {:>{}}", it == by_system.end() ? "-" : format_value(it->second, f.unit),
                           w_sys[i]);
      }
      std::string ratio = "-";
      if (f.wins == better::none) {
        auto it = std::find(not_compared.begin(), not_compared.end(), &f);
        if (it == not_compared.end()) it = not_compared.insert(not_compared.end(), &f);
        ratio = fmt::format("n/c [{}]", it - not_compared.begin() + 1);
      } else if (auto r = ratio_vs_best_peer(f, by_system)) {
        ratio = fmt::format("{:.2f}x vs {}", r->first, r->second);
      }
      out << "  " << ratio << '\n';
    }
    out << fmt::format("\nvalues: {} of real time; n/c: not compared against a peer\n",
                       aggregate_text(median_repetitions));
    std::vector<std::string> floors;  // limit systems shown as columns (boost_context in fiber.switch)
    for (const auto& r : rows)
      if (!is_limit_figure(r.fig) && r.aggregate == "min" &&
          std::find(floors.begin(), floors.end(), r.system) == floors.end())
        floors.push_back(r.system);
    for (const auto& sys : floors)
      out << fmt::format("{}: a floor, not a peer: the minimum of its repetitions (see physical limits)\n",
                         sys);
    for (std::size_t i = 0; i < not_compared.size(); ++i)
      out << fmt::format("[{}] {}: {}\n", i + 1, not_compared[i]->id, not_compared[i]->not_compared);
  }

  // Physical limits: the hw rows and the raw context switch.
  std::vector<const result_row*> limits;
  for (const auto& r : rows)
    if (is_limit_figure(r.fig) || r.system == "boost_context") limits.push_back(&r);
  std::sort(limits.begin(), limits.end(), [](const result_row* a, const result_row* b) {
    return std::tuple(figure_index(a->fig), a->threads, std::string_view(a->system)) <
           std::tuple(figure_index(b->fig), b->threads, std::string_view(b->system));
  });
  out << "\nphysical limits (same machine; the minimum over short repetitions, the least disturbed):\n";
  if (limits.empty()) out << "  (none measured)\n";
  for (const auto* r : limits) {
    std::string_view label;
    for (const auto& [id, l] : limit_labels)
      if (id == r->fig->id) label = l;
    std::string how = r->aggregate == "min" ? fmt::format("min of {}", r->repetitions)
                                            : fmt::format("{} of {}", r->aggregate, r->repetitions);
    if (r->threads > 1) how += fmt::format(", {} threads", r->threads);
    out << fmt::format("  {:<26} {:<46} {:>9} {:<3} ({})\n", r->fig->id, label,
                       format_value(r->value, r->fig->unit), r->fig->unit, how);
  }
}

struct run_facts {
  std::string started;
  bool quick;
  int repetitions;
  bool debug_benchmark_library;
  std::vector<double> load_average;  // at the start
};

nlohmann::ordered_json to_json(const std::vector<result_row>& rows, const run_facts& run) {
  nlohmann::ordered_json j;
  auto sizes = nlohmann::ordered_json::object();
  for (const auto& [id, n] : size_list(troupe::bench::sizes())) sizes[id] = n;
  j["context"] = {{"date", run.started},
                  {"host", host_name()},
                  {"cpus", std::thread::hardware_concurrency()},
                  {"cpu_model", cpu_model()},
                  {"compiler", compiler()},
                  {"compiler_version", compiler_version()},
                  {"troupe_version", troupe::version()},
                  {"build_type", build_type()},
                  {"cxx_flags", cxx_flags()},
                  {"mode", run.quick ? "quick" : "full"},
                  {"repetitions", run.repetitions},
                  {"sizes", sizes},
                  {"load_average", run.load_average},
                  {"benchmark_library_build", run.debug_benchmark_library ? "debug" : "release"}};
  auto results = nlohmann::ordered_json::array();
  for (const auto& r : rows) {
    nlohmann::ordered_json row = {{"workload", r.fig->id},    {"system", r.system},
                                  {"threads", r.threads},     {"value", r.value},
                                  {"unit", r.fig->unit},      {"better", better_name(r.fig->wins)},
                                  {"aggregate", r.aggregate}, {"repetitions", r.repetitions}};
    if (r.fig->wins == better::none) row["not_compared"] = r.fig->not_compared;
    results.push_back(std::move(row));
  }
  j["results"] = std::move(results);
  return j;
}

// The header of a run, before the table: what built this binary, at which
// sizes and how figures are aggregated, and the machine. Fills
// run.debug_benchmark_library.
void print_header(std::ostream& out, run_facts& run, std::size_t benchmarks) {
  const std::string machine = machine_context(run.debug_benchmark_library);
  out << fmt::format("troupe-bench: {} benchmarks, started {}\n", benchmarks, run.started);
  out << fmt::format("  troupe:    {}\n", troupe::version());
  out << fmt::format("  built by:  {} ({}), {} build, flags {}\n", compiler(), compiler_version(),
                     build_type(), cxx_flags());
  if (build_type() != "Release")
    out << "  WARNING:   not a Release build: figures are only meaningful from build/release or "
           "build/clang\n";
  out << fmt::format(
      "  mode:      {}: {} of real time{}\n", run.quick ? "quick" : "full", aggregate_text(run.repetitions),
      run.quick ? "; whole-run workloads one iteration per repetition, micro-benchmarks 0.1 s each" : "");
  out << fmt::format("  sizes:     {}:\n             {}\n",
                     run.quick ? "QUICK, a tenth of the full sizes (not comparable with full-size figures)"
                               : "full (docs/benchmarks.md)",
                     sizes_text(troupe::bench::sizes(), "             "));
  out << fmt::format(
      "  limits:    hw.* and fiber.switch/boost_context: the minimum of {} short repetitions\n",
      troupe::bench::kLimitRepetitions);
  out << machine;
  if (run.debug_benchmark_library)
    out << "  note:      Google Benchmark's 'Library was built as DEBUG' warning is left out: it is about\n"
           "             Debian's libbenchmark, built without NDEBUG (its own checks on, still optimised),\n"
           "             not troupe. troupe, the peers' workloads and the timed loops (inline in\n"
           "             benchmark.h) are compiled with the flags above.\n";
  out << '\n';
}

// Runs benchmark::Initialize on a synthetic command line. argv0 must outlive
// the run: Google Benchmark keeps the pointer as the executable name.
void initialize_gbench(char* argv0, std::vector<std::string> args) {
  std::vector<char*> argv{argv0};
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(argv.size() - 1);
  benchmark::Initialize(&argc, argv.data());
  if (benchmark::ReportUnrecognizedArguments(argc, argv.data())) std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (troupe::bench::run_probe_if_requested(argc, argv)) return 0;
  CLI::App app{"troupe-bench: troupe against its peers, workloads of docs/benchmarks.md"};
  troupe::bench::config cfg;
  std::string filter = ".";
  std::string json_path;
  bool list = false;
  app.set_version_flag("--version", std::string("troupe-bench ") + troupe::version());
  app.add_flag("--quick", cfg.quick,
               "quick sizes for every system (fib(27), skynet 100k leaves, a tenth of the messages: "
               "bench/workload_sizes.hpp), 3 repetitions instead of 5, one iteration per repetition of a "
               "whole-run workload, micro-benchmarks 0.1 s per repetition");
  app.add_option("--threads", cfg.threads, "worker counts, e.g. 1,2 (default 1,2)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--filter", filter, "regex on benchmark names, e.g. 'skynet|fib'")->capture_default_str();
  app.add_option("--json", json_path, "write the results as JSON (docs/benchmarks.md schema)");
  std::string plot_path;
  app.add_option("--plot", plot_path, "draw the troupe-vs-best-peer ratios as an SVG (needs gnuplot)");
  app.add_flag("--list", list, "list the benchmarks that --filter selects, with their figures");
  app.allow_extras();  // anything else (--benchmark_*) goes to Google Benchmark
  CLI11_PARSE(app, argc, argv);

  std::sort(cfg.threads.begin(), cfg.threads.end());
  cfg.threads.erase(std::unique(cfg.threads.begin(), cfg.threads.end()), cfg.threads.end());

  troupe::bench::select_sizes(cfg.quick);  // before any registration reads them
  for (auto reg : troupe::bench::registrations()) reg(cfg);

  int repetitions = cfg.quick ? 3 : 5;
  std::vector<std::string> gb_args = {fmt::format("--benchmark_repetitions={}", repetitions),
                                      "--benchmark_report_aggregates_only=true"};
  // The user's own --benchmark_repetitions wins (it comes later); say so in the header.
  for (const auto& extra : app.remaining())
    if (extra.rfind("--benchmark_repetitions=", 0) == 0) repetitions = std::atoi(extra.c_str() + 24);
  // Micro-benchmarks (ns per operation, iterations chosen by Google
  // Benchmark) need far less than the default 0.5 s per repetition to settle.
  if (cfg.quick) gb_args.push_back("--benchmark_min_time=0.1");
  for (const auto& extra : app.remaining()) gb_args.push_back(extra);  // the user may override ours

  // Pass 1: the names the filter selects, in run order (for progress and --list).
  std::vector<std::string> names;
  {
    auto args = gb_args;
    args.push_back("--benchmark_list_tests=true");
    initialize_gbench(argv[0], args);
    listing_reporter lister;
    std::ostringstream listed;
    lister.SetOutputStream(&listed);
    benchmark::RunSpecifiedBenchmarks(&lister, filter);
    std::istringstream in(listed.str());
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) {
    std::cerr << "troupe-bench: no benchmark matches --filter '" << filter << "'\n";
    return 1;
  }

  if (list) {
    for (const auto& full : names) {
      const std::string n = strip_gbench_suffixes(full);
      auto p = parse_name(n);
      std::string what = "UNKNOWN: not '<workload>/<system>[/threads:N]'";
      if (p) {
        std::vector<std::string> ids;
        for (const auto& f : figures)
          if (f.id == p->workload || (f.from == source::counter && f.id.rfind(p->workload + ".", 0) == 0))
            ids.push_back(f.wins == better::none
                              ? fmt::format("{} [{}, not compared]", f.id, f.unit)
                              : fmt::format("{} [{}, {} is better]", f.id, f.unit, better_name(f.wins)));
        what.clear();
        for (const auto& s : ids) what += (what.empty() ? "" : ", ") + s;
        if (what.empty())
          what = fmt::format("UNKNOWN workload '{}' (not in the runner's table)", p->workload);
      }
      std::cout << fmt::format("{:<44} {}\n", n, what);
    }
    return 0;
  }

  // Pass 2: run them.
  gb_args.push_back("--benchmark_list_tests=false");
  initialize_gbench(argv[0], gb_args);
  run_facts facts{utc_now_iso8601(), cfg.quick, repetitions, false, {}};
  for (double l : benchmark::CPUInfo::Get().load_avg) facts.load_average.push_back(std::round(l * 100) / 100);
  print_header(std::cout, facts, names.size());
  std::cout << std::flush;
  collecting_reporter reporter(names);
  const auto t0 = std::chrono::steady_clock::now();
  benchmark::RunSpecifiedBenchmarks(&reporter, filter);
  benchmark::Shutdown();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << fmt::format("troupe-bench: done in {:.1f} s\n", total);

  print_table(reporter.rows(), repetitions);

  if (!reporter.errors().empty()) {
    std::cout << "\nfailed benchmarks:\n";
    for (const auto& e : reporter.errors()) std::cout << "  " << e << '\n';
  }
  if (!reporter.warnings().empty()) {
    std::cout << "\nwarnings:\n";
    for (const auto& w : reporter.warnings()) std::cout << "  " << w << '\n';
  }

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    if (!out) {
      std::cerr << "troupe-bench: cannot write " << json_path << '\n';
      return 1;
    }
    out << to_json(reporter.rows(), facts).dump(2) << '\n';
    std::cerr << "troupe-bench: wrote " << json_path << '\n';
  }
  if (!plot_path.empty()) {
    if (!write_plot(reporter.rows(), plot_path)) {
      std::cerr << "troupe-bench: cannot draw " << plot_path << " (is gnuplot installed?)\n";
      return 1;
    }
    std::cerr << "troupe-bench: drew " << plot_path << '\n';
  }
  return reporter.errors().empty() ? 0 : 1;
}
