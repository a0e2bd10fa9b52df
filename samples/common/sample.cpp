#include "common/sample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace troupe::samples {

const char* to_string(better b) noexcept { return b == better::lower ? "lower" : "higher"; }

namespace {

// Columns on a terminal: UTF-8 continuation bytes take no column ("µ", "→").
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, std::size_t width, table::align a) {
  const std::size_t w = display_width(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return a == table::align::left ? s + fill : fill + s;
}

// Splits on spaces into lines of at most `width` columns (a longer word
// stays whole on its own line).
std::vector<std::string> wrap(const std::string& s, std::size_t width) {
  if (width == 0 || display_width(s) <= width) return {s};
  std::vector<std::string> lines;
  std::istringstream words(s);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// A string as a gnuplot single-quoted string ('' stands for ').
std::string quoted(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("''") : std::string(1, c);
  return r + "'";
}

}  // namespace

// --- table --------------------------------------------------------------------

table::table(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), align::right), wrap_(headers_.size(), 0) {
  if (!align_.empty()) align_[0] = align::left;
}

table& table::set_align(std::size_t column, align a) {
  align_.at(column) = a;
  return *this;
}

table& table::set_wrap(std::size_t column, std::size_t width) {
  wrap_.at(column) = width;
  return *this;
}

table& table::add_row(std::vector<std::string> cells) {
  if (cells.size() > headers_.size())
    throw std::invalid_argument(
        fmt::format("table::add_row: {} cells for {} columns", cells.size(), headers_.size()));
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
  return *this;
}

std::string table::render() const {
  const std::size_t n = headers_.size();
  std::vector<std::size_t> width(n, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < n; ++c)
      for (const auto& line : wrap(row[c], wrap_[c])) width[c] = std::max(width[c], display_width(line));
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::vector<std::vector<std::string>> cells(n);
    std::size_t lines = 1;
    for (std::size_t c = 0; c < n; ++c) {
      cells[c] = wrap(row[c], wrap_[c]);
      lines = std::max(lines, cells[c].size());
    }
    for (std::size_t l = 0; l < lines; ++l) {
      std::string line;
      for (std::size_t c = 0; c < n; ++c) {
        if (c) line += "  ";
        line += pad(l < cells[c].size() ? cells[c][l] : "", width[c], align_[c]);
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + '\n';
    }
  };
  emit(headers_);
  std::string rule;
  for (std::size_t c = 0; c < n; ++c) rule += (c ? "  " : "") + std::string(width[c], '-');
  out += rule + '\n';
  for (const auto& r : rows_) emit(r);
  return out;
}

// --- formatting -----------------------------------------------------------------

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return "n/a";
  const double a = std::abs(s);
  if (a == 0) return "0 s";
  if (a < 1e-6) return fmt::format("{:.3g} ns", s * 1e9);
  if (a < 1e-3) return fmt::format("{:.3g} µs", s * 1e6);
  if (a < 1) return fmt::format("{:.3g} ms", s * 1e3);
  if (a < 120) return fmt::format("{:.3g} s", s);
  return fmt::format("{:.3g} min", s / 60);
}

std::string format_percent(double fraction) {
  if (!std::isfinite(fraction)) return "n/a";
  const double p = fraction * 100;
  return std::abs(p) >= 10 || p == std::round(p) ? fmt::format("{:.0f}%", p) : fmt::format("{:.1f}%", p);
}

std::string format_ratio(double r) {
  if (!std::isfinite(r)) return "n/a";
  return r >= 100 ? fmt::format("{:.0f}x", r) : fmt::format("{:.3g}x", r);
}

// --- gnuplot ----------------------------------------------------------------------

