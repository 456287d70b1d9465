#include "converter/report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace probex::convert::report {
namespace {

// The plot area inside a chart and the maps from data to pixels.
struct Plot {
  double left = 0, top = 0, width = 0, height = 0;
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

enum class Swatch { kLine, kDashed, kBox, kDot };
struct LegendEntry {
  std::string name, color;
  Swatch swatch;
};

constexpr double kTitleHeight = 30, kLeftMargin = 58, kRightPad = 14, kBottomMargin = 44;

double legend_width(const std::vector<LegendEntry>& entries) {
  size_t longest = 0;
  for (const LegendEntry& e : entries) longest = std::max(longest, e.name.size());
  return entries.empty() ? 0.0 : 34.0 + 6.3 * static_cast<double>(std::min<size_t>(longest, 28));
}

std::string text(double x, double y, const std::string& content, const char* anchor, const char* extra = "") {
  return "<text x=\"" + svg_number(x) + "\" y=\"" + svg_number(y) + "\" text-anchor=\"" + anchor + "\"" + extra + ">" +
         escape_xml(content) + "</text>";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& stroke, const char* extra = "") {
  return "<line x1=\"" + svg_number(x1) + "\" y1=\"" + svg_number(y1) + "\" x2=\"" + svg_number(x2) + "\" y2=\"" +
         svg_number(y2) + "\" stroke=\"" + stroke + "\"" + extra + "/>";
}

// The <svg> element with its accessible title, a white background and the chart's title; the caller
// closes it.
std::string open_svg(const ChartFrame& frame, const char* kind) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart " + std::string(kind) + "\" width=\"" +
                  svg_number(frame.width) + "\" height=\"" + svg_number(frame.height) + "\" viewBox=\"0 0 " +
                  svg_number(frame.width) + " " + svg_number(frame.height) +
                  "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\"><title>" + escape_xml(frame.title) +
                  "</title><rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
  s += text(kLeftMargin, 19, frame.title, "start", " class=\"chart-title\" font-size=\"13\" font-weight=\"bold\"");
  return s;
}

Plot plot_area(const ChartFrame& frame, double legend, double bottom) {
  Plot p;
  p.left = kLeftMargin;
  p.top = kTitleHeight + 6;
  p.width = std::max(40.0, frame.width - kLeftMargin - kRightPad - legend);
  p.height = std::max(40.0, frame.height - p.top - bottom);
  return p;
}

// Grid, y ticks, (numeric) x ticks and the axis labels.
std::string axes(const Plot& p, const ChartFrame& frame, bool x_ticks, double bottom) {
  std::string s = "<g class=\"axes\">";
  const double y_step = p.y.ticks.size() > 1 ? p.y.ticks[1] - p.y.ticks[0] : 1.0;
  for (double t : p.y.ticks) {
    s += line(p.left, p.py(t), p.left + p.width, p.py(t), "#e6e6e6");
    s += text(p.left - 5, p.py(t) + 3.5, tick_label(t, y_step), "end");
  }
  if (x_ticks) {
    const double x_step = p.x.ticks.size() > 1 ? p.x.ticks[1] - p.x.ticks[0] : 1.0;
    for (double t : p.x.ticks) {
      s += line(p.px(t), p.top + p.height, p.px(t), p.top + p.height + 4, "#333333");
      s += text(p.px(t), p.top + p.height + 15, tick_label(t, x_step), "middle");
    }
  }
  s += "<rect x=\"" + svg_number(p.left) + "\" y=\"" + svg_number(p.top) + "\" width=\"" + svg_number(p.width) +
       "\" height=\"" + svg_number(p.height) + "\" fill=\"none\" stroke=\"#333333\"/>";
  s += text(p.left + p.width / 2, p.top + p.height + bottom - 8, frame.x_label, "middle", " class=\"axis-label\"");
  const double mid = p.top + p.height / 2;
  s += "<text class=\"axis-label\" x=\"" + svg_number(-mid) +
       "\" y=\"14\" transform=\"rotate(-90)\" text-anchor=\"middle\">" + escape_xml(frame.y_label) + "</text>";
  return s + "</g>";
}

std::string legend(const Plot& p, const std::vector<LegendEntry>& entries) {
  std::string s = "<g class=\"legend\">";
  const double x = p.left + p.width + 12;
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double y = p.top + 8 + 16 * static_cast<double>(i);
    switch (e.swatch) {
      case Swatch::kLine: s += line(x, y, x + 18, y, e.color, " stroke-width=\"2\""); break;
      case Swatch::kDashed: s += line(x, y, x + 18, y, e.color, " stroke-width=\"2\" stroke-dasharray=\"5 3\""); break;
      case Swatch::kBox:
        s += "<rect x=\"" + svg_number(x + 3) + "\" y=\"" + svg_number(y - 6) +
             "\" width=\"12\" height=\"12\" fill=\"" + e.color + "\"/>";
        break;
      case Swatch::kDot:
        s += "<circle cx=\"" + svg_number(x + 9) + "\" cy=\"" + svg_number(y) + "\" r=\"4.5\" fill=\"" + e.color +
             "\"/>";
        break;
    }
    s += text(x + 24, y + 4, e.name, "start");
  }
  return s + "</g>";
}

