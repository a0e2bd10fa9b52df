// A metrics snapshot as Prometheus families, as the text exposition format
// 0.0.4 and as JSON. Every name troupe exposes is written here, once
// (docs/design/metrics.md lists them).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <deque>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "troupe/actors/metrics.hpp"

namespace troupe {

namespace {

constexpr double ns_per_second = 1e9;

std::string to_str(std::uint64_t v) { return std::to_string(v); }

// Families are appended to a std::deque while several are filled at once:
// its push_back keeps references to earlier elements valid.
metric_family& add_family(std::deque<metric_family>& out, const char* name, metric_type type,
                          const char* help) {
  out.push_back(metric_family{name, help, type, {}});
  return out.back();
}

// A histogram sample of d, rendered with troupe's `le` bounds in seconds.
metric_sample histogram_sample(const duration_histogram& d, std::vector<metric_label> labels) {
  metric_sample s;
  s.labels = std::move(labels);
  for (double b : duration_histogram::bucket_bounds_seconds())
    s.buckets.push_back(metric_bucket{b, d.count_at_or_below(b)});
  s.count = d.values.count();
  s.sum = static_cast<double>(d.sum_ns) / ns_per_second;
  // A value counted "at or below" a bound by its slot may exceed the total
  // only through rounding at the top; keep the buckets cumulative and within it.
  for (auto& b : s.buckets)
    if (b.cumulative_count > s.count) b.cumulative_count = s.count;
  return s;
}

void add_dead_letters(metric_family& f, const dead_letter_counts& d,
                      const std::vector<metric_label>& labels) {
  for (std::size_t i = 0; i < dead_letter_reason_count; ++i) {
    std::vector<metric_label> l = labels;
    l.push_back({"reason", to_string(static_cast<dead_letter_reason>(i))});
    f.add(static_cast<double>(d.by_reason[i]), std::move(l));
  }
}

// --- text exposition ----------------------------------------------------------

// A sample value: integers as integers (every counter), others in the
// shortest form that reads back exactly; infinities and NaN as the format
// spells them.
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    out += std::to_string(static_cast<long long>(v));
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

// An `le` bound. A whole number of microseconds is printed with six
// decimals, as prometheus-cpp prints every bound: a series keeps one label
// value whichever of the two renders it. Other bounds: shortest exact form.
std::string le_string(double b) {
  if (std::isinf(b)) return b > 0 ? "+Inf" : "-Inf";
  const double us = b * 1e6;
  if (std::fabs(us - std::round(us)) < 1e-6 * std::fabs(us) + 1e-9 && std::fabs(b) < 1e12) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", b);
    return buf;
  }
  std::string s;
  append_value(s, b);
  return s;
}

void append_escaped(std::string& out, const std::string& s, bool quotes) {
  for (char ch : s) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '\n')
      out += "\\n";
    else if (ch == '"' && quotes)
      out += "\\\"";
    else
      out += ch;
  }
}

void append_series(std::string& out, const std::string& name, const char* suffix,
                   const std::vector<metric_label>& labels, const char* extra_name,
                   const std::string& extra_value) {
  out += name;
  out += suffix;
  if (!labels.empty() || extra_name) {
    out += '{';
    bool first = true;
    for (const metric_label& l : labels) {
      if (!first) out += ',';
      first = false;
      out += l.name;
      out += "=\"";
      append_escaped(out, l.value, true);
      out += '"';
    }
    if (extra_name) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

// --- JSON -----------------------------------------------------------------------

nlohmann::json dead_letters_json(const dead_letter_counts& d) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < dead_letter_reason_count; ++i)
    j[to_string(static_cast<dead_letter_reason>(i))] = d.by_reason[i];
  return j;
}

nlohmann::json histogram_json(const duration_histogram& d) {
  const histogram& h = d.values;
  nlohmann::json j{{"count", h.count()},
                   {"sum_ns", d.sum_ns},
                   {"min_ns", h.min()},
                   {"max_ns", h.max()},
                   {"mean_ns", h.mean()},
                   {"p50_ns", h.value_at_percentile(50)},
                   {"p90_ns", h.value_at_percentile(90)},
                   {"p99_ns", h.value_at_percentile(99)},
                   {"p999_ns", h.value_at_percentile(99.9)},
                   {"clamped", h.clamped()}};
  nlohmann::json buckets = nlohmann::json::array();
  for (double b : duration_histogram::bucket_bounds_seconds())
    buckets.push_back({{"le_seconds", b}, {"count", std::min(d.count_at_or_below(b), h.count())}});
  j["buckets"] = std::move(buckets);
  return j;
}

