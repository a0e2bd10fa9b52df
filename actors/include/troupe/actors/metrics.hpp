#pragma once
// Metrics of an actor system, in one snapshot: the runtime's per-worker
// counters, the system's totals, per actor class aggregates (and per actor
// for names asked for), and whatever metric sources a layer above adds.
// Rendered as JSON and in the Prometheus text exposition format (0.0.4);
// the optional troupe::prometheus component hands the same families to
// prometheus-cpp. What each number means and what it costs:
// docs/design/metrics.md.
//
//   troupe::system_metrics m = system.metrics();
//   std::string text = m.to_prometheus_text();   // for a /metrics endpoint
//   std::string json = m.to_json();
//   system.enable_histograms(true);  // handler time and mailbox sojourn, per class
//
// A snapshot is a value: taking it reads counters without stopping anyone,
// so numbers of different actors may be a few messages apart; every counter
// only grows from one snapshot to the next.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "troupe/actors/mailbox.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/metrics.hpp"

namespace troupe {

namespace detail {
struct metric_sources;
}

// --- metric families: what a snapshot renders, and what a source adds -------

// The Prometheus metric types troupe uses. A counter only grows (its name
// ends in _total); a gauge goes up and down; a histogram has cumulative
// buckets, a sum and a count.
enum class metric_type : std::uint8_t { counter, gauge, histogram };
const char* to_string(metric_type t) noexcept;

struct metric_label {
  std::string name;   // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
  std::string value;  // any UTF-8
  friend bool operator==(const metric_label&, const metric_label&) = default;
};

// One bucket of a histogram sample: how many observations were <= upper_bound.
struct metric_bucket {
  double upper_bound;
  std::uint64_t cumulative_count;
};

struct metric_sample {
  std::vector<metric_label> labels;
  double value = 0;  // counter or gauge
  // Histogram only: finite upper bounds ascending, counts cumulative (the
  // +Inf bucket is `count`, implied), the sum of the observed values.
  std::vector<metric_bucket> buckets;
  std::uint64_t count = 0;
  double sum = 0;
};

struct metric_family {
  std::string
      name;  // [a-zA-Z_:][a-zA-Z0-9_:]*, with its unit (_seconds, _bytes, ...); counters end in _total
  std::string help;
  metric_type type = metric_type::gauge;
  std::vector<metric_sample> samples;

  // Builders for sources: family.add(value, {{"label", "v"}}).
  static metric_family counter(std::string name, std::string help) {
    return {std::move(name), std::move(help), metric_type::counter, {}};
  }
  static metric_family gauge(std::string name, std::string help) {
    return {std::move(name), std::move(help), metric_type::gauge, {}};
  }
  metric_family& add(double v, std::vector<metric_label> labels = {}) {
    metric_sample s;
    s.labels = std::move(labels);
    s.value = v;
    samples.push_back(std::move(s));
    return *this;
  }
};

// Why a family cannot be exposed (empty: it can): an invalid metric or label
// name, a counter without _total, a label set repeated within the family, a
// reserved label (`le` in a histogram), buckets out of order. Thread-safe.
std::string validate(const metric_family& f);

// --- extension point: metric sources -----------------------------------------

// A registered metric source (actor_system::add_metric_source): a function
// called on every snapshot to append metric families, for a layer above the
// actors (the patterns layer's breakers, retries, routers and limiters).
// Removing it — remove() or the destructor — waits for a snapshot that is
// calling it to finish, so after that the function is never called again and
// what it captured may go. Move-only.
class metric_source {
 public:
  // Appends this source's families. Called on the thread that takes the
  // snapshot, one source at a time. It must not block for long, must not add
  // or remove sources and must not take a snapshot itself (deadlock). A
  // family that fails validate(), that takes a name reserved for troupe's
  // own families (prefixes troupe_worker_, troupe_runtime_, troupe_system_,
  // troupe_class_, troupe_actor_) or that clashes with another source's
  // (same name, a counter's name without _total, a histogram's series) is
  // left out and counted (system_metrics::source_errors), as is an
  // exception (the source's families of that snapshot are all left out).
  using collect_fn = std::function<void(std::vector<metric_family>&)>;