std::string color_or_palette(const std::string& color, size_t i) { return color.empty() ? palette_color(i) : color; }

// The y axis: the frame's fixed range, else the data's (with `include` always inside, e.g. 0 for bars).
Axis y_axis(const ChartFrame& frame, double lo, double hi) {
  if (frame.y_min < frame.y_max) return nice_axis(frame.y_min, frame.y_max);
  return nice_axis(lo, hi);
}

void extend(double v, double* lo, double* hi) {
  if (!std::isfinite(v)) return;
  *lo = std::min(*lo, v);
  *hi = std::max(*hi, v);
}

}  // namespace

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

const char* palette_color(size_t i) {
  static const char* const kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

std::string svg_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", std::isfinite(v) ? v : 0.0);
  std::string s = buf;
  // 12.50 -> 12.5, 12.00 -> 12: shorter files, same picture.
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

Axis nice_axis(double lo, double hi, int target) {
  Axis a;
  if (!std::isfinite(lo) || !std::isfinite(hi)) {  // no data: an empty unit range
    lo = 0.0;
    hi = 1.0;
  }
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(lo))) {  // one value: a unit window around it
    lo -= 0.5;
    hi += 0.5;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * power;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * power >= raw * (1 - 1e-9)) {
      step = m * power;
      break;
    }
  }
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  for (double t = a.lo; t <= a.hi + step * 1e-6; t += step) a.ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return a;
}

std::string tick_label(double value, double step) {
  if (step < 1e-3) {  // 0.000002 is long and hard to read: 2e-06
    char small[32];
    std::snprintf(small, sizeof small, "%.3g", std::fabs(value) < step * 1e-6 ? 0.0 : value);
    return small;
  }
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 12), value);
  return std::string(buf) == "-0" ? "0" : buf;
}

std::string line_chart(const ChartFrame& frame, const std::vector<Series>& series) {
  std::vector<LegendEntry> entries;
  double x_lo = HUGE_VAL, x_hi = -HUGE_VAL, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
  for (size_t i = 0; i < series.size(); ++i) {
    for (size_t k = 0; k < series[i].x.size() && k < series[i].y.size(); ++k) {
      if (!std::isfinite(series[i].y[k])) continue;
      extend(series[i].x[k], &x_lo, &x_hi);
      extend(series[i].y[k], &y_lo, &y_hi);
    }
    if (frame.legend && !series[i].name.empty()) {
      entries.push_back(
          {series[i].name, color_or_palette(series[i].color, i), series[i].dashed ? Swatch::kDashed : Swatch::kLine});
    }
  }
  Plot p = plot_area(frame, legend_width(entries), kBottomMargin);
  p.x = nice_axis(x_lo, x_hi, std::max(2, static_cast<int>(p.width / 70)));
  p.y = y_axis(frame, y_lo, y_hi);
  std::string s = open_svg(frame, "line-chart") + axes(p, frame, true, kBottomMargin);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& ser = series[i];
    const std::string color = color_or_palette(ser.color, i);
    std::string path, dots;
    bool pen_down = false;
    for (size_t k = 0; k < ser.x.size() && k < ser.y.size(); ++k) {
      if (!std::isfinite(ser.y[k])) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? "L" : "M") + svg_number(p.px(ser.x[k])) + " " + svg_number(p.py(ser.y[k]));
      pen_down = true;
      dots += "<circle cx=\"" + svg_number(p.px(ser.x[k])) + "\" cy=\"" + svg_number(p.py(ser.y[k])) + "\" r=\"2.2\"/>";
    }
    s += "<g class=\"series\" data-name=\"" + escape_xml(ser.name) + "\" fill=\"" + color + "\"><title>" +
         escape_xml(ser.name) + "</title><path d=\"" + path + "\" fill=\"none\" stroke=\"" + color +
         "\" stroke-width=\"2\"" + (ser.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>" + dots + "</g>";
  }
  return s + legend(p, entries) + "</svg>";
}

