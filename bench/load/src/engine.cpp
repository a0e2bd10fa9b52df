#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <ostream>
#include <thread>

#include "troupe/runtime/detail/spinlock.hpp"  // cpu_relax
#include "troupe/runtime/error.hpp"

namespace troupe::load::detail {

namespace {

std::uint64_t to_ns(duration d) noexcept { return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count()); }
double to_seconds(duration d) noexcept { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void invalid(const std::string& what) {
  throw troupe::error(troupe::errc::invalid_argument, what);
}

}  // namespace

// --- Construction -----------------------------------------------------------

engine::engine(run_options opts, target t)
    : opts_(std::move(opts)),
      target_(std::move(t)),
      total_latency_(make_latency_histogram()),
      lag_(make_latency_histogram()) {
  if (!opts_.clock) opts_.clock = troupe::default_clock();
  clock_ = opts_.clock.get();
  sink_ = std::make_shared<completion_sink>(opts_.clock);
}

engine::engine(open_loop cfg, target t, run_options opts) : engine(std::move(opts), std::move(t)) {
  mode_ = mode::open_loop;
  plan_ = std::move(cfg.schedule);
  check_common("load::generator (open loop)");
}

engine::engine(closed_loop cfg, target t, run_options opts) : engine(std::move(opts), std::move(t)) {
  mode_ = mode::closed_loop;
  if (cfg.workers == 0) invalid("load::generator (closed loop): workers must be > 0");
  if (cfg.length <= duration::zero()) invalid("load::generator (closed loop): length must be > 0");
  if (!std::isfinite(cfg.rate) || cfg.rate < 0)
    invalid("load::generator (closed loop): the pacing rate must be finite and >= 0");
  closed_ = cfg;
  check_common("load::generator (closed loop)");
}

void engine::check_common(const char* who) const {
  const std::string w(who);
  if (!target_) invalid(w + ": the target is empty");
  if (opts_.timeout <= duration::zero()) invalid(w + ": timeout must be > 0");
  if (opts_.interval <= duration::zero()) invalid(w + ": interval must be > 0");
  if (opts_.progress_every <= duration::zero()) invalid(w + ": progress_every must be > 0");
  if (opts_.max_batch == 0) invalid(w + ": max_batch must be > 0");
}

engine::~engine() {
  // A run abandoned before it was done: give up every request still out, so
  // that a completion arriving later loses its CAS and only counts itself
  // late in the sink (which it keeps alive), then drop our references. A
  // state still linked in the done list may be freed here: nobody will take
  // that list again, and a push only stores the old head, never reads it.
  for (request_state* s : fifo_) {
    std::uint8_t expected = pending;
    s->ended.compare_exchange_strong(expected, given_up,
                                     std::memory_order_relaxed);  // see completion::finish
    release(s);
  }
}

// --- Driving ----------------------------------------------------------------

void engine::start() {
  if (started_) return;
  started_ = true;
  start_ = clock_->now();
  last_event_ = start_;
  started_at_ = std::chrono::system_clock::now();
  if (mode_ == mode::open_loop) {
    cursor_.emplace(plan_->begin());
    next_offset_ = cursor_->next();
    end_of_load_ = start_ + plan_->length();
  } else {
    end_of_load_ = start_ + closed_->length;
    slot_.assign(closed_->workers, start_);
    if (closed_->rate > 0) {
      period_ = duration(std::llround(closed_->workers * 1e9 / closed_->rate));
      // Spread the first sends over one period, as a steady paced load would be.
      const long double gap = 1e9L / closed_->rate;
      for (std::uint32_t w = 0; w < closed_->workers; ++w)
        ready_.push({start_ + duration(std::llround(w * gap)), w});
    } else {
      for (std::uint32_t w = 0; w < closed_->workers; ++w) ready_.push({start_, w});
    }
  }
  open_.push_back(interval_acc{});
  if (opts_.hdr_log) {
    hdr_.emplace(*opts_.hdr_log);
    hdr_->write_header(started_at_);
    hdr_->write_comment(fmt::format("[troupe::load {}: latency in ns from each request's {}]",
                                    to_string(mode_),
                                    mode_ == mode::open_loop ? "intended start" : "actual send"));
  }
}

engine::time_point engine::poll() {
  if (!started_) start();
  return poll_at(clock_->now());
}

engine::time_point engine::poll_at(time_point now) {
  if (!started_) start();
  if (finished_) return time_point::max();
  // Completions stamped up to `now` are in the list or on their way; one
  // stamped but not yet pushed when an interval closes below is counted in
  // the next one (the cost of never making completions wait). One stamped
  // after `now` and drained here counts in its own interval, which cannot
  // close in this poll.
  drain();
  reap(now);
  issue_due(now);
  if (run_is_over(now)) {
    finish(now);
    return time_point::max();
  }
  close_due(now);
  return next_wake(now);
}

void engine::drain() {
  if (sink_->empty()) return;  // a load, not the exchange's read-modify-write, when nothing came
  for (request_state* s = sink_->take_all(); s;) {
    request_state* next = s->next_done;
    account_completed(s);  // frees nothing: the FIFO holds our reference
    s = next;
  }
}

void engine::account_completed(request_state* s) {
  if (s->finished > s->deadline) {
    // It came after the generator's deadline, but before the give-up pass
    // saw it: the request was given up at the deadline all the same, so
    // that when the give-up pass runs never changes the figures.
    if (!s->abandoned) ++late_;
    account(s, s->deadline, outcome::timeout, true);
  } else {
    account(s, s->finished, s->result, false);
  }
}

void engine::account(request_state* s, time_point at, outcome o, bool gave_up) {
  interval_acc& a = acc_at(at);
  std::uint64_t counts::*bucket = nullptr;
  switch (o) {
    case outcome::ok:
      bucket = &counts::ok;
      break;
    case outcome::error:
      bucket = &counts::failed;
      break;
    case outcome::timeout:
      bucket = &counts::timed_out;
      break;
    case outcome::overloaded:
      bucket = &counts::shed;
      break;
    case outcome::rejected:
      bucket = &counts::rejected;
      break;
  }
  if (!bucket) bucket = &counts::failed;  // an out-of-range value: still counted, never lost
  ++(a.n.*bucket);
  ++(running_.*bucket);
  if (gave_up) {
    ++a.given_up;
    ++given_up_total_;
  } else if (s->abandoned) {
    ++a.abandoned;
    ++abandoned_total_;
  }
  if (!a.latency) {
    if (spare_.empty()) {
      a.latency.emplace(make_latency_histogram());
    } else {
      a.latency.emplace(std::move(spare_.back()));
      spare_.pop_back();
    }
  }
  a.latency->record(to_ns(at - s->intended));
  s->accounted = true;
  ++accounted_;
  last_event_ = std::max(last_event_, at);
  if (mode_ == mode::closed_loop) worker_ready(s->worker, at);
}

void engine::reap(time_point now) {
  while (!fifo_.empty()) {
    request_state* s = fifo_.front();
    if (!s->accounted) {
      if (s->deadline > now) break;
      std::uint8_t expected = pending;
      // relaxed: see completion::finish; the winner alone ends the request.
      if (!s->ended.compare_exchange_strong(expected, given_up, std::memory_order_relaxed)) {
        break;  // its completion won, and its push is on the way: the next drain takes it
      }
      account(s, s->deadline, outcome::timeout, true);
    }
    fifo_.pop_front();
    release(s);
  }
}

void engine::issue_due(time_point now) {
  batch_capped_ = false;
  std::uint32_t n = 0;
  if (mode_ == mode::open_loop) {
    while (next_offset_ && start_ + *next_offset_ <= now) {
      if (n++ == opts_.max_batch) {
        batch_capped_ = true;
        return;
      }
      issue(start_ + *next_offset_, 0, n == 1 ? now : clock_->now());
      next_offset_ = cursor_->next();
    }
    return;
  }
  while (!ready_.empty() && ready_.top().first <= now) {
    const std::uint32_t w = ready_.top().second;
    if (now >= end_of_load_) {  // no request is sent after the closed loop's length
      ready_.pop();
      continue;
    }
    if (n++ == opts_.max_batch) {
      batch_capped_ = true;
      return;
    }
    ready_.pop();
    issue(time_point{}, w, n == 1 ? now : clock_->now());
  }
}

void engine::issue(time_point intended, std::uint32_t worker, time_point now) {
  auto* s = new request_state;
  s->id = next_id_++;
  // `now` is read per request (the first of a poll uses the poll's): when the
  // issuer is behind, a batch takes time, and the lag (and each deadline)
  // should say when each request really went out.
  s->sent = now;
  s->intended = mode_ == mode::open_loop ? intended : s->sent;
  s->deadline = troupe::clock::after(s->sent, opts_.timeout);
  s->worker = worker;
  s->sink = sink_;
  fifo_.push_back(s);
  ++issued_;

  interval_acc& a = acc_at(s->intended);
  ++a.n.offered;
  ++running_.offered;
  if (mode_ == mode::open_loop) {
    const duration lag = s->sent - s->intended;
    a.max_lag = std::max(a.max_lag, lag);
    lag_.record(to_ns(lag));
  } else if (period_ > duration::zero()) {
    // A missed slot is never made up: the next is a period after this send.
    slot_[worker] = s->sent + period_;
  }

  request r;
  r.id = s->id;
  r.intended_start = s->intended;
  r.sent = s->sent;
  r.deadline = s->deadline;
  r.done = completion(s);
  try {
    target_(std::move(r));
  } catch (...) {
    // The request (and its completion, unless the target took it) was
    // destroyed as the exception left the call: an abandoned completion ends
    // it as failed. The run goes on: one bad call must not lose the data.
  }
}

void engine::worker_ready(std::uint32_t worker, time_point ended_at) {
  ready_.push({period_ > duration::zero() ? std::max(ended_at, slot_[worker]) : ended_at, worker});
}

bool engine::run_is_over(time_point now) const {
  if (now < end_of_load_ || in_flight() > 0) return false;
  return mode_ == mode::closed_loop || !next_offset_;
}

engine::time_point engine::next_wake(time_point now) {
  next_work_ = now;
  if (batch_capped_ || !sink_->empty()) return now;
  time_point t = time_point::max();
  if (mode_ == mode::open_loop) {
    if (next_offset_) t = std::min(t, start_ + *next_offset_);
  } else if (!ready_.empty() && ready_.top().first < end_of_load_) {
    t = std::min(t, ready_.top().first);
  }
  if (now < end_of_load_) t = std::min(t, end_of_load_);
  if (!fifo_.empty() && !fifo_.front()->accounted) t = std::min(t, fifo_.front()->deadline);
  next_work_ = t;  // without the interval ticks, which alone never end a run
  if (!open_.empty()) t = std::min(t, boundary(open_.front().index + 1));
  return t;
}

bool engine::wants_wakeup_on_completion() const noexcept {
  // Open loop while issuing: the driver wakes for the schedule anyway, and
  // completions wait in the list until then (their time is already stamped).
  return in_flight() > 0 && (mode_ == mode::closed_loop || !next_offset_);
}

// --- Intervals --------------------------------------------------------------

engine::time_point engine::boundary(std::uint64_t index) const noexcept {
  return start_ + opts_.interval * static_cast<duration::rep>(index);
}

std::uint64_t engine::index_of(time_point t) const noexcept {
  if (t <= start_) return 0;
  return static_cast<std::uint64_t>((t - start_) / opts_.interval);
}

engine::interval_acc& engine::acc_at(time_point t) {
  // An event of an interval that has already closed (a completion stamped
  // before the close but pushed after it) counts in the oldest open one.
  const std::uint64_t k = std::max(index_of(t), open_.front().index);
  while (open_.back().index < k) {
    interval_acc next;
    next.index = open_.back().index + 1;
    open_.push_back(std::move(next));
  }
  return open_[static_cast<std::size_t>(k - open_.front().index)];
}

void engine::close_due(time_point now) {
  for (;;) {
    const time_point end = boundary(open_.front().index + 1);
    if (end > now) return;
    // Open loop: not before every request meant to start in it has been
    // issued, so that its `offered` is complete when it is reported.
    if (mode_ == mode::open_loop && next_offset_ && start_ + *next_offset_ < end) return;
    close_front(end, now);
  }
}

void engine::close_front(time_point end, time_point now) {
  interval_acc& f = open_.front();
  interval_report rep;
  rep.index = f.index;
  rep.start = boundary(f.index) - start_;
  rep.length = end - (start_ + rep.start);
  rep.target_rate = mode_ == mode::open_loop ? plan_->rate_at(rep.start) : closed_->rate;
  rep.n = f.n;
  rep.given_up = f.given_up;
  rep.abandoned = f.abandoned;
  rep.in_flight = in_flight();
  rep.max_lag = f.max_lag;
  if (mode_ == mode::open_loop && next_offset_ && start_ + *next_offset_ <= now)
    rep.behind = now - (start_ + *next_offset_);
  if (f.latency) {
    rep.latency = latency_summary::of(*f.latency);
    total_latency_.add(*f.latency);
  }
  if (hdr_) {
    if (f.latency) {
      hdr_->write_interval(*f.latency, to_seconds(rep.start), to_seconds(rep.length));
    } else {
      if (!empty_) empty_.emplace(make_latency_histogram());
      hdr_->write_interval(*empty_, to_seconds(rep.start), to_seconds(rep.length));
    }
  }
  if (f.latency) {
    f.latency->reset();
    spare_.push_back(std::move(*f.latency));
  }
  const std::uint64_t next_index = f.index + 1;
  open_.pop_front();
  if (open_.empty()) {
    interval_acc next;
    next.index = next_index;
    open_.push_back(std::move(next));
  }
  reports_.push_back(rep);
  if (opts_.on_interval) {
    clear_progress();
    opts_.on_interval(reports_.back());
  }
}

void engine::finish(time_point now) {
  // The run ends with its last request, or with the plan if that is later.
  run_end_ = std::max(end_of_load_, last_event_);
  // The last interval holds [its start, run_end]: closed on the right, so an
  // event exactly at run_end on an interval boundary belongs to the interval
  // that ends there, not to one of length zero. Intervals opened past it
  // (by such an event, or by a late poll) are folded back into it.
  const std::uint64_t last = run_end_ > start_ ? index_of(run_end_ - duration(1)) : 0;
  while (open_.size() > 1 && open_.back().index > last) {
    interval_acc extra = std::move(open_.back());
    open_.pop_back();
    interval_acc& into = open_.back();
    into.n += extra.n;
    into.given_up += extra.given_up;
    into.abandoned += extra.abandoned;
    into.max_lag = std::max(into.max_lag, extra.max_lag);
    if (extra.latency) {
      if (into.latency) {
        into.latency->add(*extra.latency);
      } else {
        into.latency = std::move(extra.latency);
      }
    }
  }
  while (open_.back().index < last) {
    interval_acc next;
    next.index = open_.back().index + 1;
    open_.push_back(std::move(next));
  }
  while (!open_.empty()) {
    const std::uint64_t index = open_.front().index;
    // The last interval ends at run_end. One that starts at run_end has
    // length zero: it can only hold a completion stamped before the close
    // of the interval before it but drained after that close, when that
    // completion was the run's last event.
    const time_point end = std::min(boundary(index + 1), std::max(run_end_, boundary(index)));
    close_front(end, now);
    if (index >= last) break;
  }
  open_.clear();
  finished_ = true;
}

// --- run() ------------------------------------------------------------------

engine::time_point engine::wait_until(time_point next, time_point now) {
  if (next <= now) return now;
  const bool wake = wants_wakeup_on_completion();
  if (next - now < opts_.spin_below) {
    for (;;) {
      now = clock_->now();
      if (now >= next || (wake && !sink_->empty())) return now;
      troupe::detail::cpu_relax();
    }
  }
  if (wake) {
    sink_->wait_for_push(next);
  } else {
    std::this_thread::sleep_until(next);
  }
  return clock_->now();
}

result engine::run() {
  if (started_) invalid("load::generator::run: the run was already started (use poll() to go on)");
  start();
  troupe::manual_clock* manual = nullptr;
  if (clock_->is_virtual()) {
    manual = dynamic_cast<troupe::manual_clock*>(clock_);
    if (!manual)
      invalid(
          "load::generator::run: only a troupe::manual_clock can be moved by the generator; "
          "drive other virtual clocks with poll()");
  }
  // Busy time is what poll() takes. The clock read that ends each wait is
  // the next poll's time and starts the next busy stretch: one more read
  // per poll measures it.
  time_point awake = clock_->now();
  time_point next_progress = awake + opts_.progress_every;
  for (;;) {
    const time_point next = poll_at(awake);
    const time_point now = clock_->now();
    busy_ += now - awake;
    if (finished_) break;
    if (opts_.progress && now >= next_progress) {
      show_progress();
      next_progress = now + opts_.progress_every;
    }
    if (manual) {
      if (next_work_ == time_point::max())
        invalid(
            "load::generator::run: with a virtual clock nothing is due and the requests in flight "
            "never time out; drive this run with poll()");
      manual->set(next);
      awake = clock_->now();
      continue;
    }
    awake = wait_until(opts_.progress ? std::min(next, next_progress) : next, now);
  }
  clear_progress();
  return take_result();
}

result engine::take_result() {
  if (!finished_) invalid("load::generator::take_result: the run is not done");
  if (took_result_) invalid("load::generator::take_result: the result was already taken");
  took_result_ = true;
  result r;
  r.mode = mode_;
  if (mode_ == mode::open_loop) {
    r.schedule = plan_;
  } else {
    r.closed = closed_loop_config{closed_->workers, closed_->length, closed_->rate};
  }
  r.timeout = opts_.timeout;
  r.interval = opts_.interval;
  r.started_at = started_at_;
  r.elapsed = run_end_ - start_;
  r.intervals = std::move(reports_);
  r.total = running_;
  r.given_up = given_up_total_;
  r.late = late_ + sink_->late();
  r.abandoned = abandoned_total_;
  r.latency = std::move(total_latency_);
  r.issuer_lag = std::move(lag_);
  r.busy = busy_;
  return r;
}

// --- Progress ---------------------------------------------------------------

std::string engine::progress_line() const {
  // Short enough for an 80-column terminal ('\r' only rewinds one line):
  // the buckets other than ok appear once they are not zero.
  if (!started_) return fmt::format("[{}] not started", to_string(mode_));
  const time_point now = clock_->now();
  std::string line =
      fmt::format("[{}] {:.1f}/{:.1f}s  offered {}  ok {}", to_string(mode_), to_seconds(now - start_),
                  to_seconds(end_of_load_ - start_), running_.offered, running_.ok);
  auto add = [&line](const char* name, std::uint64_t n) {
    if (n) line += fmt::format("  {} {}", name, n);
  };
  add("failed", running_.failed);
  add("shed", running_.shed);
  add("rejected", running_.rejected);
  add("timed out", running_.timed_out);
  line += fmt::format("  in flight {}", in_flight());
  if (!reports_.empty() && reports_.back().latency.count > 0)
    line += "  p99 " + format_duration(duration(static_cast<duration::rep>(reports_.back().latency.p99)));
  if (mode_ == mode::open_loop && next_offset_ && start_ + *next_offset_ < now)
    line += "  behind " + format_duration(now - (start_ + *next_offset_));
  return line;
}

void engine::show_progress() {
  if (!opts_.progress) return;
  std::string line = progress_line();
  const std::size_t width = line.size();
  if (width < progress_width_) line.append(progress_width_ - width, ' ');
  progress_width_ = width;
  *opts_.progress << '\r' << line << std::flush;
  progress_shown_ = true;
}

void engine::clear_progress() {
  if (!opts_.progress || !progress_shown_) return;
  *opts_.progress << '\r' << std::string(progress_width_, ' ') << '\r' << std::flush;
  progress_shown_ = false;
}

}  // namespace troupe::load::detail

// --- The public face --------------------------------------------------------

namespace troupe::load {

generator::generator(open_loop cfg, target t, run_options opts)
    : engine_(std::make_unique<detail::engine>(std::move(cfg), std::move(t), std::move(opts))) {}
generator::generator(closed_loop cfg, target t, run_options opts)
    : engine_(std::make_unique<detail::engine>(cfg, std::move(t), std::move(opts))) {}
generator::~generator() = default;
generator::generator(generator&&) noexcept = default;
generator& generator::operator=(generator&&) noexcept = default;

result generator::run() { return engine_->run(); }
void generator::start() { engine_->start(); }
troupe::clock::time_point generator::poll() { return engine_->poll(); }
bool generator::done() const noexcept { return engine_->done(); }
std::uint64_t generator::in_flight() const noexcept { return engine_->in_flight(); }
result generator::take_result() { return engine_->take_result(); }
std::string generator::progress_line() const { return engine_->progress_line(); }

result run(open_loop cfg, target t, run_options opts) {
  return generator(std::move(cfg), std::move(t), std::move(opts)).run();
}
result run(closed_loop cfg, target t, run_options opts) {
  return generator(cfg, std::move(t), std::move(opts)).run();
}

}  // namespace troupe::load