  metric_source() noexcept = default;
  metric_source(metric_source&& o) noexcept : sources_(std::move(o.sources_)), id_(std::exchange(o.id_, 0)) {}
  metric_source& operator=(metric_source&& o) noexcept {
    if (this != &o) {
      remove();
      sources_ = std::move(o.sources_);
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  metric_source(const metric_source&) = delete;
  metric_source& operator=(const metric_source&) = delete;
  ~metric_source() { remove(); }

  // Unregisters the source (see the class comment). Thread-safe, idempotent.
  void remove() noexcept;
  explicit operator bool() const noexcept { return id_ != 0; }

 private:
  friend class actor_system;
  metric_source(std::shared_ptr<detail::metric_sources> s, std::uint64_t id) noexcept
      : sources_(std::move(s)), id_(id) {}
  std::shared_ptr<detail::metric_sources> sources_;
  std::uint64_t id_ = 0;
};

// --- the snapshot ----------------------------------------------------------------

// The numbers of the system as a whole (also actor_system::stats()).
struct system_stats {
  dead_letter_counts dead_letters;  // every dead letter, with or without a target actor
  std::uint64_t spawned = 0;        // actors spawned
  std::uint64_t failures = 0;       // handler exceptions (and linked failures, throwing completion callbacks)
  std::uint64_t restarts = 0;       // restarts made by supervisors
  std::uint64_t escalations = 0;    // top-level supervisors that gave up (restart intensity)
  std::uint64_t live_actors = 0;    // top-level actors not yet stopped (supervised children not counted)
};

// A latency histogram in nanoseconds, as recorded: HdrHistogram's layout from
// 1 ns to 100 s at one significant digit (544 slots, each at most 1/16 of
// its values wide: percentiles within 6.25%; a value above 100 s is counted
// at 100 s and in clamped()), and the exact sum of the recorded values.
struct duration_histogram {
  histogram values{lowest_ns, highest_ns, digits};
  std::uint64_t sum_ns = 0;

  static constexpr std::uint64_t lowest_ns = 1;
  static constexpr std::uint64_t highest_ns = 100'000'000'000;
  static constexpr int digits = 1;
  // The `le` bounds troupe renders it with (seconds; +Inf implied): 1-2-5
  // steps from 1 us to 10 s, each a whole number of microseconds so that
  // every renderer prints it the same way.
  static const std::vector<double>& bucket_bounds_seconds();
  // Observations at or below `seconds`, to the layout's precision (counted
  // by slot: a slot that starts at or below the bound counts).
  std::uint64_t count_at_or_below(double seconds) const noexcept;
};

// All actors of one class (aggregated over the live ones, or counted since
// the system started: see each field).
struct actor_class_metrics {
  std::string name;                 // the class, demangled (`shop::cart`)
  std::uint64_t actors = 0;         // live (gauge): spawned and not yet finalised
  std::uint64_t mailbox_depth = 0;  // gauge: user messages queued or being handled, summed over live actors
  std::uint64_t mailbox_high_water = 0;  // gauge: the largest high-water mark among live actors
  // counter: messages handed to a handler (system messages included, a
  // coroutine handler's resumptions not)
  std::uint64_t processed = 0;
  dead_letter_counts dead_letters;  // counter: dead letters whose target was of this class, by reason
  std::uint64_t failures = 0;       // counter: handler exceptions and linked failures
  std::uint64_t restarts = 0;       // counter: restarts by a supervisor
  // Present once histograms were enabled on the system (then for every
  // class, possibly empty). Handler time: from the turn handing the message
  // to its handler until the handler returns (for a coroutine handler, until
  // its first suspension). Mailbox sojourn: from the message's acceptance
  // into the mailbox until then; only messages accepted while histograms were
  // on have one, so its count may be below the handler time's.
  std::optional<duration_histogram> handler_time;
  std::optional<duration_histogram> mailbox_sojourn;
};

// One actor asked for by its registered name (metrics_options::actors).
struct named_actor_metrics {
  std::string name;        // the registered name
  std::string class_name;  // demangled
  actor_stats stats;
};

struct metrics_options {
  // Registered names to report one actor at a time as well (a name not
  // registered now is left out). Per actor series grow with the number of
  // names: ask for the few that matter (a front door, a singleton).
  std::vector<std::string> actors;
};

struct system_metrics {
  metrics_snapshot runtime;  // per worker: runtime/metrics.hpp
  system_stats system;
  std::vector<actor_class_metrics> classes;  // by name
  std::vector<named_actor_metrics> actors;   // in the order asked for
  std::vector<metric_family> sources;        // from metric sources, valid and unique
  std::uint64_t source_errors = 0;           // families (or whole sources) left out, this snapshot
  bool histograms_enabled = false;           // recording now

  // Every number above as Prometheus families (names in
  // docs/design/metrics.md), sources last.
  std::vector<metric_family> families() const;
  // The text exposition format 0.0.4 (# HELP, # TYPE, one line per sample).
  std::string to_prometheus_text() const;
  // A JSON object: runtime, system, classes (histograms with count, sum,
  // min, max, mean, p50/p90/p99/p99.9 in ns and the rendered buckets),
  // actors, sources, source_errors, histograms_enabled.
  std::string to_json() const;
};

// Prometheus text exposition (0.0.4) of any families, e.g. a source's alone.
std::string to_prometheus_text(const std::vector<metric_family>& families);

}  // namespace troupe