std::string bar_chart(const ChartFrame& frame, const std::vector<std::string>& categories,
                      const std::vector<BarGroup>& groups, double reference, const std::string& reference_label) {
  std::vector<LegendEntry> entries;
  double lo = 0.0, hi = 0.0;  // bars start at 0
  for (size_t g = 0; g < groups.size(); ++g) {
    for (double v : groups[g].values) extend(v, &lo, &hi);
    if (frame.legend) entries.push_back({groups[g].name, color_or_palette(groups[g].color, g), Swatch::kBox});
  }
  if (std::isfinite(reference)) {
    extend(reference, &lo, &hi);
    if (frame.legend) entries.push_back({reference_label, "#555555", Swatch::kDashed});
  }
  // Long or many category names are slanted; the margin below grows with the longest.
  size_t longest = 0;
  for (const std::string& c : categories) longest = std::max(longest, c.size());
  const bool slanted = categories.size() > 4 && longest > 4;
  const double bottom = slanted ? 30.0 + 4.6 * static_cast<double>(std::min<size_t>(longest, 24)) : kBottomMargin;
  if (lo == 0.0 && hi == 0.0) hi = 1.0;  // all bars zero: show them on a unit scale, not around 0
  Plot p = plot_area(frame, legend_width(entries), bottom);
  p.y = y_axis(frame, lo, hi);
  p.x = Axis{0.0, static_cast<double>(std::max<size_t>(categories.size(), 1)), {}};
  std::string s = open_svg(frame, "bar-chart") + axes(p, frame, false, bottom);
  const double band = p.width / p.x.hi;
  const double bar = band * 0.8 / static_cast<double>(std::max<size_t>(groups.size(), 1));
  const double base = p.py(std::clamp(0.0, p.y.lo, p.y.hi));
  for (size_t c = 0; c < categories.size(); ++c) {
    const double center = p.left + band * (static_cast<double>(c) + 0.5);
    if (slanted) {
      s += "<text x=\"" + svg_number(center) + "\" y=\"" + svg_number(p.top + p.height + 12) +
           "\" text-anchor=\"end\" transform=\"rotate(-35 " + svg_number(center) + " " +
           svg_number(p.top + p.height + 12) + ")\">" + escape_xml(categories[c]) + "</text>";
    } else {
      s += text(center, p.top + p.height + 15, categories[c], "middle");
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      const double x = center - band * 0.4 + bar * static_cast<double>(g);
      const double v = c < groups[g].values.size() ? groups[g].values[c] : std::nan("");
      if (!std::isfinite(v)) {
        s += text(x + bar / 2, base - 3, "n/a", "middle", " class=\"missing\" font-size=\"8\" fill=\"#777777\"");
        continue;
      }
      const double top = std::min(base, p.py(v)), height = std::fabs(p.py(v) - base);
      char value[32];
      std::snprintf(value, sizeof value, "%.4g", v);
      s += "<rect class=\"bar\" x=\"" + svg_number(x) + "\" y=\"" + svg_number(top) + "\" width=\"" +
           svg_number(std::max(1.0, bar - 1)) + "\" height=\"" + svg_number(height) + "\" fill=\"" +
           color_or_palette(groups[g].color, g) + "\"><title>" +
           escape_xml(groups[g].name + ", " + categories[c] + ": " + value) + "</title></rect>";
    }
  }
  if (std::isfinite(reference)) {
    s += line(p.left, p.py(reference), p.left + p.width, p.py(reference), "#555555",
              " class=\"reference\" stroke-dasharray=\"5 3\"");
  }
  return s + legend(p, entries) + "</svg>";
}

std::string scatter_chart(const ChartFrame& frame, const std::vector<ScatterPoint>& points,
                          const std::vector<ScatterGroup>& groups) {
  std::vector<LegendEntry> entries;
  if (frame.legend) {
    for (const ScatterGroup& g : groups) entries.push_back({g.name, g.color, Swatch::kDot});
  }
  double x_lo = HUGE_VAL, x_hi = -HUGE_VAL, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
  for (const ScatterPoint& q : points) {
    extend(q.x, &x_lo, &x_hi);
    extend(q.y, &y_lo, &y_hi);
  }
  Plot p = plot_area(frame, legend_width(entries), kBottomMargin);
  p.x = nice_axis(x_lo, x_hi, std::max(2, static_cast<int>(p.width / 70)));
  p.y = y_axis(frame, y_lo, y_hi);
  std::string s = open_svg(frame, "scatter-chart") + axes(p, frame, true, kBottomMargin);
  for (size_t g = 0; g < groups.size(); ++g) {
    s += "<g class=\"points\" data-name=\"" + escape_xml(groups[g].name) + "\" fill=\"" + groups[g].color +
         "\" fill-opacity=\"0.85\" stroke=\"#ffffff\" stroke-width=\"0.6\">";
    for (const ScatterPoint& q : points) {
      if (q.group != g || !std::isfinite(q.x) || !std::isfinite(q.y)) continue;
      s += "<circle class=\"point\" cx=\"" + svg_number(p.px(q.x)) + "\" cy=\"" + svg_number(p.py(q.y)) + "\" r=\"4\">";
      s += q.tooltip.empty() ? "" : "<title>" + escape_xml(q.tooltip) + "</title>";
      s += "</circle>";
    }
    s += "</g>";
  }
  return s + legend(p, entries) + "</svg>";
}

}  // namespace probex::convert::report
