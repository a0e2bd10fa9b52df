#pragma once
// The generator's engine: one driving thread issues requests, gives up
// overdue ones, accounts completions and closes intervals. Everything here
// runs on the driving thread; completions reach it only through the sink's
// done list (request_state.hpp). docs/design/load.md, "Inside".

#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "request_state.hpp"

#include "troupe/load/generator.hpp"
#include "troupe/runtime/histogram.hpp"
#include "troupe/runtime/histogram_log.hpp"

namespace troupe::load::detail {

class engine {
 public:
  using time_point = troupe::clock::time_point;

  engine(open_loop cfg, target t, run_options opts);
  engine(closed_loop cfg, target t, run_options opts);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  void start();
  time_point poll();
  time_point poll_at(time_point now);  // poll() at a time just read
  bool done() const noexcept { return finished_; }
  std::uint64_t in_flight() const noexcept { return issued_ - accounted_; }
  result take_result();
  result run();
  std::string progress_line() const;

 private:
  // The counts and latencies of one interval, filled until it closes.
  struct interval_acc {
    std::uint64_t index = 0;
    counts n;
    std::optional<troupe::histogram> latency;  // made (or reused) at the first record
    std::uint64_t given_up = 0, abandoned = 0;
    duration max_lag{};
  };

  engine(run_options opts, target t);
  void check_common(const char* who) const;

  void drain();
  void account_completed(request_state* s);
  void account(request_state* s, time_point at, outcome o, bool gave_up);
  void reap(time_point now);
  void issue_due(time_point now);
  void issue(time_point intended, std::uint32_t worker, time_point now);
  void worker_ready(std::uint32_t worker, time_point ended_at);
  bool run_is_over(time_point now) const;
  void finish(time_point now);
  time_point next_wake(time_point now);
  bool wants_wakeup_on_completion() const noexcept;
  // Waits until `next` (or a completion, when one is awaited); returns the
  // time it stopped, from its last clock read.
  time_point wait_until(time_point next, time_point now);

  interval_acc& acc_at(time_point t);
  void ensure_open_through(std::uint64_t index);
  std::uint64_t index_of(time_point t) const noexcept;
  time_point boundary(std::uint64_t index) const noexcept;  // start of interval `index`
  void close_due(time_point now);
  void close_front(time_point end, time_point now);

  void show_progress();
  void clear_progress();

  // Configuration.
  enum mode mode_;
  std::optional<plan> plan_;
  std::optional<closed_loop> closed_;
  run_options opts_;
  target target_;
  std::shared_ptr<completion_sink> sink_;
  troupe::clock* clock_;

  // Run state.
  bool started_ = false;
  bool finished_ = false;
  bool took_result_ = false;
  time_point start_;
  time_point end_of_load_;  // the plan's end, or the closed loop's length
  time_point last_event_;   // the latest end (completion time or deadline) accounted
  time_point run_end_;
  std::chrono::system_clock::time_point started_at_;
  std::uint64_t next_id_ = 0;
  std::uint64_t issued_ = 0, accounted_ = 0;
  std::uint64_t late_ = 0;  // completions that came after the deadline but beat the give-up
  counts running_;          // the run's totals so far
  std::uint64_t given_up_total_ = 0, abandoned_total_ = 0;
  bool batch_capped_ = false;
  time_point next_work_;  // next_wake's answer without the interval ticks

  // Open loop: the schedule.
  std::optional<plan::cursor> cursor_;
  std::optional<duration> next_offset_;

  // Closed loop: workers waiting for their next send, earliest first.
  using ready_entry = std::pair<time_point, std::uint32_t>;
  std::priority_queue<ready_entry, std::vector<ready_entry>, std::greater<>> ready_;
  std::vector<time_point> slot_;  // each worker's pacing slot
  duration period_{};             // per worker; zero: unpaced

  // Requests in send order (deadlines are non-decreasing: sent + timeout).
  std::deque<request_state*> fifo_;

  // Intervals: open ones (contiguous indices, oldest first), closed reports,
  // histograms of closed ones kept for reuse.
  std::deque<interval_acc> open_;
  std::vector<troupe::histogram> spare_;
  std::vector<interval_report> reports_;
  troupe::histogram total_latency_;
  troupe::histogram lag_;

  // Output.
  std::optional<troupe::hdr::log_writer> hdr_;
  std::optional<troupe::histogram> empty_;  // for the log's empty intervals
  duration busy_{};
  bool progress_shown_ = false;
  std::size_t progress_width_ = 0;
};

}  // namespace troupe::load::detail