std::string gnuplot_script(const figure& f, const std::string& png_path) {
  const int cols =
      std::max(1, std::min<int>(f.columns, static_cast<int>(std::max<std::size_t>(f.panels.size(), 1))));
  const int rows = static_cast<int>((f.panels.size() + static_cast<std::size_t>(cols) - 1) /
                                    static_cast<std::size_t>(cols));
  const int title_px = f.title.empty() ? 0 : 40;
  std::string s;
  s += "# Written by troupe's samples (samples/common/sample.cpp): gnuplot THIS_FILE redraws the PNG.\n";
  s += fmt::format("set terminal pngcairo noenhanced size {},{} font 'sans,10'\n", cols * f.panel_width,
                   std::max(1, rows) * f.panel_height + title_px);
  s += fmt::format("set output {}\n", quoted(png_path));
  // Data first, as datablocks: $d<panel>_<series>.
  for (std::size_t p = 0; p < f.panels.size(); ++p)
    for (std::size_t i = 0; i < f.panels[p].lines.size(); ++i) {
      const series& sr = f.panels[p].lines[i];
      s += fmt::format("$d{}_{} << EOD\n", p, i);
      for (std::size_t k = 0; k < std::min(sr.x.size(), sr.y.size()); ++k)
        if (std::isfinite(sr.x[k]) && std::isfinite(sr.y[k]))
          s += fmt::format("{:.9g} {:.9g}\n", sr.x[k], sr.y[k]);
      s += "EOD\n";
    }
  s += fmt::format("set multiplot layout {},{} title {} font ',13'\n", std::max(1, rows), cols,
                   quoted(f.title));
  const char* colors[] = {"#cc3311", "#0077bb", "#009988", "#ee7733", "#33bbee", "#aa3377", "#555555"};
  for (std::size_t p = 0; p < f.panels.size(); ++p) {
    const panel& pn = f.panels[p];
    // `reset`, not `reset session`: the latter would delete the datablocks.
    s += "reset\nset grid\nset key top left opaque box Left reverse\n";
    s += "set style fill transparent solid 0.6 noborder\nset boxwidth 0.6 relative\n";
    s += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", quoted(pn.title), quoted(pn.xlabel),
                     quoted(pn.ylabel));
    s += pn.logx ? "set logscale x\nset format x '%g'\n" : "unset logscale x\n";
    s += pn.logy ? "set logscale y\nset format y '%g'\n" : "unset logscale y\n";
    const bool bars =
        std::any_of(pn.lines.begin(), pn.lines.end(), [](const series& sr) { return sr.style == "boxes"; });
    if (pn.boxwidth > 0) s += fmt::format("set boxwidth {:.9g} absolute\n", pn.boxwidth);
    if (pn.xrange)
      s += fmt::format("set xrange [{:.9g}:{:.9g}]\n", pn.xrange->first, pn.xrange->second);
    else if (!pn.xtics.empty())  // named bars: half a bar of room at each end
      s += fmt::format("set xrange [{:.9g}:{:.9g}]\n", pn.xtics.front().first - 0.6,
                       pn.xtics.back().first + 0.6);
    if (pn.yrange)
      s += fmt::format("set yrange [{:.9g}:{:.9g}]\n", pn.yrange->first, pn.yrange->second);
    else if (bars && !pn.logy)  // bars stand on zero
      s += "set yrange [0:*]\n";
    if (!pn.xtics.empty()) {
      s += "set xtics (";
      for (std::size_t k = 0; k < pn.xtics.size(); ++k)
        s += fmt::format("{}{} {:.9g}", k ? ", " : "", quoted(pn.xtics[k].second), pn.xtics[k].first);
      s += ") rotate by -20\n";
    }
    for (std::size_t k = 0; k < pn.shade.size(); ++k) {
      const auto& sp = pn.shade[k];
      s += fmt::format(
          "set object {} rect from {:.9g}, graph 0 to {:.9g}, graph 1 behind fc rgb '#dddddd' fs solid 0.5 "
          "noborder\n",
          k + 1, sp.from, sp.to);
      if (!sp.label.empty())
        s += fmt::format("set label {} {} at {:.9g}, graph 0.95 center font ',9'\n", k + 1, quoted(sp.label),
                         (sp.from + sp.to) / 2);
    }
    if (pn.lines.empty()) {
      s += "set key off\nplot 1/0 notitle\n";
      continue;
    }
    s += "plot ";
    for (std::size_t i = 0; i < pn.lines.size(); ++i) {
      const series& sr = pn.lines[i];
      const char* color = colors[i % (sizeof colors / sizeof colors[0])];
      std::string with = sr.style;
      if (sr.style == "lines" || sr.style == "steps" || sr.style == "linespoints") with += " lw 2";
      s += fmt::format("{}$d{}_{} using 1:2 with {} lc rgb '{}' title {}", i ? ", \\\n     " : "", p, i, with,
                       color, quoted(sr.title));
    }
    s += "\n";
  }
  s += "unset multiplot\n";
  return s;
}