nlohmann::json family_json(const metric_family& f) {
  nlohmann::json samples = nlohmann::json::array();
  for (const metric_sample& s : f.samples) {
    nlohmann::json labels = nlohmann::json::object();
    for (const metric_label& l : s.labels) labels[l.name] = l.value;
    nlohmann::json js{{"labels", std::move(labels)}};
    if (f.type == metric_type::histogram) {
      nlohmann::json buckets = nlohmann::json::array();
      for (const metric_bucket& b : s.buckets)
        buckets.push_back({{"le", b.upper_bound}, {"count", b.cumulative_count}});
      js["buckets"] = std::move(buckets);
      js["count"] = s.count;
      js["sum"] = s.sum;
    } else {
      js["value"] = s.value;
    }
    samples.push_back(std::move(js));
  }
  return {{"name", f.name}, {"help", f.help}, {"type", to_string(f.type)}, {"samples", std::move(samples)}};
}

}  // namespace

std::vector<metric_family> system_metrics::families() const {
  std::deque<metric_family> out;
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };

  // --- runtime, per worker
  struct worker_counter {
    const char* name;
    const char* help;
    std::uint64_t worker_metrics::*field;
  };
  static const worker_counter worker_counters[] = {
      {"troupe_worker_tasks_run_total",
       "Tasks and fiber resumptions run by the worker (an actor's turn is one).", &worker_metrics::tasks_run},
      {"troupe_worker_steals_total", "Successful steals from another worker.", &worker_metrics::steals},
      {"troupe_worker_failed_steals_total", "Steal attempts that found nothing or lost a race.",
       &worker_metrics::failed_steals},
      {"troupe_worker_parks_total", "Times the worker went to sleep.", &worker_metrics::parks},
      {"troupe_worker_wakeups_total", "Times the worker was woken, by work or by a timer.",
       &worker_metrics::wakeups},
      {"troupe_worker_injection_pops_total", "Items taken from the global injection queue.",
       &worker_metrics::injection_pops},
      {"troupe_worker_lifo_runs_total", "Items run from the worker's LIFO slot.", &worker_metrics::lifo_runs},
      {"troupe_worker_fibers_created_total", "Runner fibers created (stack pool misses).",
       &worker_metrics::fibers_created},
      {"troupe_worker_timers_fired_total", "Timers of the worker's wheel that fired.",
       &worker_metrics::timers_fired},
  };
  for (const worker_counter& c : worker_counters) {
    metric_family& f = add_family(out, c.name, metric_type::counter, c.help);
    for (std::size_t i = 0; i < runtime.workers.size(); ++i)
      f.add(d(runtime.workers[i].*c.field), {{"worker", to_str(i)}});
  }
  {
    metric_family& f =
        add_family(out, "troupe_worker_busy_seconds_total", metric_type::counter,
                   "Real time the worker was not parked: running tasks, looking for work, spinning.");
    for (std::size_t i = 0; i < runtime.workers.size(); ++i)
      f.add(static_cast<double>(runtime.workers[i].busy_ns) / ns_per_second, {{"worker", to_str(i)}});
    metric_family& p = add_family(out, "troupe_worker_timers_pending", metric_type::gauge,
                                  "Timers armed on the worker's wheel now.");
    for (std::size_t i = 0; i < runtime.workers.size(); ++i)
      p.add(d(runtime.workers[i].timers_pending), {{"worker", to_str(i)}});
  }
  add_family(out, "troupe_runtime_workers", metric_type::gauge, "Worker threads of the runtime.")
      .add(d(runtime.workers.size()));
  add_family(out, "troupe_runtime_failed_detached_tasks_total", metric_type::counter,
             "Exceptions from tasks nobody joined.")
      .add(d(runtime.failed_detached_tasks));

  // --- the actor system
  add_family(out, "troupe_system_actors_spawned_total", metric_type::counter, "Actors spawned.")
      .add(d(system.spawned));
  add_family(out, "troupe_system_top_level_actors", metric_type::gauge,
             "Top-level actors not yet stopped (supervised children not counted).")
      .add(d(system.live_actors));
  add_dead_letters(add_family(out, "troupe_system_dead_letters_total", metric_type::counter,
                              "Messages that never reached a handler, by reason (every dead letter, with or "
                              "without a target actor)."),
                   system.dead_letters, {});
  add_family(out, "troupe_system_failures_total", metric_type::counter,
             "Handler exceptions, linked failures and throwing completion callbacks.")
      .add(d(system.failures));
  add_family(out, "troupe_system_restarts_total", metric_type::counter, "Restarts made by supervisors.")
      .add(d(system.restarts));
  add_family(out, "troupe_system_escalations_total", metric_type::counter,
             "Top-level supervisors that gave up (restart intensity exceeded).")
      .add(d(system.escalations));
  add_family(out, "troupe_system_histograms_enabled", metric_type::gauge,
             "1 while handler time and mailbox sojourn are recorded, else 0.")
      .add(histograms_enabled ? 1 : 0);
  add_family(
      out, "troupe_system_metric_source_errors", metric_type::gauge,
      "Families of metric sources left out of this snapshot (invalid, clashing, or their source threw).")
      .add(d(source_errors));

  // --- per actor class
  {
    metric_family& actors_f =
        add_family(out, "troupe_class_actors", metric_type::gauge, "Live actors of the class.");
    metric_family& depth_f =
        add_family(out, "troupe_class_mailbox_depth_messages", metric_type::gauge,
                   "User messages queued or being handled, summed over the class's actors.");
    metric_family& hw_f = add_family(out, "troupe_class_mailbox_high_water_messages", metric_type::gauge,
                                     "The largest mailbox high-water mark among the class's live actors.");
    metric_family& processed_f =
        add_family(out, "troupe_class_messages_processed_total", metric_type::counter,
                   "Messages handed to a handler by actors of the class (system messages included).");
    metric_family& dead_f = add_family(out, "troupe_class_dead_letters_total", metric_type::counter,
                                       "Dead letters whose target was an actor of the class, by reason.");
    metric_family& failures_f = add_family(out, "troupe_class_failures_total", metric_type::counter,
                                           "Handler exceptions and linked failures of the class's actors.");
    metric_family& restarts_f = add_family(out, "troupe_class_restarts_total", metric_type::counter,
                                           "Restarts of the class's actors by their supervisors.");
    for (const actor_class_metrics& c : classes) {
      const std::vector<metric_label> l{{"class", c.name}};
      actors_f.add(d(c.actors), l);
      depth_f.add(d(c.mailbox_depth), l);
      hw_f.add(d(c.mailbox_high_water), l);
      processed_f.add(d(c.processed), l);
      add_dead_letters(dead_f, c.dead_letters, l);
      failures_f.add(d(c.failures), l);
      restarts_f.add(d(c.restarts), l);
    }
  }
  bool any_histograms = false;
  for (const actor_class_metrics& c : classes)
    any_histograms = any_histograms || c.handler_time || c.mailbox_sojourn;
  if (any_histograms) {
    metric_family& handler_f =
        add_family(out, "troupe_class_handler_duration_seconds", metric_type::histogram,
                   "Time from a message's handler starting to its return (a coroutine handler: to its first "
                   "suspension), while histograms are enabled.");
    metric_family& sojourn_f =
        add_family(out, "troupe_class_mailbox_sojourn_seconds", metric_type::histogram,
                   "Time from a message's acceptance into the mailbox to its handler starting, for messages "
                   "accepted while histograms are enabled.");
    for (const actor_class_metrics& c : classes) {
      if (c.handler_time) handler_f.samples.push_back(histogram_sample(*c.handler_time, {{"class", c.name}}));
      if (c.mailbox_sojourn)
        sojourn_f.samples.push_back(histogram_sample(*c.mailbox_sojourn, {{"class", c.name}}));
    }
  }

  // --- named actors
  if (!actors.empty()) {
    metric_family& depth_f = add_family(out, "troupe_actor_mailbox_depth_messages", metric_type::gauge,
                                        "User messages queued or being handled by the named actor.");
    metric_family& hw_f = add_family(out, "troupe_actor_mailbox_high_water_messages", metric_type::gauge,
                                     "The largest mailbox depth the named actor ever reached.");
    metric_family& cap_f = add_family(out, "troupe_actor_mailbox_capacity_messages", metric_type::gauge,
                                      "The named actor's mailbox capacity.");
    metric_family& processed_f =
        add_family(out, "troupe_actor_messages_processed_total", metric_type::counter,
                   "Messages handed to the named actor's handlers (system messages "
                   "included).");
    metric_family& dead_f = add_family(out, "troupe_actor_dead_letters_total", metric_type::counter,
                                       "Dead letters whose target was the named actor, by reason.");
    metric_family& failures_f = add_family(out, "troupe_actor_failures_total", metric_type::counter,
                                           "Handler exceptions and linked failures of the named actor.");
    metric_family& restarts_f = add_family(out, "troupe_actor_restarts_total", metric_type::counter,
                                           "Restarts of the named actor by its supervisor.");
    metric_family& stopped_f = add_family(out, "troupe_actor_stopped", metric_type::gauge,
                                          "1 once the named actor is stopping or stopped.");
    for (const named_actor_metrics& a : actors) {
      const std::vector<metric_label> l{{"actor", a.name}, {"class", a.class_name}};
      depth_f.add(d(a.stats.depth), l);
      hw_f.add(d(a.stats.high_water), l);
      cap_f.add(d(a.stats.capacity), l);
      processed_f.add(d(a.stats.processed), l);
      add_dead_letters(dead_f, a.stats.dead_letters, l);
      failures_f.add(d(a.stats.failures), l);
      restarts_f.add(d(a.stats.restarts), l);
      stopped_f.add(a.stats.stopped ? 1 : 0, l);
    }
  }

  std::vector<metric_family> all(std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()));
  all.insert(all.end(), sources.begin(), sources.end());
  return all;
}

