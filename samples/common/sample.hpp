#pragma once
// What every failure-story sample shares (each story: samples/<name>/README.md):
//
//   troupe::samples::sample app("video_pipeline", "one huge job blocks a worker while the others idle");
//   if (auto code = app.parse(argc, argv)) return *code;
//   ... run the naive way and the troupe way ...
//   app.set_headline({"p99 job completion", "s", better::lower, naive_p99, troupe_p99});
//   app.print("heading", results_table);        // the sample's own table
//   app.print_story("issue 9", rows);           // the story's numbers beside ours
//   return app.finish(figure);                  // --json, --plot
//
// Command line (CLI11): --quick (the whole sample in under 30 s on two busy
// cores), --json PATH, --plot PATH (PNG, drawn by gnuplot), --plot-script PATH
// (the gnuplot script with its data inline, to redraw or restyle), --seed N;
// a sample adds its own options through cli().
//
// JSON: always one object `headline` {"metric", "unit", "better": "lower" |
// "higher", "naive", "troupe"} (what sample_headline_check reads), `story`
// (the story table's rows), `quick`, `seed`, plus whatever
// the sample puts in json().
//
// Not thread-safe: a sample's main thread owns its `sample`.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace troupe::samples {

enum class better { lower, higher };
const char* to_string(better b) noexcept;

// The one figure a reader compares: the naive way against the troupe way.
struct headline {
  std::string metric;  // "p99 job completion"
  std::string unit;    // "s", "fraction", "x"
  better direction = better::lower;
  double naive = 0;
  double troupe = 0;
};

// A table for a terminal: columns sized to their widest cell, the first
// column left-aligned and the others right-aligned unless set, cells of a
// column with a wrap width wrapped on spaces into several lines.
class table {
 public:
  enum class align { left, right };
  explicit table(std::vector<std::string> headers);
  table& set_align(std::size_t column, align a);
  // Cells longer than `width` wrap onto further lines of the same row.
  table& set_wrap(std::size_t column, std::size_t width);
  // Throws std::invalid_argument if the row has more cells than headers
  // (fewer are padded with empty cells).
  table& add_row(std::vector<std::string> cells);
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<align> align_;
  std::vector<std::size_t> wrap_;  // 0: no wrap
  std::vector<std::vector<std::string>> rows_;
};

// One row of the story table: a published number beside ours.
struct story_row {
  std::string what;          // "p99 job completion"
  std::string story_before;  // "45 min"
  std::string story_after;   // "12 min"
  std::string ours_naive;    // this run, the naive way
  std::string ours_troupe;   // this run, the troupe way
  std::string verdict;       // "reproduced" or, plainly, where and why not
};

// --- Plotting with gnuplot ---------------------------------------------------

struct series {
  std::string title;
  std::vector<double> x, y;
  // gnuplot's `with`: "lines", "linespoints", "steps", "points", "boxes".
  std::string style = "lines";
};

struct panel {
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::optional<std::pair<double, double>> xrange, yrange;
  // Named ticks instead of numbers (bars): {x, label}.
  std::vector<std::pair<double, std::string>> xtics;
  // Shaded spans of x (an outage, a stall): {from, to, label}.
  struct span {
    double from, to;
    std::string label;
  };
  std::vector<span> shade;
  // Bars: > 0 sets each box's width in x units (several series side by
  // side); 0 leaves it at 0.6 of the spacing between bars.
  double boxwidth = 0;
  std::vector<series> lines;
};

struct figure {
  std::string title;
  std::vector<panel> panels;
  int columns = 2;        // panels per row
  int panel_width = 620;  // pixels
  int panel_height = 420;
};

// The gnuplot script that draws `f` into `png_path` (pngcairo), the data
// inline as datablocks.
std::string gnuplot_script(const figure& f, const std::string& png_path);
// Runs gnuplot on the script; false (and a message on stderr) if gnuplot is
// missing or fails.
bool render_png(const figure& f, const std::string& png_path);

// --- Formatting ----------------------------------------------------------------

// "850 µs", "12.3 ms", "4.56 s", "2.1 min" (3 significant digits).
std::string format_seconds(double s);
// "45%" / "45.3%" of a fraction 0.453.
std::string format_percent(double fraction);
// "3.75x".
std::string format_ratio(double r);

// --- The sample ----------------------------------------------------------------

struct options {
  bool quick = false;
  std::string json_path;
  std::string plot_path;
  std::string plot_script_path;
  std::uint64_t seed = 1;
};

class sample {
 public:
  sample(std::string name, std::string description);

  // Sample-specific options, added before parse().
  CLI::App& cli() noexcept { return app_; }

  // Parses the command line. Returns an exit code when the program should
  // stop now (--help, or an error it has printed), nullopt to go on.
  std::optional<int> parse(int argc, char** argv);

  const options& opts() const noexcept { return opts_; }
  bool quick() const noexcept { return opts_.quick; }
  const std::string& name() const noexcept { return name_; }

  // Extra JSON fields (time series, per-mode figures). `headline` and
  // `story` are set by set_headline() and print_story().
  nlohmann::json& json() noexcept { return json_; }
  void set_headline(const headline& h);

  // Prints a heading and a table to stdout.
  void print(const std::string& heading, const table& t) const;
  // Prints the story-vs-this-run table (and keeps it for the JSON).
  // `source`: where the story's numbers come from.
  void print_story(const std::string& source, const std::vector<story_row>& rows);

  // Writes --json (which must hold a headline by now) and draws --plot
  // (--plot-script). Returns the program's exit code: 0, or 1 if a file could
  // not be written or drawn (said on stderr).
  int finish(const figure& f);

 private:
  std::string name_;
  CLI::App app_;
  options opts_;
  bool has_headline_ = false;
  nlohmann::json json_ = nlohmann::json::object();
};

}  // namespace troupe::samples