bool render_png(const figure& f, const std::string& png_path) {
  const std::string script = gnuplot_script(f, png_path);
  std::FILE* gp = ::popen("gnuplot", "w");
  if (!gp) {
    std::cerr << "cannot start gnuplot (Debian: gnuplot-nox)\n";
    return false;
  }
  std::fputs(script.c_str(), gp);
  const int status = ::pclose(gp);
  if (status != 0) {
    std::cerr << "gnuplot failed drawing " << png_path << " (status " << status << ")\n";
    return false;
  }
  return true;
}

// --- sample -----------------------------------------------------------------------

sample::sample(std::string name, std::string description)
    : name_(std::move(name)), app_(std::move(description), name_) {
  app_.add_flag("--quick", opts_.quick, "small sizes: the whole sample in under 30 s on two busy cores");
  app_.add_option("--json", opts_.json_path, "write the results (with the headline) as JSON to this file");
  app_.add_option("--plot", opts_.plot_path, "draw the results as a PNG with gnuplot");
  app_.add_option("--plot-script", opts_.plot_script_path,
                  "write the gnuplot script (data inline) to this file, to redraw or restyle the plot");
  app_.add_option("--seed", opts_.seed, "seed of every random choice (same seed, same inputs)")
      ->capture_default_str();
}

std::optional<int> sample::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app_.exit(e);
  }
  json_["sample"] = name_;
  json_["quick"] = opts_.quick;
  json_["seed"] = opts_.seed;
  return std::nullopt;
}

void sample::set_headline(const headline& h) {
  json_["headline"] = {{"metric", h.metric},
                       {"unit", h.unit},
                       {"better", to_string(h.direction)},
                       {"naive", h.naive},
                       {"troupe", h.troupe}};
  has_headline_ = true;
}

void sample::print(const std::string& heading, const table& t) const {
  std::cout << '\n' << heading << "\n\n" << t.render() << std::flush;
}

void sample::print_story(const std::string& source, const std::vector<story_row>& rows) {
  table t({"figure", "story: before", "story: after", "here: naive", "here: troupe",
           "reproduced? where not, why"});
  t.set_wrap(0, 26).set_wrap(5, 52).set_align(5, table::align::left);
  nlohmann::json js = nlohmann::json::array();
  for (const auto& r : rows) {
    t.add_row({r.what, r.story_before, r.story_after, r.ours_naive, r.ours_troupe, r.verdict});
    js.push_back({{"what", r.what},
                  {"story_before", r.story_before},
                  {"story_after", r.story_after},
                  {"naive", r.ours_naive},
                  {"troupe", r.ours_troupe},
                  {"verdict", r.verdict}});
  }
  json_["story"] = {{"source", source}, {"rows", js}};
  print("The story (" + source + ") beside this run", t);
}

int sample::finish(const figure& f) {
  int code = 0;
  if (!opts_.json_path.empty()) {
    if (!has_headline_) {
      std::cerr << name_ << ": no headline was set; not writing " << opts_.json_path << '\n';
      code = 1;
    } else {
      std::ofstream out(opts_.json_path);
      out << json_.dump(2) << '\n';
      if (!out) {
        std::cerr << name_ << ": cannot write " << opts_.json_path << '\n';
        code = 1;
      }
    }
  }
  if (!opts_.plot_script_path.empty()) {
    std::ofstream out(opts_.plot_script_path);
    out << gnuplot_script(f, opts_.plot_path.empty() ? name_ + ".png" : opts_.plot_path);
    if (!out) {
      std::cerr << name_ << ": cannot write " << opts_.plot_script_path << '\n';
      code = 1;
    }
  }
  if (!opts_.plot_path.empty() && !render_png(f, opts_.plot_path)) code = 1;
  return code;
}

}  // namespace troupe::samples