std::string to_prometheus_text(const std::vector<metric_family>& families) {
  std::string out;
  out.reserve(families.size() * 256);
  for (const metric_family& f : families) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += to_string(f.type);
    out += '\n';
    for (const metric_sample& s : f.samples) {
      if (f.type != metric_type::histogram) {
        append_series(out, f.name, "", s.labels, nullptr, {});
        append_value(out, s.value);
        out += '\n';
        continue;
      }
      for (const metric_bucket& b : s.buckets) {
        append_series(out, f.name, "_bucket", s.labels, "le", le_string(b.upper_bound));
        out += std::to_string(b.cumulative_count);
        out += '\n';
      }
      append_series(out, f.name, "_bucket", s.labels, "le", "+Inf");
      out += std::to_string(s.count);
      out += '\n';
      append_series(out, f.name, "_sum", s.labels, nullptr, {});
      append_value(out, s.sum);
      out += '\n';
      append_series(out, f.name, "_count", s.labels, nullptr, {});
      out += std::to_string(s.count);
      out += '\n';
    }
  }
  return out;
}

std::string system_metrics::to_prometheus_text() const { return troupe::to_prometheus_text(families()); }

std::string system_metrics::to_json() const {
  nlohmann::json workers = nlohmann::json::array();
  for (std::size_t i = 0; i < runtime.workers.size(); ++i) {
    const worker_metrics& w = runtime.workers[i];
    workers.push_back({{"worker", i},
                       {"tasks_run", w.tasks_run},
                       {"steals", w.steals},
                       {"failed_steals", w.failed_steals},
                       {"parks", w.parks},
                       {"wakeups", w.wakeups},
                       {"injection_pops", w.injection_pops},
                       {"lifo_runs", w.lifo_runs},
                       {"fibers_created", w.fibers_created},
                       {"timers_fired", w.timers_fired},
                       {"timers_pending", w.timers_pending},
                       {"busy_ns", w.busy_ns}});
  }
  nlohmann::json j;
  j["histograms_enabled"] = histograms_enabled;
  j["runtime"] = {{"workers", std::move(workers)}, {"failed_detached_tasks", runtime.failed_detached_tasks}};
  j["system"] = {
      {"spawned", system.spawned},         {"failures", system.failures},
      {"restarts", system.restarts},       {"escalations", system.escalations},
      {"live_actors", system.live_actors}, {"dead_letters", dead_letters_json(system.dead_letters)}};
  nlohmann::json cls = nlohmann::json::array();
  for (const actor_class_metrics& c : classes) {
    nlohmann::json jc{{"name", c.name},
                      {"actors", c.actors},
                      {"mailbox_depth", c.mailbox_depth},
                      {"mailbox_high_water", c.mailbox_high_water},
                      {"processed", c.processed},
                      {"dead_letters", dead_letters_json(c.dead_letters)},
                      {"failures", c.failures},
                      {"restarts", c.restarts}};
    if (c.handler_time) jc["handler_time"] = histogram_json(*c.handler_time);
    if (c.mailbox_sojourn) jc["mailbox_sojourn"] = histogram_json(*c.mailbox_sojourn);
    cls.push_back(std::move(jc));
  }
  j["classes"] = std::move(cls);
  nlohmann::json named = nlohmann::json::array();
  for (const named_actor_metrics& a : actors)
    named.push_back({{"name", a.name},
                     {"class", a.class_name},
                     {"depth", a.stats.depth},
                     {"high_water", a.stats.high_water},
                     {"capacity", a.stats.capacity},
                     {"processed", a.stats.processed},
                     {"dead_letters", dead_letters_json(a.stats.dead_letters)},
                     {"failures", a.stats.failures},
                     {"restarts", a.stats.restarts},
                     {"stopped", a.stats.stopped}});
  j["actors"] = std::move(named);
  nlohmann::json src = nlohmann::json::array();
  for (const metric_family& f : sources) src.push_back(family_json(f));
  j["sources"] = std::move(src);
  j["source_errors"] = source_errors;
  // Names are demangled C++ and user label values: replace invalid UTF-8
  // rather than throw.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace troupe
