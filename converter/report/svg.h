// Charts as inline SVG text for the HTML reports: line charts (training curves), grouped bar charts
// (per-label AUC, sizes), scatter plots (embedding maps). No script and no external resource: a report is
// one file that any browser shows offline. Every chart is <svg class="chart ..."> with a <title>, the
// plot's own title, axis labels and (for more than one series) a legend; every text is escaped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace probex::convert::report {

// Text for XML content and attribute values: & < > " ' as entities.
std::string escape_xml(std::string_view text);

// A categorical palette (Tableau 10, distinguishable and print-safe); cycles after ten.
const char* palette_color(size_t i);
// The colour of "not in this group" points and of reference lines.
constexpr const char* kMutedColor = "#c7c7c7";

// A number for SVG coordinates (two decimals: sub-pixel precision, short text).
std::string svg_number(double v);

// Axis range and ticks at 1, 2 or 5 times a power of ten covering [lo, hi] with about `target` ticks.
struct Axis {
  double lo = 0.0, hi = 1.0;
  std::vector<double> ticks;
};
Axis nice_axis(double lo, double hi, int target = 5);
// A tick's text: as many decimals as the tick step needs.
std::string tick_label(double value, double step);

struct ChartFrame {
  ChartFrame(std::string title_, std::string x_label_, std::string y_label_, double width_ = 440, double height_ = 280)
      : title(std::move(title_)), x_label(std::move(x_label_)), y_label(std::move(y_label_)), width(width_),
        height(height_) {}
  std::string title, x_label, y_label;
  double width = 440, height = 280;
  bool legend = true;  // a legend column on the right (when there are named series)
  // Fixed y range when y_min < y_max; otherwise from the data.
  double y_min = 0.0, y_max = 0.0;
};

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite y values are gaps
  std::string color;         // "" = palette_color(index)
  bool dashed = false;
};
std::string line_chart(const ChartFrame& frame, const std::vector<Series>& series);

// One bar per (category, group): groups side by side within a category. A non-finite value draws no
// bar and an "n/a" mark. `reference` (when finite) draws a dashed horizontal line labelled
// `reference_label` (e.g. chance).
struct BarGroup {
  std::string name;
  std::vector<double> values;  // one per category
  std::string color;           // "" = palette_color(index)
};
std::string bar_chart(const ChartFrame& frame, const std::vector<std::string>& categories,
                      const std::vector<BarGroup>& groups, double reference, const std::string& reference_label);

struct ScatterPoint {
  double x = 0.0, y = 0.0;
  size_t group = 0;     // index into the chart's groups
  std::string tooltip;  // shown on hover (an SVG <title>), e.g. the model's name
};
struct ScatterGroup {
  std::string name;
  std::string color;
};
// Points of later groups are drawn over earlier ones (put the highlighted group last).
std::string scatter_chart(const ChartFrame& frame, const std::vector<ScatterPoint>& points,
                          const std::vector<ScatterGroup>& groups);

}  // namespace probex::convert::report
