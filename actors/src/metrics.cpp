// The actors layer's metrics: per-class counters and histograms, the class
// table, metric sources, and the snapshot (actor_system::metrics). The
// renderings (families, Prometheus text, JSON) are in metrics_render.cpp.

#include "metrics.hpp"

#include <algorithm>
#include <exception>
#include <unordered_map>
#include <utility>

#include "cell.hpp"
#include "mailbox_word.hpp"
#include "supervisor.hpp"
#include "system.hpp"

#include "troupe/actors/system.hpp"
#include "troupe/runtime/detail/schedule.hpp"

namespace troupe {

namespace detail {

namespace {

// Owner only (one writer): a relaxed load and store, no RMW.
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::uint64_t ns_between(time_point from, time_point to) noexcept {
  const auto d = (to - from).count();
  return d > 0 ? static_cast<std::uint64_t>(d) : 0;
}

const histogram_layout& duration_layout() {
  static const histogram_layout layout(duration_histogram::lowest_ns, duration_histogram::highest_ns,
                                       duration_histogram::digits);
  return layout;
}

// The calling worker's slot of c's class, with its histogram writers made;
// null off the workers or if the writers cannot be made (out of memory:
// the value is not recorded). Turn only.
class_worker_slot* timing_slot(actor_cell* c) noexcept {
  class_stats* k = c->klass;
  if (!k) return nullptr;
  const std::size_t w = worker_index(*c->sys->sched);
  if (w >= k->worker_count) return nullptr;
  class_worker_slot& slot = k->slots[w];
  if (!slot.has_writers) [[unlikely]] {
    try {
      slot.handler = k->handler_rec.make_writer();
      slot.sojourn = k->sojourn_rec.make_writer();
    } catch (...) {
      return nullptr;
    }
    slot.has_writers = true;
  }
  return &slot;
}

}  // namespace

// ------------------------------------------------------------- class table

class_stats::class_stats(const cell_vtable* v, std::size_t workers)
    : vt(v),
      worker_count(workers),
      slots(new class_worker_slot[workers]),
      handler_rec(duration_layout()),
      sojourn_rec(duration_layout()) {}

class_table::table::table(int bits)
    : shift(64 - bits),
      mask((std::size_t{1} << bits) - 1),
      slots(new std::atomic<class_stats*>[std::size_t{1} << bits]) {
  for (std::size_t i = 0; i <= mask; ++i) slots[i].store(nullptr, std::memory_order_relaxed);
}

void class_table::table::insert(class_stats* e) noexcept {
  std::size_t i = home(e->vt);
  while (slots[i].load(std::memory_order_relaxed)) i = (i + 1) & mask;
  // release: a reader that finds the pointer sees the entry it points to.
  slots[i].store(e, std::memory_order_release);
}

class_table::class_table(std::size_t workers) : workers_(workers) {
  tables_.push_back(std::make_unique<table>(6));
  current_.store(tables_.back().get(), std::memory_order_relaxed);
}

class_table::~class_table() = default;

class_stats& class_table::of(const cell_vtable* vt) {
  if (class_stats* e = find(vt)) return *e;
  std::lock_guard g(mutex_);
  if (class_stats* e = find(vt)) return *e;  // made meanwhile
  entries_.reserve(entries_.size() + 1);
  auto e = std::make_unique<class_stats>(vt, workers_);
  table* t = current_.load(std::memory_order_relaxed);
  if ((entries_.size() + 1) * 2 > t->mask + 1) {
    // Half full: a table twice the size, holding every entry, replaces it.
    tables_.reserve(tables_.size() + 1);
    auto bigger = std::make_unique<table>(64 - t->shift + 1);
    for (auto& old : entries_) bigger->insert(old.get());
    bigger->insert(e.get());
    t = bigger.get();
    tables_.push_back(std::move(bigger));
    // release: the new table's slots are filled before readers can find it.
    current_.store(t, std::memory_order_release);
  } else {
    t->insert(e.get());
  }
  entries_.push_back(std::move(e));
  return *entries_.back();
}

std::vector<class_stats*> class_table::all() const {
  std::lock_guard g(mutex_);
  std::vector<class_stats*> v;
  v.reserve(entries_.size());
  for (auto& e : entries_) v.push_back(e.get());
  return v;
}

// ------------------------------------------------------------------- hooks

void count_dead_letter(actor_cell* c, dead_letter_reason why) noexcept {
  // relaxed (all event counters): statistics.
  if (class_stats* k = c->klass)
    k->dead[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
}

void count_failure(actor_cell* c) noexcept {
  if (class_stats* k = c->klass) k->failures.fetch_add(1, std::memory_order_relaxed);
}

void count_restart(actor_cell* c) noexcept {
  if (class_stats* k = c->klass) k->restarts.fetch_add(1, std::memory_order_relaxed);
}

void deliver_timed(actor_cell* c, envelope* e) {
  system_impl* s = c->sys;
  const time_point enqueued = e->enqueued;  // read now: the handler frees e
  const time_point start = s->rt->now();
  if (enqueued != time_point::min()) {
    if (class_worker_slot* slot = timing_slot(c)) {
      const std::uint64_t ns = ns_between(enqueued, start);
      slot->sojourn.record(ns);
      bump(slot->sojourn_sum_ns, ns);
    }
  }
  // Recorded however the handler ends. The fiber may have moved to another
  // worker meanwhile (a blocking handler): the slot is looked up afterwards.
  struct record_handler_time {
    actor_cell* c;
    time_point start;
    ~record_handler_time() {
      const std::uint64_t ns = ns_between(start, c->sys->rt->now());
      if (class_worker_slot* slot = timing_slot(c)) {
        slot->handler.record(ns);
        bump(slot->handler_sum_ns, ns);
      }
    }
  } record{c, start};
  e->fn(e, c, envelope_op::deliver, dead_letter_reason::actor_stopped);
}

// ---------------------------------------------------------- metric sources

namespace {

// The names a family occupies in an exposition: its own; a counter's stem
// (parsers name the family of `x_total` "x"); a histogram's series.
std::vector<std::string> occupied_names(const metric_family& f) {
  std::vector<std::string> v{f.name};
  if (f.type == metric_type::counter) v.push_back(f.name.substr(0, f.name.size() - 6));
  if (f.type == metric_type::histogram)
    for (const char* suffix : {"_bucket", "_sum", "_count"}) v.push_back(f.name + suffix);
  return v;
}

}  // namespace

std::uint64_t metric_sources::collect(std::vector<metric_family>& out) {
  std::uint64_t errors = 0;
  std::vector<std::string> taken;
  std::lock_guard g(mutex);
  for (auto& [id, src] : by_id) {
    std::vector<metric_family> got;
    try {
      src.collect(got);
    } catch (...) {
      ++errors;  // the whole source's families of this snapshot
      continue;
    }
    for (auto& f : got) {
      bool ok = validate(f).empty() && !reserved_metric_name(f.name);
      const std::vector<std::string> names = ok ? occupied_names(f) : std::vector<std::string>{};
      for (const std::string& n : names)
        if (std::find(taken.begin(), taken.end(), n) != taken.end()) ok = false;
      if (!ok) {
        ++errors;
        continue;
      }
      taken.insert(taken.end(), names.begin(), names.end());
      out.push_back(std::move(f));
    }
  }
  return errors;
}

bool reserved_metric_name(const std::string& name) noexcept {
  for (const char* prefix :
       {"troupe_worker_", "troupe_runtime_", "troupe_system_", "troupe_class_", "troupe_actor_"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

namespace {

// The gauges of one class, from a walk over its live actors.
struct class_gauges {
  std::uint64_t actors = 0, depth = 0, high_water = 0;
};

// Adds c to the gauges of its class, if it is still live.
void visit(actor_cell* c, std::unordered_map<const cell_vtable*, class_gauges>& by_class) {
  // relaxed (both): a snapshot for monitoring.
  const mailbox_word w(c->word.load(std::memory_order_relaxed));
  if (w.final()) return;  // finalised, still listed by its supervisor for a moment
  class_gauges& g = by_class[c->vt];
  ++g.actors;
  g.depth += w.depth();
  g.high_water = std::max<std::uint64_t>(g.high_water, c->high_water.load(std::memory_order_relaxed));
}

// Every live actor: the top-level lists (each under its shard's lock), then
// the children of every supervisor met (under its children lock, through
// the references supervisor_children takes). Each list is locked only while
// it is read; nothing is locked while another list's lock is held.
// Cells with one reference each, released however the walk ends.
struct held_cells {
  std::vector<actor_cell*> cells;
  ~held_cells() {
    for (actor_cell* c : cells)
      if (c) release_cell(c);
  }
};

std::unordered_map<const cell_vtable*, class_gauges> walk(system_impl* s) {
  std::unordered_map<const cell_vtable*, class_gauges> by_class;
  held_cells supervisors;  // still to visit the children of
  for (auto& sh : s->shards) {
    std::lock_guard g(sh.lock);
    // A listed actor is not freed: finalize unlists it under this lock first.
    for (actor_cell* c = sh.head; c; c = c->next_sib) {
      visit(c, by_class);
      if (c->vt->supervisor) {
        supervisors.cells.push_back(c);  // may throw: then no reference was taken
        add_ref(c);
      }
    }
  }
  while (!supervisors.cells.empty()) {
    held_cells sup{{supervisors.cells.back()}};
    supervisors.cells.pop_back();
    held_cells children{supervisor_children(sup.cells[0])};
    for (actor_cell*& child : children.cells) {
      visit(child, by_class);
      if (child->vt->supervisor) {
        supervisors.cells.push_back(child);  // takes over the reference
        child = nullptr;
      }
    }
  }
  return by_class;
}

// The histograms of class k so far: the recorders' new intervals added to
// the totals (under the class's merge lock, so that concurrent snapshots
// each see every value once), then copied out with the exact sums.
void take_histograms(class_stats& k, actor_class_metrics& out) {
  std::lock_guard g(k.merge_lock);
  if (!k.handler_total) k.handler_total.emplace(duration_layout());
  if (!k.sojourn_total) k.sojourn_total.emplace(duration_layout());
  histogram interval(duration_layout());
  k.handler_rec.take_interval(interval);
  k.handler_total->add(interval);
  k.sojourn_rec.take_interval(interval);
  k.sojourn_total->add(interval);
  std::uint64_t handler_sum = 0, sojourn_sum = 0;
  for (std::size_t w = 0; w < k.worker_count; ++w) {
    // relaxed: each sum has one writer; a value recorded after the interval
    // was taken may be in the sum already (monitoring tolerates it).
    handler_sum += k.slots[w].handler_sum_ns.load(std::memory_order_relaxed);
    sojourn_sum += k.slots[w].sojourn_sum_ns.load(std::memory_order_relaxed);
  }
  out.handler_time.emplace();
  out.handler_time->values = *k.handler_total;
  out.handler_time->sum_ns = handler_sum;
  out.mailbox_sojourn.emplace();
  out.mailbox_sojourn->values = *k.sojourn_total;
  out.mailbox_sojourn->sum_ns = sojourn_sum;
}

}  // namespace

}  // namespace detail

// ------------------------------------------------------------ public side

const char* to_string(metric_type t) noexcept {
  switch (t) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "unknown";
}

namespace {

bool valid_name(const std::string& n, bool colons) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char ch = n[i];
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                    (colons && ch == ':') || (i > 0 && ch >= '0' && ch <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

}  // namespace

std::string validate(const metric_family& f) {
  if (!valid_name(f.name, true)) return "invalid metric name '" + f.name + "'";
  if (f.type == metric_type::counter && !ends_with(f.name, "_total"))
    return "counter '" + f.name + "' does not end in _total";
  if (f.type != metric_type::counter && ends_with(f.name, "_total"))
    return "'" + f.name + "' ends in _total but is not a counter";
  if (f.type == metric_type::histogram &&
      (ends_with(f.name, "_bucket") || ends_with(f.name, "_sum") || ends_with(f.name, "_count")))
    return "histogram '" + f.name + "' ends in a suffix its series add";
  std::vector<std::vector<metric_label>> seen;
  for (const metric_sample& s : f.samples) {
    std::vector<metric_label> labels = s.labels;
    for (const metric_label& l : labels) {
      if (!valid_name(l.name, false) || l.name.rfind("__", 0) == 0)
        return "'" + f.name + "': invalid label name '" + l.name + "'";
      if (f.type == metric_type::histogram && l.name == "le")
        return "'" + f.name + "': label 'le' is reserved";
    }
    std::sort(labels.begin(), labels.end(), [](auto& a, auto& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < labels.size(); ++i)
      if (labels[i].name == labels[i - 1].name)
        return "'" + f.name + "': label '" + labels[i].name + "' twice";
    if (std::find(seen.begin(), seen.end(), labels) != seen.end())
      return "'" + f.name + "': the same label set twice";
    seen.push_back(std::move(labels));
    if (f.type == metric_type::histogram) {
      for (std::size_t i = 0; i < s.buckets.size(); ++i) {
        const bool ordered = i == 0 || (s.buckets[i].upper_bound > s.buckets[i - 1].upper_bound &&
                                        s.buckets[i].cumulative_count >= s.buckets[i - 1].cumulative_count);
        if (!ordered || s.buckets[i].cumulative_count > s.count)
          return "'" + f.name + "': buckets not ascending and cumulative";
      }
    }
  }
  return {};
}

void metric_source::remove() noexcept {
  if (id_ == 0) return;
  {
    // Waits for a snapshot calling the sources to finish.
    std::lock_guard g(sources_->mutex);
    sources_->by_id.erase(id_);
  }
  id_ = 0;
  sources_.reset();
}

const std::vector<double>& duration_histogram::bucket_bounds_seconds() {
  static const std::vector<double> bounds = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4,
                                             5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1,
                                             0.2,  0.5,  1.0,  2.0,  5.0,  10.0};
  return bounds;
}

std::uint64_t duration_histogram::count_at_or_below(double seconds) const noexcept {
  const double ns = seconds * 1e9 + 0.5;
  const std::uint64_t bound =
      ns >= static_cast<double>(highest_ns) ? highest_ns : static_cast<std::uint64_t>(ns);
  const std::size_t last = values.layout().index_of(bound);
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= last && i < values.counts_length(); ++i) n += values.count_at_index(i);
  return n;
}

void actor_system::enable_histograms(bool on) noexcept {
  // relaxed: see histograms_on(); the flag is a switch, it publishes nothing.
  if (on) impl_->histograms_ever.store(true, std::memory_order_relaxed);
  impl_->histograms.store(on, std::memory_order_relaxed);
}

bool actor_system::histograms_enabled() const noexcept { return detail::histograms_on(impl_.get()); }

metric_source actor_system::add_metric_source(std::string name, metric_source::collect_fn collect) {
  if (name.empty()) throw actor_error(actor_errc::invalid_argument, "add_metric_source: empty name");
  if (!collect) throw actor_error(actor_errc::invalid_argument, "add_metric_source: empty function");
  detail::metric_sources& reg = *impl_->sources;
  std::lock_guard g(reg.mutex);
  for (auto& [id, e] : reg.by_id)
    if (e.name == name)
      throw actor_error(actor_errc::invalid_argument,
                        "add_metric_source: '" + name + "' is already registered");
  const std::uint64_t id = reg.next_id++;
  reg.by_id.emplace(id, detail::metric_sources::entry{std::move(name), std::move(collect)});
  return metric_source(impl_->sources, id);
}

system_metrics actor_system::metrics(const metrics_options& options) const {
  detail::system_impl* s = impl_.get();
  system_metrics m;
  m.runtime = s->rt->metrics();
  m.system = stats();
  m.histograms_enabled = detail::histograms_on(s);
  // relaxed: a switch (see enable_histograms).
  const bool with_histograms = s->histograms_ever.load(std::memory_order_relaxed);

  const auto gauges = detail::walk(s);
  for (detail::class_stats* k : s->classes.all()) {
    actor_class_metrics c;
    c.name = k->vt->type_name;
    if (auto it = gauges.find(k->vt); it != gauges.end()) {
      c.actors = it->second.actors;
      c.mailbox_depth = it->second.depth;
      c.mailbox_high_water = it->second.high_water;
    }
    // relaxed (all): statistics.
    for (std::size_t w = 0; w < k->worker_count; ++w)
      c.processed += k->slots[w].processed.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < dead_letter_reason_count; ++i)
      c.dead_letters.by_reason[i] = k->dead[i].load(std::memory_order_relaxed);
    c.failures = k->failures.load(std::memory_order_relaxed);
    c.restarts = k->restarts.load(std::memory_order_relaxed);
    if (with_histograms) detail::take_histograms(*k, c);
    m.classes.push_back(std::move(c));
  }
  std::sort(m.classes.begin(), m.classes.end(), [](auto& a, auto& b) { return a.name < b.name; });

  for (const std::string& name : options.actors) {
    const actor_addr a = whereis(name);
    if (!a) continue;
    m.actors.push_back(named_actor_metrics{name, a.cell()->vt->type_name, a.stats()});
  }

  m.source_errors = s->sources->collect(m.sources);
  return m;
}

}  // namespace troupe
